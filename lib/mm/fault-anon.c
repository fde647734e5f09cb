/* SPDX-License-Identifier: MIT */
/*
 * fault-anon.c - the anonymous kinds (fault-kind.h): demand-zero memory
 * without page entries (zero), and private anonymous memory with them
 * (anon): zero runs on first touch, taking frames under a budget, along
 * the fault-around streams (fault.h) up or down; pages reclaim took out
 * come back through fault-swap.c.
 */
#include "mm/fault-kind.h"

#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "mm/pager.h"
#include "mm/reclaim.h"
#include "store/store.h"

/* Move the install counters from @was pages to @now pages for one run.
 * The first page of a run is the fault's own; the rest are fault-around. */
static void count_installed(struct upager *pager, uint64_t was, uint64_t now)
{
	struct stats *s = &pager->stats;
	uint64_t around_was = was ? was - 1 : 0, around_now = now ? now - 1 : 0;

	atomic_fetch_add_explicit(&s->zero_fills, now - was, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->fault_around_pages, around_now - around_was,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->pages_resident, (int64_t)now - (int64_t)was,
				  memory_order_relaxed);
}

/*
 * Install a run of zero pages at @page: up to @max pages, clipped to the
 * region. Counts them, handles the races. Returns bytes installed (> 0),
 * 0 when the fault needs nothing more (raced, or the range vanished), or
 * -errno.
 */
static long install_zero_run(struct upager *pager, const struct region *r,
			     uintptr_t page, uint64_t max, unsigned int access)
{
	uintptr_t end = page + (uintptr_t)max * pager->page_size;
	uint64_t want, installed;
	long done;

	if (end > r->end || end < page)
		end = r->end;
	/* Count the pages before installing them: the ioctl wakes the
	 * faulting thread, which may read the statistics before this thread
	 * runs again. A short or failed install takes the excess back. */
	want = (end - page) / pager->page_size;
	count_installed(pager, 0, want);
	done = pager->be_ops->fill_zero(pager->be, page, end - page, access & FAULT_WRITE);
	installed = done > 0 ? (uint64_t)done / pager->page_size : 0;
	if (installed < want)
		count_installed(pager, want, installed);
	if (done == -EEXIST) {
		/* Another thread's fault (or fault-around) got there first:
		 * the page is in place, the waiter only needs waking. */
		stat_add(&pager->stats.faults_raced, 1);
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return 0;
	}
	if (done == -ENOENT || done == -EAGAIN) {
		/* The range was unmapped behind the tree's back (munmap by the
		 * program), or is changing and this handler may not wait: the
		 * thread retries and the kernel decides. */
		stat_add(&pager->stats.faults_dropped, 1);
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return 0;
	}
	if (done < 0)
		log_error("fault at 0x%lx: installing zero page: %s", (unsigned long)page,
			  strerror((int)-done));
	return done;
}

/*
 * The run of zero pages to install for a first touch of @page: along a
 * stream walking up, from @page up (fault-around); along one walking
 * down (a buffer filled from its end, as sort(1) fills its own), from
 * below @page up to it. Returns its length in pages, from *@start; the
 * run always holds @page. For an object, only absent pages below.
 */
static uint64_t zero_window(struct upager *pager, const struct region *r, uintptr_t page,
			    uintptr_t *start)
{
	uint64_t n = fault_streams_window_down(&pager->streams, page);
	uint64_t below = (page - r->start) / pager->page_size;

	if (n <= 1) {
		*start = page;
		return fault_streams_window(&pager->streams, page);
	}
	if (n - 1 > below)
		n = below + 1;
	if (r->object) {
		uint64_t pgoff = region_page_index(r, page, pager->page_size), k;

		for (k = 1; k < n; k++) {
			const struct page_entry *e = object_entry(r->object, pgoff - k);

			if (e->state != PAGE_ABSENT || e->poisoned || e->has_slot)
				break;
		}
		n = k;
	}
	*start = page - (n - 1) * pager->page_size;
	return n;
}

