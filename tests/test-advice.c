/* SPDX-License-Identifier: MIT */
/*
 * test-advice.c - fork advice (upager_advise) and the region tree: the
 * advice splits regions as it splits the kernel's VMAs, a forked child
 * honours it for pages upager evicted (WIPEONFORK: zeros; DONTFORK: not
 * mapped), a move carries it (pager_copy_advice), and a sequential touch
 * across a VMA boundary the tree does not know of completes.
 *
 * Children report through their exit status (0: every byte right).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "mm/pager.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define WORDS (PAGE / 8)
#define NPAGES 512u        /* 2 MiB */
#define BUDGET (1u << 20)  /* half of it: most pages are in swap at a fork */

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t word(size_t pg)
{
	return pg * 0x9e3779b97f4a7c15ull + 1;
}

static void stamp(uint64_t *mem, size_t pages)
{
	for (size_t pg = 0; pg < pages; pg++)
		mem[pg * WORDS] = word(pg);
}

static size_t bad_pages(const uint64_t *mem, size_t pages)
{
	size_t bad = 0;

	for (size_t pg = 0; pg < pages; pg++)
		bad += mem[pg * WORDS] != word(pg);
	return bad;
}

static size_t nonzero_pages(const uint64_t *mem, size_t pages)
{
	size_t bad = 0;

	for (size_t pg = 0; pg < pages; pg++)
		for (size_t w = 0; w < WORDS; w++)
			if (mem[pg * WORDS + w]) {
				bad++;
				break;
			}
	return bad;
}

static struct upager *open_pager(uint32_t budget)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = budget);

	return test_open(&o);
}

static uint64_t *map_stamped(struct upager *pager)
{
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)&mem), 0);
	stamp(mem, NPAGES);
	return mem;
}

static bool is_mapped(const void *p, size_t len)
{
	unsigned char vec[NPAGES];

	return !mincore((void *)p, len, vec);
}

/* The tree's regions, for the split and merge tests. */
static size_t regions(struct upager *pager)
{
	return pager->tree.count;
}

Test(advice, wipeonfork_child_reads_zeros_for_evicted_pages, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	uint64_t *mem = map_stamped(pager);
	pid_t pid;

	cr_assert_gt(stats_now(pager).writebacks, NPAGES / 4, "the pages were evicted");
	cr_assert_eq(upager_advise(pager, mem, NPAGES * PAGE, UPAGER_ADVISE_WIPEONFORK), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		size_t leaked = nonzero_pages(mem, NPAGES);

		/* The child's memory is its own, paged as any other. */
		stamp(mem, NPAGES);
		_exit(leaked ? 1 : bad_pages(mem, NPAGES) ? 2 : 0);
	}
	cr_assert_eq(wait_child(pid), 0, "the child read the parent's data (1) or lost its own (2)");
	cr_assert_eq(bad_pages(mem, NPAGES), 0, "the parent keeps its pages");
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0);
	upager_close(pager);
}

Test(advice, keeponfork_undoes_wipeonfork, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	uint64_t *mem = map_stamped(pager);
	pid_t pid;

	cr_assert_eq(upager_advise(pager, mem, NPAGES * PAGE, UPAGER_ADVISE_WIPEONFORK), 0);
	cr_assert_eq(upager_advise(pager, mem + 10 * WORDS, 10 * PAGE, UPAGER_ADVISE_KEEPONFORK),
		     0);
	cr_assert_eq(regions(pager), 3, "the advice split the region");
	cr_assert_eq(upager_advise(pager, mem, NPAGES * PAGE, UPAGER_ADVISE_KEEPONFORK), 0);
	cr_assert_eq(regions(pager), 1, "the same advice again: merged");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(bad_pages(mem, NPAGES) ? 1 : 0);
	cr_assert_eq(wait_child(pid), 0, "the child sees the parent's pages");
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	upager_close(pager);
}

