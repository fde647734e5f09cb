/* SPDX-License-Identifier: MIT */
/*
 * fd-user - a program that knows nothing of upager and does what ordinary
 * programs do with descriptors, for running under upager-run -m 16M
 * (tests/run/check-fds.sh). Each mode fills 64 MiB with a pattern (most
 * of it is then evicted), does something to descriptors, and reads every
 * byte back; prints "bad pages: N of M" and exits 0 only if every page
 * was right.
 *
 * usage: fd-user MODE
 *   close_range  close_range(3, ~0U, 0) through the C library
 *   closefrom    closefrom(3)
 *   pipe         close everything from 3, then a pipe (which lands at a
 *                low number) carries data while the memory is read back
 *   syscall      close_range through syscall(): refused around upager's
 *   raw          close_range by the syscall instruction, past any
 *                interposition: upager must end the process loudly, never read zeros
 *   spawn-close0 posix_spawn itself with stdin closed (POSIX_SPAWN_CLOSE);
 *                the child's fstat(0) must fail with EBADF, as natively
 *   fstat0       (the child of spawn-close0) exit 0 iff fstat(0) is EBADF
 *   list         print every open descriptor: "fd cloexec target"
 *   refuse       find a userfaultfd among its descriptors (upager's) and
 *                try to close, dup, dup2 onto, and fcntl it: each must
 *                answer EBADF, as for a descriptor that is not open; the
 *                program's own descriptors (fcntl's arguments passed on
 *                right, F_DUPFD above upager's) work, and closefrom(3)
 *                closes those above upager's too
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (64u << 20)
#define PAGE 4096u

extern char **environ;

static uint64_t value(size_t pg, size_t w)
{
	uint64_t x = ((uint64_t)pg << 20) ^ w ^ 0x5555aaaa00000000ull;

	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static uint64_t *fill(void)
{
	uint64_t *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	for (size_t pg = 0; pg < SIZE / PAGE; pg++)
		for (size_t w = 0; w < PAGE / 8; w++)
			m[pg * PAGE / 8 + w] = value(pg, w);
	return m;
}

static size_t bad_pages(const uint64_t *m)
{
	size_t bad = 0;

	for (size_t pg = 0; pg < SIZE / PAGE; pg++)
		for (size_t w = 0; w < PAGE / 8; w++)
			if (m[pg * PAGE / 8 + w] != value(pg, w)) {
				bad++;
				break;
			}
	return bad;
}

static int report(const uint64_t *m)
{
	size_t bad = bad_pages(m);

	printf("bad pages: %zu of %u\n", bad, SIZE / PAGE);
	return bad ? 1 : 0;
}

/* A pipe at a low number carries 1 MiB while the memory is read back. */
static int pipe_mode(uint64_t *m)
{
	int p[2];
	char buf[4096], got[4096];
	size_t bad;

	closefrom(3);
	if (pipe(p) < 0) {
		perror("pipe");
		return 2;
	}
	fprintf(stderr, "pipe at %d, %d\n", p[0], p[1]);
	for (int i = 0; i < 256; i++) {
		memset(buf, 'a' + i % 26, sizeof(buf));
		if (write(p[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
		    read(p[0], got, sizeof(got)) != (ssize_t)sizeof(got) ||
		    memcmp(buf, got, sizeof(buf))) {
			fprintf(stderr, "pipe data lost at block %d\n", i);
			return 1;
		}
		/* Touch memory in between, so faults and pipe traffic mix. */
		bad = m[(size_t)i * 64 * PAGE / 8] != value((size_t)i * 64, 0);
		if (bad) {
			fprintf(stderr, "page %d wrong\n", i * 64);
			return 1;
		}
	}
	return report(m);
}

static int spawn_close0(const char *self)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)self, "fstat0", NULL };
	pid_t pid;
	int st, err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addclose(&fa, 0);
	err = posix_spawn(&pid, self, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		fprintf(stderr, "posix_spawn: %s\n", strerror(err));
		return 2;
	}
	if (waitpid(pid, &st, 0) < 0)
		return 2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

static int fstat0(void)
{
	struct stat sb;

	if (fstat(0, &sb) == 0) {
		char link[256] = "";

		(void)!readlink("/proc/self/fd/0", link, sizeof(link) - 1);
		printf("fstat(0) succeeded: fd 0 is %s\n", link);
		return 1;
	}
	printf("fstat(0): %s\n", strerror(errno));
	return errno == EBADF ? 0 : 1;
}