/* Before installing @n pages of a zero run from @start for a fault on
 * @page, the streams learn which way it goes: the install wakes the
 * thread, whose next fault another handler may serve before this one
 * goes on. Returns where the run is planned to end. */
static uintptr_t zero_run_planned(struct upager *pager, const struct region *r, uintptr_t start,
				  uintptr_t page, uint64_t n)
{
	uintptr_t planned = start + n * pager->page_size;

	if (planned > r->end || planned < start)
		planned = r->end;
	if (start == page)
		fault_streams_advance(&pager->streams, page, planned);
	else
		fault_streams_advance_down(&pager->streams, start, page);
	return planned;
}

/* After the install of @done bytes: a run up that stopped short of
 * @planned gives the stream back what it did not map. */
static void zero_run_short(struct upager *pager, uintptr_t start, uintptr_t page,
			   uintptr_t planned, long done)
{
	if (start == page && done >= 0 && page + (uintptr_t)done < planned)
		fault_streams_trim(&pager->streams, page, planned, page + (uintptr_t)done);
}

/* A first touch (or a touch after discard) of a page of a budgeted
 * object: zero pages, each taking a frame. Page lock held on entry and
 * on return; a handler that may wait lets go of it across the install.
 * Returns 1 to look at the page again (reclaim dropped the lock), else
 * the result. */
static int fault_absent(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
			uintptr_t page, unsigned int access, enum fault_result *result)
{
	struct frames *fr = &pager->rc.frames;
	uint64_t pgoff, n, free_frames;
	uintptr_t start, planned;
	bool down = true;
	long done;

again:
	/* Counted again after a retry: the page lock was dropped. */
	free_frames = frames_count(fr, FRAME_FREE);
	if (!free_frames)
		return fault_reclaim(pager, ctx, page, result);
	n = zero_window(pager, r, page, &start);
	if (!down) {
		start = page;
		n = 1;
	}
	if (start == page)
		n = fault_run_of(pager, r, page, n, PAGE_ABSENT);
	if (n > free_frames || n > RECLAIM_BATCH) {
		/* Short of frames: the faulting page first. */
		n = n > free_frames ? free_frames : n;
		n = n > RECLAIM_BATCH ? RECLAIM_BATCH : n;
		if (start != page)
			start = page - (n - 1) * pager->page_size;
	}
	pgoff = region_page_index(r, start, pager->page_size);
	/* Frames are taken before the install wakes the thread, so the
	 * budget's books never lag behind what the thread can see. */
	for (uint64_t k = 0; k < n; k++) {
		ctx->frames[k] = frames_take(fr, r->object, pgoff + k,
					     start + k * pager->page_size, FRAME_HELD);
		object_entry(r->object, pgoff + k)->state = PAGE_SWAPIN;
	}
	reclaim_note_taken(pager);
	planned = zero_run_planned(pager, r, start, page, n);
	/*
	 * The install runs without the page lock: making the pages is most
	 * of a zero fill's time, and other threads' faults would queue
	 * behind it (docs/BENCHMARKS.md, "Design figures": first touches
	 * under a budget). Nothing can take what
	 * is in flight: the frames are held, which reclaim leaves alone, and
	 * the entries say SWAPIN until the install returns, so another
	 * thread's fault on these pages meanwhile waits for it (io_done,
	 * broadcast below). Left absent, that fault installed the page
	 * itself, the program wrote it and reclaim took it out before this
	 * install, stopped by the kernel between pages under load, got
	 * there: a zero page over it, the entry named by two frames, bytes
	 * lost. Events wait for the pager's lock, held for reading
	 * throughout. A reclaim round that finds every frame held waits for
	 * io_done too. The last free handler keeps the page lock: it could
	 * not wait to take it back.
	 */
	if (ctx->may_block)
		pthread_mutex_unlock(&pager->rc.lock);
	done = install_zero_run(pager, r, start, n, access);
	if (ctx->may_block)
		pthread_mutex_lock(&pager->rc.lock);
	for (uint64_t k = 0; k < n; k++) {
		struct page_entry *e = object_entry(r->object, pgoff + k);

		if (done > 0 && k < (uint64_t)done / pager->page_size) {
			e->frame = ctx->frames[k];
			e->state = PAGE_RESIDENT;
			frames_move(fr, ctx->frames[k], FRAME_ACTIVE);
		} else {
			frames_release(fr, ctx->frames[k]);
			e->state = PAGE_ABSENT;
		}
	}
	if (ctx->may_block)
		pthread_cond_broadcast(&pager->rc.io_done);
	if (done < 0) {
		*result = FAULT_FAILED;
		return 0;
	}
	if (start != page && start + (uintptr_t)done <= page) {
		/* A page below was there after all: this page alone, or the
		 * thread would fault here again and again. */
		down = false;
		goto again;
	}
	zero_run_short(pager, start, page, planned, done);
	return 0;
}

