/* SPDX-License-Identifier: MIT */
/*
 * preload-lock.c - the interposed locking calls: mlock, mlock2, munlock,
 * mlockall, munlockall. upager's regions are locked by upager (lib/mm/lock.h:
 * resident, never staged, counted against the budget, -ENOMEM beyond
 * what it may lock, as beyond RLIMIT_MEMLOCK); everything else by the
 * kernel, as the program asked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "upager.h"
#include "mm/lock.h"
#include "preload.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

bool preload_lock_fills;

static bool ours(uintptr_t caller)
{
	return preload_pager && !preload_from_self(caller);
}

static int sys_mlock2(uintptr_t addr, size_t len, unsigned int flags)
{
	return (int)syscall(SYS_mlock2, addr, len, flags);
}

/* [*start, *end): the pages of [addr, addr + len), as the kernel rounds. */
static bool page_range(const void *addr, size_t len, uintptr_t *start, uintptr_t *end)
{
	uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);

	*start = (uintptr_t)addr & ~(ps - 1);
	*end = ((uintptr_t)addr + len + ps - 1) & ~(ps - 1);
	return *end >= *start && (uintptr_t)addr + len >= (uintptr_t)addr;
}

static int do_lock(uintptr_t caller, const void *addr, size_t len, unsigned int flags)
{
	uintptr_t start, end, s, e;
	int err;

	if (!ours(caller) || (flags & ~MLOCK_ONFAULT))
		return sys_mlock2((uintptr_t)addr, len, flags);
	/* The kernel's permission check (EPERM) comes before anything. */
	if (sys_mlock2((uintptr_t)addr, 0, 0))
		return -1;
	if (!page_range(addr, len, &start, &end)) {
		errno = EINVAL;
		return -1;
	}
	if (start == end || !lock_next_region(preload_pager, start, end, &s, &e))
		return sys_mlock2((uintptr_t)addr, len, flags);
	err = lock_range(preload_pager, start, end, flags & MLOCK_ONFAULT);
	if (err) {
		errno = -err;
		return -1;
	}
	/* The kernel's mappings between upager's. */
	for (uintptr_t at = start; at < end; at = e) {
		if (!lock_next_region(preload_pager, at, end, &s, &e))
			s = e = end;
		if (s > at && sys_mlock2(at, s - at, flags))
			return -1;
	}
	return 0;
}

EXPORT int mlock(const void *addr, size_t len)
{
	return do_lock((uintptr_t)__builtin_return_address(0), addr, len, 0);
}

EXPORT int mlock2(const void *addr, size_t len, unsigned int flags)
{
	return do_lock((uintptr_t)__builtin_return_address(0), addr, len, flags);
}

EXPORT int munlock(const void *addr, size_t len)
{
	uintptr_t start, end, s, e;

	if (ours((uintptr_t)__builtin_return_address(0)) && page_range(addr, len, &start, &end) &&
	    lock_next_region(preload_pager, start, end, &s, &e)) {
		int err = lock_unlock_range(preload_pager, start, end);

		if (err) {
			errno = -err;
			return -1;
		}
	}
	/* Also the kernel's answer for the whole range (ENOMEM: a hole). */
	return (int)syscall(SYS_munlock, addr, len);
}

EXPORT int mlockall(int flags)
{
	int err;

	if (!ours((uintptr_t)__builtin_return_address(0)))
		return (int)syscall(SYS_mlockall, flags);
	if (!flags || (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) || flags == MCL_ONFAULT) {
		errno = EINVAL;
		return -1;
	}
	err = lock_all(preload_pager, flags);
	if (err) {
		errno = -err;
		return -1;
	}
	/* The kernel's mappings are locked on fault (lock_all()), not
	 * filled now: among them are upager's own sparse tables (page
	 * entries, the store's slot maps), which filling would make
	 * resident whole (146 MiB under a 16 MiB cap, tried). The
	 * program's own new mappings, made through mmap, are filled as
	 * MCL_FUTURE would (preload_lock_new()). */
	preload_lock_fills = (flags & MCL_FUTURE) && !(flags & MCL_ONFAULT);
	return 0;
}

void *preload_lock_new(void *m, size_t len)
{
	/* mlock clears lock-on-fault and fills: what a mapping made under
	 * MCL_FUTURE gets from the kernel (MAP_POPULATE would not: the
	 * kernel fills nothing of a lock-on-fault mapping). */
	if (m != MAP_FAILED)
		sys_mlock2((uintptr_t)m, len, 0);
	return m;
}

EXPORT int munlockall(void)
{
	int err;

	if (!ours((uintptr_t)__builtin_return_address(0)))
		return (int)syscall(SYS_munlockall);
	err = lock_none(preload_pager);
	preload_lock_fills = false;
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}
