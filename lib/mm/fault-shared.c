/* SPDX-License-Identifier: MIT */
/*
 * fault-shared.c - the shared kind (fault-kind.h): a shared mapping of a
 * shared object (shared anonymous memory, a file) maps the object's page
 * from its page cache (cache.h), brought in first if the cache lacks it:
 * one physical page however many regions map it. The private kind maps
 * the object's pages through the same two steps, fault_object_get() and
 * fault_object_map().
 */
#include "mm/fault-kind.h"

#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "mm/cache.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

static const char *sigbus_reason(int err)
{
	switch (err) {
	case -ENXIO:
		return "access beyond the end of the file";
	case -EBADMSG:
		return "shared page could not be read back intact from swap";
	default:
		return "reading the page failed (I/O error)";
	}
}

/* Move the counters of a fault that maps the object's pages from @was
 * pages mapped to @now: the first is the fault's own (a minor fault when
 * the kernel said so), the rest fault-around. */
static void count_mapped(struct upager *p, const struct object *layer, unsigned int access,
			 uint64_t was, uint64_t now)
{
	int64_t d = (int64_t)now - (int64_t)was;

	if (layer)
		fault_count_shared(p, d);
	if ((access & FAULT_MINOR) && (!was) != (!now))
		atomic_fetch_add_explicit(&p->stats.faults_minor, now ? 1 : (uint64_t)-1,
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&p->stats.fault_around_pages,
				  (uint64_t)((int64_t)(now ? now - 1 : 0) - (int64_t)(was ? was - 1 : 0)),
				  memory_order_relaxed);
}

bool fault_object_is_quick(struct object *obj, uint64_t pgoff, unsigned int access, bool private,
			   bool frame)
{
	const struct page_entry *e = object_entry(obj, pgoff);

	if (private && (access & FAULT_WP))
		return frame; /* copy-on-write of a mapped page */
	if (e->poisoned)
		return true;
	if (obj->pinned && (access & FAULT_MINOR))
		return !private || !(access & FAULT_WRITE) || frame;
	switch (e->state) {
	case PAGE_RESIDENT:
	case PAGE_STAGED:
		return !private || !(access & FAULT_WRITE) || frame;
	case PAGE_ABSENT:
		/* Zeros of shared anonymous memory: no I/O (a pinned
		 * object's fill discards its window: an event). */
		return obj->kind == OBJ_SHMEM && !obj->pinned && frame &&
		       (!private || !(access & FAULT_WRITE));
	default:
		return false;
	}
}

/* Whether the frames of pages [@pgoff, @pgoff + @n) of @obj are all
 * active: no other handler holds one, and none is on its way out. */
static bool frames_all_active(const struct upager *p, struct object *obj, uint64_t pgoff,
			      uint64_t n)
{
	for (uint64_t k = 0; k < n; k++)
		if (p->rc.frames.f[object_entry(obj, pgoff + k)->frame].list != FRAME_ACTIVE)
			return false;
	return true;
}

/*
 * Map @n resident pages of @obj from @pgoff at @page (UFFDIO_CONTINUE;
 * write-protected for a private mapping, @layer). A handler that may wait
 * lets go of the page lock across the ioctl, so that two threads' minor
 * faults do not queue behind each other's (2 threads: 142k -> 191k
 * faults/s, docs/BENCHMARKS.md), where nothing can take the pages
 * meanwhile:
 * - a shared mapping: a private one records what it maps in @layer's
 *   entries, which a copy-on-write fault reads;
 * - an object this process alone pages (not pinned by the daemon);
 * - under a budget, frames all active, held across the ioctl so that
 *   reclaim passes them over (and waits on io_done if it finds nothing
 *   else), put back after as just used. A frame another handler holds
 *   means the locked way.
 * Events wait for the pager's lock, held for reading throughout.
 */