Test(advice, dontfork_region_is_not_in_the_child, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	uint64_t *mem = map_stamped(pager);
	pid_t pid;

	cr_assert_eq(upager_advise(pager, mem + 100 * WORDS, 10 * PAGE, UPAGER_ADVISE_DONTFORK), 0);
	cr_assert_eq(regions(pager), 3);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		if (is_mapped(mem + 100 * WORDS, 10 * PAGE) || errno != ENOMEM)
			_exit(1);
		if (upager_query(pager, mem + 100 * WORDS, 10 * PAGE, NULL) != UPAGER_QUERY_NONE)
			_exit(2);
		/* The rest is there, swapped pages included. */
		for (size_t pg = 0; pg < NPAGES; pg++)
			if ((pg < 100 || pg >= 110) && mem[pg * WORDS] != word(pg))
				_exit(3);
		_exit(0);
	}
	int st = wait_child(pid);

	cr_assert_eq(st, 0, "status %d: mapped in the kernel (1), in the tree (2), lost (3)", st);
	cr_assert_eq(upager_advise(pager, mem, NPAGES * PAGE, UPAGER_ADVISE_DOFORK), 0);
	cr_assert_eq(regions(pager), 1);
	cr_assert_eq(bad_pages(mem, NPAGES), 0);
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0);
	upager_close(pager);
}

/* What madvise answers: EINVAL before anything, ENOMEM for a hole with
 * the mapped part advised all the same. */
Test(advice, answers_as_madvise, .timeout = 30)
{
	struct upager *pager = open_pager(0);
	char *mem;

	cr_assert_eq(upager_map(pager, NULL, 8 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	cr_assert_eq(upager_unmap(pager, mem + 4 * PAGE, 2 * PAGE), 0);
	cr_assert_eq(upager_advise(pager, mem + 1, PAGE, UPAGER_ADVISE_DONTFORK), -EINVAL);
	cr_assert_eq(upager_advise(pager, mem, PAGE, 99), -EINVAL);
	cr_assert_eq(upager_advise(pager, mem, 0, UPAGER_ADVISE_DONTFORK), 0);
	cr_assert_eq(regions(pager), 2);
	cr_assert_eq(upager_advise(pager, mem, 8 * PAGE, UPAGER_ADVISE_DONTFORK), -ENOMEM);
	cr_assert(region_find(&pager->tree, (uintptr_t)mem)->flags & REGION_DONTFORK);
	cr_assert(region_find(&pager->tree, (uintptr_t)mem + 7 * PAGE)->flags & REGION_DONTFORK);
	cr_assert_eq(upager_unmap(pager, mem, 8 * PAGE), 0);
	upager_close(pager);
}

/* The shim's mremap is a new mapping and a copy: the advice must come
 * along, as the kernel's move carries a VMA's flags. */
Test(advice, copy_carries_dontfork_to_the_new_range, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	uint64_t *mem = map_stamped(pager), *to;
	pid_t pid;

	cr_assert_eq(upager_advise(pager, mem, NPAGES * PAGE, UPAGER_ADVISE_DONTFORK), 0);
	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&to),
		     0);
	cr_assert_eq(pager_copy_advice(pager, mem, NPAGES * PAGE, to, NPAGES * PAGE), 0);
	memcpy(to, mem, NPAGES * PAGE);
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(is_mapped(to, NPAGES * PAGE) || errno != ENOMEM ? 1 : 0);
	cr_assert_eq(wait_child(pid), 0, "the moved range is in the child");
	cr_assert_eq(bad_pages(to, NPAGES), 0);
	cr_assert_eq(upager_unmap(pager, to, NPAGES * PAGE), 0);
	upager_close(pager);
}

static atomic_int errors_logged;

static void count_errors(enum upager_log_level level, const char *fmt, va_list args)
{
	(void)fmt;
	(void)args;
	if (level <= UPAGER_LOG_WARN)
		atomic_fetch_add(&errors_logged, 1);
}

/* A fork after DONTFORK: the child's pager leaves the range alone, and
 * says nothing about it (it used to try to register it page by page). */
