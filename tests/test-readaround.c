/* SPDX-License-Identifier: MIT */
/*
 * test-readaround.c - the read-around window (core/readaround.h) against
 * what it promises: far faults read alone, near ones a window that grows
 * while its pages are used and shrinks while they are not.
 */
#include <criterion/criterion.h>

#include "common.h"
#include "core/readaround.h"

Test(readaround, far_faults_read_alone_near_ones_a_window)
{
	struct readaround ra;

	readaround_init(&ra, 128);
	cr_assert_eq(readaround_window(&ra, 1000), 1, "nothing before it");
	cr_assert_eq(readaround_window(&ra, 100000), 1, "far from the one before");
	cr_assert_eq(readaround_window(&ra, 1000 + READAROUND_NEAR), READAROUND_START,
		     "within READAROUND_NEAR of an earlier fault");
	cr_assert_eq(readaround_window(&ra, 1000 + 3 * READAROUND_NEAR), 1);
	readaround_init(&ra, 4);
	readaround_window(&ra, 10);
	cr_assert_eq(readaround_window(&ra, 12), 4, "at most max");
}

Test(readaround, random_faults_over_a_large_set_never_read_around)
{
	struct readaround ra;
	uint64_t rng = test_seed(20), extra = 0;

	readaround_init(&ra, 128);
	for (int i = 0; i < 100000; i++)
		extra += readaround_window(&ra, rng_next(&rng) % (1u << 26)) - 1;
	/* 16 recent faults of 64 Mi pages: one in ~65k falls near one. */
	cr_assert_lt(extra, 200, "%llu pages read around", (unsigned long long)extra);
}

/* Faults over a set of @span pages; a fraction @used_pct of each window's
 * pages is touched. Returns the window after many faults. */
static uint32_t window_after(uint32_t span, unsigned int used_pct)
{
	struct readaround ra;
	uint64_t rng = test_seed(21);

	readaround_init(&ra, 128);
	for (int i = 0; i < 5000; i++) {
		uint32_t w = readaround_window(&ra, rng_next(&rng) % span);

		if (w > 1) {
			readaround_read(&ra, w - 1);
			for (uint32_t k = 0; k < ((w - 1) * used_pct + 50) / 100; k++)
				readaround_hit(&ra);
		}
	}
	return ra.window;
}

Test(readaround, window_follows_what_its_pages_were_worth)
{
	cr_assert_eq(window_after(256, 90), 128, "used: grows to max");
	cr_assert_eq(window_after(256, 5), 1, "unused: shrinks to nothing");
	cr_assert_eq(window_after(256, 40), READAROUND_START, "in between: kept");
}

Test(readaround, shrunk_window_probes_beside_the_last_fault)
{
	struct readaround ra;

	readaround_init(&ra, 128);
	ra.window = 1;
	readaround_window(&ra, 500);
	cr_assert_eq(readaround_window(&ra, 501), 2);
	cr_assert_eq(readaround_window(&ra, 700), 1);
}
