/* SPDX-License-Identifier: MIT */
/*
 * test-fds.c - upager's own descriptors against a program that closes
 * and replaces descriptors (lib/os/fdreg.h): where they live, and what
 * happens when one is lost behind upager's back anyway (a raw dup2 or
 * close past the shim). A lost descriptor must end the process loudly,
 * never punch, write or register the program's file, never hang a
 * faulting thread, never serve zeros.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "os/fdreg.h"
#include "upager.h"

#define BUDGET (1ul << 20)
#define REGION (8ul << 20)

/* Every open descriptor of this process (but @skip), into @fds; returns
 * how many. */
static int list_fds(int *fds, int max, int skip)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) && n < max) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd != dirfd(d) && fd != skip)
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

static bool in(const int *fds, int n, int fd)
{
	for (int i = 0; i < n; i++)
		if (fds[i] == fd)
			return true;
	return false;
}

static struct upager *open_budgeted(void **m)
{
	return open_mapped(&UPAGER_OPTS(.max_resident = BUDGET, .swap_size = 64ul << 20),
			   REGION / PAGE, m);
}

/* The first descriptor of this process whose /proc link is @target. */
static int fd_linking(const char *target)
{
	int fds[512], n = list_fds(fds, 512, -1);

	for (int i = 0; i < n; i++) {
		char path[64], link[256];
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (strstr(link, target))
			return fds[i];
	}
	return -1;
}

static void fill(uint64_t *m, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		m[i] = i * 0x9e3779b97f4a7c15ull ^ seed;
}

Test(fds, pager_descriptors_live_above_the_base_and_close_on_exec, .timeout = 60)
{
	int before[512], after[512], nb, na, mine = 0, base = fdreg_base();
	struct upager *p;
	uint64_t *m;

	nb = list_fds(before, 512, -1);
	p = open_budgeted((void **)&m);
	fill(m, REGION, 1); /* evicts: the store, staging, rings all open */
	na = list_fds(after, 512, -1);
	for (int i = 0; i < na; i++) {
		if (in(before, nb, after[i]))
			continue;
		mine++;
		cr_expect_geq(after[i], base, "upager's descriptor %d is below %d", after[i], base);
		cr_expect(fcntl(after[i], F_GETFD) & FD_CLOEXEC, "descriptor %d is inherited by exec",
			  after[i]);
		cr_expect(fdreg_is_own(after[i]), "descriptor %d is not registered", after[i]);
	}
	cr_assert_gt(mine, 0);
	upager_close(p);
	na = list_fds(after, 512, -1);
	for (int i = 0; i < na; i++)
		cr_expect(in(before, nb, after[i]), "descriptor %d outlives the pager", after[i]);
	for (int fd = base; fd < base + FDREG_SPAN; fd++)
		cr_expect(!fdreg_is_own(fd), "descriptor %d still registered after close", fd);
}

