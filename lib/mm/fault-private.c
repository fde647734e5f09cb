/* SPDX-License-Identifier: MIT */
/*
 * fault-private.c - the private kind (fault-kind.h): a private mapping of
 * a shared object. Its region's object is an ANON layer over the shared
 * one (object.h): a page with no copy of its own maps the object's page
 * write-protected (fault-shared.c's two steps), and the first write makes
 * the region's own copy (copy-on-write), which from then on pages as
 * anonymous memory does (fault-swap.c).
 */
#include "mm/fault-kind.h"

#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

/* Pages of a private mapping's layer from @pgoff on, up to @max, that
 * have no private copy. */
static uint64_t layer_run(struct object *layer, uint64_t pgoff, uint64_t max)
{
	uint64_t n = 0, limit = layer->base + layer->pages - pgoff;

	if (limit > max)
		limit = max;
	while (n < limit && object_entry(layer, pgoff + n)->state == PAGE_ABSENT &&
	       !object_entry(layer, pgoff + n)->poisoned)
		n++;
	return n;
}

/* Count (@n = 1) or uncount (-1) a private copy made; @was_shared: the
 * page mapped the object's page until then. */
static void count_copy(struct upager *p, bool was_shared, int n)
{
	if (was_shared)
		fault_count_shared(p, -n);
	if (!reclaim_has_budget(&p->rc))
		atomic_fetch_add_explicit(&p->stats.pages_resident, n, memory_order_relaxed);
	if (n > 0)
		stat_add(&p->stats.cow_breaks, 1);
	else
		atomic_fetch_sub_explicit(&p->stats.cow_breaks, 1, memory_order_relaxed);
}

/*
 * A write through a private mapping to a page that maps the object's
 * page write-protected: the page becomes the region's own. Clearing the
 * protection lets the retried write copy it in the kernel (its usual
 * copy-on-write); upager records the copy and its frame.
 */
static int cow_break(struct upager *p, struct fault_ctx *ctx, struct object *layer,
		     uint64_t pgoff, uintptr_t page, enum fault_result *result)
{
	struct page_entry *le = object_entry(layer, pgoff);
	uint32_t frame = 0;
	int err;

	if (reclaim_has_budget(&p->rc)) {
		if (!frames_count(&p->rc.frames, FRAME_FREE))
			return fault_reclaim(p, ctx, page, result);
		frame = frames_take(&p->rc.frames, layer, pgoff, page, FRAME_HELD);
		reclaim_note_taken(p);
	}
	/* Counted before the wake-up: the thread may read the statistics
	 * before this one runs again. */
	count_copy(p, le->flags & PE_MAPS_BACKING, 1);
	err = p->be_ops->protect(p->be, page, p->page_size, false);
	if (err) {
		count_copy(p, le->flags & PE_MAPS_BACKING, -1);
		if (reclaim_has_budget(&p->rc))
			frames_release(&p->rc.frames, frame);
		if (err == -ENOENT || err == -EAGAIN) {
			fault_wake_raced(p, page, err);
			return 0;
		}
		log_error("cache: copy-on-write at 0x%lx: %s", (unsigned long)page, strerror(-err));
		*result = FAULT_FAILED;
		return 0;
	}
	le->state = PAGE_RESIDENT;
	le->flags = 0;
	if (reclaim_has_budget(&p->rc)) {
		le->frame = frame;
		frames_move(&p->rc.frames, frame, FRAME_ACTIVE);
	}
	return 0;
}

/* A write through a private mapping to a page it does not map: install
 * the region's own copy of the object's (resident) page at once, rather
 * than mapping the object's page and faulting again to copy it. */
static int cow_copy(struct upager *p, struct fault_ctx *ctx, struct object *layer,
		    struct object *obj, uint64_t pgoff, uintptr_t page, enum fault_result *result)
{
	struct page_entry *le = object_entry(layer, pgoff);
	size_t ps = p->page_size;
	uint32_t frame = 0;
	ssize_t got;
	long done;

	if (reclaim_has_budget(&p->rc) && !frames_count(&p->rc.frames, FRAME_FREE))
		return fault_reclaim(p, ctx, page, result);
	got = pread_full(obj->cache_fd, ctx->bounce, ps, pgoff * ps);
	if (got != (ssize_t)ps) {
		log_error("cache: copy-on-write at 0x%lx: reading the object's page: %s",
			  (unsigned long)page, got < 0 ? strerror((int)-got) : "short read");
		*result = FAULT_FAILED;
		return 0;
	}
	if (reclaim_has_budget(&p->rc)) {
		frame = frames_take(&p->rc.frames, layer, pgoff, page, FRAME_HELD);
		reclaim_note_taken(p);
	}
	count_copy(p, false, 1);
	done = p->be_ops->copy(p->be, page, ctx->bounce, ps);
	if (done != (long)ps) {
		count_copy(p, false, -1);
		if (reclaim_has_budget(&p->rc))
			frames_release(&p->rc.frames, frame);
		if (done == -EEXIST || done == -ENOENT || done == -EAGAIN) {
			fault_wake_raced(p, page, done);
			return 0;
		}
		log_error("cache: copy-on-write at 0x%lx: %s", (unsigned long)page,
			  strerror(done < 0 ? (int)-done : EIO));
		*result = FAULT_FAILED;
		return 0;
	}
	le->state = PAGE_RESIDENT;
	if (reclaim_has_budget(&p->rc)) {
		le->frame = frame;
		frames_move(&p->rc.frames, frame, FRAME_ACTIVE);
	}
	return 0;
}

