/* SPDX-License-Identifier: MIT */
/*
 * test-backend.c - the engine on the fake backend (fake-backend.h): how it
 * answers what a backend may say (EEXIST, EAGAIN, short moves, ENOMEM),
 * with faults handed to fault_handle() directly, as a serving model does,
 * and the bytes of real anonymous memory checked after.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake-backend.h"
#include "mm/fault.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "mm/reclaim.h"
#include "core/region.h"

#define PAGE 4096ul
#define BUDGET (256ul << 10) /* the smallest budget: 64 frames */

static char swap_path[64];

/* A pager on the fake; @budget 0: none. Background reclaim stays off, so
 * that only the test's faults move pages (a page staged between a fault
 * and the test's read would read as the kernel's zeros). */
static struct upager *open_fake(size_t budget, struct fault_ctx **ctx)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = budget, .swap_size = 4ul << 20);
	struct upager *p;
	int err;

	cr_assert_eq(setenv("UPAGER_DIRECT_RECLAIM", "1", 1), 0);
	snprintf(swap_path, sizeof(swap_path), "/var/tmp/upager-test-backend-%d", getpid());
	unlink(swap_path);
	o.swap_path = swap_path;
	err = pager_open_on(&o, &fake_backend_ops, NULL, NULL, &p);
	cr_assert_eq(err, 0, "pager_open_on: %s", strerror(-err));
	err = fault_ctx_new(p, ctx);
	cr_assert_eq(err, 0, "fault_ctx_new: %s", strerror(-err));
	(*ctx)->may_block = true;
	return p;
}

static void close_fake(struct upager *p, struct fault_ctx *ctx)
{
	fault_ctx_free(ctx);
	pager_close(p);
	unlink(swap_path);
}

static struct upager_stats stats_of(struct upager *p)
{
	struct upager_stats st = UPAGER_STATS();

	cr_assert_eq(pager_stats_read(p, &st), 0);
	return st;
}

static void *map_rw(struct upager *p, size_t len)
{
	void *m;
	int err = pager_map(p, NULL, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE, UPAGER_MAP_PRIVATE,
			    &m);

	cr_assert_eq(err, 0, "pager_map: %s", strerror(-err));
	return m;
}

/* The last recorded call of @op. */
static const struct fake_call *last_call(struct backend *be, enum fake_op op)
{
	size_t n;
	const struct fake_call *c = fake_calls(be, &n);

	while (n--)
		if (c[n].op == op)
			return &c[n];
	return NULL;
}

/* EEXIST: the page is in place already (another fault got there); the
 * waiter is woken, and the page is neither installed again nor zeroed. */
Test(backend, eexist_wakes_and_keeps_the_page, .timeout = 30)
{
	struct fault_ctx *ctx;
	struct upager *p = open_fake(0, &ctx);
	struct backend *be = fake_of(p);
	unsigned char *m = map_rw(p, 4 * PAGE);
	const struct fake_call *c;

	m[PAGE] = 0x5a; /* present, as after another handler's install */
	fake_calls_reset(be);
	cr_assert_eq(fault_handle(p, ctx, (uintptr_t)m + PAGE, FAULT_WRITE), FAULT_RESOLVED);
	c = last_call(be, FAKE_FILL_ZERO);
	cr_assert(c && c->start == (uintptr_t)m + PAGE && c->ret == -EEXIST);
	cr_assert_eq(fake_count_at(be, FAKE_WAKE, (uintptr_t)m + PAGE), 1, "the waiter is woken once");
	cr_assert_eq(fake_count(be, FAKE_FILL_ZERO), 1, "no second install");
	cr_assert_eq(fake_count(be, FAKE_COPY), 0, "no second install");
	cr_assert_eq(m[PAGE], 0x5a, "the page that was there stays");
	cr_assert_eq(stats_of(p).faults_raced, 1);
	close_fake(p, ctx);
}

/* After a failed install at @a: the next write fault there installs,
 * and what it installed is counted resident. */
static void next_fault_installs(struct upager *p, struct fault_ctx *ctx, uintptr_t a)
{
	struct backend *be = fake_of(p);

	cr_assert_eq(fault_handle(p, ctx, a, FAULT_WRITE), FAULT_RESOLVED);
	cr_assert(fake_present(be, a), "the next fault installs");
	cr_assert_eq(stats_of(p).pages_resident, (uint64_t)last_call(be, FAKE_FILL_ZERO)->ret / PAGE);
}