Test(fds, hide_falls_back_to_the_low_descriptor, .timeout = 30)
{
	struct rlimit old, rl;
	static bool made[512];
	int base, fd, kept, null = open("/dev/null", O_RDONLY);

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = 512;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	base = fdreg_base();
	cr_assert_eq(base, 512 - FDREG_SPAN);
	/* Fill every number from the base up: there is nowhere to move to. */
	cr_assert_geq(null, 0);
	for (int n = base; n < 512; n++) {
		if (fcntl(n, F_GETFD) >= 0)
			continue; /* the test runner's */
		cr_assert_eq(fcntl(null, F_DUPFD, n), n);
		made[n] = true;
	}
	fd = open("/dev/null", O_RDONLY);
	cr_assert_lt(fd, base);
	kept = fdreg_hide(fd, "test file");
	cr_assert_eq(kept, fd, "kept where it was");
	cr_assert(fdreg_is_own(kept), "and still protected");
	cr_assert(fcntl(kept, F_GETFD) & FD_CLOEXEC);
	fdreg_close(kept);
	cr_assert(!fdreg_is_own(kept));
	for (int n = base; n < 512; n++)
		if (made[n])
			close(n);
	/* Room again: moved to the base (or just above the runner's). */
	fd = fdreg_hide(open("/dev/null", O_RDONLY), "test file");
	cr_assert_geq(fd, base);
	cr_assert(fdreg_is_own(fd));
	cr_assert_eq(fdreg_next_own(0), fd);
	fdreg_close(fd);
	close(null);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/*
 * Run @fn in a child with its stderr in a file; returns its wait status
 * (the child is killed after @secs: a hang fails the test rather than
 * the suite). @err receives what it printed.
 */
static int run_child(void (*fn)(void), unsigned int secs, char *err, size_t errlen)
{
	char path[] = "/var/tmp/upager-test-fds-XXXXXX";
	int out = mkstemp(path), st = 0;
	pid_t pid;
	ssize_t n;

	cr_assert_geq(out, 0);
	unlink(path);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(out, 2);
		alarm(secs);
		fn();
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	n = pread(out, err, errlen - 1, 0);
	err[n < 0 ? 0 : n] = 0;
	close(out);
	return st;
}

static char user_path[64];
static int user_fd = -1; /* made by the test, used by its child */

/* The program holds a file of its own, which must come out unchanged. */
static int make_user_file(void)
{
	char buf[4096];
	int fd;

	snprintf(user_path, sizeof(user_path), "/var/tmp/upager-test-fds-user-%d", getpid());
	fd = open(user_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	memset(buf, 'U', sizeof(buf));
	for (int i = 0; i < 4096; i++) /* 16 MiB: covers every slot the test uses */
		cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	return fd;
}

static bool user_file_intact(void)
{
	char buf[4096];
	int fd = open(user_path, O_RDONLY);
	struct stat sb;
	bool ok = fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size == 4096 * 4096 &&
		  sb.st_blocks * 512 >= sb.st_size;

	for (int i = 0; ok && i < 4096; i++) {
		ok = read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf);
		for (size_t k = 0; ok && k < sizeof(buf); k++)
			ok = buf[k] == 'U';
	}
	if (fd >= 0)
		close(fd);
	unlink(user_path);
	return ok;
}

/* Put the program's file at the swap store's number, then free slots:
 * the holes must not land in the program's file. */
static void store_replaced_then_punch(void)
{
	uint64_t *m;
	struct upager *p = open_budgeted((void **)&m);
	int store;

	fill(m, REGION, 2);
	store = fd_linking("upager-swap-");
	cr_assert_geq(store, 0);
	cr_assert_eq(dup2(user_fd, store), store);
	upager_unmap(p, m, REGION); /* frees every slot: clusters punched */
	upager_close(p);
}

Test(fds, store_replaced_behind_upager_ends_the_process_not_the_file, .timeout = 60)
{
	char err[4096];
	int st;

	user_fd = make_user_file();
	st = run_child(store_replaced_then_punch, 30, err, sizeof(err));
	close(user_fd);

	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		  "the process ends (status 0x%x): %s", st, err);
	cr_expect(strstr(err, "(swap store) was closed or replaced behind upager's back"),
		  "and says why: %s", err);
	cr_expect(user_file_intact(), "the program's file is untouched");
}

/* A pipe at the regions' userfaultfd's number (a raw dup2): a fault must
 * end the process, not wait forever nor be read from the pipe. */
static void uffd_replaced_then_fault(void)
{
	volatile uint64_t *m;
	int pipefd[2], uffd;

	open_mapped(&UPAGER_OPTS(.handler_threads = 2), REGION / PAGE, (void **)&m);
	uffd = fd_linking("[userfaultfd]");
	cr_assert_geq(uffd, 0);
	cr_assert_eq(pipe(pipefd), 0);
	cr_assert_eq(dup2(pipefd[0], uffd), uffd);
	m[0] = 1;           /* would wait forever */
	fprintf(stderr, "fault served: %lu\n", (unsigned long)m[0]);
	/* Served when dup2 dropped the last reference to the userfaultfd
	 * (no handler was inside poll): the kernel unregistered the range
	 * and made the page itself. An idle handler finds the descriptor
	 * replaced within a second and must still end the process. */
	sleep(10);
}

Test(fds, uffd_replaced_ends_the_process_rather_than_hang, .timeout = 60)
{
	char err[4096];
	int st = run_child(uffd_replaced_then_fault, 30, err, sizeof(err));

	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		  "the process ends at once (status 0x%x, SIGALRM is a hang): %s", st, err);
	cr_expect(strstr(err, "(userfaultfd) was closed or replaced behind upager's back"),
		  "and says why: %s", err);
}

/* The regions' userfaultfd closed outright (raw close): evicted pages
 * must never come back as zeros. */
static void uffd_closed_then_read(void)
{
	uint64_t *m;
	int uffd;

	open_budgeted((void **)&m);
	fill(m, REGION, 3);
	while ((uffd = fd_linking("[userfaultfd]")) >= 0)
		close(uffd);
	for (size_t i = 0; i < REGION / 8; i++)
		if (m[i] != (i * 0x9e3779b97f4a7c15ull ^ 3)) {
			fprintf(stderr, "wrong bytes at word %zu\n", i);
			_exit(1);
		}
	_exit(0);
}

Test(fds, uffd_closed_ends_the_process_never_zeros, .timeout = 60)
{
	char err[4096];
	int st = run_child(uffd_closed_then_read, 30, err, sizeof(err));

	cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "status 0x%x: %s", st, err);
	cr_expect(!strstr(err, "wrong bytes"), "%s", err);
	cr_expect(strstr(err, "behind upager's back"), "says why: %s", err);
}
