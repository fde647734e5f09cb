/* SPDX-License-Identifier: MIT */
/*
 * changes.c - the address-space changes the program made behind upager's
 * back (munmap, mremap, madvise: the userfaultfd events queued in
 * events.c), applied to the region tree, the objects and the frames; and
 * a region grown in place (no event), found by a fault and followed from
 * /proc/self/maps. The pager's lock is held for writing throughout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "mm/cache.h"
#include "core/log.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "mm/reclaim.h"
#include "os/aspace.h"

/* The program discarded [start, end): the regions' own pages there
 * (anonymous ones, private copies) are gone, and so are their frames,
 * staged copies and slots; a shared object keeps its pages. */
static void discarded(struct upager *p, uintptr_t start, uintptr_t end)
{
	const struct region *r;
	uintptr_t at, s, e;

	for (at = start; (r = region_next_in(&p->tree, &at, end, &s, &e));) {
		if (!r->object || object_is_shared(r->object))
			continue;
		reclaim_forget_range(p, r->object, r->pgoff + (s - r->start) / p->page_size,
				     (e - s) / p->page_size);
	}
}

static void unmapped_piece(void *ctx, const struct region *piece)
{
	/* The kernel's pages are gone already; how many were resident
	 * cannot be told any more. */
	pager_forget_piece(ctx, piece, 0);
}

struct move_ctx {
	struct upager *p;
	intptr_t delta;
};

static void move_frame(void *ctx, uint64_t pgoff, struct page_entry *e)
{
	const struct move_ctx *c = ctx;

	(void)pgoff;
	if (e->state == PAGE_RESIDENT || e->state == PAGE_STAGED || e->state == PAGE_WRITEBACK)
		c->p->rc.frames.f[e->frame].addr += (uintptr_t)c->delta;
}

/* @piece moved by @delta bytes: the frames of its pages and the reverse
 * map of the object behind it say where they are now. */
static void moved(struct upager *p, const struct region *piece, intptr_t delta)
{
	struct object *obj = piece->object, *shared;
	uint64_t pages = (piece->end - piece->start) / p->page_size;
	struct move_ctx c = { p, delta };

	if (!obj)
		return;
	if (!object_is_shared(obj) && reclaim_has_budget(&p->rc)) {
		pthread_mutex_lock(&p->rc.lock);
		object_for_each_used(obj, piece->pgoff, pages, move_frame, &c);
		reclaim_transient_moved(p, piece->start, piece->end, delta);
		pthread_mutex_unlock(&p->rc.lock);
	}
	shared = object_is_shared(obj) ? obj : obj->backing;
	if (shared && (object_map_remove(shared, piece->start, piece->end) ||
		       object_map_add(shared, piece->start + (uintptr_t)delta,
				      piece->end + (uintptr_t)delta, piece->pgoff,
				      object_is_shared(obj) ? NULL : obj)))
		log_error("remap: out of memory updating the object's reverse map");
}

/* @piece of a region moved by @delta bytes (mremap): the one place a
 * region moves, so every attribute it carries for its kernel mapping
 * (protection, flags, advice) goes with it. */
static int move_piece(struct upager *p, const struct region *piece, intptr_t delta)
{
	int err = region_remove_range(&p->tree, piece->start, piece->end, NULL, NULL);

	if (err)
		return err;
	moved(p, piece, delta);
	return region_insert(&p->tree, piece->start + (uintptr_t)delta,
			     piece->end + (uintptr_t)delta, piece->prot, piece->flags,
			     piece->object, piece->pgoff);
}

