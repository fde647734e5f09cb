/* SPDX-License-Identifier: MIT */
/*
 * preload-fd.c - the interposed descriptor calls: close, close_range,
 * closefrom, dup, dup2, dup3 and fcntl. upager's descriptors (the swap
 * store, its memfds, the userfaultfds, the I/O rings: lib/os/fdreg.h) live
 * far above the program's; to the program they are not open. It can
 * neither close them (one close_range(3, ~0U, 0) used to unregister
 * every paged range, so evicted pages read as zeros) nor put its own
 * files at their numbers (upager would punch holes in them), nor change
 * their flags: every such call answers EBADF, as for a descriptor that is
 * not open, and close_range/closefrom close everything else they cover.
 *
 * The same calls made through syscall(2) are refused alike
 * (preload_fd_syscall). upager's own calls (it is linked into this
 * library) go straight through, told apart by the caller's address as in
 * preload-mm.c.
 */
#define _GNU_SOURCE
/* Both fcntl and fcntl64 are defined here; the build's large-file flag
 * would make the headers rename the first into the second. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/fdreg.h"
#include "preload.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The C library's own versions, found once before the program runs
 * (close is async-signal-safe, so it must never look one up itself);
 * until then, and should the lookup fail, the system call. */
static int (*next_close)(int);
static int (*next_fcntl)(int, int, ...);

__attribute__((constructor(101))) static void find_next(void)
{
	/* POSIX's way to take a function from dlsym(). */
	*(void **)&next_close = dlsym(RTLD_NEXT, "close");
	*(void **)&next_fcntl = dlsym(RTLD_NEXT, "fcntl64");
	if (!next_fcntl)
		*(void **)&next_fcntl = dlsym(RTLD_NEXT, "fcntl");
}

/* Whether the program (not upager) names one of upager's descriptors. */
static bool refused(uintptr_t caller, int fd)
{
	return fdreg_is_own(fd) && !preload_from_self(caller);
}

static int ebadf(void)
{
	errno = EBADF;
	return -1;
}

EXPORT int close(int fd)
{
	if (refused((uintptr_t)__builtin_return_address(0), fd))
		return ebadf();
	return next_close ? next_close(fd) : (int)syscall(SYS_close, fd);
}

static int sys_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
	return (int)syscall(SYS_close_range, first, last, flags);
}

/*
 * close_range() of [first, last] around upager's descriptors: one call
 * per stretch between them. CLOSE_RANGE_CLOEXEC only marks descriptors
 * close-on-exec, which upager's are already: it goes through whole, as
 * do flags the kernel will refuse anyway.
 */
static int close_range_around(unsigned int first, unsigned int last, unsigned int flags)
{
	unsigned int cur = first;
	bool called = false;
	int ret = 0;

	if (first > last || (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) ||
	    (flags & CLOSE_RANGE_CLOEXEC))
		return sys_close_range(first, last, flags);
	for (;;) {
		int own = cur > INT_MAX ? -1 : fdreg_next_own((int)cur);

		if (own < 0 || (unsigned int)own > last) {
			ret = sys_close_range(cur, last, flags);
			called = true;
			break;
		}
		if ((unsigned int)own > cur) {
			ret = sys_close_range(cur, (unsigned int)own - 1, flags);
			called = true;
			if (ret < 0)
				break;
		}
		if ((unsigned int)own == last)
			break;
		cur = (unsigned int)own + 1;
	}
	/* The whole range was upager's: the table is still unshared, as
	 * asked. */
	if (!called && (flags & CLOSE_RANGE_UNSHARE) && unshare(CLONE_FILES) < 0)
		ret = -1;
	return ret;
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (preload_from_self((uintptr_t)__builtin_return_address(0)))
		return sys_close_range(first, last, (unsigned int)flags);
	return close_range_around(first, last, (unsigned int)flags);
}

/*
 * The same calls made through syscall(2) (preload-fork.c hands them
 * here): one on upager's descriptors answers EBADF, a close_range goes
 * around them. Whether @nr was taken is the return; its result in @ret.
 */
bool preload_fd_syscall(long nr, const long a[6], long *ret)
{
	switch (nr) {
	case SYS_close:
	case SYS_dup:
	case SYS_fcntl:
		if (!fdreg_is_own((int)a[0]))
			return false;
		break;
	case SYS_dup2:
	case SYS_dup3:
		if (!fdreg_is_own((int)a[0]) && !fdreg_is_own((int)a[1]))
			return false;
		break;
	case SYS_close_range:
		*ret = close_range_around((unsigned int)a[0], (unsigned int)a[1],
					  (unsigned int)a[2]);
		return true;
	default:
		return false;
	}
	*ret = ebadf();
	return true;
}

EXPORT void closefrom(int lowfd)
{
	long max;

	if (lowfd < 0)
		lowfd = 0;
	if (close_range_around((unsigned int)lowfd, ~0U, 0) == 0 || errno != ENOSYS)
		return;
	/* A kernel without close_range (before 5.9): one at a time. */
	max = sysconf(_SC_OPEN_MAX);
	for (long fd = lowfd; fd < (max > 0 ? max : 1024); fd++)
		if (!fdreg_is_own((int)fd))
			syscall(SYS_close, (int)fd);
}

EXPORT int dup(int fd)
{
	if (refused((uintptr_t)__builtin_return_address(0), fd))
		return ebadf();
	return (int)syscall(SYS_dup, fd);
}

/* Onto one of upager's numbers: refused as a number out of range is
 * (EBADF), since the program cannot have it. */
EXPORT int dup2(int oldfd, int newfd)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);

	if (refused(caller, oldfd) || refused(caller, newfd))
		return ebadf();
	if (oldfd == newfd) /* dup3 refuses what dup2 answers */
		return fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
	return (int)syscall(SYS_dup3, oldfd, newfd, 0);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);

	if (refused(caller, oldfd) || refused(caller, newfd))
		return ebadf();
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}

/*
 * fcntl's third argument is an int or a pointer by command; the C
 * library itself takes it as a pointer-sized word and passes it on, and
 * so does this. F_DUPFD* of the program's own descriptors need nothing:
 * the kernel skips numbers in use, upager's among them.
 */
static int do_fcntl(uintptr_t caller, int fd, int cmd, void *arg)
{
	if (refused(caller, fd))
		return ebadf();
	if (next_fcntl)
		return next_fcntl(fd, cmd, arg);
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl((uintptr_t)__builtin_return_address(0), fd, cmd, arg);
}

/* The same call under its large-file name: one body serves both. */
EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));
