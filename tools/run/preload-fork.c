/* SPDX-License-Identifier: MIT */
/*
 * preload-fork.c - children made without the fork handlers: _Fork(),
 * clone() without CLONE_VM, and syscall(SYS_fork / SYS_clone /
 * SYS_clone3) copy the address space but run no pthread_atfork handler,
 * so upager's child would have no pager, and read the pages its parent
 * had evicted as zeros. Each is run inside upager's own fork protocol
 * (pager_fork_prepare/parent/child, fork.c), without the program's other
 * atfork handlers: _Fork's contract is that it runs none.
 *
 * Everything else passes through untouched: calls that share the memory
 * (CLONE_VM: threads, vfork, posix_spawn), and every other system call
 * made through syscall(), with all six arguments. A fork made by a
 * syscall instruction no symbol sees stays out of reach (see
 * docs/ARCHITECTURE.md, "fork").
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mm/pager.h"
#include "preload.h"

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

typedef long syscall_fn(long, ...);
typedef pid_t fork_fn(void);
typedef int clone_fn(int (*)(void *), void *, int, void *, ...);

static syscall_fn *real_syscall;
static fork_fn *real_fork;
static clone_fn *real_clone;

/* Resolved by the constructor (preload.c), before the program runs; a
 * library constructor that runs earlier resolves them itself. */
void preload_fork_init(void)
{
	if (!real_syscall)
		*(void **)&real_syscall = dlsym(RTLD_NEXT, "syscall");
	if (!real_fork)
		*(void **)&real_fork = dlsym(RTLD_NEXT, "_Fork");
	if (!real_clone)
		*(void **)&real_clone = dlsym(RTLD_NEXT, "clone");
}

/* Around a call that made a child (0 in the child) or failed (< 0). */
static long after(long ret)
{
	int saved = errno;

	if (ret == 0)
		pager_fork_child();
	else
		pager_fork_parent();
	errno = saved;
	return ret;
}

EXPORT pid_t _Fork(void)
{
	preload_fork_init();
	if (!real_fork) {
		errno = ENOSYS;
		return -1;
	}
	pager_fork_prepare();
	return (pid_t)after(real_fork());
}

/* The fields of struct clone_args up to exit_signal (the kernel's ABI,
 * <linux/sched.h>; the 6.1 headers know it, older ones may not). */
struct clone3_head {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
};

/* Whether syscall(@nr, @a0, @a1, ...) makes a child with a copy of the
 * memory (no CLONE_VM), which the fork protocol must surround. */
static bool copies_memory(long nr, long a0, long a1)
{
	const struct clone3_head *args = (const struct clone3_head *)a0;

	if (nr == SYS_fork)
		return true;
	if (nr == SYS_clone)
		return !(a0 & CLONE_VM);
	if (nr == SYS_clone3)
		/* Too short an argument block is refused by the kernel. */
		return args && (size_t)a1 >= sizeof(*args) && !(args->flags & CLONE_VM);
	return false;
}

EXPORT long syscall(long nr, ...)
{
	long a[6], ret;
	va_list ap;

	/* As the C library's own wrapper: six argument registers, whatever
	 * the call takes. */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real_syscall)
		preload_fork_init();
	if (!real_syscall) {
		errno = ENOSYS;
		return -1;
	}
	if (!preload_from_self((uintptr_t)__builtin_return_address(0)) &&
	    preload_fd_syscall(nr, a, &ret))
		return ret;
	if (!copies_memory(nr, a[0], a[1]))
		return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	pager_fork_prepare();
	return after(real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}

struct clone_child {
	int (*fn)(void *);
	void *arg;
};

/* The child of a clone() that copies the memory: its pager first. */
static int clone_child_main(void *p)
{
	/* The parent's copy, in the child's own memory. */
	const struct clone_child *c = p;

	pager_fork_child();
	return c->fn(c->arg);
}

EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	struct clone_child c = { .fn = fn, .arg = arg };
	void *ptid, *tls, *ctid;
	va_list ap;
	int ret, saved;

	va_start(ap, arg);
	ptid = va_arg(ap, void *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, void *);
	va_end(ap);
	preload_fork_init();
	if (!real_clone) {
		errno = ENOSYS;
		return -1;
	}
	if (flags & CLONE_VM)
		return real_clone(fn, stack, flags, arg, ptid, tls, ctid);
	pager_fork_prepare();
	ret = real_clone(clone_child_main, stack, flags, &c, ptid, tls, ctid);
	saved = errno;
	pager_fork_parent();
	errno = saved;
	return ret;
}