/* The program moved [from, end) to @to (mremap): the regions follow. */
static void apply_remap(struct upager *p, uintptr_t from, uintptr_t end, uintptr_t to)
{
	intptr_t delta = (intptr_t)(to - from);

	uintptr_t at = from, s, e;
	const struct region *r;

	while ((r = region_next_in(&p->tree, &at, end, &s, &e))) {
		struct region piece = *r;
		int err;

		piece.start = s;
		piece.end = e;
		piece.pgoff = r->pgoff + (s - r->start) / p->page_size;
		err = move_piece(p, &piece, delta);
		if (err)
			log_error("remap 0x%lx-0x%lx to 0x%lx: %s; upager lost track of that "
				  "memory", (unsigned long)piece.start, (unsigned long)piece.end,
				  (unsigned long)(piece.start + (uintptr_t)delta), strerror(-err));
	}
}

/* The kernel mapping around @addr (aspace_mappings: a fault calls this
 * with the pager's lock held for writing, and it never calls malloc). */
static bool kernel_vma(struct upager *p, uintptr_t addr, uintptr_t *start, uintptr_t *end)
{
	struct aspace_mapping m;

	if (aspace_mappings(p->as, addr, addr + 1, &m, 1) != 1)
		return false;
	*start = m.start;
	*end = m.end;
	return true;
}

bool pager_follow_growth(struct upager *p, uintptr_t addr)
{
	uintptr_t vs, ve;
	struct region *r;
	bool covered = false;

	pager_write_lock(p);
	if (region_find(&p->tree, addr)) {
		covered = true;
		goto out_unlock;
	}
	if (!kernel_vma(p, addr, &vs, &ve))
		goto out_unlock;
	/* The region the mapping starts with, ending below @addr with
	 * nothing of upager's between: it grew into [r->end, ve). */
	r = region_find(&p->tree, vs);
	if (!r || r->end > addr || !region_range_is_free(&p->tree, r->end, ve))
		goto out_unlock;
	if (r->object && (object_is_shared(r->object) || r->object->backing)) {
		log_warn("mremap grew a mapping of a shared object in place (0x%lx-0x%lx): "
			 "not followed", (unsigned long)r->end, (unsigned long)ve);
		goto out_unlock;
	}
	{
		uint64_t pgoff = r->pgoff + (r->end - r->start) / p->page_size;
		uint64_t pages = (ve - r->end) / p->page_size;
		struct object *obj = r->object;
		uintptr_t from = r->end;
		int err = 0;

		if (obj && !(err = object_grow_anon(obj, pgoff + pages)))
			obj->mapped_pages += pages;
		if (!err)
			/* Not locked: the growth is not counted (lock.h). */
			err = region_insert(&p->tree, from, ve, r->prot, r->flags & ~REGION_LOCKED,
					    obj, pgoff);
		if (err) {
			log_error("mremap grew 0x%lx-0x%lx in place: %s; not followed",
				  (unsigned long)from, (unsigned long)ve, strerror(-err));
			goto out_unlock;
		}
		log_debug("mremap grew a region in place: 0x%lx-0x%lx", (unsigned long)from,
			  (unsigned long)ve);
		stat_add(&p->stats.events, 1);
		covered = true;
	}
out_unlock:
	pthread_rwlock_unlock(&p->lock);
	return covered;
}

void pager_apply_event(struct upager *p, const struct event *e)
{
	log_debug("event: %s 0x%lx-0x%lx%s", e->kind == EVENT_UNMAP ? "munmap" :
		  e->kind == EVENT_REMAP ? "mremap" : "discard", (unsigned long)e->start,
		  (unsigned long)e->end, e->kind == EVENT_REMAP ? " moved" : "");
	stat_add(&p->stats.events, 1);
	switch (e->kind) {
	case EVENT_REMOVE:
		discarded(p, e->start, e->end);
		break;
	case EVENT_UNMAP:
		if (region_remove_range(&p->tree, e->start, e->end, unmapped_piece, p))
			log_error("munmap 0x%lx-0x%lx by the program: out of memory; upager "
				  "still thinks it maps it", (unsigned long)e->start,
				  (unsigned long)e->end);
		break;
	case EVENT_REMAP:
		apply_remap(p, e->start, e->end, e->to);
		break;
	default:
		break;
	}
}