static long map_object_pages(struct upager *p, struct fault_ctx *ctx, struct object *obj,
			     const struct object *layer, uint64_t pgoff, uintptr_t page,
			     uint64_t n)
{
	struct frames *fr = &p->rc.frames;
	bool budget = reclaim_has_budget(&p->rc);
	long done;

	if (layer || obj->pinned || !ctx->may_block ||
	    (budget && !frames_all_active(p, obj, pgoff, n)))
		return p->be_ops->cont(p->be, page, n * p->page_size, layer != NULL);
	for (uint64_t k = 0; budget && k < n; k++)
		frames_move(fr, object_entry(obj, pgoff + k)->frame, FRAME_HELD);
	pthread_mutex_unlock(&p->rc.lock);
	done = p->be_ops->cont(p->be, page, n * p->page_size, false);
	pthread_mutex_lock(&p->rc.lock);
	if (budget) {
		for (uint64_t k = 0; k < n; k++)
			frames_move(fr, object_entry(obj, pgoff + k)->frame, FRAME_ACTIVE);
		pthread_cond_broadcast(&p->rc.io_done);
	}
	return done;
}

int fault_object_get(struct upager *p, struct fault_ctx *ctx, struct object *obj, uint64_t pgoff,
		     uintptr_t page, uint64_t want, unsigned int access, uint64_t *n,
		     enum fault_result *result)
{
	int err;

	*n = 0;
	err = cache_get(p, ctx, obj, pgoff, want, access, n);
	if (err == CACHE_NO_FRAME)
		return fault_reclaim(p, ctx, page, result);
	if (err > 0)
		return 1;
	if (!err)
		return 0;
	if (err == -EINTR || err == -ENOSPC || err == -EBUSY || err == -ENOMEM) {
		fault_no_frame(p, page, err, result);
		return 0;
	}
	/* Past the end of the file, or an I/O error: SIGBUS, as the
	 * kernel answers; this region's page stays that way until
	 * it is discarded or unmapped. */
	*result = fault_sigbus(p, page, sigbus_reason(err), true);
	return 0;
}

void fault_object_map(struct upager *p, struct fault_ctx *ctx, const struct region *r,
		      struct object *obj, struct object *layer, uintptr_t page, uint64_t n,
		      unsigned int access, enum fault_result *result)
{
	uint64_t pgoff = region_page_index(r, page, p->page_size);
	size_t ps = p->page_size;
	long done;

	/* Counted before the wake-up (the thread may read the statistics
	 * before this one runs again), taken back for what was not mapped. */
	count_mapped(p, layer, access, 0, n);
	done = map_object_pages(p, ctx, obj, layer, pgoff, page, n);
	count_mapped(p, layer, access, n, done > 0 ? (uint64_t)done / ps : 0);
	if (done == -EEXIST || done == -ENOENT || done == -EAGAIN) {
		fault_wake_raced(p, page, done);
		return;
	}
	if (done < 0) {
		log_error("cache: mapping the object's page at 0x%lx: %s", (unsigned long)page,
			  strerror((int)-done));
		*result = FAULT_FAILED;
		return;
	}
	if (layer)
		for (uint64_t k = 0; k < (uint64_t)done / ps; k++)
			object_entry(layer, pgoff + k)->flags |= PE_MAPS_BACKING;
	fault_streams_advance(&p->streams, page, page + (uintptr_t)done);
}

/* One look at the page, page lock held: 1 to look again, else 0 with
 * *@result set. */
static int shared_step(struct upager *p, struct fault_ctx *ctx, const struct region *r,
		       uintptr_t page, unsigned int access, enum fault_result *result)
{
	struct object *obj = r->object;
	uint64_t pgoff = region_page_index(r, page, p->page_size), want, n;
	int again;

	if (!ctx->may_block && !fault_object_is_quick(obj, pgoff, access, false, fault_has_frame(p))) {
		*result = FAULT_DEFER;
		return 0;
	}
	want = fault_streams_window(&p->streams, page);
	if (want > (r->end - page) / p->page_size)
		want = (r->end - page) / p->page_size;
	again = fault_object_get(p, ctx, obj, pgoff, page, want, access, &n, result);
	if (again || !n)
		return again;
	fault_object_map(p, ctx, r, obj, NULL, page, n, access, result);
	return 0;
}

const struct fault_ops fault_shared_ops = {
	.name = "shared",
	.step = shared_step,
};
