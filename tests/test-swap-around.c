/* SPDX-License-Identifier: MIT */
/*
 * test-swap-around.c - read-around of swap-ins near recent faults
 * (core/readaround.h, fault-swap.c): pages used together but not in
 * order come back in fewer blocking reads, byte for byte; a scan that
 * begins among them is a stream again past the first window.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (4ul << 20)   /* 1024 pages */
#define REGION (8 * BUDGET)
#define NPAGES (REGION / PAGE)
#define CLUSTERS 200u

static uint64_t word(size_t pg, size_t w)
{
	uint64_t x = pg * 0x9e3779b97f4a7c15ull ^ (w + 1) * 0xbf58476d1ce4e5b9ull;

	return x ^ (x >> 29);
}

/* A pager swapping to @path (64 bytes), its REGION mapped at *@mem and
 * every page written with word(): the first pages long evicted. */
static struct upager *open_written(char *path, uint64_t **mem)
{
	struct upager *pager;
	int err;

	snprintf(path, 64, "/var/tmp/upager-test-around-%d", getpid());
	unlink(path);
	err = upager_open(&UPAGER_OPTS(.max_resident = BUDGET, .swap_path = path), &pager);
	cr_assert_eq(err, 0, "upager_open: %s", strerror(-err));
	cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)mem), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		for (size_t w = 0; w < PAGE / 8; w++)
			(*mem)[pg * PAGE / 8 + w] = word(pg, w);
	return pager;
}

/*
 * Eight pages of a record touched in an order no stream follows (as a
 * hash table's bucket and its neighbours, a B-tree node's children): the
 * kernel's swap read-ahead reads the cluster around the first miss; so
 * does upager once a fault lands near a recent one.
 */
Test(swap_around, pages_used_together_out_of_order_need_fewer_blocking_reads, .timeout = 120)
{
	static const unsigned int order[8] = { 5, 2, 7, 0, 3, 6, 1, 4 };
	char path[64];
	struct upager *pager;
	struct upager_stats before, after;
	uint64_t *mem, rng = test_seed(2020), wrong = 0, blocking, touched = 0;

	pager = open_written(path, &mem);
	before = stats_now(pager);
	for (unsigned int c = 0; c < CLUSTERS; c++) {
		/* Far apart, and long evicted: the first three quarters. */
		size_t base = (size_t)(rng_next(&rng) % (NPAGES * 3 / 4 / 8)) * 8;

		for (unsigned int k = 0; k < 8; k++) {
			size_t pg = base + order[k];

			for (size_t w = 0; w < PAGE / 8; w++)
				wrong += mem[pg * PAGE / 8 + w] != word(pg, w);
			touched++;
		}
	}
	after = stats_now(pager);
	blocking = (after.swapins - before.swapins) - (after.readahead_pages - before.readahead_pages);
	cr_log_info("%llu pages touched: %llu swap-ins, %llu read around, %llu blocking reads",
		    (unsigned long long)touched,
		    (unsigned long long)(after.swapins - before.swapins),
		    (unsigned long long)(after.readahead_pages - before.readahead_pages),
		    (unsigned long long)blocking);
	cr_assert_eq(wrong, 0, "%llu words wrong", (unsigned long long)wrong);
	/* One read per page without read-around; with it, the first two
	 * faults of a cluster bring the rest. */
	cr_assert_lt(blocking, touched / 2, "%llu blocking reads for %llu pages (seed %llu)",
		     (unsigned long long)blocking, (unsigned long long)touched,
		     (unsigned long long)test_seed(2020));
	cr_assert_eq(upager_unmap(pager, mem, REGION), 0);
	upager_close(pager);
	unlink(path);
}

/*
 * A program that touches a few pages of a cluster and then reads on
 * past it in order (the thread of mt-heap that verified one block and
 * goes on to the next): the read-around window around the first fault
 * counts as a stream's run, so the scan after it is read ahead as a
 * stream, mapped, a window doubling per fault, in requests as large as
 * the window. Were each window read around again, every window would
 * take a swap-in fault, a soft fault for its staged neighbours and at
 * least two requests.
 */
Test(swap_around, a_scan_begun_near_recent_faults_is_read_as_a_stream, .timeout = 120)
{
	enum { SCAN = 2048 };
	char path[64];
	struct upager *pager;
	struct upager_stats before, after;
	uint64_t *mem, wrong = 0, faults, ios;

	pager = open_written(path, &mem);
	before = stats_now(pager);
	/* Two faults near each other (read-around engages), then the scan
	 * from just past their cluster, all long evicted. */
	for (size_t pg = 5; pg < 8 + SCAN; pg = pg == 5 ? 2 : pg == 2 ? 8 : pg + 1)
		for (size_t w = 0; w < PAGE / 8; w++)
			wrong += mem[pg * PAGE / 8 + w] != word(pg, w);
	after = stats_now(pager);
	faults = after.faults - before.faults;
	ios = after.swap_read_ios - before.swap_read_ios;
	cr_log_info("%u pages scanned: %llu faults, %llu read requests, %llu read around",
		    SCAN, (unsigned long long)faults, (unsigned long long)ios,
		    (unsigned long long)(after.readahead_pages - before.readahead_pages));
	cr_assert_eq(wrong, 0, "%llu words wrong", (unsigned long long)wrong);
	/* A stream: about log2(128) faults to reach the largest window, then
	 * SCAN / 128; read around window after window, at least 2 * SCAN / 32. */
	cr_assert_lt(faults, SCAN / 32, "%llu faults for a %u-page scan", (unsigned long long)faults,
		     SCAN);
	cr_assert_lt(ios, SCAN / 32, "%llu read requests for a %u-page scan",
		     (unsigned long long)ios, SCAN);
	cr_assert_eq(upager_unmap(pager, mem, REGION), 0);
	upager_close(pager);
	unlink(path);
}
