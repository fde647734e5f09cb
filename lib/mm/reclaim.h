/* SPDX-License-Identifier: MIT */
/*
 * reclaim.h - keeping a pager within its frame budget: staging pages out
 * (second chance), evicting them (dropping clean and zero pages, writing
 * dirty ones to the swap store), and giving their frames back.
 *
 * The page lock (struct reclaim.lock) guards every page entry, the frame
 * lists and the staging area. It is held across UFFDIO ioctls (a fill, a
 * move) so no two handlers ever act on one page at once, and released
 * across swap I/O, during which the pages involved are marked WRITEBACK or
 * SWAPIN and other handlers wait on io_done. Lock order: pager->lock (read)
 * -> reclaim_lock -> lock.
 */
#ifndef UPAGER_RECLAIM_H
#define UPAGER_RECLAIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/budget.h"
#include "core/frames.h"
#include "core/staging.h"
#include "core/readaround.h"
#include "mm/fault-ctx.h"
#include "mm/object.h"

struct upager;
struct store;
struct store_io;

/* The window (aligned, in pages) in which a reactivation brings back the
 * touched page's staged run: the kernel's fault-around window (64 KiB).
 * A 64-page window cost random reads more for no more of sort's faults
 * saved (docs/BENCHMARKS.md, "Design figures": reactivating the staged
 * run). */
#define REACTIVATE_AROUND 16u

struct reclaim {
	pthread_mutex_t lock;         /* the page lock */
	pthread_cond_t io_done;       /* a WRITEBACK or SWAPIN page settled */
	pthread_mutex_t reclaim_lock; /* one reclaimer at a time */
	struct frames frames;         /* the budget; n == 0: no budget */
	char *staging;                /* one slot per frame, for staged pages */
	size_t staging_len;
	struct staging_slots slots;   /* which slots hold a page (core/staging.h) */
	uint32_t staged_target;       /* inactive list size to keep */
	uint32_t evict_max;           /* most pages evicted per round: at most half the
	                               * inactive list, so its young half gets its chance */
	uint32_t readahead_max;       /* most pages one swap-in or file read takes */
	struct readaround ra;         /* swap-ins off a stream (fault-swap.c) */
	bool fresh_slots;             /* evictions take fresh slots (assign_slots()) */
	struct store *store;

	/* Background reclaim (kswapd's role): keeps free frames between
	 * low_free and high_free so faults rarely reclaim themselves. */
	uint32_t low_free, high_free;
	pthread_t kswapd;
	bool kswapd_running;
	bool kswapd_stop;             /* guarded by lock */
	bool kswapd_started;          /* it is in its loop; guarded by lock */
	pthread_cond_t kick;          /* free frames fell below low_free */
	struct fault_ctx *kswapd_ctx;

	/* Pages poisoned because no frame could be had (swap full): their
	 * mark is removed once reclaim frees frames again, so the failure
	 * lasts only as long as its cause. */
	uintptr_t transient[16];
	uint32_t ntransient;
	/* More of them than transient[] holds, in chunks from a pool (the
	 * fault path never calls malloc). */
	struct transient_chunk *transient_more;
	/* The want of memory was logged: not again until frames are free. */
	bool oom_logged;

	/* With UPAGER_OPEN_BUDGET_PROCESS the budget caps the process's
	 * resident set: the reclaim thread measures it (aspace_rss(), at most
	 * every RECLAIM_MEASURE_MIN_NS) and limits the frames in use to
	 * the cap less what upager does not page (core/budget.h). Guarded
	 * by lock. */
	bool process_cap;
	struct budget budget;
	uint64_t measured_ns;         /* CLOCK_MONOTONIC of the last measurement */
	uint32_t measured_in_use;     /* frames in use then */
	bool measure_due;             /* faults took a step of frames since: measure */
};

/* How often the reclaim thread measures the resident set: every 100 ms
 * while it idles, and as soon as faults have taken a step of frames
 * (half the budget's headroom) since the last time, but at most every
 * millisecond (a read of statm costs a few microseconds). */
#define RECLAIM_MEASURE_MIN_NS 1000000ull
#define RECLAIM_MEASURE_IDLE_NS 100000000ull

/* Set up @rc for a budget of @budget_pages (0: none) backed by @store.
 * Returns 0 or -errno (logged). */
int reclaim_init(struct upager *p, struct reclaim *rc, uint32_t budget_pages,
		 struct store *store);
void reclaim_destroy(struct upager *p, struct reclaim *rc);

static inline int reclaim_has_budget(const struct reclaim *rc)
{
	return rc->frames.n != 0;
}

/*
 * The budget follows the store's own memory (store_resident_bytes(): a
 * compressed pool): one frame withheld (FRAME_WITHHELD) per page of it,
 * taken from the free frames, given back as it shrinks, so that pages in
 * memory plus the pool stay within the cap. The pool's own limit (its
 * share of the cap) bounds what is withheld. Page lock held. Returns the
 * frames withheld now.
 */
