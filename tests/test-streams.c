/* SPDX-License-Identifier: MIT */
/*
 * test-streams.c - the fault-around stream table (core/streams.h) against
 * a reference model, and the windows sequential, random and interleaved
 * faults earn.
 */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "common.h"
#include "core/streams.h"

/*
 * The reference: the policy as streams.h states it, kept the plain way.
 * Streams are an array searched in order (the first that matches wins,
 * as in the table), and recency is a list of slots, least recent first,
 * a slot moved to its end when used, instead of the table's clock.
 */
struct model_stream {
	bool used;
	uintptr_t next, low;
	unsigned int window;
};

struct model {
	struct model_stream s[FAULT_STREAMS];
	int lru[FAULT_STREAMS]; /* slots, least recently used first */
	unsigned int max, start;
	bool fresh_open;
	uintptr_t fresh_next;
};

static void model_init(struct model *m, unsigned int max)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < FAULT_STREAMS; i++)
		m->lru[i] = i; /* never used: lowest slot first */
	m->max = max ? max : 1;
	m->start = 1;
}

static void model_touch(struct model *m, int slot)
{
	int k = 0;

	while (m->lru[k] != slot)
		k++;
	for (; k + 1 < FAULT_STREAMS; k++)
		m->lru[k] = m->lru[k + 1];
	m->lru[FAULT_STREAMS - 1] = slot;
}

static unsigned int doubled(const struct model *m, unsigned int w)
{
	return 2 * w > m->max ? m->max : 2 * w;
}

/* The first stream whose next fault lands on @page, or -1. */
static int model_continued(const struct model *m, uintptr_t page)
{
	for (int i = 0; i < FAULT_STREAMS; i++)
		if (m->s[i].used && m->s[i].next == page)
			return i;
	return -1;
}

static unsigned int model_window(const struct model *m, uintptr_t page)
{
	int i;

	if (m->max == 1)
		return 1;
	i = model_continued(m, page);
	if (i >= 0)
		return doubled(m, m->s[i].window);
	/* The latest fresh stream has not gone on: this one starts smaller. */
	return m->fresh_open && m->start > 1 ? m->start / 2 : m->start;
}

static void model_advance(struct model *m, uintptr_t page, uintptr_t end)
{
	int i = model_continued(m, page);
	unsigned int w;

	if (m->max == 1)
		return;
	if (i >= 0) {
		w = 2 * m->s[i].window;
		if (m->fresh_open && m->fresh_next == page) {
			m->fresh_open = false;
			if (m->start < m->max / 2)
				m->start *= 2;
		}
	} else {
		i = m->lru[0];
		if (m->fresh_open && m->start > 1)
			m->start /= 2;
		w = m->start;
		m->fresh_open = true;
		m->fresh_next = end;
	}
	m->s[i] = (struct model_stream){ true, end, page, w > m->max ? m->max : w };
	model_touch(m, i);
}

static void model_trim(struct model *m, uintptr_t page, uintptr_t planned, uintptr_t end)
{
	if (m->max == 1)
		return;
	for (int i = 0; i < FAULT_STREAMS; i++)
		if (m->s[i].used && m->s[i].low == page && m->s[i].next == planned)
			m->s[i].next = end;
	if (m->fresh_open && m->fresh_next == planned)
		m->fresh_next = end;
}

static unsigned int model_window_down(const struct model *m, uintptr_t page)
{
	if (m->max == 1)
		return 0;
	for (int i = 0; i < FAULT_STREAMS; i++)
		if (m->s[i].used && m->s[i].low == page + PAGE && m->s[i].next != page)
			return doubled(m, m->s[i].window);
	return 0;
}

static void model_advance_down(struct model *m, uintptr_t low, uintptr_t page)
{
	if (m->max == 1)
		return;
	for (int i = 0; i < FAULT_STREAMS; i++) {
		if (m->s[i].used && m->s[i].low == page + PAGE) {
			m->s[i].window = doubled(m, m->s[i].window);
			m->s[i].low = low;
			m->s[i].next = page + PAGE;
			model_touch(m, i);
			return;
		}
	}
}

