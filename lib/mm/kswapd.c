/* SPDX-License-Identifier: MIT */
/*
 * kswapd.c - the background reclaim thread: it keeps about a batch of
 * frames free so that a fault finds one without waiting for eviction I/O,
 * and, with a process cap, measures the process's resident set and
 * limits the frames upager may use to what the cap leaves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "mm/fault-ctx.h"
#include "mm/pager.h"
#include "mm/reclaim-internal.h"
#include "os/aspace.h"
#include "os/clock.h"
#include "os/thread.h"
#include "store/store.h"

uint64_t reclaim_own_pages(struct upager *p)
{
	const struct frames *fr = &p->rc.frames;
	/* Touched up to the high-water mark of frames ever used. */
	uint64_t used = fr->n - fr->fresh;
	uint64_t bytes = used * sizeof(struct frame) + (used + 7) / 8;

	return (bytes + p->page_size - 1) / p->page_size;
}

/*
 * Under a process cap: measure the resident set, at most every
 * RECLAIM_MEASURE_MIN_NS, and limit the frames in use to what the cap
 * leaves. A lower limit leaves fewer free frames than low_free, so the
 * caller's round evicts down to it. Reclaim thread, page lock held.
 */
static void measure_rss(struct upager *p, uint64_t now)
{
	struct reclaim *rc = &p->rc;
	uint64_t rss, least;
	uint32_t limit;
	bool first_over;

	if (!rc->process_cap || now - rc->measured_ns < RECLAIM_MEASURE_MIN_NS)
		return;
	rc->measured_ns = now;
	rc->measured_in_use = frames_in_use(&rc->frames);
	rc->measure_due = false;
	if (aspace_rss(p->as, &rss))
		return;
	limit = budget_measure(&rc->budget, rss, rc->measured_in_use, reclaim_own_pages(p),
			       &first_over);
	/* Never below what cannot be staged (locked pages, pages in
	 * flight) and two batches for everything else: below that, faults
	 * would find no frame and nothing to evict (SIGBUS). */
	least = (uint64_t)frames_count(&rc->frames, FRAME_PINNED) +
		frames_count(&rc->frames, FRAME_HELD) + 2 * RECLAIM_BATCH;
	if (limit < least)
		limit = least < rc->frames.n ? (uint32_t)least : rc->frames.n;
	if (limit != frames_limit(&rc->frames)) {
		frames_set_limit(&rc->frames, limit);
		reclaim_size_lists(p, rc, limit);
	}
	if (first_over)
		log_warn("reclaim: the memory upager does not page (%llu MiB: text, libraries, "
			 "stacks, small and file mappings) leaves less than %u MiB of the %llu MiB "
			 "cap: the process WILL EXCEED its cap; paging %u MiB",
			 (unsigned long long)(rc->budget.max_unpaged * p->page_size >> 20),
			 (unsigned int)((uint64_t)rc->budget.floor * p->page_size >> 20),
			 (unsigned long long)(rc->budget.cap * p->page_size >> 20),
			 (unsigned int)((uint64_t)limit * p->page_size >> 20));
}

/* Sleep until kicked; under a process cap, at most until the next
 * measurement is due (@due: faults asked for one). Page lock held. */
static void kswapd_wait(struct reclaim *rc, uint64_t now, bool due)
{
	struct timespec until;
	uint64_t t;

	if (!rc->process_cap) {
		pthread_cond_wait(&rc->kick, &rc->lock);
		return;
	}
	/* Due but measured less than RECLAIM_MEASURE_MIN_NS ago: then. */
	t = rc->measured_ns + (due ? RECLAIM_MEASURE_MIN_NS : RECLAIM_MEASURE_IDLE_NS);
	if (t <= now)
		return;
	until.tv_sec = (time_t)(t / 1000000000ull);
	until.tv_nsec = (long)(t % 1000000000ull);
	pthread_cond_clockwait(&rc->kick, &rc->lock, CLOCK_MONOTONIC, &until);
}

static void *kswapd_main(void *arg)
{
	struct upager *p = arg;
	struct reclaim *rc = &p->rc;
	int err;

	pthread_setname_np(pthread_self(), "upager-reclaim");
	pthread_mutex_lock(&rc->lock);
	rc->kswapd_started = true; /* see uffd_start() on why reclaim_start() waits */
	pthread_cond_broadcast(&rc->kick);
	pthread_mutex_unlock(&rc->lock);
	for (;;) {
		pthread_mutex_lock(&rc->lock);
		for (;;) {
			uint64_t now = rc->process_cap ? clock_now_ns() : 0;

			measure_rss(p, now);
			if (rc->kswapd_stop || frames_count(&rc->frames, FRAME_FREE) < rc->low_free)
				break;
			kswapd_wait(rc, now, rc->measure_due);
		}
		if (rc->kswapd_stop) {
			pthread_mutex_unlock(&rc->lock);
			return NULL;
		}
		pthread_mutex_unlock(&rc->lock);
		if (events_pending(&p->events)) {
			/* The program's changes first: reclaim needs a tree
			 * that says where the pages are. */
			pthread_rwlock_wrlock(&p->lock);
			events_apply(p);
			pthread_rwlock_unlock(&p->lock);
		}
		/* The region tree is read to know each page's protection;
		 * map/unmap wait for the round, as for any fault. */
		pthread_rwlock_rdlock(&p->lock);
		pthread_mutex_lock(&rc->lock);
		err = reclaim_frames(p, rc->kswapd_ctx, rc->high_free);
		if (err == -EINTR) {
			/* Events came during the round: apply them first. */
			pthread_mutex_unlock(&rc->lock);
			pthread_rwlock_unlock(&p->lock);
			sched_yield();
			continue;
		}
		if (err < 0) {
			/* Nothing evictable (swap full): wait for a change
			 * rather than spin; faults report the failure. */
			pthread_mutex_unlock(&rc->lock);
			pthread_rwlock_unlock(&p->lock);
			usleep(10000);
			continue;
		}
		pthread_mutex_unlock(&rc->lock);
		pthread_rwlock_unlock(&p->lock);
	}
}

int reclaim_start(struct upager *p)
{
	struct reclaim *rc = &p->rc;
	int err;

	/* UPAGER_DIRECT_RECLAIM=1 leaves all reclaim to the faults, to
	 * measure what background reclaim buys. */
	if (!reclaim_has_budget(rc) || getenv("UPAGER_DIRECT_RECLAIM"))
		return 0;
	err = fault_ctx_new(p, &rc->kswapd_ctx);
	if (err)
		return err;
	err = thread_start(&rc->kswapd, NULL, kswapd_main, p);
	if (err) {
		fault_ctx_free(rc->kswapd_ctx);
		rc->kswapd_ctx = NULL;
		return err;
	}
	pthread_mutex_lock(&rc->lock);
	while (!rc->kswapd_started)
		pthread_cond_wait(&rc->kick, &rc->lock);
	pthread_mutex_unlock(&rc->lock);
	rc->kswapd_running = true;
	return 0;
}

void reclaim_stop(struct upager *p)
{
	struct reclaim *rc = &p->rc;

	if (!rc->kswapd_running)
		return;
	if (p->owner == getpid())
		thread_stop(rc->kswapd, &rc->lock, &rc->kick, &rc->kswapd_stop);
	rc->kswapd_running = false;
	rc->kswapd_started = false;
	fault_ctx_free(rc->kswapd_ctx);
	rc->kswapd_ctx = NULL;
}