/* No copy of its own at @page: the object's page, or for a write a copy
 * of it. Returns 1 to look at the page again, else 0 with *@result. */
static int private_absent(struct upager *p, struct fault_ctx *ctx, const struct region *r,
			  uintptr_t page, unsigned int access, enum fault_result *result)
{
	struct object *layer = r->object, *obj = layer->backing;
	uint64_t pgoff = region_page_index(r, page, p->page_size), want, n;
	size_t ps = p->page_size;
	int again;

	if (access & FAULT_WP)
		return cow_break(p, ctx, layer, pgoff, page, result);
	/* The region maps nothing here (a flag left set means the
	 * program discarded the page itself). */
	if (object_entry(layer, pgoff)->flags & PE_MAPS_BACKING) {
		object_entry(layer, pgoff)->flags = 0;
		fault_count_shared(p, -1);
	}
	want = access & FAULT_WRITE ? 1 : fault_streams_window(&p->streams, page);
	if (want > (r->end - page) / ps)
		want = (r->end - page) / ps;
	want = layer_run(layer, pgoff, want);
	again = fault_object_get(p, ctx, obj, pgoff, page, want, access, &n, result);
	if (again || !n)
		return again;
	/* The page lock was dropped during a read: another fault
	 * may have made copies meanwhile. */
	if (object_entry(layer, pgoff)->state != PAGE_ABSENT)
		return 1;
	n = layer_run(layer, pgoff, n);
	if (access & FAULT_WRITE)
		return cow_copy(p, ctx, layer, obj, pgoff, page, result);
	fault_object_map(p, ctx, r, obj, layer, page, n, access, result);
	return 0;
}

/* As anon_is_quick() (fault-anon.c), for a private copy or the object's
 * page behind it. */
static bool private_is_quick(struct upager *p, struct object *layer, uint64_t pgoff,
			     unsigned int access)
{
	const struct page_entry *e = object_entry(layer, pgoff);

	if (e->poisoned)
		return true;
	switch (e->state) {
	case PAGE_ABSENT:
		return fault_object_is_quick(layer->backing, pgoff, access, true, fault_has_frame(p));
	case PAGE_RESIDENT:
		/* A private copy discarded by the program: the object's page
		 * again. */
		if (!(access & FAULT_WP))
			return fault_object_is_quick(layer->backing, pgoff, access, true,
						     fault_has_frame(p));
		return true;
	case PAGE_STAGED:
		return true;
	default:
		return false; /* I/O, or waiting for another handler's */
	}
}

/* The region's own copy at @page (@e) faulted. Returns 1 to look again. */
static int private_resident(struct upager *p, struct page_entry *e, uintptr_t page,
			    unsigned int access)
{
	if (access & FAULT_WP) {
		/* A private copy left write-protected by a reclaim round
		 * that backed off. */
		p->be_ops->protect(p->be, page, p->page_size, false);
		return 0;
	}
	if (reclaim_page_mapped(p, page)) {
		/* Another thread's fault on the page, served by another
		 * handler first. */
		stat_add(&p->stats.faults_raced, 1);
		p->be_ops->wake(p->be, page, p->page_size);
		return 0;
	}
	/* Faulted though upager holds its private copy: the program
	 * discarded it, and the page is the object's again, as under the
	 * kernel. */
	reclaim_put_slot(p, e);
	if (reclaim_has_budget(&p->rc))
		frames_release(&p->rc.frames, e->frame);
	else
		atomic_fetch_sub_explicit(&p->stats.pages_resident, 1, memory_order_relaxed);
	e->state = PAGE_ABSENT;
	e->flags = 0;
	return 1;
}

/* One look at the page, page lock held: 1 to look again, else 0 with
 * *@result set. */
static int private_step(struct upager *p, struct fault_ctx *ctx, const struct region *r,
			uintptr_t page, unsigned int access, enum fault_result *result)
{
	uint64_t pgoff = region_page_index(r, page, p->page_size);
	struct page_entry *e = object_entry(r->object, pgoff);

	if (fault_deferred_or_lost(p, e,
				   ctx->may_block || private_is_quick(p, r->object, pgoff, access),
				   page, result))
		return 0;
	switch (e->state) {
	case PAGE_ABSENT:
		return private_absent(p, ctx, r, page, access, result);
	case PAGE_SWAPPED:
	case PAGE_STAGED:
		/* A WP fault where no page is mapped any more was read
		 * before reclaim took the page: served from upager's copy
		 * like any other fault. */
		if ((access & FAULT_WP) && reclaim_page_mapped(p, page))
			return fault_adopt_mapped(p, ctx, r, page, result);
		if (e->state == PAGE_SWAPPED)
			return fault_swapped(p, ctx, r, page, result);
		return fault_reactivate(p, e, page);
	case PAGE_WRITEBACK:
	case PAGE_SWAPIN:
		/* Another handler is moving this page: wait for it. */
		return fault_wait_io(p);
	case PAGE_RESIDENT:
		return private_resident(p, e, page, access);
	}
	return 0;
}

const struct fault_ops fault_private_ops = {
	.name = "private",
	.step = private_step,
};