Test(advice, fork_after_dontfork_is_quiet, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	uint64_t *mem = map_stamped(pager);
	upager_log_fn old;
	pid_t pid;

	cr_assert_eq(upager_advise(pager, mem, NPAGES * PAGE, UPAGER_ADVISE_DONTFORK), 0);
	old = upager_set_log(count_errors);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(atomic_load(&errors_logged) > 100 ? 100 : atomic_load(&errors_logged));
	upager_set_log(old);
	cr_assert_eq(wait_child(pid), 0, "the child's pager logged warnings or errors");
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	upager_close(pager);
}

/* Sequential first touches across a boundary of the kernel's VMAs that
 * the tree does not have (advice upager does not track splits the VMA):
 * a fault-around run across it is refused whole (ENOENT), which must
 * not be taken for "gone" and the thread woken to fault for ever. */
static void touch_across_split(uint32_t budget, int advice)
{
	struct upager *pager = open_pager(budget);
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem),
		     0);
	if (advice)
		cr_assert_eq(madvise(mem + 100 * WORDS, 10 * PAGE, advice), 0);
	else
		cr_assert_eq(upager_advise(pager, mem + 100 * WORDS, 10 * PAGE,
					   UPAGER_ADVISE_DONTFORK), 0);
	stamp(mem, NPAGES);
	cr_assert_eq(bad_pages(mem, NPAGES), 0);
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	upager_close(pager);
}

Test(advice, touch_across_untracked_split_completes, .timeout = 30)
{
	touch_across_split(0, MADV_RANDOM);
}

Test(advice, touch_across_untracked_split_completes_budgeted, .timeout = 30)
{
	touch_across_split(BUDGET, MADV_DONTDUMP);
}

Test(advice, touch_across_advised_split_completes, .timeout = 30)
{
	touch_across_split(BUDGET, 0);
}

/* Read faults install runs of the zero page (UFFDIO_ZEROPAGE). */
Test(advice, read_across_untracked_split_completes, .timeout = 30)
{
	struct upager *pager = open_pager(0);
	uint64_t *mem, sum = 0;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem),
		     0);
	cr_assert_eq(madvise(mem + 100 * WORDS, 10 * PAGE, MADV_RANDOM), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		sum += ((volatile uint64_t *)mem)[pg * WORDS];
	cr_assert_eq(sum, 0);
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	upager_close(pager);
}

/* A program registering its own userfaultfd over upager's memory gets
 * the range back first: the bytes it wrote (evicted ones read back),
 * untouched pages still untouched, nothing of it left in upager. */
Test(advice, release_gives_the_range_back, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	uint64_t *mem, *other;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	int fd;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem),
		     0);
	stamp(mem, NPAGES / 2);
	other = map_stamped(pager);
	cr_assert_gt(stats_now(pager).writebacks, NPAGES / 4, "the pages were evicted");
	cr_assert_eq(upager_release(pager, mem, NPAGES * PAGE), 0);
	cr_assert_eq(upager_query(pager, mem, NPAGES * PAGE, NULL), UPAGER_QUERY_NONE);
	cr_assert_eq(resident_pages(mem, NPAGES / 2 * PAGE), NPAGES / 2, "written pages are in");
	cr_assert_eq(resident_pages(mem + NPAGES / 2 * WORDS, NPAGES / 2 * PAGE), 0,
		     "untouched pages stay untouched");
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ioctl(fd, UFFDIO_API, &api), 0);
	reg.range.start = (uintptr_t)mem;
	reg.range.len = NPAGES * PAGE;
	cr_assert_eq(ioctl(fd, UFFDIO_REGISTER, &reg), 0, "UFFDIO_REGISTER: %s", strerror(errno));
	cr_assert_eq(bad_pages(mem, NPAGES / 2), 0);
	close(fd);
	munmap(mem, NPAGES * PAGE);
	cr_assert_eq(upager_unmap(pager, other, NPAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0, "the released pages' slots are free");
	upager_close(pager);
}
