/* SPDX-License-Identifier: MIT */
/*
 * test-fork.c - what fork does today: a pager without a budget leaves a
 * child a plain copy of its memory (as the kernel would); a pager with a
 * budget is not inherited (its regions are MADV_DONTFORK), so a child
 * that touches them gets SIGSEGV rather than zeros in place of evicted
 * pages. Either way the parent loses nothing, and a child can neither use
 * the parent's pager nor damage its swap store by closing it.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)

/* Run @fn in a child; returns its exit status (or 128 + signal). */
static int in_child(int (*fn)(struct upager *, unsigned char *), struct upager *pager,
		    unsigned char *mem)
{
	int status;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(fn(pager, mem));
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int child_reads_copy(struct upager *pager, unsigned char *mem)
{
	void *out;

	if (mem[0] != 11 || mem[5 * PAGE + 7] != 12)
		return 1; /* touched pages: the parent's bytes */
	if (mem[9 * PAGE] != 0)
		return 2; /* untouched pages: zeros */
	mem[0] = 99; /* the child's own copy */
	if (upager_map(pager, NULL, PAGE, RW, UPAGER_MAP_PRIVATE, &out) != -ECHILD)
		return 3;
	upager_close(pager); /* frees the copy, must not hang */
	return 0;
}

Test(fork, child_gets_a_copy_without_budget, .timeout = 30)
{
	struct upager *pager;
	unsigned char *mem;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 16 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	mem[0] = 11;
	mem[5 * PAGE + 7] = 12;
	cr_assert_eq(in_child(child_reads_copy, pager, mem), 0);
	cr_assert_eq(mem[0], 11, "the child's write stays in the child");
	mem[12 * PAGE] = 3; /* the parent's pager still serves faults */
	cr_assert_eq(mem[12 * PAGE], 3);
	upager_close(pager);
}

static int child_touches_budgeted(struct upager *pager, unsigned char *mem)
{
	struct access_result r = probe_read(mem);

	upager_close(pager); /* must not remove or punch the parent's store */
	return r.sig == SIGSEGV ? 0 : 1;
}

Test(fork, budgeted_regions_are_not_inherited, .timeout = 60)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = 1 << 20,
					      .swap_path = "/var/tmp/upager-test-fork-swap");
	struct upager *pager;
	uint64_t *mem;
	size_t n = 4096; /* 16 MiB: 16x the budget */

	unlink(o.swap_path);
	cr_assert_eq(upager_open(&o, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, n * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < n; pg++)
		mem[pg * PAGE / 8] = pg * 7 + 1;
	cr_assert_eq(in_child(child_touches_budgeted, pager, (unsigned char *)mem), 0,
		     "a child touching a budgeted region gets SIGSEGV");
	cr_assert_eq(access(o.swap_path, F_OK), 0, "the child left the parent's store alone");
	for (size_t pg = 0; pg < n; pg++)
		if (mem[pg * PAGE / 8] != pg * 7 + 1)
			cr_assert_fail("page %zu lost after fork", pg);
	upager_close(pager);
}