static void random_ops(unsigned int max, uint64_t seed_fallback)
{
	uint64_t seed = test_seed(seed_fallback), rng = seed;
	struct fault_streams fs;
	struct model m;
	uintptr_t cursor[4] = { 0, 0, 0, 0 };
	int grown = 0, fresh_grown = 0, down = 0, trims = 0;

	fault_streams_init(&fs, max, PAGE);
	model_init(&m, max);
	for (int step = 0; step < 20000; step++) {
		uint64_t r = rng_next(&rng);
		int walker = (int)(r % 4);
		uintptr_t page;
		unsigned int got, want;

		/* Mostly faults where a walker's stream goes on (up or down),
		 * sometimes anywhere in a small space, so that streams meet,
		 * collide and get replaced. */
		switch ((r >> 8) % 8) {
		case 0:
		case 1:
			page = (uintptr_t)(rng_next(&rng) % 256) * PAGE;
			break;
		case 2:
			page = cursor[walker] >= 2 * PAGE ? cursor[walker] - 2 * PAGE : 0;
			break;
		default:
			page = cursor[walker];
			break;
		}
		if ((r >> 16) % 4 == 0) {
			got = fault_streams_window_down(&fs, page);
			want = model_window_down(&m, page);
			if (got != want)
				cr_assert_fail("seed %" PRIu64 " step %d: window down at 0x%lx: %u, model %u",
					       seed, step, (unsigned long)page, got, want);
			down += got > 0;
			if (got && page >= PAGE) {
				uintptr_t low = page >= (got - 1) * PAGE ? page - (got - 1) * PAGE : 0;

				fault_streams_advance_down(&fs, low, page);
				model_advance_down(&m, low, page);
				cursor[walker] = low >= PAGE ? low - PAGE : 0;
			}
			continue;
		}
		got = fault_streams_window(&fs, page);
		want = model_window(&m, page);
		if (got != want)
			cr_assert_fail("seed %" PRIu64 " step %d: window at 0x%lx: %u, model %u", seed,
				       step, (unsigned long)page, got, want);
		if (got < 1 || got > (max ? max : 1))
			cr_assert_fail("seed %" PRIu64 " step %d: window %u outside 1..%u", seed, step,
				       got, max);
		grown += got > 1;
		fresh_grown += got > 1 && model_continued(&m, page) < 0;
		fault_streams_advance(&fs, page, page + got * PAGE);
		model_advance(&m, page, page + got * PAGE);
		cursor[walker] = page + got * PAGE;
		if ((r >> 24) % 8 == 0 && got > 1) {
			/* The run stopped short (a page already there, the
			 * region's end). */
			uintptr_t end = page + (1 + (rng_next(&rng) % (got - 1))) * PAGE;

			trims++;
			fault_streams_trim(&fs, page, page + got * PAGE, end);
			model_trim(&m, page, page + got * PAGE, end);
			cursor[walker] = end;
		}
	}
	fault_streams_destroy(&fs);
	cr_log_info("max %u: %d grown windows (%d fresh), %d down, %d trims", max, grown,
		    fresh_grown, down, trims);
	if (max > 1) {
		/* The mix reached every part of the policy. */
		cr_assert_gt(grown, 1000, "%d windows grown", grown);
		cr_assert_gt(fresh_grown, 10, "%d fresh streams started large", fresh_grown);
		cr_assert_gt(down, 100, "%d downward windows", down);
		cr_assert_gt(trims, 100, "%d trims", trims);
	}
}

Test(streams, random_faults_match_model)
{
	random_ops(256, 19);
}

Test(streams, random_faults_match_model_small_max)
{
	random_ops(8, 1919);
}

Test(streams, no_fault_around_is_one_page)
{
	random_ops(0, 7);
	random_ops(1, 8);
}

