/* SPDX-License-Identifier: MIT */
/*
 * preload-procmem.c - the program's own memory read and written through
 * /proc/self/mem (pread, pwrite, read, write): the kernel's access to
 * another mm (access_remote_vm) may not wait for a userfaultfd handler,
 * so a page upager has not made resident answers EIO, or ends the
 * transfer short. When a call on such a descriptor fails or comes back
 * short, and the place it stopped is upager's memory, the calling thread
 * brings the pages in with the access the call needs (its own touches
 * fault as any do, and the handlers serve them) and makes the rest of
 * the call, as long as that advances. Where it stopped in memory that is
 * not upager's, or that the thread cannot touch (PROT_NONE), the kernel's
 * answer stands.
 *
 * The descriptor is recognised only then, by what it names
 * (/proc/PID/mem or /proc/PID/task/TID/mem of this process), on an EIO
 * from any descriptor, or on a short count from one marked as maybe
 * such a file (opened by a name ending in "mem", or found to be one
 * before): short counts are the rule on pipes and sockets, which must
 * not pay a readlink each. A mark outlives its descriptor harmlessly:
 * the next look clears it. Calls that succeed pay nothing.
 * process_vm_readv/writev need none of this: the kernel faults their
 * pages in with a handler allowed to wait.
 *
 * Everything on the way is async-signal-safe, as read and write are.
 */
#define _GNU_SOURCE
/* Both pread and pread64 are defined here; the build's large-file flag
 * would make the headers rename the first into the second. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "upager.h"
#include "preload.h"

/* Pages brought in before each retry: few enough to stay resident
 * under the smallest budget until the call has copied them. */
#define MEM_STEP_PAGES 256
/* Retries of a step that made no progress (its pages left memory again
 * before the call read them) before the kernel's answer is given. */
#define MEM_RETRIES 4
/* Descriptors below this can be marked. */
#define MARKS 65536

static unsigned long marks[MARKS / (8 * sizeof(unsigned long))];

static void mark(int fd, bool on)
{
	unsigned long bit = 1ul << (fd % (8 * sizeof(unsigned long)));

	if (fd < 0 || fd >= MARKS)
		return;
	if (on)
		__atomic_fetch_or(&marks[fd / (8 * sizeof(unsigned long))], bit, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&marks[fd / (8 * sizeof(unsigned long))], ~bit, __ATOMIC_RELAXED);
}

static bool marked(int fd)
{
	return fd >= 0 && fd < MARKS &&
	       (__atomic_load_n(&marks[fd / (8 * sizeof(unsigned long))], __ATOMIC_RELAXED) >>
		(fd % (8 * sizeof(unsigned long)))) & 1;
}

static ssize_t (*next_read)(int, void *, size_t);
static ssize_t (*next_write)(int, const void *, size_t);
static ssize_t (*next_pread)(int, void *, size_t, off_t);
static ssize_t (*next_pwrite)(int, const void *, size_t, off_t);
static int (*next_openat)(int, const char *, int, ...);

__attribute__((constructor(101))) static void find_next(void)
{
	*(void **)&next_read = dlsym(RTLD_NEXT, "read");
	*(void **)&next_write = dlsym(RTLD_NEXT, "write");
	*(void **)&next_pread = dlsym(RTLD_NEXT, "pread64");
	*(void **)&next_pwrite = dlsym(RTLD_NEXT, "pwrite64");
	*(void **)&next_openat = dlsym(RTLD_NEXT, "openat64");
}

/* The call itself: the C library's (a cancellation point, as the
 * program expects), or the system call before the lookup. */
static ssize_t io(int fd, void *buf, size_t n, off_t off, bool write, bool at)
{
	if (write && at)
		return next_pwrite ? next_pwrite(fd, buf, n, off) : syscall(SYS_pwrite64, fd, buf, n, off);
	if (write)
		return next_write ? next_write(fd, buf, n) : syscall(SYS_write, fd, buf, n);
	if (at)
		return next_pread ? next_pread(fd, buf, n, off) : syscall(SYS_pread64, fd, buf, n, off);
	return next_read ? next_read(fd, buf, n) : syscall(SYS_read, fd, buf, n);
}

/* @v in decimal at @p; returns the end. */
static char *decimal(char *p, unsigned long v)
{
	char d[24];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*p++ = d[--n];
	return p;
}

/* Past "@word" at @p, or NULL. */
static const char *skip(const char *p, const char *word)
{
	size_t n = strlen(word);

	return p && !strncmp(p, word, n) ? p + n : NULL;
}

/* Past a decimal number at @p equal to @want (any when 0), or NULL. */
static const char *number(const char *p, unsigned long want)
{
	unsigned long v = 0;
	const char *s = p;

	if (!p)
		return NULL;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (unsigned long)(*p++ - '0');
	return p > s && (!want || v == want) ? p : NULL;
}

/* Whether @fd is this process's /proc/PID/mem (or a thread's); the
 * mark follows the answer. */
static bool own_mem(int fd)
{
	char path[48], link[64];
	unsigned long pid = (unsigned long)getpid();
	const char *p, *task;
	ssize_t n;

	*decimal(stpcpy(path, "/proc/self/fd/"), (unsigned long)fd) = 0;
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	p = number(skip(link, "/proc/"), pid);
	task = number(skip(p, "/task/"), 0);
	p = skip(task ? task : p, "/mem");
	mark(fd, p && !*p);
	return p && !*p;
}

