/* SPDX-License-Identifier: MIT */
/*
 * test-victim.c - victim choice (core/victim.h) against a reference
 * second-chance model: which frames are taken, which are spared, and the
 * runs victims take with them.
 */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "common.h"
#include "core/victim.h"

enum { N = 96, RUN_MAX = 16 };

/*
 * The reference: second chance as the textbook states it, a FIFO queue
 * of resident pages with a reference bit each; the page at the head is
 * taken unless its bit is set, in which case the bit is cleared and the
 * page goes to the tail. Pages taken wait on a staged set until they are
 * evicted (freed) or touched, which brings them back to the tail with
 * their bit set.
 */
struct model {
	uint32_t queue[N]; /* active frames, oldest first */
	uint32_t nqueue;
	bool referenced[N];
	bool staged[N];
	uintptr_t addr[N];
};

static void model_remove(struct model *m, uint32_t i)
{
	uint32_t k = 0;

	while (m->queue[k] != i)
		k++;
	for (; k + 1 < m->nqueue; k++)
		m->queue[k] = m->queue[k + 1];
	m->nqueue--;
}

static void model_append(struct model *m, uint32_t i)
{
	m->queue[m->nqueue++] = i;
}

/* The queue's head run: consecutive pages below @end, unreferenced. */
static uint32_t model_run(const struct model *m, uintptr_t end, uint32_t max, uint32_t *run)
{
	uint32_t k = 1;

	run[0] = m->queue[0];
	while (k < max && k < m->nqueue) {
		uint32_t j = m->queue[k];

		if (m->addr[j] != m->addr[run[0]] + k * PAGE || m->addr[j] >= end ||
		    m->referenced[j])
			break;
		run[k++] = j;
	}
	return k;
}

static void check_same(uint64_t seed, int step, const struct frames *fr, const struct model *m)
{
	uint32_t k = 0;

	for (uint32_t i = frames_oldest(fr, FRAME_ACTIVE); i != FRAME_NONE; i = frames_next(fr, i), k++)
		if (k >= m->nqueue || m->queue[k] != i || fr->f[i].referenced != m->referenced[i])
			cr_assert_fail("seed %" PRIu64 " step %d: active #%u is frame %u (referenced %d), "
				       "model frame %u (referenced %d)", seed, step, k, i,
				       fr->f[i].referenced, k < m->nqueue ? m->queue[k] : FRAME_NONE,
				       k < m->nqueue ? m->referenced[m->queue[k]] : 0);
	cr_assert_eq(k, m->nqueue, "seed %" PRIu64 " step %d: %u active, model %u", seed, step, k,
		     m->nqueue);
	for (uint32_t i = 0; i < N; i++)
		if ((fr->f[i].list == FRAME_STAGED) != m->staged[i])
			cr_assert_fail("seed %" PRIu64 " step %d: frame %u staged %d, model %d", seed, step,
				       i, fr->f[i].list == FRAME_STAGED, m->staged[i]);
}

Test(victim, random_operations_match_second_chance)
{
	uint64_t seed = test_seed(29), rng = seed;
	struct model m = { .nqueue = 0 };
	uintptr_t next_addr = 0x10000000;
	struct frames fr;
	const char *why;
	int taken = 0, spared = 0, long_runs = 0;

	cr_assert_eq(frames_init(&fr, N), 0);
	for (int step = 0; step < 20000; step++) {
		uint64_t r = rng_next(&rng);
		uint32_t op = (uint32_t)(r % 10), i;

		if (op < 3) {
			/* A fault takes a frame: mostly the page after the last
			 * one (sequential work makes runs), sometimes anywhere. */
			uintptr_t addr = (r >> 8) % 4 ? next_addr
						      : 0x10000000 + (uintptr_t)((r >> 16) % 512) * PAGE;

			i = frames_take(&fr, NULL, 0, addr, FRAME_ACTIVE);
			if (i == FRAME_NONE)
				continue;
			next_addr = addr + PAGE;
			m.addr[i] = addr;
			m.referenced[i] = false;
			model_append(&m, i);
		} else if (op < 5) {
			/* A staged page touched: back, referenced (fault-swap.c). */
			i = frames_oldest(&fr, FRAME_STAGED);
			for (uint64_t skip = (r >> 8) % 8; skip && i != FRAME_NONE; skip--)
				i = frames_next(&fr, i);
			if (i == FRAME_NONE)
				continue;
			frames_move(&fr, i, FRAME_ACTIVE);
			fr.f[i].referenced = 1;
			m.staged[i] = false;
			m.referenced[i] = true;
			model_append(&m, i);
		} else if (op < 6) {
			/* The oldest staged page evicted. */
			i = frames_oldest(&fr, FRAME_STAGED);
			if (i == FRAME_NONE)
				continue;
			frames_release(&fr, i);
			m.staged[i] = false;
		} else {
			/* Reclaim stages the oldest active page and its run. */
			uint32_t run[RUN_MAX], mrun[RUN_MAX], len, mlen, moved;
			uintptr_t end;
			enum victim_choice c = victim_choose(&fr, &i);

			if (!m.nqueue) {
				cr_assert_eq(c, VICTIM_NONE, "seed %" PRIu64 " step %d: a victim from nothing",
					     seed, step);
				continue;
			}
			if (m.referenced[m.queue[0]]) {
				uint32_t head = m.queue[0];

				cr_assert_eq(c, VICTIM_SPARED, "seed %" PRIu64 " step %d: frame %u not spared",
					     seed, step, head);
				m.referenced[head] = false;
				model_remove(&m, head);
				model_append(&m, head);
				spared++;
				goto check;
			}
			if (c != VICTIM_TAKE || i != m.queue[0])
				cr_assert_fail("seed %" PRIu64 " step %d: choice %d frame %u, model takes %u",
					       seed, step, c, c == VICTIM_TAKE ? i : FRAME_NONE, m.queue[0]);
			taken++;
			/* The region ends somewhere after the page, or at it
			 * (no region: the page alone). */
			end = (r >> 8) % 8 ? m.addr[i] + (1 + (r >> 12) % 32) * PAGE : m.addr[i];
			len = victim_run(&fr, i, PAGE, end, run, 1 + (uint32_t)((r >> 20) % RUN_MAX));
			mlen = model_run(&m, end, 1 + (uint32_t)((r >> 20) % RUN_MAX), mrun);
			if (len != mlen || memcmp(run, mrun, len * sizeof(*run)))
				cr_assert_fail("seed %" PRIu64 " step %d: run of %u from frame %u, model %u",
					       seed, step, len, i, mlen);
			long_runs += len > 1;
			/* Moved, all or part (a short move), or not at all (the
			 * victim rotated to the newest end, as a failure is). */
			moved = (r >> 28) % 8 ? len : (uint32_t)((r >> 32) % (len + 1));
			for (uint32_t k = 0; k < moved; k++) {
				frames_move(&fr, run[k], FRAME_STAGED);
				model_remove(&m, run[k]);
				m.staged[run[k]] = true;
			}
			if (!moved) {
				frames_move(&fr, i, FRAME_ACTIVE);
				model_remove(&m, i);
				model_append(&m, i);
			}
		}
check:
		check_same(seed, step, &fr, &m);
		if (step % 100 == 0)
			cr_assert_eq(frames_validate(&fr, &why), 0, "%s", why);
	}
	/* The mix exercised every verdict. */
	cr_assert_gt(taken, 1000);
	cr_assert_gt(spared, 100);
	cr_assert_gt(long_runs, 100);
	frames_destroy(&fr);
}

