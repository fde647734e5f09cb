/* SPDX-License-Identifier: MIT */
/*
 * test-input.c - handles and descriptors the API must refuse as the
 * kernel would: a closed pager's handle, an O_PATH descriptor; and the
 * reason for a SIGBUS, written before the signal ends the program.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "upager.h"

/* The handle is the pager's address: a new pager at a closed one's
 * address (malloc hands the same chunk back at once) must not make the
 * closed handle live again. */
Test(input, a_closed_handle_stays_closed, .timeout = 60)
{
	for (int i = 0; i < 8; i++) {
		struct upager *old, *now;
		void *a = NULL;

		cr_assert_eq(upager_open(NULL, &old), 0);
		upager_close(old);
		cr_assert_eq(upager_open(NULL, &now), 0);
		cr_assert_eq(upager_map(old, NULL, PAGE, UPAGER_PROT_READ, UPAGER_MAP_PRIVATE, &a),
			     -EBADF, "round %d: the closed handle %p was taken for the new pager %p",
			     i, (void *)old, (void *)now);
		cr_assert_eq(upager_map(now, NULL, PAGE, UPAGER_PROT_READ, UPAGER_MAP_PRIVATE, &a), 0);
		cr_assert_eq(upager_unmap(now, a, PAGE), 0);
		upager_close(now);
	}
}

/* An O_PATH descriptor opens nothing: mmap(2) answers EBADF. */
Test(input, map_file_refuses_an_o_path_descriptor, .timeout = 60)
{
	char path[] = "/var/tmp/upager-input-XXXXXX";
	int fd = mkstemp(path), pfd;
	struct upager *p;
	void *a = NULL;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4 * PAGE), 0);
	pfd = open(path, O_PATH | O_CLOEXEC);
	unlink(path);
	cr_assert_geq(pfd, 0);
	errno = 0;
	cr_assert_eq(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, pfd, 0), MAP_FAILED);
	cr_assert_eq(errno, EBADF, "the kernel's answer");
	cr_assert_eq(upager_open(NULL, &p), 0);
	cr_assert_eq(upager_map_file(p, NULL, PAGE, UPAGER_PROT_READ, UPAGER_MAP_SHARED, pfd, 0, &a),
		     -EBADF);
	cr_assert_eq(upager_map_file(p, NULL, PAGE, UPAGER_PROT_READ, UPAGER_MAP_PRIVATE, pfd, 0, &a),
		     -EBADF);
	cr_assert_eq(upager_map_file(p, NULL, PAGE, UPAGER_PROT_READ, UPAGER_MAP_SHARED, fd, 0, &a), 0);
	upager_close(p);
	close(pfd);
	close(fd);
}

/* A child with no SIGBUS handler touches a file page past the end of its
 * file: the reason must be on its stderr when SIGBUS ends it. */
static void sigbus_child(int err_fd)
{
	char path[] = "/var/tmp/upager-input-XXXXXX";
	int fd = mkstemp(path);
	struct upager *p;
	volatile unsigned char *a = NULL;

	dup2(err_fd, STDERR_FILENO);
	signal(SIGBUS, SIG_DFL); /* a sanitizer's runtime installs its own */
	unlink(path);
	if (fd < 0 || ftruncate(fd, PAGE) || upager_open(NULL, &p) ||
	    upager_map_file(p, NULL, 4 * PAGE, UPAGER_PROT_READ, UPAGER_MAP_SHARED, fd, 0,
			    (void **)&a))
		_exit(2);
	(void)a[3 * PAGE];
	_exit(3);
}

Test(input, sigbus_reason_is_written_before_the_signal, .timeout = 120)
{
	for (int i = 0; i < 20; i++) {
		char out[4096];
		size_t got = 0;
		ssize_t n;
		int fds[2], status;
		pid_t pid;

		cr_assert_eq(pipe(fds), 0);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			sigbus_child(fds[1]);
		}
		close(fds[1]);
		while (got < sizeof(out) - 1 && (n = read(fds[0], out + got, sizeof(out) - 1 - got)) > 0)
			got += (size_t)n;
		out[got] = 0;
		close(fds[0]);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
			  "round %d: status 0x%x, not killed by SIGBUS", i, status);
		cr_assert(strstr(out, "SIGBUS"), "round %d: killed by SIGBUS, no reason written: \"%s\"",
			  i, out);
	}
}