uint32_t reclaim_budget_follow(struct upager *p);

/* The frame budget as it stands: the cap's frames less those withheld. */
static inline uint32_t reclaim_budget_now(const struct reclaim *rc)
{
	return rc->frames.n - frames_count(&rc->frames, FRAME_WITHHELD);
}

/* Start / stop the background reclaim thread (budgeted pagers only).
 * Stop before the backend goes. Returns 0 or -errno. */
int reclaim_start(struct upager *p);
void reclaim_stop(struct upager *p);

/* After taking frames: wake background reclaim if free frames ran low.
 * Page lock held. */
void reclaim_note_taken(struct upager *p);

/* Register the staging area with the pager's (new) backend. 0 or -errno. */
int reclaim_attach_staging(struct upager *p);

/* In a forked child (fork.c): fresh locks, and let go of the parent's
 * reclaim thread, its I/O context, and make the address space the
 * child's (aspace_fork_child: 0 or -errno); reclaim_start() starts our own thread. */
void reclaim_fork_reinit(struct reclaim *rc);
int reclaim_fork_forget(struct upager *p);

/*
 * Make at least @want frames free (fewer if the budget is smaller), by
 * staging and evicting. Called with the page lock held (and the pager's
 * lock for reading); may drop and retake the page lock, so the caller
 * must look at its page again afterwards. Returns the frames now free
 * (> 0), or -ENOSPC (swap full, nothing evictable), -EBUSY (no page
 * could be staged: every frame held by pages that cannot move), -EINTR
 * (the program changed upager's memory and its events are not applied
 * yet: nothing can be staged until they are; fault_reclaim()), -EIO.
 */
int reclaim_frames(struct upager *p, struct fault_ctx *ctx, uint32_t want);

/*
 * Answer a touch of @addr with SIGBUS while no frame can be had: poison
 * it and remember to lift the poison when frames are free again. Page
 * lock held. Returns 0, or -errno from the backend.
 */
int reclaim_poison_transient(struct upager *p, uintptr_t addr);

/* Is there poison to lift, or a want of memory logged, once frames are
 * free? Page lock held. */
static inline bool reclaim_transient_pending(const struct reclaim *rc)
{
	return rc->ntransient || rc->transient_more || rc->oom_logged;
}

/* The program moved [@start, @end) by @delta (mremap): pages poisoned
 * there for want of a frame moved with it (their marks go with the page
 * table entries). Page lock held. */
void reclaim_transient_moved(struct upager *p, uintptr_t start, uintptr_t end, intptr_t delta);

/* A fault is refused for want of memory: true for the first since frames
 * were last free (the one to log), false after. Page lock held. */
bool reclaim_note_oom(struct upager *p);

/* Does the kernel map a page at @addr (pagemap's present bit)? */
bool reclaim_page_mapped(struct upager *p, uintptr_t addr);

/* For the fault path's way back (fault-swap.c), with the page lock held:
 * staging slot @slot's page; give back @len slots from @start (@discard:
 * their pages too, at once); discard @slot's page later, with others
 * (core/staging.h); UFFDIO_MOVE with the kernel's count checked against
 * pagemap (bytes moved, or -errno). */
char *reclaim_staging_page(struct upager *p, uint32_t slot);
uint32_t reclaim_staging_alloc(struct upager *p, uint32_t want, uint32_t *start);
void reclaim_staging_free(struct upager *p, uint32_t start, uint32_t len, bool discard);
void reclaim_discard_later(struct upager *p, uint32_t slot);
long reclaim_move_counted(struct upager *p, uintptr_t dst, uintptr_t src, size_t len);

/* Pages of upager's own tables that grow with the frames used (the frame
 * table, the staging bitmap). Page lock held. */
uint64_t reclaim_own_pages(struct upager *p);

/* Drop a reference to the entry's slot, if it has one. Page lock held. */
void reclaim_put_slot(struct upager *p, struct page_entry *e);

/* Give @e a slot only it holds (its own, if nobody shares it; else a
 * fresh one), for writing its page. Page lock held. 0 or -ENOSPC. */
int reclaim_slot_for(struct upager *p, struct page_entry *e);

bool reclaim_page_is_zero(const void *page, size_t len);

/* Take [addr, addr + len) of a region out of memory (MADV_DONTNEED) as
 * upager's own change, not an event of the program's (events.h). 0 or
 * -errno (the pages may still be mapped). */
int reclaim_zap(struct upager *p, uintptr_t addr, size_t len);

/* Forget every page of [pgoff, pgoff + n) of @obj: frames, staging pages,
 * slots. Called with the pager's lock held for writing. */
void reclaim_forget_range(struct upager *p, struct object *obj, uint64_t pgoff, uint64_t n);

#endif /* UPAGER_RECLAIM_H */