/* EAGAIN reaching the engine (the backend's own retries spent, or a
 * handler that may not wait): the thread is woken to fault again, nothing
 * is installed or counted as resident, and the fault again installs. */
Test(backend, eagain_wakes_then_the_next_fault_installs, .timeout = 30)
{
	struct fault_ctx *ctx;
	struct upager *p = open_fake(0, &ctx);
	struct backend *be = fake_of(p);
	unsigned char *m = map_rw(p, 4 * PAGE);
	uintptr_t a = (uintptr_t)m;

	fake_inject(be, FAKE_FILL_ZERO, 0, 1, FAKE_FAIL, -EAGAIN);
	fake_calls_reset(be);
	cr_assert_eq(fault_handle(p, ctx, a, FAULT_WRITE), FAULT_RESOLVED);
	cr_assert_eq(fake_count_at(be, FAKE_WAKE, a), 1, "woken to fault again");
	cr_assert(!fake_present(be, a), "nothing installed");
	cr_assert_eq(stats_of(p).faults_dropped, 1);
	cr_assert_eq(stats_of(p).pages_resident, 0, "an install that failed is not counted");

	next_fault_installs(p, ctx, a);
	cr_assert_geq(last_call(be, FAKE_FILL_ZERO)->ret, (long)PAGE);
	cr_assert_eq(m[0], 0);
	close_fake(p, ctx);
}

/* ENOMEM from an install: reported (the fault fails: SIGBUS for the
 * serving model to deliver), nothing counted as resident; the next
 * fault, memory back, installs. */
Test(backend, enomem_fails_the_fault_and_counts_nothing, .timeout = 30)
{
	struct fault_ctx *ctx;
	struct upager *p = open_fake(0, &ctx);
	struct backend *be = fake_of(p);
	unsigned char *m = map_rw(p, 4 * PAGE);
	uintptr_t a = (uintptr_t)m + 2 * PAGE;

	fake_inject(be, FAKE_FILL_ZERO, 0, 1, FAKE_FAIL, -ENOMEM);
	cr_assert_eq(fault_handle(p, ctx, a, FAULT_WRITE), FAULT_FAILED);
	cr_assert(!fake_present(be, a));
	cr_assert_eq(stats_of(p).pages_resident, 0);
	cr_assert_eq(stats_of(p).zero_fills, 0);
	next_fault_installs(p, ctx, a);
	close_fake(p, ctx);
}

/* ENOMEM from the backend at map: the call fails with it, and neither
 * the tree nor the kernel keeps the range. */
Test(backend, enomem_at_attach_leaves_no_region, .timeout = 30)
{
	struct fault_ctx *ctx;
	struct upager *p = open_fake(0, &ctx);
	struct backend *be = fake_of(p);
	const struct fake_call *c;
	void *m = NULL;

	fake_inject(be, FAKE_ATTACH, 0, 1, FAKE_FAIL, -ENOMEM);
	cr_assert_eq(pager_map(p, NULL, 4 * PAGE, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			       UPAGER_MAP_PRIVATE, &m), -ENOMEM);
	c = last_call(be, FAKE_ATTACH);
	cr_assert(c && c->flags == BACKEND_FAULTS && c->ret == -ENOMEM);
	cr_assert_eq(stats_of(p).regions, 0);
	cr_assert_eq(msync((void *)c->start, c->len, MS_ASYNC), -1, "the mapping is gone");
	cr_assert_eq(errno, ENOMEM);
	close_fake(p, ctx);
}

static unsigned char pattern(size_t page, size_t byte)
{
	return (unsigned char)(page * 13 + byte / 512 + 1);
}

/* No page of [m, m + n pages) may read other than it was written; every
 * entry is somewhere (not absent). Faults bring back what is not mapped. */
static void check_every_page(struct upager *p, struct fault_ctx *ctx, unsigned char *m,
			     size_t n)
{
	pthread_rwlock_rdlock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)m + i * PAGE;
		const struct region *r = region_find(&p->tree, a);

		cr_assert(r && r->object);
		cr_assert_neq(object_entry(r->object, region_page_index(r, a, PAGE))->state,
			      PAGE_ABSENT, "page %zu lost: its entry says absent", i);
	}
	pthread_rwlock_unlock(&p->lock);
	fake_expect_pages(p, ctx, m, n, pattern);
	cr_assert_eq(stats_of(p).sigbus, 0);
}

