/* SPDX-License-Identifier: MIT */
/*
 * test-staging.c - the staging-slot allocator (core/staging.h) against a
 * reference model: runs taken next-fit, releases one by one, in sorted
 * runs and in deferred batches.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>

#include "common.h"
#include "core/staging.h"

/* The reference: a bool per slot and the cursor, scanned the plain way. */
struct model {
	bool used[300];
	uint32_t n, cursor;
	uint32_t pending[DISCARD_BATCH];
	uint32_t npending;
};

/* Next-fit: the first free slot at or after the cursor, wrapping once;
 * the run from it, not past the last slot, at most @want long. */
static uint32_t model_alloc(struct model *m, uint32_t want, uint32_t *start)
{
	uint32_t from = m->cursor < m->n ? m->cursor : 0;

	for (uint32_t off = 0; off < m->n; off++) {
		uint32_t i = (from + off) % m->n, len = 0;

		if (m->used[i])
			continue;
		while (len < want && i + len < m->n && !m->used[i + len])
			m->used[i + len++] = true;
		m->cursor = i + len;
		*start = i;
		return len;
	}
	return 0;
}

static bool model_pending(const struct model *m, uint32_t k)
{
	for (uint32_t j = 0; j < m->npending; j++)
		if (m->pending[j] == k)
			return true;
	return false;
}

/* What a discard callback saw: the runs, in order. */
struct runs {
	const struct staging_slots *s;
	uint32_t start[DISCARD_BATCH * 2], len[DISCARD_BATCH * 2];
	uint32_t n;
	bool freed_early; /* a slot of a run was free before its discard */
};

