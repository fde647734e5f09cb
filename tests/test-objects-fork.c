/* SPDX-License-Identifier: MIT */
/*
 * test-objects-fork.c - shared and file objects where the kernel's side
 * is hard: a file whose reads fail, and fork (shared mappings stay
 * shared, private ones are the child's own).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "objects-helpers.h"

/* ---- a file whose reads fail ------------------------------------------------- */

#ifdef EIOFS_PATH
#include <spawn.h>
#include <sys/mount.h>

#include "eiofs.h"

extern char **environ;

/* Mount eiofs on a fresh directory; its file's path in @data. Returns
 * the server's pid, or skips the test with the reason. */
static pid_t eiofs_mount(char *dir, char *data, size_t len)
{
	char *argv[] = { (char *)EIOFS_PATH, dir, (char *)"-f", (char *)"-s", NULL };
	posix_spawn_file_actions_t fa;
	struct stat st;
	pid_t pid;
	int err;

	strcpy(dir, "/var/tmp/upager-eiofs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(data, len, "%s/data", dir);
	/* Not on the test's output: a server outliving a failed test must
	 * not keep the runner waiting for the end of it. It ends with the
	 * test process (PR_SET_PDEATHSIG). */
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	err = posix_spawn(&pid, EIOFS_PATH, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		cr_skip_test("cannot start %s: %s", EIOFS_PATH, strerror(err));
	for (int i = 0; i < 500 && stat(data, &st); i++)
		usleep(10000);
	if (stat(data, &st)) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		rmdir(dir);
		cr_skip_test("FUSE file system did not come up (no /dev/fuse here?)");
	}
	return pid;
}

static void eiofs_unmount(const char *dir, pid_t pid)
{
	umount2(dir, MNT_DETACH);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	rmdir(dir);
}

Test(objects, file_read_errors_are_sigbus_never_zeros, .timeout = 60)
{
	char dir[64], data[96];
	pid_t server = eiofs_mount(dir, data, sizeof(data));
	int fd = open(data, O_RDONLY | O_CLOEXEC);
	volatile unsigned char *s, *p;
	struct upager *pager;
	char byte;

	cr_assert_geq(fd, 0, "%s: %s", data, strerror(errno));
	/* What the kernel answers for the bad page: EIO. */
	cr_assert_eq(pread(fd, &byte, 1, EIOFS_BAD_PAGE * EIOFS_PAGE), -1);
	cr_assert_eq(errno, EIO);
	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map_file(pager, NULL, EIOFS_PAGES * PAGE, RO, SHARED, fd, 0,
				     (void **)&s), 0);
	cr_assert_eq(upager_map_file(pager, NULL, EIOFS_PAGES * PAGE, RW, PRIVATE, fd, 0,
				     (void **)&p), 0);
	/* In order: the read-ahead that covers the bad page fails, and the
	 * good pages before it are still served. */
	for (size_t pg = 0; pg < EIOFS_PAGES; pg++) {
		struct access_result r = probe_read(s + pg * PAGE + 7);

		if (pg == EIOFS_BAD_PAGE) {
			cr_assert_eq(r.sig, SIGBUS, "shared page %zu: not SIGBUS", pg);
			cr_assert_eq(r.addr, (void *)(s + pg * PAGE + 7));
		} else {
			cr_assert_eq(r.sig, 0, "shared page %zu: signal %d", pg, r.sig);
			cr_assert_eq(r.value, eiofs_byte(pg, 7), "shared page %zu", pg);
		}
	}
	cr_assert_eq(probe_read(s + EIOFS_BAD_PAGE * PAGE).sig, SIGBUS, "and again");
	cr_assert_eq(probe_read(p + EIOFS_BAD_PAGE * PAGE).sig, SIGBUS, "private read");
	cr_assert_eq(probe_write(p + EIOFS_BAD_PAGE * PAGE + 1, 9).sig, SIGBUS,
		     "a private write needs the page's contents too");
	cr_assert_eq(p[(EIOFS_BAD_PAGE + 1) * PAGE], eiofs_byte(EIOFS_BAD_PAGE + 1, 0));
	/* Counted per fault upager answered; later touches of a page it
	 * poisoned get SIGBUS from the kernel without asking. */
	cr_assert_geq(stats_now(pager).sigbus, 2);
	upager_close(pager);
	close(fd);
	eiofs_unmount(dir, server);
}
#endif

/* ---- fork: shared mappings stay shared ---------------------------------------- */

/* Parent and child take turns through a pipe pair: each writes its own
 * generation into half of the pages and reads the other's. */
static void handshake_send(int fd)
{
	char c = 1;

	cr_assert_eq(write(fd, &c, 1), 1);
}

static bool handshake_wait(int fd)
{
	char c;

	return read(fd, &c, 1) == 1;
}

/* The child's side of shared_memory_stays_shared_across_fork: 0 on
 * success, else the step that failed. */
static int child_side(volatile uint64_t *m, size_t pages, int to_parent, int from_parent)
{
	for (size_t pg = 0; pg < pages; pg++)
		if (!page_is(m + pg * PAGE / 8, pg, 10))
			return 2; /* the parent's pages, evicted ones included */
	for (size_t pg = 0; pg < pages; pg += 2)
		page_fill(m + pg * PAGE / 8, pg, 11);
	handshake_send(to_parent);
	if (!handshake_wait(from_parent))
		return 3;
	for (size_t pg = 1; pg < pages; pg += 2)
		if (!page_is(m + pg * PAGE / 8, pg, 12))
			return 4; /* the parent's writes after the fork */
	return 0;
}