Test(victim, hot_page_survives_a_round)
{
	struct frames fr;
	uint32_t a, b, c, v, run[4];

	cr_assert_eq(frames_init(&fr, 4), 0);
	a = frames_take(&fr, NULL, 0, 0x1000, FRAME_ACTIVE);
	b = frames_take(&fr, NULL, 1, 0x2000, FRAME_ACTIVE);
	c = frames_take(&fr, NULL, 2, 0x3000, FRAME_ACTIVE);
	/* b was staged and touched since. */
	frames_move(&fr, b, FRAME_STAGED);
	frames_move(&fr, b, FRAME_ACTIVE);
	fr.f[b].referenced = 1;
	frames_move(&fr, c, FRAME_ACTIVE); /* order: a, b, c */

	cr_assert_eq(victim_choose(&fr, &v), VICTIM_TAKE);
	cr_assert_eq(v, a);
	cr_assert_eq(victim_run(&fr, a, 0x1000, 0x10000, run, 4), 1, "b is referenced: a alone");
	frames_move(&fr, a, FRAME_STAGED);
	cr_assert_eq(victim_choose(&fr, &v), VICTIM_SPARED, "b gets its second chance");
	cr_assert_eq(frames_oldest(&fr, FRAME_ACTIVE), c);
	cr_assert_eq(fr.f[b].referenced, 0);
	cr_assert_eq(victim_choose(&fr, &v), VICTIM_TAKE);
	cr_assert_eq(v, c);
	cr_assert_eq(victim_run(&fr, c, 0x1000, 0x10000, run, 4), 1, "b is at 0x2000, below c");
	frames_move(&fr, c, FRAME_STAGED);
	cr_assert_eq(victim_choose(&fr, &v), VICTIM_TAKE);
	cr_assert_eq(v, b, "its chance used, b goes");
	frames_move(&fr, b, FRAME_STAGED);
	cr_assert_eq(victim_choose(&fr, &v), VICTIM_NONE);
	frames_destroy(&fr);
}

Test(victim, run_stops_at_gap_end_and_max)
{
	struct frames fr;
	uint32_t f[6], run[8];

	cr_assert_eq(frames_init(&fr, 6), 0);
	for (int k = 0; k < 5; k++)
		f[k] = frames_take(&fr, NULL, (uint64_t)k, 0x10000 + (uintptr_t)k * 0x1000, FRAME_ACTIVE);
	f[5] = frames_take(&fr, NULL, 5, 0x30000, FRAME_ACTIVE); /* a gap */
	cr_assert_eq(victim_run(&fr, f[0], 0x1000, 0x40000, run, 8), 5, "up to the gap");
	for (int k = 0; k < 5; k++)
		cr_assert_eq(run[k], f[k]);
	cr_assert_eq(victim_run(&fr, f[0], 0x1000, 0x13000, run, 8), 3, "up to the region's end");
	cr_assert_eq(victim_run(&fr, f[0], 0x1000, 0x40000, run, 2), 2, "up to the most");
	cr_assert_eq(victim_run(&fr, f[0], 0x1000, 0x10000, run, 8), 1, "no region: alone");
	fr.f[f[3]].referenced = 1;
	cr_assert_eq(victim_run(&fr, f[0], 0x1000, 0x40000, run, 8), 3, "up to a referenced frame");
	frames_destroy(&fr);
}