/*
 * Bring in the pages of [addr, addr + len) that are upager's, as the
 * program's own access would: a read, or for a write to memory it may
 * write, a write that changes nothing (an atomic add of 0: a thread
 * writing the page meanwhile loses nothing). A page it may only read
 * is read: the kernel's forced write then breaks its copy itself.
 * Returns whether the first page is upager's and was touched: the call
 * stopped there.
 */
static bool bring_in(uintptr_t addr, size_t len, bool write)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t first = addr & ~(uintptr_t)(ps - 1);
	bool touched_first = false;

	for (uintptr_t a = first; a < addr + len; a += ps) {
		int prot = 0;

		if (upager_query(preload_pager, (void *)a, ps, &prot) != UPAGER_QUERY_ALL ||
		    !(prot & UPAGER_PROT_READ))
			continue;
		if (write && (prot & UPAGER_PROT_WRITE))
			__atomic_fetch_add((volatile char *)a, 0, __ATOMIC_RELAXED);
		else
			(void)*(volatile const char *)a;
		touched_first |= a == first;
	}
	return touched_first;
}

/*
 * A call on @fd gave @got (or -1 and errno): when @fd is this process's
 * memory and the call stopped at a page of upager's, the rest of it, in
 * steps, each after its pages were brought in. @off is the call's offset
 * (@at) or unused (the file position: where the call stopped).
 */
static ssize_t finish(int fd, char *buf, size_t count, off_t off, bool write, bool at,
		      ssize_t got)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), done = got > 0 ? (size_t)got : 0;
	int err = got < 0 ? errno : 0, tries = 0;

	if ((got < 0 ? err != EIO : !marked(fd)) || done >= count || !preload_pager ||
	    !own_mem(fd))
		goto out;
	while (done < count) {
		off_t pos = at ? off + (off_t)done : lseek(fd, 0, SEEK_CUR);
		size_t n = count - done < MEM_STEP_PAGES * ps ? count - done : MEM_STEP_PAGES * ps;
		ssize_t r;

		if (pos < 0 || !bring_in((uintptr_t)pos, n, write))
			break; /* not upager's page: the kernel's answer */
		r = io(fd, buf + done, n, pos, write, at);
		if (r > 0) {
			done += (size_t)r;
			err = 0;
			tries = 0;
		} else if (r == 0 || errno != EIO || ++tries == MEM_RETRIES) {
			err = r ? errno : 0;
			break;
		}
	}
out:
	if (done)
		return (ssize_t)done;
	errno = err;
	return err ? -1 : 0;
}

static bool may_be_mem(uintptr_t caller, ssize_t got, size_t count)
{
	return (got < 0 ? errno == EIO : (size_t)got < count) && count &&
	       !preload_from_self(caller);
}

EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	ssize_t got = io(fd, buf, count, 0, false, false);

	if (may_be_mem((uintptr_t)__builtin_return_address(0), got, count))
		return finish(fd, buf, count, 0, false, false, got);
	return got;
}

EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	ssize_t got = io(fd, (void *)buf, count, 0, true, false);

	if (may_be_mem((uintptr_t)__builtin_return_address(0), got, count))
		return finish(fd, (char *)buf, count, 0, true, false, got);
	return got;
}

EXPORT ssize_t pread(int fd, void *buf, size_t count, off_t off)
{
	ssize_t got = io(fd, buf, count, off, false, true);

	if (may_be_mem((uintptr_t)__builtin_return_address(0), got, count))
		return finish(fd, buf, count, off, false, true, got);
	return got;
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	ssize_t got = io(fd, (void *)buf, count, off, true, true);

	if (may_be_mem((uintptr_t)__builtin_return_address(0), got, count))
		return finish(fd, (char *)buf, count, off, true, true, got);
	return got;
}

/* A descriptor opened by a name that may be a process's memory is
 * marked: its short counts are looked at. */
static int opened(int fd, const char *path)
{
	size_t n = path ? strlen(path) : 0;

	if (fd >= 0 && n >= 3 && !strcmp(path + n - 3, "mem"))
		mark(fd, true);
	return fd;
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return opened(next_openat ? next_openat(dirfd, path, flags, mode) :
		      (int)syscall(SYS_openat, dirfd, path, flags, mode), path);
}

/* open(2) and openat(2)'s variadic tail: the mode is there only with
 * O_CREAT or O_TMPFILE. */
static int openat_va(int dirfd, const char *path, int flags, va_list ap)
{
	mode_t mode = flags & (O_CREAT | __O_TMPFILE) ? (mode_t)va_arg(ap, int) : 0;

	return do_openat(dirfd, path, flags, mode);
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;

	va_start(ap, flags);
	int fd = openat_va(AT_FDCWD, path, flags, ap);
	va_end(ap);
	return fd;
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;

	va_start(ap, flags);
	int fd = openat_va(dirfd, path, flags, ap);
	va_end(ap);
	return fd;
}

EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));
EXPORT int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

EXPORT ssize_t pread64(int fd, void *buf, size_t count, off_t off) __attribute__((alias("pread")));
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
	__attribute__((alias("pwrite")));