static int list(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return 2;
	while ((de = readdir(d))) {
		char path[300], link[256];
		int fd = atoi(de->d_name);
		ssize_t n;

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		link[n < 0 ? 0 : n] = 0;
		printf("%d %d %s\n", fd, (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0, link);
	}
	closedir(d);
	return 0;
}

/* The first descriptor whose /proc link contains @what, or -1. */
static int find_fd(const char *what)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	while (d && found < 0 && (de = readdir(d))) {
		char path[300], link[256];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		link[n < 0 ? 0 : n] = 0;
		if (strstr(link, what))
			found = atoi(de->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

#define EXPECT(cond, ...)                                                 \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, __VA_ARGS__);                     \
			fprintf(stderr, " (%s)\n", strerror(errno));     \
			return 1;                                         \
		}                                                         \
	} while (0)

static int refuse(uint64_t *m)
{
	int u = find_fd("[userfaultfd]"), fd, hi, flags;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
	char tmp[] = "/tmp/fd-user-XXXXXX";

	EXPECT(u >= 0, "no userfaultfd among the descriptors");
	errno = 0;
	EXPECT(close(u) < 0 && errno == EBADF, "close(%d) of upager's descriptor", u);
	EXPECT(dup(u) < 0 && errno == EBADF, "dup(%d)", u);
	EXPECT(dup2(u, 100) < 0 && errno == EBADF, "dup2(%d, 100)", u);
	EXPECT(dup2(1, u) < 0 && errno == EBADF, "dup2(1, %d)", u);
	EXPECT(dup3(1, u, O_CLOEXEC) < 0 && errno == EBADF, "dup3(1, %d)", u);
	EXPECT(fcntl(u, F_GETFD) < 0 && errno == EBADF, "fcntl(%d, F_GETFD)", u);
	EXPECT(fcntl(u, F_SETFL, 0) < 0 && errno == EBADF, "fcntl(%d, F_SETFL)", u);
	EXPECT(fcntl(u, F_DUPFD, 0) < 0 && errno == EBADF, "fcntl(%d, F_DUPFD)", u);
	EXPECT(close_range((unsigned int)u, (unsigned int)u, 0) == 0, "close_range(%d, %d)", u, u);
	/* The program's own: every argument arrives. */
	fd = mkstemp(tmp);
	EXPECT(fd >= 0, "mkstemp");
	unlink(tmp);
	EXPECT(fcntl(fd, F_SETFL, O_APPEND) == 0 && (fcntl(fd, F_GETFL) & O_APPEND), "F_SETFL");
	EXPECT(fcntl(fd, F_SETLK, &fl) == 0, "F_SETLK through a pointer");
	EXPECT(fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK, "F_GETLK");
	EXPECT(fcntl(fd, F_DUPFD, 100) >= 100, "F_DUPFD 100");
	/* Just above upager's, and at the top of the table. */
	hi = fcntl(fd, F_DUPFD_CLOEXEC, u);
	EXPECT(hi > u && (fcntl(hi, F_GETFD) & FD_CLOEXEC), "F_DUPFD_CLOEXEC %d: %d", u, hi);
	flags = dup2(fd, 4095);
	EXPECT(flags == 4095 || errno == EBADF, "dup2(%d, 4095)", fd);
	EXPECT(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0 &&
	       (fcntl(fd, F_GETFD) & FD_CLOEXEC), "close_range CLOEXEC");
	closefrom(3);
	EXPECT(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "closefrom left %d open", fd);
	EXPECT(fcntl(hi, F_GETFD) < 0 && errno == EBADF, "closefrom left %d open", hi);
	EXPECT(fcntl(4095, F_GETFD) < 0 && errno == EBADF, "closefrom left 4095 open");
	EXPECT(find_fd("[userfaultfd]") == u, "upager's descriptor %d is gone", u);
	return report(m);
}

/* close_range by the syscall instruction itself: no symbol to interpose. */
static long raw_close_range(unsigned int first, unsigned int last)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_close_range), "D"((long)first), "S"((long)last), "d"(0L)
			 : "rcx", "r11", "memory");
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
#else
	return syscall(SYS_close_range, first, last, 0);
#endif
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	uint64_t *m;

	if (!strcmp(mode, "fstat0"))
		return fstat0();
	if (!strcmp(mode, "spawn-close0"))
		return spawn_close0(argv[0]);
	if (!strcmp(mode, "list"))
		return list();
	m = fill();
	if (!strcmp(mode, "close_range")) {
		if (close_range(3, ~0U, 0) < 0) {
			perror("close_range");
			return 2;
		}
	} else if (!strcmp(mode, "closefrom")) {
		closefrom(3);
	} else if (!strcmp(mode, "pipe")) {
		return pipe_mode(m);
	} else if (!strcmp(mode, "refuse")) {
		return refuse(m);
	} else if (!strcmp(mode, "syscall")) {
		/* Through the C library's syscall(), which the shim sees. */
		if (syscall(SYS_close_range, 3, ~0U, 0) < 0) {
			perror("close_range");
			return 2;
		}
	} else if (!strcmp(mode, "raw")) {
		if (raw_close_range(3, ~0U) < 0) {
			perror("close_range");
			return 2;
		}
	} else {
		fprintf(stderr, "usage: fd-user close_range|closefrom|pipe|refuse|syscall|raw|spawn-close0|list\n");
		return 2;
	}
	return report(m);
}