/* Write @n pages one fault at a time under the budget: reclaim stages
 * the oldest, in runs, through the backend's move. */
static unsigned char *fill_pages(struct upager *p, struct fault_ctx *ctx, size_t n)
{
	unsigned char *m = map_rw(p, n * PAGE);

	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(fault_handle(p, ctx, (uintptr_t)m + i * PAGE, FAULT_WRITE),
			     FAULT_RESOLVED, "page %zu", i);
		for (size_t b = 0; b < PAGE; b++)
			m[i * PAGE + b] = pattern(i, b);
	}
	return m;
}

/* Moves of runs of more than one page, answered as @mode with one page. */
static size_t short_runs(struct backend *be)
{
	size_t n, k = 0;
	const struct fake_call *c = fake_calls(be, &n);

	for (size_t i = 0; i < n; i++)
		k += c[i].op == FAKE_MOVE && c[i].len > PAGE && c[i].ret == (long)PAGE;
	return k;
}

/* Staging with every move of a run answered as @mode with one page:
 * the runs were moved so (@what), the statistics member at @counter
 * counted them, and no page is lost. */
static void staging_with_moves_cut(enum fake_mode mode, const char *what, size_t counter)
{
	struct fault_ctx *ctx;
	struct upager *p = open_fake(BUDGET, &ctx);
	struct backend *be = fake_of(p);
	struct upager_stats st;
	unsigned char *m;

	fake_inject(be, FAKE_MOVE, 0, 1000, mode, (long)PAGE);
	m = fill_pages(p, ctx, 192);
	cr_assert_gt(short_runs(be), 0, "runs were moved %s", what);
	st = stats_of(p);
	cr_assert_gt(*(const uint64_t *)((const char *)&st + counter), 0,
		     "runs moved %s are counted", what);
	check_every_page(p, ctx, m, 192);
	close_fake(p, ctx);
}

/* A move that stops after its first page (a page further on is not
 * movable now): the pages moved are staged, the rest stay active and are
 * staged later; none is lost. */
Test(backend, short_move_while_staging_loses_no_page, .timeout = 60)
{
	staging_with_moves_cut(FAKE_SHORT, "short", offsetof(struct upager_stats, staged));
}

/* A move that moved the whole run but says one page (UFFDIO_MOVE's count
 * cut short by an error after the work): the pages moved unreported are
 * found (pagemap) and staged, not left as resident pages that are gone. */
Test(backend, undercounted_move_while_staging_loses_no_page, .timeout = 60)
{
	staging_with_moves_cut(FAKE_UNDERCOUNT, "undercounted",
			       offsetof(struct upager_stats, moves_undercounted));
}

/* A swap-in whose install answers ENOMEM or EAGAIN: the page's data stays
 * in its slot, the thread is woken, and the next fault brings it in. */
static void swapin_refused(long err)
{
	struct fault_ctx *ctx;
	struct upager *p = open_fake(BUDGET, &ctx);
	struct backend *be = fake_of(p);
	unsigned char *m = fill_pages(p, ctx, 192);
	uintptr_t a = (uintptr_t)m;
	uint64_t swapins;

	cr_assert_gt(stats_of(p).writebacks, 0, "pages went to swap");
	cr_assert(!fake_present(be, a), "the first page is out");
	swapins = stats_of(p).swapins;
	fake_inject(be, FAKE_COPY, 0, 1000, FAKE_FAIL, err);
	fake_calls_reset(be);
	fault_handle(p, ctx, a, 0);
	cr_assert_gt(fake_count(be, FAKE_COPY), 0, "the swap-in was tried");
	cr_assert(!fake_present(be, a));
	cr_assert_geq(fake_count_at(be, FAKE_WAKE, a), 1, "woken to fault again");
	cr_assert_eq(stats_of(p).swapins, swapins, "nothing counted swapped in");
	fake_inject(be, FAKE_COPY, 0, 0, FAKE_FAIL, 0);
	check_every_page(p, ctx, m, 192);
	close_fake(p, ctx);
}

Test(backend, swapin_eagain_keeps_the_page, .timeout = 60)
{
	swapin_refused(-EAGAIN);
}

Test(backend, swapin_enomem_keeps_the_page, .timeout = 60)
{
	swapin_refused(-ENOMEM);
}
