/* SPDX-License-Identifier: MIT */
/*
 * test-stats.c - the latency histogram against exact sorted percentiles.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "core/hist.h"

Test(stats, bucket_bounds_contain_their_values)
{
	uint64_t rng = 1;

	for (int i = 0; i < 100000; i++) {
		uint64_t v = rng_next(&rng) >> (rng_next(&rng) % 64);
		unsigned int b = hist_bucket_of(v);

		if (b >= HIST_BUCKETS || hist_bucket_upper(b) < v || hist_bucket_lower(b) > v ||
		    (b && hist_bucket_upper(b - 1) >= v))
			cr_assert_fail("value %lu in bucket %u of upper bound %lu", (unsigned long)v, b,
				       (unsigned long)(b < HIST_BUCKETS ? hist_bucket_upper(b) : 0));
	}
	cr_assert_eq(hist_bucket_upper(hist_bucket_of(UINT64_MAX)), UINT64_MAX);
	cr_assert_eq(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1, "the last bucket is used");
	/* Contiguous: each bucket starts right after the one before. */
	for (unsigned int b = 1; b < HIST_BUCKETS; b++)
		cr_assert_eq(hist_bucket_lower(b), hist_bucket_upper(b - 1) + 1, "bucket %u", b);
	/* At most 1/HIST_SUB of its values wide (the stated precision). */
	for (unsigned int b = HIST_SUB; b < HIST_BUCKETS; b++)
		cr_assert_leq(hist_bucket_upper(b) - hist_bucket_lower(b), hist_bucket_lower(b) / HIST_SUB,
			      "bucket %u", b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(stats, percentiles_within_one_bucket_of_exact)
{
	enum { N = 20000 };
	static struct hist h;
	static uint64_t v[N];
	uint64_t rng = 99;

	memset(&h, 0, sizeof(h));
	cr_assert_eq(hist_percentile(&h, 500), 0, "empty histogram reads 0");
	for (int i = 0; i < N; i++) {
		/* Latency-like: mostly 10-20 us, a tail to 5 ms. */
		v[i] = 10000 + rng_next(&rng) % 10000;
		if (i % 100 == 0)
			v[i] = 100000 + rng_next(&rng) % 5000000;
		hist_record(&h, v[i]);
	}
	qsort(v, N, sizeof(v[0]), cmp_u64);
	for (unsigned int pm = 10; pm <= 1000; pm += 10) {
		uint64_t exact = v[(N * pm + 999) / 1000 - 1];
		uint64_t got = hist_percentile(&h, pm);

		/* The reported value is the bucket's upper bound: never below
		 * the exact percentile, at most one sub-bucket (6.25%) above. */
		cr_assert_geq(got, exact, "p%u.%u", pm / 10, pm % 10);
		cr_assert_leq(got, exact + exact / HIST_SUB + 1, "p%u.%u: %lu vs exact %lu", pm / 10, pm % 10,
			      (unsigned long)got, (unsigned long)exact);
	}
	cr_assert_eq(hist_percentile(&h, 1000), v[N - 1], "p100 is the maximum");
	cr_assert_eq(h.max, v[N - 1]);
}

/* Octave sums for the one-bar-per-power-of-two drawings: each value's
 * bucket counted in its octave, the non-empty span and the largest sum. */
Test(stats, octaves_sum_buckets_per_power_of_two)
{
	static const uint64_t values[] = { 5, 100, 120, 127, 5000, 5000 };
	struct hist_snapshot s = { .count = 0 };
	struct hist_octaves oc;
	uint64_t total = 0;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		s.bucket[hist_bucket_of(values[i])]++;
	hist_octaves(s.bucket, &oc);
	/* 5: octave 0; 100..127: leading bit 6, octave 3; 5000: bit 12, octave 9. */
	cr_assert_eq(oc.n[0], 1);
	cr_assert_eq(oc.n[3], 3);
	cr_assert_eq(oc.n[9], 2);
	for (unsigned int o = 0; o < HIST_OCTAVES; o++)
		total += oc.n[o];
	cr_assert_eq(total, 6);
	cr_assert_eq(oc.first, 0);
	cr_assert_eq(oc.last, 9);
	cr_assert_eq(oc.top, 3);

	memset(s.bucket, 0, sizeof(s.bucket));
	hist_octaves(s.bucket, &oc);
	cr_assert_gt(oc.first, oc.last, "none: an empty span");
	cr_assert_eq(oc.top, 0);
}