static void record_run(void *arg, uint32_t start, uint32_t len)
{
	struct runs *r = arg;

	for (uint32_t k = start; k < start + len; k++)
		if (!staging_is_used(r->s, k))
			r->freed_early = true;
	r->start[r->n] = start;
	r->len[r->n] = len;
	r->n++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The runs @slots (distinct) make, sorted and coalesced, match @got. */
static void check_runs(uint64_t seed, int step, uint32_t *slots, uint32_t n,
		       const struct runs *got)
{
	uint32_t k = 0, run = 0;

	qsort(slots, n, sizeof(*slots), cmp_u32);
	cr_assert(!got->freed_early, "seed %" PRIu64 " step %d: a slot freed before its discard",
		  seed, step);
	for (; k < n; run++) {
		uint32_t len = 1;

		while (k + len < n && slots[k + len] == slots[k] + len)
			len++;
		if (run >= got->n || got->start[run] != slots[k] || got->len[run] != len)
			cr_assert_fail("seed %" PRIu64 " step %d: run %u: [%u, +%u), model [%u, +%u)",
				       seed, step, run, run < got->n ? got->start[run] : 0,
				       run < got->n ? got->len[run] : 0, slots[k], len);
		k += len;
	}
	cr_assert_eq(got->n, run, "seed %" PRIu64 " step %d: %u runs, model %u", seed, step,
		     got->n, run);
}

static void random_ops(uint32_t n, uint64_t seed_fallback)
{
	uint64_t seed = test_seed(seed_fallback), rng = seed;
	uint64_t *bits = calloc(1, staging_bitmap_bytes(n));
	struct staging_slots s;
	struct model m = { .n = n };
	int runs = 0, none = 0, batches = 0;

	cr_assert(n <= sizeof(m.used) / sizeof(m.used[0]));
	cr_assert_not_null(bits);
	staging_init(&s, n, bits);
	for (int step = 0; step < 20000; step++) {
		uint64_t r = rng_next(&rng);
		uint32_t op = (uint32_t)(r % 10), start = 0, want, len, mstart = 0, mlen;

		if (op < 4) {
			want = 1 + (uint32_t)((r >> 8) % 64);
			len = staging_alloc(&s, want, &start);
			mlen = model_alloc(&m, want, &mstart);
			runs += len > 1;
			none += !len;
			if (len != mlen || (len && start != mstart))
				cr_assert_fail("seed %" PRIu64 " step %d: alloc %u: [%u, +%u), model [%u, +%u)",
					       seed, step, want, start, len, mstart, mlen);
		} else if (op < 6) {
			/* Give back part of what is used, as a short move or a
			 * reactivation does. */
			start = (uint32_t)((r >> 8) % n);
			len = 1 + (uint32_t)((r >> 24) % 8);
			if (start + len > n)
				len = n - start;
			for (uint32_t k = start; k < start + len; k++)
				if (!m.used[k] || model_pending(&m, k))
					len = k - start;
			if (len) {
				staging_release(&s, start, len);
				for (uint32_t k = start; k < start + len; k++)
					m.used[k] = false;
			}
		} else if (op < 7) {
			/* Evicted pages: some used slots, in any order, not
			 * set aside for a discard already. */
			uint32_t slots[DISCARD_BATCH], copy[DISCARD_BATCH], ns = 0;
			uint32_t most = 1 + (uint32_t)((r >> 8) % 32);
			struct runs got = { .s = &s };

			for (uint32_t tries = 0; tries < 2 * most && ns < most; tries++) {
				uint32_t k = (uint32_t)(rng_next(&rng) % n);
				bool taken = model_pending(&m, k);

				for (uint32_t j = 0; j < ns; j++)
					taken |= slots[j] == k;
				if (m.used[k] && !taken)
					slots[ns++] = k;
			}
			memcpy(copy, slots, sizeof(slots));
			staging_release_many(&s, slots, ns, record_run, &got);
			check_runs(seed, step, copy, ns, &got);
			for (uint32_t j = 0; j < ns; j++)
				m.used[copy[j]] = false;
		} else {
			/* A page copied back: its slot waits for the batch. */
			uint32_t k = (uint32_t)((r >> 8) % n);
			bool full;

			if (!m.used[k] || model_pending(&m, k))
				continue;
			full = staging_defer_discard(&s, k);
			m.pending[m.npending++] = k;
			cr_assert_eq(full, m.npending == DISCARD_BATCH,
				     "seed %" PRIu64 " step %d: batch full at %u", seed, step, m.npending);
			batches += full;
			if (full || (r >> 16) % 128 == 0) {
				struct runs got = { .s = &s };

				staging_release_deferred(&s, record_run, &got);
				check_runs(seed, step, m.pending, m.npending, &got);
				for (uint32_t j = 0; j < m.npending; j++)
					m.used[m.pending[j]] = false;
				m.npending = 0;
				cr_assert_eq(s.ndiscard, 0);
			}
		}
		for (uint32_t k = 0; k < n; k++)
			if (staging_is_used(&s, k) != m.used[k])
				cr_assert_fail("seed %" PRIu64 " step %d: slot %u used %d, model %d", seed,
					       step, k, staging_is_used(&s, k), m.used[k]);
		/* Bits past the last slot stay clear. */
		for (uint32_t k = n; k < staging_bitmap_bytes(n) * 8; k++)
			cr_assert(!(bits[k / 64] & (1ull << (k % 64))), "bit %u past the end", k);
	}
	free(bits);
	cr_log_info("%u slots: %d runs, %d allocations found none, %d full batches", n, runs, none,
		    batches);
	/* The mix reached every part of the allocator. */
	cr_assert_gt(runs, 1000);
	cr_assert_gt(none, 0);
	cr_assert_gt(batches, 5);
}

Test(staging, random_operations_match_model)
{
	random_ops(300, 23);
}

Test(staging, random_operations_match_model_one_word)
{
	random_ops(64, 2323);
}

Test(staging, random_operations_match_model_odd_size)
{
	random_ops(97, 232323);
}

Test(staging, runs_are_next_fit_and_never_wrap)
{
	uint64_t bits[1] = { 0 };
	struct staging_slots s;
	uint32_t start;

	staging_init(&s, 10, bits);
	cr_assert_eq(staging_alloc(&s, 4, &start), 4);
	cr_assert_eq(start, 0);
	cr_assert_eq(staging_alloc(&s, 4, &start), 4);
	cr_assert_eq(start, 4);
	staging_release(&s, 0, 4);
	/* Next fit: after the last run, not the first free slot. */
	cr_assert_eq(staging_alloc(&s, 4, &start), 2, "the run stops at the last slot");
	cr_assert_eq(start, 8);
	cr_assert_eq(staging_alloc(&s, 4, &start), 4, "then wraps to the start");
	cr_assert_eq(start, 0);
	cr_assert_eq(staging_alloc(&s, 1, &start), 0, "all ten used");
}

Test(staging, sort_sorts)
{
	uint64_t rng = 31;

	for (int round = 0; round < 200; round++) {
		uint32_t a[300], b[300], n = (uint32_t)(rng_next(&rng) % 300);

		for (uint32_t k = 0; k < n; k++)
			a[k] = b[k] = (uint32_t)(rng_next(&rng) % 1000);
		staging_sort(a, n);
		qsort(b, n, sizeof(*b), cmp_u32);
		cr_assert_arr_eq(a, b, n * sizeof(*a), "round %d", round);
	}
}

Test(staging, bitmap_is_whole_words)
{
	cr_assert_eq(staging_bitmap_bytes(1), 8);
	cr_assert_eq(staging_bitmap_bytes(64), 8);
	cr_assert_eq(staging_bitmap_bytes(65), 16);
	cr_assert_eq(staging_bitmap_bytes(UINT32_MAX), ((size_t)UINT32_MAX + 63) / 64 * 8);
}
