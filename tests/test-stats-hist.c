/* SPDX-License-Identifier: MIT */
/*
 * test-stats-hist.c - upager_stats_hist(): each histogram's buckets against
 * the counters that count the same events, and its bad input.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)

static struct upager_hist_bucket buckets[UPAGER_HIST_MAX_BUCKETS];

/* Buckets ascending, disjoint, each holding samples; their sum the count;
 * the largest sample inside the last one. */
static void check_shape(const struct upager_hist *h)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < h->nbuckets; i++) {
		const struct upager_hist_bucket *b = &h->buckets[i];

		cr_assert_leq(b->lower_ns, b->upper_ns, "bucket %u", i);
		cr_assert_gt(b->count, 0, "bucket %u is empty", i);
		if (i)
			cr_assert_gt(b->lower_ns, h->buckets[i - 1].upper_ns, "bucket %u overlaps", i);
		/* Never wider than 1/16 of its values, past the exact ones. */
		if (b->lower_ns >= 16)
			cr_assert_leq(b->upper_ns - b->lower_ns + 1, b->lower_ns / 16 + 1, "bucket %u", i);
		sum += b->count;
	}
	cr_assert_eq(sum, h->count, "the buckets hold every sample");
	if (h->nbuckets) {
		cr_assert_geq(h->max_ns, h->buckets[h->nbuckets - 1].lower_ns);
		cr_assert_leq(h->max_ns, h->buckets[h->nbuckets - 1].upper_ns);
	}
}

static struct upager_hist read_hist(struct upager *pager, int which)
{
	struct upager_hist h = UPAGER_HIST(buckets, UPAGER_HIST_MAX_BUCKETS);

	cr_assert_eq(upager_stats_hist(pager, which, &h), 0);
	check_shape(&h);
	return h;
}

Test(stats_hist, fault_service_counts_every_fault)
{
	struct upager *pager;
	struct upager_stats st = UPAGER_STATS();
	struct upager_hist h;
	unsigned char *p;
	size_t len = 256 * PAGE;

	cr_assert_eq(upager_open(&UPAGER_OPTS(.fault_around_max = 1), &pager), 0);
	h = read_hist(pager, UPAGER_HIST_FAULT_SERVICE);
	cr_assert_eq(h.count, 0, "no fault yet");
	cr_assert_eq(h.nbuckets, 0);
	cr_assert_eq(upager_map(pager, NULL, len, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
	/* The handler records a fault's service after waking its thread:
	 * the last sample may come a moment after the touch returns. */
	for (int tries = 0;; tries++) {
		h = read_hist(pager, UPAGER_HIST_FAULT_SERVICE);
		cr_assert_eq(upager_stats_read(pager, &st), 0);
		if (h.count == st.faults || tries == 500)
			break;
		usleep(10000);
	}
	cr_assert_geq(st.faults, 256 / 16, "faults were served");
	cr_assert_eq(h.count, st.faults, "one sample per fault served: %lu vs %lu",
		     (unsigned long)h.count, (unsigned long)st.faults);
	cr_assert_eq(h.max_ns, st.service_ns_max);
	cr_assert_gt(h.nbuckets, 0);
	upager_close(pager);
}

Test(stats_hist, swap_histograms_count_io_and_are_empty_without_budget)
{
	char path[64];
	struct upager *pager;
	struct upager_stats st = UPAGER_STATS();
	struct upager_hist rd, wr;
	unsigned char *p;
	size_t len = 4096 * PAGE; /* 16 MiB through a 4 MiB budget */

	cr_assert_eq(upager_open(&UPAGER_OPTS(), &pager), 0);
	cr_assert_eq(read_hist(pager, UPAGER_HIST_SWAP_READ).count, 0);
	cr_assert_eq(read_hist(pager, UPAGER_HIST_SWAP_WRITE).count, 0);
	upager_close(pager);

	snprintf(path, sizeof(path), "/var/tmp/upager-test-hist-%d", getpid());
	cr_assert_eq(upager_open(&UPAGER_OPTS(.max_resident = 4u << 20, .swap_path = path), &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, len, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = (unsigned char)(i / PAGE + 1);
	for (size_t i = 0; i < len; i += PAGE)
		cr_assert_eq(p[i], (unsigned char)(i / PAGE + 1), "page %zu", i / PAGE);
	rd = read_hist(pager, UPAGER_HIST_SWAP_READ);
	wr = read_hist(pager, UPAGER_HIST_SWAP_WRITE);
	cr_assert_eq(upager_stats_read(pager, &st), 0);
	cr_assert_gt(st.swap_write_ios, 0);
	cr_assert_gt(st.swap_read_ios, 0);
	/* A sample per batch: at most one per I/O request, at least one. */
	cr_assert(wr.count >= 1 && wr.count <= st.swap_write_ios, "%lu write samples, %lu ios",
		  (unsigned long)wr.count, (unsigned long)st.swap_write_ios);
	cr_assert(rd.count >= 1 && rd.count <= st.swap_read_ios, "%lu read samples, %lu ios",
		  (unsigned long)rd.count, (unsigned long)st.swap_read_ios);
	upager_close(pager);
}

Test(stats_hist, small_array_and_bad_input)
{
	struct upager *pager;
	struct upager_hist h = UPAGER_HIST(buckets, 1);
	struct upager_hist_bucket one;
	unsigned char *p;
	uint32_t all;

	cr_assert_eq(upager_open(&UPAGER_OPTS(.fault_around_max = 1), &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 4096 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	for (size_t i = 0; i < 4096 * PAGE; i += PAGE)
		p[i] = 1;
	all = read_hist(pager, UPAGER_HIST_FAULT_SERVICE).nbuckets;
	if (all > 1) {
		h = UPAGER_HIST(&one, 1);
		cr_assert_eq(upager_stats_hist(pager, UPAGER_HIST_FAULT_SERVICE, &h), -ERANGE);
		cr_assert_eq(h.nbuckets, all, "says how many buckets there are");
		cr_assert_eq(one.lower_ns, buckets[0].lower_ns, "the first bucket copied");
	}
	h = UPAGER_HIST(NULL, 0);
	cr_assert_eq(upager_stats_hist(pager, UPAGER_HIST_FAULT_SERVICE, &h), all ? -ERANGE : 0,
		     "no array: only the totals");
	cr_assert_gt(h.count, 0);
	h = UPAGER_HIST(NULL, 4);
	cr_assert_eq(upager_stats_hist(pager, UPAGER_HIST_FAULT_SERVICE, &h), -EINVAL);
	h = UPAGER_HIST(buckets, UPAGER_HIST_MAX_BUCKETS);
	cr_assert_eq(upager_stats_hist(pager, 3, &h), -EINVAL);
	cr_assert_eq(upager_stats_hist(pager, -1, &h), -EINVAL);
	cr_assert_eq(upager_stats_hist(pager, UPAGER_HIST_FAULT_SERVICE, NULL), -EINVAL);
	h.sz = 8;
	cr_assert_eq(upager_stats_hist(pager, UPAGER_HIST_FAULT_SERVICE, &h), -EINVAL);
	upager_close(pager);
	h = UPAGER_HIST(buckets, UPAGER_HIST_MAX_BUCKETS);
	cr_assert_eq(upager_stats_hist(pager, UPAGER_HIST_FAULT_SERVICE, &h), -EBADF,
		     "a closed pager");
}
