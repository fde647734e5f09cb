/* SPDX-License-Identifier: MIT */
/*
 * test-inflight.c - a zero run that fault-around installs without the
 * page lock (fault-anon.c), against another handler's fault on a page of
 * the run and reclaim meanwhile. The kernel can stop between the pages
 * of one install (preemption, under load): the fake backend
 * (fake-backend.h) pauses there, and the test plays the other handler.
 * Faults are handed to fault_handle() directly, as a serving model does,
 * and the bytes of real anonymous memory checked after.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake-backend.h"
#include "mm/fault.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

#define PAGE 4096ul
#define BUDGET (256ul << 10) /* the smallest budget: 64 frames */
#define NPAGES 192

static char swap_path[64];

struct race {
	struct upager *p;
	struct fault_ctx *ctx;  /* the other handler's */
	unsigned char *m;
	bool written[NPAGES];
	uintptr_t page;         /* the run's page the other handler serves */
	pthread_t tid;
	atomic_bool done, paused;
};

static unsigned char pattern(size_t page, size_t byte)
{
	return (unsigned char)(page * 37 + byte / 128 + 5);
}

static void write_page(struct race *rc, size_t i)
{
	for (size_t b = 0; b < PAGE; b++)
		rc->m[i * PAGE + b] = pattern(i, b);
	rc->written[i] = true;
}

/* The other handler: serves a program thread's write fault on a page
 * of the run in flight, the thread writes it, and a reclaim round then
 * takes every active page out (the page just written among them). */
static void *other_handler(void *arg)
{
	struct race *rc = arg;
	size_t i = (rc->page - (uintptr_t)rc->m) / PAGE;
	uint32_t want;

	cr_assert_eq(fault_handle(rc->p, rc->ctx, rc->page, FAULT_WRITE), FAULT_RESOLVED);
	write_page(rc, i);
	pthread_rwlock_rdlock(&rc->p->lock);
	pthread_mutex_lock(&rc->p->rc.lock);
	want = frames_count(&rc->p->rc.frames, FRAME_FREE) +
	       frames_count(&rc->p->rc.frames, FRAME_ACTIVE);
	(void)reclaim_frames(rc->p, rc->ctx, want);
	pthread_mutex_unlock(&rc->p->rc.lock);
	pthread_rwlock_unlock(&rc->p->lock);
	atomic_store(&rc->done, true);
	return NULL;
}

/* The install stopped after its first page: the other handler's turn.
 * It may rightly wait for this install (then it goes on after it); it
 * is given a few seconds, not needed when it does not wait. */
static void pause_fill(void *arg, uintptr_t start, size_t len)
{
	struct race *rc = arg;
	struct timespec until;

	cr_assert_geq(len, 2 * PAGE);
	rc->page = start + PAGE;
	atomic_store(&rc->paused, true);
	cr_assert_eq(pthread_create(&rc->tid, NULL, other_handler, rc), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_timedjoin_np(rc->tid, NULL, &until) == 0)
		rc->tid = 0;
}

/*
 * A page of a fault-around run in flight that another handler serves
 * first, which the program writes and reclaim takes out before the
 * install gets to it: the install must not put a zero page there (its
 * bytes would be lost, and its entry named by two frames: the byte one
 * thread wrote last then lost while the rest of the page was right, as
 * `stress` once saw).
 */
Test(inflight, page_of_a_run_in_flight_keeps_its_bytes, .timeout = 60)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .swap_size = 4ul << 20);
	struct race *rc = calloc(1, sizeof(*rc));
	struct upager_stats st = UPAGER_STATS();
	struct fault_ctx *ctx;
	struct backend *be;
	void *mem;
	int err;

	cr_assert_not_null(rc);
	cr_assert_eq(setenv("UPAGER_DIRECT_RECLAIM", "1", 1), 0);
	snprintf(swap_path, sizeof(swap_path), "/var/tmp/upager-test-inflight-%d", getpid());
	unlink(swap_path);
	o.swap_path = swap_path;
	err = pager_open_on(&o, &fake_backend_ops, NULL, NULL, &rc->p);
	cr_assert_eq(err, 0, "pager_open_on: %s", strerror(-err));
	cr_assert_eq(fault_ctx_new(rc->p, &ctx), 0);
	cr_assert_eq(fault_ctx_new(rc->p, &rc->ctx), 0);
	ctx->may_block = rc->ctx->may_block = true;
	be = fake_of(rc->p);
	err = pager_map(rc->p, NULL, NPAGES * PAGE, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			UPAGER_MAP_PRIVATE, &mem);
	cr_assert_eq(err, 0, "pager_map: %s", strerror(-err));
	rc->m = mem;

	/* Sequential first touches: fault-around installs runs. */
	fake_pause_fill(be, pause_fill, rc);
	for (size_t i = 0; i < NPAGES; i++) {
		uintptr_t a = (uintptr_t)rc->m + i * PAGE;

		if (rc->written[i])
			continue;
		if (!fake_present(be, a))
			cr_assert_eq(fault_handle(rc->p, ctx, a, FAULT_WRITE), FAULT_RESOLVED,
				     "page %zu", i);
		if (rc->tid) {
			/* It waited for the install: done now. The fake's
			 * moves are not atomic, so no write meanwhile. */
			pthread_join(rc->tid, NULL);
			rc->tid = 0;
		}
		if (!rc->written[i])
			write_page(rc, i);
	}
	cr_assert(atomic_load(&rc->paused), "a run was installed (fault-around)");
	cr_assert(atomic_load(&rc->done));

	for (size_t i = 0; i < NPAGES; i++) {
		uintptr_t a = (uintptr_t)rc->m + i * PAGE;

		if (!fake_present(be, a))
			cr_assert_eq(fault_handle(rc->p, ctx, a, 0), FAULT_RESOLVED, "page %zu", i);
		for (size_t b = 0; b < PAGE; b++)
			if (rc->m[i * PAGE + b] != pattern(i, b))
				cr_assert_fail("page %zu byte %zu reads 0x%02x, not 0x%02x", i, b,
					       rc->m[i * PAGE + b], pattern(i, b));
	}
	cr_assert_eq(pager_stats_read(rc->p, &st), 0);
	cr_assert_eq(st.sigbus, 0);
	fault_ctx_free(rc->ctx);
	fault_ctx_free(ctx);
	pager_close(rc->p);
	unlink(swap_path);
	free(rc);
}
