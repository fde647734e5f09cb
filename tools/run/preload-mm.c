/* SPDX-License-Identifier: MIT */
/*
 * preload-mm.c - the interposed address-space calls: mmap, munmap,
 * mremap, mprotect and madvise. Eligible anonymous mappings go to
 * upager_map(); calls that touch upager's regions go to upager too, so
 * its region tree follows every change the program makes.
 */
#define _GNU_SOURCE
/* Both mmap and mmap64 are defined here; the build's large-file flag
 * would make the headers rename the first into the second. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "upager.h"
#include "os/compat.h"
#include "mm/pager.h"
#include "preload.h"

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static int upager_prot(int prot)
{
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -1; /* PROT_GROWSDOWN & co: the kernel's business */
	return (prot & PROT_READ ? UPAGER_PROT_READ : 0) |
	       (prot & PROT_WRITE ? UPAGER_PROT_WRITE : 0) |
	       (prot & PROT_EXEC ? UPAGER_PROT_EXEC : 0);
}

static bool page_aligned(uintptr_t v)
{
	return !(v & (uintptr_t)(sysconf(_SC_PAGESIZE) - 1));
}

/* @len rounded up to whole pages, as the kernel rounds a call's length
 * (0 when that wraps: the kernel's EINVAL for a length it cannot round). */
static size_t page_round(size_t len)
{
	size_t mask = (size_t)sysconf(_SC_PAGESIZE) - 1;

	return len + mask < len ? 0 : (len + mask) & ~mask;
}

static int covered(const void *addr, size_t len, int *prot)
{
	int q = upager_query(preload_pager, addr, len, prot);

	return q < 0 ? UPAGER_QUERY_NONE : q;
}

/* Whether a MAP_FIXED mapping of [addr, addr + len) replaces part of a
 * region or lies right beside one: natively it may merge into the
 * mapping there, and one kernel mapping can be grown or moved where two
 * cannot (mremap's EFAULT), so it is paged however small it is. */
static bool joins_region(void *addr, size_t len, int flags)
{
	uintptr_t a = (uintptr_t)addr, ps = (uintptr_t)sysconf(_SC_PAGESIZE);
	size_t size = page_round(len);

	if (!(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) || !page_aligned(a) || !size ||
	    a + size < a)
		return false;
	return covered(addr, size, NULL) != UPAGER_QUERY_NONE ||
	       (a >= ps && covered((void *)(a - ps), ps, NULL) != UPAGER_QUERY_NONE) ||
	       (a + size + ps > a + size && covered((void *)(a + size), ps, NULL) != UPAGER_QUERY_NONE);
}

/* MAP_32BIT: upager's mappings come from anywhere; such a mapping is
 * left to the kernel, unpaged. An unaligned offset is the kernel's
 * EINVAL even for anonymous memory. */
static bool eligible(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	const int refused = MAP_GROWSDOWN | MAP_STACK | MAP_HUGETLB | MAP_LOCKED | MAP_POPULATE |
			    MAP_32BIT;

	return fd == -1 && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE &&
	       !(flags & refused) && upager_prot(prot) >= 0 && page_aligned((uintptr_t)off) &&
	       (len >= preload_min_len || joins_region(addr, len, flags));
}