/* Demand-zero memory no object pages: a zero run along the stream. */
static enum fault_result zero_fault(struct upager *pager, struct fault_ctx *ctx,
				    const struct region *r, uintptr_t page, unsigned int access)
{
	uintptr_t start;
	uint64_t n = zero_window(pager, r, page, &start);
	uintptr_t planned = zero_run_planned(pager, r, start, page, n);
	long done;

	(void)ctx;
	done = install_zero_run(pager, r, start, n, access);
	if (start != page && done >= 0 && start + (uintptr_t)done <= page) {
		/* A page below was there already (nothing tracks
		 * them here): this page alone, or the thread would
		 * fault here again and again. */
		done = install_zero_run(pager, r, page, 1, access);
	} else {
		zero_run_short(pager, start, page, planned, done);
	}
	return done < 0 ? FAULT_FAILED : FAULT_RESOLVED;
}

const struct fault_ops fault_zero_ops = {
	.name = "zero",
	.fault = zero_fault,
};

/*
 * Can this fault be served without waiting for anything: no reclaim (a
 * frame is free, or none is needed), no I/O, no page in another handler's
 * hands? Only such faults are served by a handler that may not block
 * (fault_ctx.may_block). Page lock held.
 */
static bool anon_is_quick(struct upager *pager, const struct page_entry *e)
{
	if (e->poisoned)
		return true;
	switch (e->state) {
	case PAGE_ABSENT:
		return fault_has_frame(pager);
	case PAGE_RESIDENT:
	case PAGE_STAGED:
		return true;
	default:
		return false; /* I/O, or waiting for another handler's */
	}
}

/* One look at the page, page lock held: 1 to look again (the lock was
 * dropped meanwhile), else 0 with *@result set. */
static int anon_step(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
		     uintptr_t page, unsigned int access, enum fault_result *result)
{
	struct page_entry *e = object_entry(r->object, region_page_index(r, page, pager->page_size));
	long done;

	if (fault_deferred_or_lost(pager, e, ctx->may_block || anon_is_quick(pager, e), page,
				   result))
		return 0;
	switch (e->state) {
	case PAGE_ABSENT:
		return fault_absent(pager, ctx, r, page, access, result);
	case PAGE_SWAPPED:
		return fault_swapped(pager, ctx, r, page, result);
	case PAGE_STAGED:
		return fault_reactivate(pager, e, page);
	case PAGE_WRITEBACK:
	case PAGE_SWAPIN:
		/* Another handler is moving this page: wait for it. */
		return fault_wait_io(pager);
	case PAGE_RESIDENT:
		/* Resident by upager's books, yet the kernel faulted:
		 * either another fault won a race (EEXIST, just wake)
		 * or the program discarded the page (MADV_DONTNEED),
		 * which then reads as zeros, as under the kernel. */
		done = pager->be_ops->fill_zero(pager->be, page, pager->page_size,
						access & FAULT_WRITE);
		if (done == -EEXIST) {
			stat_add(&pager->stats.faults_raced, 1);
			pager->be_ops->wake(pager->be, page, pager->page_size);
		} else if (done > 0 && e->has_slot) {
			store_put(pager->rc.store, e->slot);
			e->has_slot = 0;
		}
		return 0;
	}
	return 0;
}

const struct fault_ops fault_anon_ops = {
	.name = "anon",
	.step = anon_step,
};
