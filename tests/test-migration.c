/* SPDX-License-Identifier: MIT */
/*
 * test-migration.c - the engine while the kernel migrates pages
 * (compaction): pagemap then shows a page that is there as a swap-type
 * entry, not present, and a decision taken from pagemap must not read
 * that as "no page". The engine runs on the fake backend
 * (fake-backend.h) and the fake address space (fake-aspace.h), which
 * shows chosen pages as migrating; faults are handed to fault_handle()
 * directly and the bytes of real anonymous memory checked after.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "fake-aspace.h"
#include "fake-backend.h"
#include "mm/fault.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

#define PAGE 4096ul
#define BUDGET (256ul << 10) /* the smallest budget: 64 frames */
#define NPAGES 192

static const char *swap_path;

/* A pager with BUDGET on the fake backend and @fa; background reclaim
 * off, so that only the test's faults move pages. */
static struct upager *open_fakes(struct fake_aspace *fa, struct fault_ctx **ctx)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .swap_size = 4ul << 20);
	struct upager *p;
	int err;

	cr_assert_eq(setenv("UPAGER_DIRECT_RECLAIM", "1", 1), 0);
	o.swap_path = swap_path = test_swap_path("migration");
	err = pager_open_on(&o, &fake_backend_ops, NULL, &fa->base, &p);
	cr_assert_eq(err, 0, "pager_open_on: %s", strerror(-err));
	err = fault_ctx_new(p, ctx);
	cr_assert_eq(err, 0, "fault_ctx_new: %s", strerror(-err));
	(*ctx)->may_block = true;
	return p;
}

static unsigned char pattern(size_t page, size_t byte)
{
	return (unsigned char)(page * 29 + byte / 256 + 3);
}

/*
 * Runs moved out whose count the kernel cut short (move_counted() in
 * reclaim.c checks the rest with pagemap) while compaction migrates the
 * pages just moved into the staging area: those pages were moved, and
 * must be staged, not taken for pages the move left behind (their slots
 * freed, their entries resident, their region empty: zeros on the next
 * touch, as swap::runs_moved_out_survive_compaction once saw).
 */
Test(migration, undercounted_move_into_migrating_staging_loses_no_page, .timeout = 60)
{
	struct fake_aspace *fa = fake_aspace_new();
	struct fault_ctx *ctx;
	struct upager *p;
	struct backend *be;
	struct upager_stats st = UPAGER_STATS();
	unsigned char *m;
	void *mem;
	int err;

	cr_assert_not_null(fa);
	p = open_fakes(fa, &ctx);
	be = p->be;
	atomic_store(&fa->migrating_lo, (uintptr_t)reclaim_staging_page(p, 0));
	atomic_store(&fa->migrating_hi, (uintptr_t)reclaim_staging_page(p, BUDGET / PAGE));
	fake_inject(be, FAKE_MOVE, 0, 1000, FAKE_UNDERCOUNT, (long)PAGE);
	err = pager_map(p, NULL, NPAGES * PAGE, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			UPAGER_MAP_PRIVATE, &mem);
	cr_assert_eq(err, 0, "pager_map: %s", strerror(-err));
	m = mem;
	for (size_t i = 0; i < NPAGES; i++) {
		cr_assert_eq(fault_handle(p, ctx, (uintptr_t)m + i * PAGE, FAULT_WRITE),
			     FAULT_RESOLVED, "page %zu", i);
		for (size_t b = 0; b < PAGE; b++)
			m[i * PAGE + b] = pattern(i, b);
	}
	fake_expect_pages(p, ctx, m, NPAGES, pattern);
	cr_assert_eq(pager_stats_read(p, &st), 0);
	cr_assert_gt(st.moves_undercounted, 0, "the runs' moves were found undercounted");
	cr_assert_eq(st.sigbus, 0);
	fault_ctx_free(ctx);
	pager_close(p);
	unlink(swap_path);
	fake_aspace_free(fa);
}