static void shared_across_fork(bool file)
{
	const size_t pages = 2 * TINY_BUDGET / PAGE * 4; /* 8x the budget */
	struct upager *pager = open_with_budget(TINY_BUDGET, 0);
	int fd = file ? make_file(pages, 0, O_RDWR) : -1, to_parent[2], to_child[2], status;
	volatile uint64_t *m;
	pid_t child;

	if (file)
		cr_assert_eq(upager_map_file(pager, NULL, pages * PAGE, RW, SHARED, fd, 0,
					     (void **)&m), 0);
	else
		cr_assert_eq(upager_map(pager, NULL, pages * PAGE, RW, SHARED, (void **)&m), 0);
	for (size_t pg = 0; pg < pages; pg++)
		page_fill(m + pg * PAGE / 8, pg, 10);
	cr_assert_gt(stats_now(pager).file_writes + stats_now(pager).writebacks, 0,
		     "pages were evicted before the fork");
	cr_assert_eq(pipe(to_parent), 0);
	cr_assert_eq(pipe(to_child), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (!child)
		_exit(child_side(m, pages, to_parent[1], to_child[0]));
	cr_assert(handshake_wait(to_parent[0]), "the child died");
	for (size_t pg = 0; pg < pages; pg += 2)
		cr_assert(page_is(m + pg * PAGE / 8, pg, 11), "the child's write to page %zu", pg);
	for (size_t pg = 1; pg < pages; pg += 2)
		page_fill(m + pg * PAGE / 8, pg, 12);
	handshake_send(to_child[1]);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && !WEXITSTATUS(status), "the child failed at step %d",
		  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	if (file) {
		cr_assert_eq(upager_unmap(pager, (void *)m, pages * PAGE), 0);
		for (size_t pg = 0; pg < pages; pg++) {
			uint64_t buf[PAGE / 8];

			cr_assert_eq(pread(fd, buf, PAGE, (off_t)(pg * PAGE)), (ssize_t)PAGE);
			cr_assert(page_is(buf, pg, pg % 2 ? 12 : 11), "file page %zu", pg);
		}
		close(fd);
	} else {
		cr_assert_eq(upager_unmap(pager, (void *)m, pages * PAGE), 0);
	}
	cr_assert_eq(stats_now(pager).slots_in_use, 0);
	upager_close(pager);
}

Test(objects, shared_anonymous_memory_stays_shared_across_fork, .timeout = 60)
{
	shared_across_fork(false);
}

Test(objects, shared_file_mapping_stays_shared_across_fork, .timeout = 60)
{
	shared_across_fork(true);
}

/*
 * A forked child's private copies of a file's pages are its own, also
 * when its pager evicts them: they are copied out of the child's memory
 * (its own /proc/self/mem), not out of the parent's, which holds other
 * bytes at the same addresses.
 */
static int private_child_side(struct upager *pager, volatile uint64_t *p, size_t pages)
{
	struct upager_stats before = UPAGER_STATS(), after = UPAGER_STATS();

	if (upager_stats_read(pager, &before))
		return 2;
	for (size_t pg = 0; pg < pages; pg++)
		page_fill(p + pg * PAGE / 8, pg, 21);
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < pages; pg++)
			if (!page_is(p + pg * PAGE / 8, pg, 21))
				return 3;
	if (upager_stats_read(pager, &after) || after.writebacks <= before.writebacks)
		return 4; /* nothing was evicted: the test proved nothing */
	return 0;
}

Test(objects, private_copies_in_a_forked_child_are_its_own, .timeout = 60)
{
	const size_t pages = 8 * TINY_BUDGET / PAGE;
	struct upager *pager = open_with_budget(TINY_BUDGET, 0);
	int fd = make_file(pages, 0, O_RDONLY), status;
	volatile uint64_t *p;
	pid_t child;

	cr_assert_eq(upager_map_file(pager, NULL, pages * PAGE, RW, PRIVATE, fd, 0,
				     (void **)&p), 0);
	for (size_t pg = 0; pg < pages; pg++)
		page_fill(p + pg * PAGE / 8, pg, 20);
	child = fork();
	cr_assert_geq(child, 0);
	if (!child)
		_exit(private_child_side(pager, p, pages));
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && !WEXITSTATUS(status), "the child failed at step %d",
		  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	for (size_t pg = 0; pg < pages; pg++)
		cr_assert(page_is(p + pg * PAGE / 8, pg, 20), "the parent's page %zu", pg);
	cr_assert_eq(upager_unmap(pager, (void *)p, pages * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0);
	upager_close(pager);
	close(fd);
}

/* A process that exits without closing its pager: its writes to a shared
 * file mapping reach the file all the same, as under the kernel. */
Test(objects, writes_reach_the_file_at_exit_without_close, .timeout = 60)
{
	int fd = make_file(64, 0, O_RDWR), status;
	pid_t child = fork();

	cr_assert_geq(child, 0);
	if (!child) {
		struct upager *pager;
		volatile uint64_t *m;

		if (upager_open(NULL, &pager) ||
		    upager_map_file(pager, NULL, 64 * PAGE, RW, SHARED, fd, 0, (void **)&m))
			_exit(2);
		for (size_t pg = 0; pg < 64; pg++)
			page_fill(m + pg * PAGE / 8, pg, 7);
		exit(0); /* no upager_close(), no sync */
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && !WEXITSTATUS(status));
	for (size_t pg = 0; pg < 64; pg++) {
		uint64_t buf[PAGE / 8];

		cr_assert_eq(pread(fd, buf, PAGE, (off_t)(pg * PAGE)), (ssize_t)PAGE);
		cr_assert(page_is(buf, pg, 7), "file page %zu", pg);
	}
	close(fd);
}