static void *do_mmap(uintptr_t caller, void *addr, size_t len, int prot, int flags, int fd,
		     off_t off)
{
	if (preload_pager && !preload_from_self(caller)) {
		if (eligible(addr, len, prot, flags, fd, off)) {
			unsigned int uf = UPAGER_MAP_PRIVATE;
			void *out;
			int err;

			if (flags & MAP_FIXED_NOREPLACE)
				uf |= UPAGER_MAP_FIXED_NOREPLACE;
			else if (flags & MAP_FIXED)
				uf |= UPAGER_MAP_FIXED;
			if (!(flags & MAP_NORESERVE))
				uf |= UPAGER_MAP_ACCOUNT;
			err = upager_map(preload_pager, addr, len, upager_prot(prot), uf, &out);
			if (!err)
				return out;
			errno = -err;
			return MAP_FAILED;
		}
		/* Anything else mapped over upager's regions replaces them
		 * once the kernel has agreed to; the tree follows. */
		if ((flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE) &&
		    covered(addr, len, NULL) != UPAGER_QUERY_NONE) {
			void *out;
			int err = pager_map_over(preload_pager, addr, len, prot, flags, fd, off,
						 &out);

			if (err) {
				errno = -err;
				return MAP_FAILED;
			}
			return preload_lock_fills ? preload_lock_new(out, len) : out;
		}
		if (preload_lock_fills)
			return preload_lock_new(sys_mmap(addr, len, prot, flags, fd, off), len);
	}
	return sys_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap((uintptr_t)__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap((uintptr_t)__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

/*
 * Whether the kernel would accept munmap(addr, len): aligned, not empty,
 * and below the top of user space (TASK_SIZE_MAX: 2^47 or, with 5-level
 * page tables, 2^56, less a page). The top is learnt by unmapping a page
 * at 2^47, which holds nothing either way: refused with 4 levels.
 */
static bool unmap_would_succeed(uintptr_t addr, size_t len)
{
	static uintptr_t top;
	size_t pages_len = page_round(len);

	if (!top)
		top = syscall(SYS_munmap, (void *)(1ul << 47), 4096) ? (1ul << 47) - 4096
								     : (1ul << 56) - 4096;
	return page_aligned(addr) && pages_len && pages_len <= top &&
	       addr <= top - pages_len;
}

EXPORT int munmap(void *addr, size_t len)
{
	/* What the kernel refuses (EINVAL) goes to it, unlogged. */
	if (preload_pager && !preload_from_self((uintptr_t)__builtin_return_address(0)) &&
	    unmap_would_succeed((uintptr_t)addr, len) &&
	    covered(addr, len, NULL) != UPAGER_QUERY_NONE) {
		int err = upager_unmap(preload_pager, addr, len);

		if (err) {
			errno = -err;
			return -1;
		}
	}
	if (preload_pager && unmap_would_succeed((uintptr_t)addr, len) &&
	    preload_covers_self((uintptr_t)addr, (uintptr_t)addr + len))
		preload_abandon();
	return (int)syscall(SYS_munmap, addr, len);
}

/* The kernel's mprotect, over upager's regions and beside them alike;
 * the tree follows what it changed. */
EXPORT int mprotect(void *addr, size_t len, int prot)
{
	if (preload_pager && !preload_from_self((uintptr_t)__builtin_return_address(0)) && len &&
	    covered(addr, len, NULL) != UPAGER_QUERY_NONE) {
		int err = pager_mprotect(preload_pager, addr, len, prot);

		if (err) {
			errno = -err;
			return -1;
		}
		return 0;
	}
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	size_t pages_len = page_round(len);
	int q;

	/* An unaligned address, or a length that wraps, is the kernel's
	 * EINVAL, unlogged and with nothing discarded. */
	if (preload_pager && !preload_from_self((uintptr_t)__builtin_return_address(0)) &&
	    page_aligned((uintptr_t)addr) && (pages_len || !len) &&
	    (uintptr_t)addr + pages_len >= (uintptr_t)addr &&
	    (q = covered(addr, len, NULL)) != UPAGER_QUERY_NONE) {
		/* All upager's: private anonymous memory, which FREE
		 * reaches to the end without reading the kernel's maps. */
		bool whole = q == UPAGER_QUERY_ALL;

		switch (advice) {
		case MADV_DONTNEED:
		case MADV_FREE: {
			/* Zeros from now on, and the swap slots freed: what
			 * the kernel does for DONTNEED, and one of the two
			 * outcomes FREE allows, for what the kernel's FREE
			 * reaches before a mapping it refuses. A locked
			 * range: EINVAL, as from the kernel. */
			size_t reach = advice != MADV_FREE || whole
					       ? len
					       : pager_free_reach(preload_pager, addr, pages_len);

			if (reach && upager_discard(preload_pager, addr, reach) == -EINVAL) {
				errno = EINVAL;
				return -1;
			}
			break;
		}
		case MADV_HUGEPAGE:
		case MADV_COLLAPSE:
			return 0; /* upager moves 4 KiB pages; a hint, ignored */
		case MADV_DONTFORK:
		case MADV_DOFORK:
		case MADV_WIPEONFORK:
		case MADV_KEEPONFORK: {
			/* The kernel and the tree: a forked child's pager
			 * serves swapped pages from the tree. */
			int err = upager_advise(preload_pager, addr, len,
						advice == MADV_DONTFORK ? UPAGER_ADVISE_DONTFORK :
						advice == MADV_DOFORK ? UPAGER_ADVISE_DOFORK :
						advice == MADV_WIPEONFORK ? UPAGER_ADVISE_WIPEONFORK :
						UPAGER_ADVISE_KEEPONFORK);

			if (err) {
				errno = -err;
				return -1;
			}
			return 0;
		}
		default:
			break;
		}
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

/* mremap of upager's memory is the kernel's: it moves the pages, and
 * the tree follows its events (pager_remap). */
EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL, *out;
	va_list ap;
	int err;

	/* The kernel reads it with either (a hint with DONTUNMAP alone). */
	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (preload_pager && !preload_from_self((uintptr_t)__builtin_return_address(0)) &&
	    old_len && (covered(old, old_len, NULL) != UPAGER_QUERY_NONE ||
			((flags & MREMAP_FIXED) && new_len &&
			 covered(new_addr, new_len, NULL) != UPAGER_QUERY_NONE))) {
		err = pager_remap(preload_pager, old, old_len, new_len, flags, new_addr, &out);
		if (err) {
			errno = -err;
			return MAP_FAILED;
		}
		return out;
	}
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}
