/* SPDX-License-Identifier: MIT */
/*
 * test-region.c - the region tree in-process, against a page-granular
 * reference model, with the invariant checker after every mutation.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "common.h"
#include "core/region.h"

#define BASE 0x100000ul

static void assert_valid(const struct region_tree *t)
{
	const char *why = NULL;

	cr_assert_eq(region_tree_validate(t, &why), 0, "invalid tree: %s", why);
}

struct collect {
	struct region r[64];
	int n;
};

static void collect_visit(void *ctx, const struct region *r)
{
	struct collect *c = ctx;

	cr_assert_lt(c->n, 64);
	c->r[c->n++] = *r;
}

static struct collect regions_of(const struct region_tree *t)
{
	struct collect c = { .n = 0 };

	region_for_each(t, collect_visit, &c);
	return c;
}

#define P(n) (BASE + (n) * PAGE)

/* Every test's tree: a fresh one each (Criterion runs each test in its
 * own process), emptied after. */
static struct region_tree tree;

static void tree_init(void)
{
	region_tree_init(&tree, PAGE);
}

static void tree_fini(void)
{
	region_tree_clear(&tree, NULL, NULL);
}

TestSuite(region, .init = tree_init, .fini = tree_fini);

Test(region, insert_merges_compatible_neighbours)
{
	cr_assert_eq(region_insert(&tree, P(0), P(4), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_insert(&tree, P(8), P(12), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_insert(&tree, P(4), P(8), 3, 1, NULL, 0), 0);
	assert_valid(&tree);
	cr_assert_eq(tree.count, 1, "three compatible regions merge into one");
	cr_assert_eq(region_find(&tree, P(5))->start, P(0));
	cr_assert_eq(region_find(&tree, P(5))->end, P(12));
	/* A different protection does not merge. */
	cr_assert_eq(region_insert(&tree, P(12), P(13), 1, 1, NULL, 0), 0);
	cr_assert_eq(tree.count, 2);
	assert_valid(&tree);
}

/* Fork advice splits as it splits a VMA, skips holes, and merges back
 * once the same again. */
Test(region, advice_splits_skips_holes_and_merges_back)
{
	cr_assert_eq(region_insert(&tree, P(0), P(10), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_insert(&tree, P(12), P(20), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_flag_range(&tree, P(4), P(6), REGION_DONTFORK, 0), 0);
	assert_valid(&tree);
	cr_assert_eq(tree.count, 4, "one region split in three");
	cr_assert(region_find(&tree, P(4))->flags & REGION_DONTFORK);
	cr_assert_not(region_find(&tree, P(6))->flags & REGION_DONTFORK);
	/* Across the hole: both sides advised, the hole left alone. */
	cr_assert_eq(region_flag_range(&tree, P(8), P(14), REGION_WIPEONFORK, 0), 0);
	assert_valid(&tree);
	cr_assert_eq(tree.count, 6);
	cr_assert(region_range_is_free(&tree, P(10), P(12)));
	cr_assert(region_find(&tree, P(13))->flags & REGION_WIPEONFORK);
	cr_assert_not(region_find(&tree, P(14))->flags & REGION_WIPEONFORK);
	cr_assert_eq(region_flag_range(&tree, P(0), P(20), 0, REGION_ADVICE), 0);
	assert_valid(&tree);
	cr_assert_eq(tree.count, 2, "no advice left: merged back");
	cr_assert_eq(region_find(&tree, P(0))->flags, 1);
}

Test(region, object_regions_merge_only_with_contiguous_offsets)
{
	struct object *obj = (struct object *)&tree; /* any identity will do */

	cr_assert_eq(region_insert(&tree, P(0), P(2), 3, 1, obj, 10), 0);
	cr_assert_eq(region_insert(&tree, P(2), P(4), 3, 1, obj, 20), 0);
	cr_assert_eq(tree.count, 2, "offsets 10..12 and 20.. are not contiguous");
	cr_assert_eq(region_insert(&tree, P(4), P(6), 3, 1, obj, 22), 0);
	cr_assert_eq(tree.count, 2, "20..22 then 22.. merge");
	assert_valid(&tree);
}

Test(region, insert_overlap_is_refused)
{
	cr_assert_eq(region_insert(&tree, P(2), P(6), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_insert(&tree, P(5), P(7), 3, 1, NULL, 0), -EEXIST);
	cr_assert_eq(region_insert(&tree, P(0), P(3), 3, 1, NULL, 0), -EEXIST);
	cr_assert_eq(region_insert(&tree, P(3), P(4), 1, 1, NULL, 0), -EEXIST);
	cr_assert_eq(tree.count, 1);
	assert_valid(&tree);
}

Test(region, remove_middle_splits_and_reports_piece)
{
	struct collect removed = { .n = 0 }, left;
	struct object *obj = (struct object *)&tree; /* any identity will do */

	cr_assert_eq(region_insert(&tree, P(0), P(10), 3, 1, obj, 100), 0);
	cr_assert_eq(region_remove_range(&tree, P(3), P(5), collect_visit, &removed), 0);
	assert_valid(&tree);
	cr_assert_eq(removed.n, 1);
	cr_assert_eq(removed.r[0].start, P(3));
	cr_assert_eq(removed.r[0].end, P(5));
	cr_assert_eq(removed.r[0].pgoff, 103);
	left = regions_of(&tree);
	cr_assert_eq(left.n, 2);
	cr_assert_eq(left.r[0].end, P(3));
	cr_assert_eq(left.r[1].start, P(5));
	cr_assert_eq(left.r[1].pgoff, 105, "the tail keeps its offset into the object");
}

Test(region, remove_spanning_several_regions)
{
	struct collect removed = { .n = 0 };

	for (int i = 0; i < 5; i++)
		cr_assert_eq(region_insert(&tree, P(i * 4), P(i * 4 + 3), i % 2 ? 1 : 3, 1, NULL, 0), 0);
	cr_assert_eq(region_remove_range(&tree, P(2), P(14), collect_visit, &removed), 0);
	assert_valid(&tree);
	/* [2,3) [4,7) [8,11) [12,14) removed, in address order. */
	cr_assert_eq(removed.n, 4);
	cr_assert_eq(removed.r[0].start, P(2));
	cr_assert_eq(removed.r[3].start, P(12));
	cr_assert_eq(removed.r[3].end, P(14));
	cr_assert_eq(tree.count, 3, "[0,2) [14,15) [16,19) remain");
	cr_assert_eq(region_find(&tree, P(14))->start, P(14));
	cr_assert_null(region_find(&tree, P(13)));
}

Test(region, protect_splits_then_merges_back)
{
	cr_assert_eq(region_insert(&tree, P(0), P(10), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_protect_range(&tree, P(4), P(6), 1), 0);
	assert_valid(&tree);
	cr_assert_eq(tree.count, 3);
	cr_assert_eq(region_find(&tree, P(4))->prot, 1);
	cr_assert_eq(region_find(&tree, P(6))->prot, 3);
	cr_assert_eq(region_protect_range(&tree, P(4), P(6), 3), 0);
	assert_valid(&tree);
	cr_assert_eq(tree.count, 1, "restoring the protection merges the three again");
	cr_assert_eq(region_protect_range(&tree, P(8), P(12), 1), -ENOMEM,
		     "a range not fully covered is refused, as mprotect does");
	cr_assert_eq(region_find(&tree, P(8))->prot, 3, "and nothing changed");
}

/* ---- randomized against a page-granular reference model ---------------- */

#define MODEL_PAGES 96

struct model {
	int prot[MODEL_PAGES]; /* -1: unmapped */
};

static void model_check(const struct model *m, const struct region_tree *t, uint64_t seed, int step)
{
	struct collect c = regions_of(t);
	int expect_runs = 0;

	assert_valid(t);
	for (int i = 0; i < MODEL_PAGES; i++) {
		const struct region *r = region_find(t, P(i));
		int prot = r ? r->prot : -1;

		/* Criterion reports every assertion to its runner: check
		 * first, assert only on a mismatch, or this loop crawls. */
		if (prot != m->prot[i])
			cr_assert_fail("seed %" PRIu64 " step %d: page %d prot %d, model %d",
				       seed, step, i, prot, m->prot[i]);
		/* Maximal runs of equal protection are exactly the regions. */
		if (m->prot[i] >= 0 && (i == 0 || m->prot[i - 1] != m->prot[i]))
			expect_runs++;
	}
	cr_assert_eq(c.n, expect_runs, "seed %" PRIu64 " step %d: %d regions, %d maximal runs",
		     seed, step, c.n, expect_runs);
	cr_assert_eq(t->count, (size_t)c.n);
}

Test(region, random_ops_match_reference_model)
{
	uint64_t seed = test_seed(20261124), rng = seed;
	struct model m;

	for (int i = 0; i < MODEL_PAGES; i++)
		m.prot[i] = -1;
	for (int step = 0; step < 20000; step++) {
		int a = (int)(rng_next(&rng) % MODEL_PAGES);
		int len = 1 + (int)(rng_next(&rng) % 12);
		int b = a + len > MODEL_PAGES ? MODEL_PAGES : a + len;
		int prot = (int)(rng_next(&rng) % 3) + 1;
		int op = (int)(rng_next(&rng) % 3);
		bool free_range = true, covered = true;
		int err;

		for (int i = a; i < b; i++) {
			free_range &= m.prot[i] < 0;
			covered &= m.prot[i] >= 0;
		}
		switch (op) {
		case 0: /* map, where free */
			err = region_insert(&tree, P(a), P(b), prot, 1, NULL, 0);
			cr_assert_eq(err, free_range ? 0 : -EEXIST, "seed %" PRIu64 " step %d", seed, step);
			if (free_range)
				for (int i = a; i < b; i++)
					m.prot[i] = prot;
			break;
		case 1:
			cr_assert_eq(region_remove_range(&tree, P(a), P(b), NULL, NULL), 0);
			for (int i = a; i < b; i++)
				m.prot[i] = -1;
			break;
		default:
			err = region_protect_range(&tree, P(a), P(b), prot);
			cr_assert_eq(err, covered ? 0 : -ENOMEM, "seed %" PRIu64 " step %d", seed, step);
			if (covered)
				for (int i = a; i < b; i++)
					m.prot[i] = prot;
		}
		model_check(&m, &tree, seed, step);
	}
}

Test(region, hundred_thousand_regions_stay_logarithmic)
{
	enum { N = 100000 };
	uint64_t rng = test_seed(7);
	const char *why;

	/* Alternate protections so no two neighbours merge; insert in a
	 * shuffled order so balance is actually exercised. */
	for (uint64_t i = 0; i < N; i++) {
		uint64_t k = (i * 48271u) % N; /* a permutation: 48271 is coprime to N */

		if (region_insert(&tree, P(2 * k), P(2 * k + 1), (int)(k % 2) + 1, 1, NULL, 0))
			cr_assert_fail("insert %lu failed", (unsigned long)k);
	}
	cr_assert_eq(tree.count, N);
	cr_assert_eq(region_tree_validate(&tree, &why), 0, "%s", why);
	/* AVL height bound: < 1.44 log2(n + 2). */
	cr_assert_lt(tree.root->height, (int)(1.44 * log2(N + 2.0)) + 1);
	for (int i = 0; i < 1000; i++) {
		uint64_t k = rng_next(&rng) % N;

		cr_assert_eq(region_find(&tree, P(2 * k) + 5)->start, P(2 * k));
		cr_assert_null(region_find(&tree, P(2 * k + 1)));
	}
	/* Punch every other region out, then check again. */
	for (uint64_t k = 0; k < N; k += 2)
		if (region_remove_range(&tree, P(2 * k), P(2 * k + 1), NULL, NULL))
			cr_assert_fail("remove %lu failed", (unsigned long)k);
	cr_assert_eq(tree.count, N / 2);
	cr_assert_eq(region_tree_validate(&tree, &why), 0, "%s", why);
	region_tree_clear(&tree, NULL, NULL);
	cr_assert_eq(tree.count, 0);
}

/* A walk over a range: each region in it once, in order, clipped to the
 * range, holes skipped, nothing past the end. */
Test(region, next_in_walks_a_range_clipped)
{
	static const uintptr_t want[][2] = { { P(1), P(2) }, { P(4), P(6) }, { P(8), P(9) } };
	struct region_tree t;
	uintptr_t at = P(1), s, e;
	struct region *r;
	int n = 0;

	region_tree_init(&t, PAGE);
	cr_assert_eq(region_insert(&t, P(0), P(2), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_insert(&t, P(4), P(6), 1, 1, NULL, 0), 0);
	cr_assert_eq(region_insert(&t, P(8), P(12), 3, 1, NULL, 0), 0);
	cr_assert_eq(region_insert(&t, P(20), P(21), 3, 1, NULL, 0), 0);
	while ((r = region_next_in(&t, &at, P(9), &s, &e))) {
		cr_assert_lt(n, 3);
		cr_assert_eq(s, want[n][0], "piece %d starts at 0x%lx", n, (unsigned long)s);
		cr_assert_eq(e, want[n][1], "piece %d ends at 0x%lx", n, (unsigned long)e);
		cr_assert(r->start <= s && r->end >= e);
		cr_assert_eq(at, e);
		n++;
	}
	cr_assert_eq(n, 3);
	at = P(12);
	cr_assert_null(region_next_in(&t, &at, P(20), &s, &e), "a hole to the end: none");
	at = P(9);
	cr_assert_null(region_next_in(&t, &at, P(9), &s, &e), "an empty range: none");
	region_tree_clear(&t, NULL, NULL);
}
