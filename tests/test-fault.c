/* SPDX-License-Identifier: MIT */
/*
 * test-fault.c - faults: SIGSEGV classification and faults raised inside
 * system calls, side by side with the kernel; fault-around and the
 * statistics, measured from outside (mincore) where possible.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define RO UPAGER_PROT_READ

static void classification(struct mem *m, struct transcript *t)
{
	unsigned char *p;

	/* [0,4) RW | [4,6) hole | [6,8) RO | [8,10) NONE | [10,12) RW */
	cr_assert_eq(mem_map(m, NULL, 12 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	cr_assert_eq(mem_unmap(m, p + 4 * PAGE, 2 * PAGE), 0);
	cr_assert_eq(mem_protect(m, p + 6 * PAGE, 2 * PAGE, RO), 0);
	cr_assert_eq(mem_protect(m, p + 8 * PAGE, 2 * PAGE, UPAGER_PROT_NONE), 0);

	transcript_access(t, "read RW", p, probe_read(p + 100));
	transcript_access(t, "write RW", p, probe_write(p + PAGE + 100, 5));
	transcript_access(t, "read hole", p, probe_read(p + 4 * PAGE + 123));
	transcript_access(t, "write hole", p, probe_write(p + 5 * PAGE + 4095, 1));
	transcript_access(t, "read RO", p, probe_read(p + 6 * PAGE + 9));
	transcript_access(t, "write RO", p, probe_write(p + 7 * PAGE + 77, 1));
	transcript_access(t, "read NONE", p, probe_read(p + 8 * PAGE + 1));
	transcript_access(t, "write NONE", p, probe_write(p + 9 * PAGE + 2, 1));
	transcript_access(t, "read RW after", p, probe_read(p + 10 * PAGE));
	transcript_access(t, "write RW after", p, probe_write(p + 11 * PAGE + 11, 6));
	transcript_access(t, "read back", p, probe_read(p + 11 * PAGE + 11));
	cr_assert_eq(mem_unmap(m, p, 12 * PAGE), 0);
}

Test(fault, sigsegv_classification_like_kernel, .timeout = 20)
{
	differential(classification);
}

static void syscall_faults(struct mem *m, struct transcript *t)
{
	unsigned char *p, buf[3 * PAGE];
	char path[] = "/tmp/upager-test-XXXXXX";
	int fds[2], fd;
	ssize_t n;

	cr_assert_eq(mem_map(m, NULL, 16 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	cr_assert_eq(mem_unmap(m, p + 12 * PAGE, PAGE), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);

	/* The kernel writes into untouched pages: a fault inside read(2). */
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	n = pread(fd, p + 100, sizeof(buf), 0);
	transcript_printf(t, "pread into untouched: %zd, match %d\n", n,
			  n > 0 && !memcmp(p + 100, buf, (size_t)n));
	/* The kernel reads untouched pages: write(2) from them sends zeros. */
	cr_assert_eq(pipe(fds), 0);
	n = write(fds[1], p + 5 * PAGE, 2 * PAGE);
	transcript_printf(t, "write from untouched: %zd\n", n);
	n = read(fds[0], buf, sizeof(buf));
	transcript_printf(t, "  read back %zd, zero %d\n", n,
			  n == 2 * (ssize_t)PAGE && !memcmp(buf, p + 9 * PAGE, 2 * PAGE));
	/* Into the hole: EFAULT, not a signal. */
	n = pread(fd, p + 12 * PAGE - 10, 100, 0);
	transcript_printf(t, "pread across into hole: %zd errno %s\n", n,
			  n < 0 ? strerrorname_np(errno) : "-");
	n = pread(fd, p + 12 * PAGE + 10, 100, 0);
	transcript_printf(t, "pread into hole: %zd errno %s\n", n, n < 0 ? strerrorname_np(errno) : "-");
	/* Into a read-only page: EFAULT too. */
	cr_assert_eq(mem_protect(m, p + 14 * PAGE, PAGE, RO), 0);
	n = pread(fd, p + 14 * PAGE, 100, 0);
	transcript_printf(t, "pread into RO: %zd errno %s\n", n, n < 0 ? strerrorname_np(errno) : "-");
	close(fd);
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(mem_unmap(m, p, 16 * PAGE), 0);
}

Test(fault, faults_inside_system_calls_like_kernel, .timeout = 20)
{
	differential(syscall_faults);
}

Test(fault, sequential_touch_takes_few_faults, .timeout = 20)
{
	enum { N = 8192 };
	struct upager *pager;
	struct upager_stats st;
	unsigned char *p;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, N * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	for (size_t i = 0; i < N; i++)
		p[i * PAGE + i % PAGE] = (unsigned char)i;
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(p[i * PAGE + i % PAGE], (unsigned char)i);
	st = stats_now(pager);
	/* Windows double from 1 to 256: 9 faults, then one per 256 pages. */
	cr_assert_leq(st.faults, 9 + N / 256 + 8, "%lu faults for %d sequential pages",
		      (unsigned long)st.faults, N);
	cr_assert_eq(st.zero_fills, N);
	cr_assert_eq(st.pages_resident, N);
	cr_assert_eq(resident_pages(p, N * PAGE), N, "the kernel sees every page in");
	upager_close(pager);
}

/* A buffer filled from its end down (sort(1) fills its own so) is served
 * in runs too, below the faulting page; with and without a budget. */
static void descending_touch(uint64_t budget)
{
	enum { N = 8192 };
	struct upager_options o = UPAGER_OPTS(.max_resident = budget);
	struct upager *pager;
	struct upager_stats st;
	unsigned char *p;

	pager = open_mapped(&o, N, (void **)&p);
	for (size_t i = N; i-- > 0;)
		p[i * PAGE + i % PAGE] = (unsigned char)i;
	st = stats_now(pager);
	/* Windows double up to 256 pages (128 under a budget: one reclaim
	 * batch of frames at a time); a random order would take N faults. */
	cr_assert_leq(st.faults, 9 + N / (budget ? 128 : 256) + 8,
		      "%lu faults for %d descending pages", (unsigned long)st.faults, N);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(p[i * PAGE + i % PAGE], (unsigned char)i);
	cr_assert_eq(stats_now(pager).zero_fills, N);
	upager_close(pager);
}

/* A downward run meets a page already there (touched earlier, out of
 * order): the faulting page is served alone, not refused forever. */
Test(fault, downward_run_over_a_present_page, .timeout = 20)
{
	struct upager *pager;
	volatile unsigned char *p;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 64 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	p[10 * PAGE] = 10; /* a stream starts at page 10 */
	p[8 * PAGE] = 8;   /* page 8 is there */
	p[9 * PAGE] = 9;   /* just below the stream: a run down from it would start at 8 */
	cr_assert_eq(p[8 * PAGE] + p[9 * PAGE] + p[10 * PAGE], 27);
	upager_close(pager);
}

Test(fault, descending_touch_takes_few_faults, .timeout = 20)
{
	descending_touch(0);
	descending_touch(64ul << 20);
}

/* Write one byte of @touches pages of @p (@n pages) picked at random;
 * returns how many distinct pages that was. */
static size_t touch_at_random(unsigned char *p, size_t n, int touches, uint64_t *rng)
{
	unsigned char *touched = calloc(n, 1);
	size_t distinct = 0;

	cr_assert_not_null(touched);
	for (int i = 0; i < touches; i++) {
		size_t pg = rng_next(rng) % n;

		p[pg * PAGE] = 1;
		distinct += !touched[pg];
		touched[pg] = 1;
	}
	free(touched);
	return distinct;
}

Test(fault, random_touch_does_not_inflate_resident_set, .timeout = 30)
{
	enum { N = 16384, TOUCH = 1024 };
	uint64_t rng = test_seed(5);
	struct upager *pager;
	struct upager_stats st;
	unsigned char *p;
	size_t distinct;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, N * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	distinct = touch_at_random(p, N, TOUCH, &rng);
	st = stats_now(pager);
	/* A random fault can land just after an earlier one by chance and
	 * install two pages; anything more is inflation. */
	cr_assert_leq(resident_pages(p, N * PAGE), distinct + distinct / 50 + 2,
		      "%zu pages resident for %zu touched", resident_pages(p, N * PAGE), distinct);
	cr_assert_eq(st.pages_resident, resident_pages(p, N * PAGE), "counted %lu, mincore %zu, zero fills %lu, faults %lu, distinct %zu",
		(unsigned long)st.pages_resident, resident_pages(p, N * PAGE), (unsigned long)st.zero_fills, (unsigned long)st.faults, distinct);
	upager_close(pager);
}

/*
 * An allocator fills one fresh region after another (malloc's arenas,
 * Python's): each is touched in order from its start. Once that has been
 * seen, a fresh region starts with a large window instead of one page;
 * then random touches shrink it back, wasting a bounded number of pages.
 */
Test(fault, fresh_regions_filled_in_order_take_few_faults, .timeout = 30)
{
	enum { REGIONS = 32, PAGES = 256, N = 16384, TOUCH = 256 };
	struct upager *pager;
	unsigned char *r[REGIONS], *p;
	uint64_t faults, rng = test_seed(9);
	size_t distinct;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	for (int i = 0; i < REGIONS; i++)
		cr_assert_eq(upager_map(pager, NULL, PAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
					(void **)&r[i]), 0);
	for (int i = 0; i < REGIONS; i++)
		for (size_t pg = 0; pg < PAGES; pg++)
			r[i][pg * PAGE] = (unsigned char)pg;
	faults = stats_now(pager).faults;
	/* A window starting at one page each time: 9 faults a region
	 * (1 + 2 + ... + 128 pages, then one). */
	cr_assert_leq(faults, REGIONS * 9 / 3, "%llu faults for %d regions of %d pages",
		      (unsigned long long)faults, REGIONS, PAGES);
	for (int i = 0; i < REGIONS; i++)
		for (size_t pg = 0; pg < PAGES; pg++)
			cr_assert_eq(r[i][pg * PAGE], (unsigned char)pg);
	cr_assert_eq(upager_map(pager, NULL, N * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	distinct = touch_at_random(p, N, TOUCH, &rng);
	/* The first random touches still get the large window, halved at
	 * each: about twice the largest one is wasted (128 + 64 + ...),
	 * and a little more when a touch lands just past a run. */
	cr_assert_leq(resident_pages(p, N * PAGE), distinct + distinct / 50 + 3 * 128,
		      "%zu pages resident for %zu touched", resident_pages(p, N * PAGE), distinct);
	upager_close(pager);
}

Test(fault, fault_around_can_be_turned_off, .timeout = 20)
{
	struct upager_options o = UPAGER_OPTS(.fault_around_max = 1);
	struct upager *pager;
	unsigned char *p;

	pager = open_mapped(&o, 512, (void **)&p);
	for (size_t i = 0; i < 512; i++)
		p[i * PAGE] = 1;
	cr_assert_eq(stats_now(pager).faults, 512);
	cr_assert_eq(stats_now(pager).fault_around_pages, 0);
	upager_close(pager);
}

Test(fault, read_fault_then_write, .timeout = 20)
{
	struct upager *pager;
	struct upager_stats st;
	unsigned char *p;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 4 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	cr_assert_eq(p[PAGE + 1], 0);
	st = stats_now(pager);
	cr_assert_eq(st.faults_read, 1);
	cr_assert_eq(st.faults_write, 0);
	p[PAGE + 1] = 42; /* the zero page is replaced by the kernel's COW */
	cr_assert_eq(p[PAGE + 1], 42);
	cr_assert_eq(p[PAGE], 0);
	cr_assert_eq(stats_now(pager).faults, 1, "a write after a read fault is the kernel's");
	upager_close(pager);
}

Test(fault, statistics_follow_unmap, .timeout = 20)
{
	struct upager_options o = UPAGER_OPTS(.fault_around_max = 1);
	struct upager *pager;
	struct upager_stats st;
	unsigned char *p;

	pager = open_mapped(&o, 64, (void **)&p);
	for (size_t i = 0; i < 64; i += 2)
		p[i * PAGE] = 1;
	st = stats_now(pager);
	cr_assert_eq(st.pages_resident, 32);
	cr_assert_eq(st.faults, 32);
	cr_assert_gt(st.service_ns_p50, 0);
	cr_assert_geq(st.service_ns_p99, st.service_ns_p50);
	cr_assert_geq(st.service_ns_max, st.service_ns_p99);
	cr_assert_eq(upager_unmap(pager, p + 16 * PAGE, 16 * PAGE), 0);
	st = stats_now(pager);
	cr_assert_eq(st.pages_resident, 24);
	cr_assert_eq(st.regions, 2);
	upager_close(pager);
}

Test(fault, device_node_fallback, .timeout = 20)
{
	struct upager *pager;
	unsigned char *p;
	int err;

	if (access("/dev/userfaultfd", R_OK | W_OK))
		cr_skip_test("/dev/userfaultfd is not accessible here");
	/* Pretend the syscall is refused: the device node must serve. */
	setenv("UPAGER_UFFD_FORCE_DEV", "1", 1);
	err = upager_open(NULL, &pager);
	cr_assert_eq(err, 0, "upager_open through /dev/userfaultfd: %s", strerror(-err));
	cr_assert_eq(upager_map(pager, NULL, 8 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	p[3 * PAGE] = 9;
	cr_assert_eq(p[3 * PAGE], 9);
	cr_assert_eq(stats_now(pager).faults, 1);
	upager_close(pager);
}

Test(fault, stray_access_next_to_a_region_does_not_stop_the_pager, .timeout = 20)
{
	struct upager *pager;
	unsigned char *p;

	/* Mappings are placed top-down, so what lies just past a region made
	 * right after upager_open is often the pager's own doorbell page.
	 * Touching it must not be taken for upager_close(). */
	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 4 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	(void)probe_read(p + 4 * PAGE);
	(void)probe_read(p + 5 * PAGE);
	p[2 * PAGE] = 7; /* hangs if the handler thread has gone */
	cr_assert_eq(p[2 * PAGE], 7);
	upager_close(pager);
}