/* Run a sequential first touch of @n pages from @base: the windows it gets. */
static int walk(struct fault_streams *fs, uintptr_t base, unsigned int n, unsigned int *windows)
{
	int faults = 0;

	for (uintptr_t page = base; page < base + n * PAGE; faults++) {
		unsigned int w = fault_streams_window(fs, page);

		windows[faults] = w;
		fault_streams_advance(fs, page, page + w * PAGE);
		page += w * PAGE;
	}
	return faults;
}

Test(streams, sequential_touch_doubles_to_max)
{
	struct fault_streams fs;
	unsigned int windows[64];
	int faults;

	fault_streams_init(&fs, 16, PAGE);
	faults = walk(&fs, 0x100000, 1 + 2 + 4 + 8 + 16 * 4, windows);
	cr_assert_eq(faults, 8, "log2(16) + n / 16 faults, not %d", faults);
	for (int k = 0; k < faults; k++)
		cr_assert_eq(windows[k], k < 4 ? 1u << k : 16u, "fault %d: window %u", k, windows[k]);
	fault_streams_destroy(&fs);
}

Test(streams, random_touch_stays_at_one_page)
{
	struct fault_streams fs;
	uint64_t rng = 5;

	fault_streams_init(&fs, 256, PAGE);
	for (int k = 0; k < 1000; k++) {
		/* Far apart: no fault continues another. */
		uintptr_t page = (uintptr_t)(k * 4096 + (int)(rng_next(&rng) % 1024)) * PAGE;
		unsigned int w = fault_streams_window(&fs, page);

		cr_assert_eq(w, 1, "fault %d: window %u", k, w);
		fault_streams_advance(&fs, page, page + w * PAGE);
	}
	fault_streams_destroy(&fs);
}

Test(streams, ninth_stream_replaces_least_recent)
{
	struct fault_streams fs;
	uintptr_t next[FAULT_STREAMS + 1];

	fault_streams_init(&fs, 256, PAGE);
	/* Nine walkers far apart, each two faults into its stream, in turn. */
	for (int s = 0; s <= FAULT_STREAMS; s++)
		next[s] = ((uintptr_t)s << 30);
	for (int round = 0; round < 2; round++) {
		for (int s = 0; s < FAULT_STREAMS; s++) {
			unsigned int w = fault_streams_window(&fs, next[s]);

			fault_streams_advance(&fs, next[s], next[s] + w * PAGE);
			next[s] += w * PAGE;
		}
	}
	/* Walker 0 is the least recent; a ninth stream takes its slot. */
	fault_streams_advance(&fs, next[FAULT_STREAMS], next[FAULT_STREAMS] + PAGE);
	cr_assert_lt(fault_streams_window(&fs, next[0]), 4u, "walker 0's stream was replaced");
	for (int s = 1; s < FAULT_STREAMS; s++)
		cr_assert_geq(fault_streams_window(&fs, next[s]), 4u, "walker %d kept its stream", s);
	fault_streams_destroy(&fs);
}

Test(streams, downward_walk_continues_below)
{
	struct fault_streams fs;
	uintptr_t page = 0x800000;
	unsigned int w;

	fault_streams_init(&fs, 64, PAGE);
	cr_assert_eq(fault_streams_window_down(&fs, page), 0, "no stream yet");
	w = fault_streams_window(&fs, page);
	fault_streams_advance(&fs, page, page + w * PAGE);
	/* The page just below the run's start goes on downwards, doubling. */
	for (unsigned int expect = 2; expect <= 16; expect *= 2) {
		uintptr_t below = page - PAGE, low;

		w = fault_streams_window_down(&fs, below);
		cr_assert_eq(w, expect, "window down %u, expected %u", w, expect);
		low = below - (w - 1) * PAGE;
		fault_streams_advance_down(&fs, low, below);
		page = low;
	}
	fault_streams_destroy(&fs);
}
