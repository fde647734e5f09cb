/* SPDX-License-Identifier: MIT */
/*
 * debug.c - the debug build's invariant checks (debug.h): the region tree,
 * the frame lists, frames against page entries against slot references.
 * Built only with -Ddebug_checks=true.
 */
#define _GNU_SOURCE
#include "mm/debug.h"
#include "mm/pager.h"
#include "store/store-debug.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A broken invariant: say which and where, then stop, before wrong bytes
 * reach the program. Straight to stderr: the log callback may filter or
 * drop it, and this must be seen. */
__attribute__((format(printf, 2, 3), noreturn))
static void debug_fail(const char *where, const char *fmt, ...)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "upager: debug check failed after %s: ", where);
	va_list ap;

	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(msg);
	msg[n++] = '\n';
	if (write(STDERR_FILENO, msg, (size_t)n) < 0) {
		/* nothing better to do: abort anyway */
	}
	abort();
}

static bool page_in_memory(const struct page_entry *e)
{
	return e->state == PAGE_RESIDENT || e->state == PAGE_STAGED ||
	       e->state == PAGE_WRITEBACK;
}

static bool in_object(const struct object *obj, uint64_t pgoff)
{
	return pgoff >= obj->base && pgoff - obj->base < obj->pages;
}

/* Frame @i, on a list other than free, against the entry it names. */
static void check_frame(struct upager *p, uint32_t i, const char *where)
{
	const struct frames *fr = &p->rc.frames;
	const struct frame *f = &fr->f[i];
	const struct page_entry *e;

	if (!f->obj)
		debug_fail(where, "frame %" PRIu32 " on list %u has no object", i, f->list);
	if (!in_object(f->obj, f->pgoff))
		debug_fail(where, "frame %" PRIu32 " names page %" PRIu64 ", outside its object "
			   "[%" PRIu64 ", %" PRIu64 ")", i, f->pgoff, f->obj->base,
			   f->obj->base + f->obj->pages);
	/* A held frame is an install or an eviction in flight: its entry
	 * says so only once it lands. */
	if (f->list == FRAME_HELD)
		return;
	e = object_entry(f->obj, f->pgoff);
	if (e->frame != i)
		debug_fail(where, "frame %" PRIu32 " (list %u) holds page %" PRIu64 " of object %p, "
			   "whose entry names frame %" PRIu32, i, f->list, f->pgoff,
			   (void *)f->obj, e->frame);
	if (!page_in_memory(e))
		debug_fail(where, "frame %" PRIu32 " (list %u) holds page %" PRIu64 " of object %p, "
			   "whose entry is in state %u, not in memory", i, f->list, f->pgoff,
			   (void *)f->obj, e->state);
}

void debug_check_frames(struct upager *p, const char *where)
{
	const struct frames *fr = &p->rc.frames;
	const char *why;

	if (!reclaim_has_budget(&p->rc))
		return;
	if (frames_validate(fr, &why))
		debug_fail(where, "frame lists: %s", why);
	for (int l = 0; l < FRAME_LISTS; l++) {
		for (uint32_t i = frames_oldest(fr, l); i != FRAME_NONE; i = frames_next(fr, i)) {
			/* Never used frames are counted free but linked nowhere. */
			if (i >= fr->n - fr->fresh)
				debug_fail(where, "frame %" PRIu32 " is on list %d and also never "
					   "used (fresh from %" PRIu32 ")", i, l, fr->n - fr->fresh);
			if (l == FRAME_FREE || l == FRAME_WITHHELD) {
				if (fr->f[i].obj)
					debug_fail(where, "free frame %" PRIu32 " still names object %p",
						   i, (void *)fr->f[i].obj);
				continue;
			}
			check_frame(p, i, where);
		}
	}
}

struct entry_walk {
	struct upager *p;
	struct object *obj;
	const char *where;
	uint32_t *held; /* per slot: entries naming it; NULL: not counted */
	uint64_t nslots;
	bool frames;    /* entries in memory hold frames */
};

static void check_entry(void *ctx, uint64_t pgoff, struct page_entry *e)
{
	struct entry_walk *w = ctx;
	const struct frames *fr = &w->p->rc.frames;
	const char *where = w->where;

	if (e->state > PAGE_SWAPIN)
		debug_fail(where, "page %" PRIu64 " of object %p: no such state %u", pgoff,
			   (void *)w->obj, e->state);
	if (w->frames && page_in_memory(e) && e->frame != FRAME_NONE) {
		const struct frame *f;

		if (e->frame >= fr->n)
			debug_fail(where, "page %" PRIu64 " of object %p names frame %" PRIu32
				   ", past the budget of %" PRIu32, pgoff, (void *)w->obj, e->frame,
				   fr->n);
		f = &fr->f[e->frame];
		if (f->list == FRAME_FREE || e->frame >= fr->n - fr->fresh)
			debug_fail(where, "page %" PRIu64 " of object %p (state %u) names frame %"
				   PRIu32 ", which is free", pgoff, (void *)w->obj, e->state,
				   e->frame);
		if (f->obj != w->obj || f->pgoff != pgoff)
			debug_fail(where, "page %" PRIu64 " of object %p names frame %" PRIu32
				   ", which holds page %" PRIu64 " of object %p", pgoff,
				   (void *)w->obj, e->frame, f->pgoff, (void *)f->obj);
	}
	if (e->state == PAGE_SWAPPED && !e->has_slot && !e->poisoned)
		debug_fail(where, "page %" PRIu64 " of object %p is swapped without a slot",
			   pgoff, (void *)w->obj);
	if (e->has_slot && w->held) {
		if (e->slot >= w->nslots)
			debug_fail(where, "page %" PRIu64 " of object %p names slot %" PRIu64
				   ", past the store's %" PRIu64, pgoff, (void *)w->obj, e->slot,
				   w->nslots);
		if (!store_debug_own_refs(w->p->rc.store, e->slot))
			debug_fail(where, "page %" PRIu64 " of object %p (state %u) names slot %"
				   PRIu64 ", which this process holds no reference to", pgoff,
				   (void *)w->obj, e->state, e->slot);
		w->held[e->slot]++;
	}
}

static void walk_entries(struct entry_walk *w, struct object *obj, uint64_t pgoff, uint64_t n)
{
	w->obj = obj;
	/* A forked child's pinned objects take no frames (object.h). */
	w->frames = reclaim_has_budget(&w->p->rc) && !obj->pinned;
	object_for_each_used(obj, pgoff, n, check_entry, w);
}

struct region_walk {
	struct entry_walk *w;
	const char *where;
};

static void check_region(void *ctx, const struct region *r)
{
	struct region_walk *rw = ctx;
	struct object *obj = r->object;
	uint64_t pages = (r->end - r->start) / rw->w->p->page_size;

	if (!obj)
		return;
	if (r->pgoff < obj->base || r->pgoff - obj->base + pages > obj->pages)
		debug_fail(rw->where, "region 0x%lx-0x%lx maps pages [%" PRIu64 ", %" PRIu64
			   ") of object %p, which has [%" PRIu64 ", %" PRIu64 ")",
			   (unsigned long)r->start, (unsigned long)r->end, r->pgoff,
			   r->pgoff + pages, (void *)obj, obj->base, obj->base + obj->pages);
	if (obj->backing && (obj->kind != OBJ_ANON || !object_is_shared(obj->backing)))
		debug_fail(rw->where, "region 0x%lx-0x%lx: object %p is a layer over %p, "
			   "which is not a shared object", (unsigned long)r->start,
			   (unsigned long)r->end, (void *)obj, (void *)obj->backing);
	/* Shared objects are walked once each, from the pager's list. */
	if (!object_is_shared(obj))
		walk_entries(rw->w, obj, r->pgoff, pages);
}

/* Work a full check may do per call, amortised: pagers up to this size
 * (regions + frames in use) are checked after every call; a larger one of
 * size c every (c / CHECK_CREDIT)^2 calls (a hundred thousand regions:
 * every few hundred), so the checking per call falls as pagers grow and a
 * test's n calls on a huge pager cost less than n calls on a small one. */
#define CHECK_CREDIT 4096u
static _Atomic uint64_t check_credit;

void debug_check_pager(struct upager *p, const char *where)
{
	struct entry_walk w = { .p = p, .where = where };
	struct region_walk rw = { &w, where };
	uint64_t cost = p->tree.count + p->rc.frames.n - p->rc.frames.fresh;
	uint64_t need = cost <= CHECK_CREDIT ? cost : cost / CHECK_CREDIT * cost;
	size_t held_bytes = 0;
	const char *why;

	if (atomic_fetch_add(&check_credit, CHECK_CREDIT) + CHECK_CREDIT < need)
		return;
	atomic_store(&check_credit, 0);
	if (region_tree_validate(&p->tree, &why))
		debug_fail(where, "region tree: %s", why);
	/* Never wait for the page lock here: a thread holding it may wait
	 * for the kernel, which may wait for this thread (the suite's
	 * mremap-against-eviction test hung so). The next call checks. */
	if (pthread_mutex_trylock(&p->rc.lock))
		return;
	debug_check_frames(p, where);
	if (p->rc.store && store_debug_is_holder(p->rc.store)) {
		/* Only the pages entries name are touched. */
		w.nslots = store_debug_slots(p->rc.store);
		held_bytes = w.nslots * sizeof(*w.held);
		w.held = mmap(NULL, held_bytes, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (w.held == MAP_FAILED)
			w.held = NULL; /* no memory to count with: the rest still runs */
	}
	region_for_each(&p->tree, check_region, &rw);
	for (struct object *obj = p->shared_objects; obj; obj = obj->next) {
		if (!object_is_shared(obj))
			debug_fail(where, "object %p on the shared list is anonymous", (void *)obj);
		walk_entries(&w, obj, obj->base, obj->pages);
	}
	if (w.held) {
		uint64_t slot;
		uint32_t refs;

		if (store_debug_check_refs(p->rc.store, w.held, &slot, &refs, &why))
			debug_fail(where, "slot %" PRIu64 ": %s (%" PRIu32 " references, %" PRIu32
				   " entries)", slot, why, refs, w.held[slot]);
		munmap(w.held, held_bytes);
	}
	pthread_mutex_unlock(&p->rc.lock);
}

void debug_check_page(struct upager *p, const struct region *r, uintptr_t page,
		      bool may_block, const char *where)
{
	const struct frames *fr = &p->rc.frames;
	struct entry_walk w = { .p = p, .where = where };
	uint32_t total = 0;
	uint64_t pgoff;

	if (!r->object)
		return;
	pgoff = region_page_index(r, page, p->page_size);
	/* The last free handler never waits (serve-threads.c): the page
	 * lock's holder may be a reclaim round in madvise, which the kernel
	 * holds until a handler reads its event, and this may be the only
	 * handler left to read it. */
	if (!may_block) {
		if (pthread_mutex_trylock(&p->rc.lock))
			return;
	} else {
		pthread_mutex_lock(&p->rc.lock);
	}
	for (int l = 0; l < FRAME_LISTS; l++)
		total += fr->list[l].count; /* the free ones past the limit too */
	if (total != fr->n)
		debug_fail(where, "the frame lists count %" PRIu32 " frames, the budget is %" PRIu32,
			   total, fr->n);
	w.obj = r->object;
	w.frames = reclaim_has_budget(&p->rc) && !r->object->pinned;
	if (!in_object(r->object, pgoff))
		debug_fail(where, "page 0x%lx: index %" PRIu64 " is outside its object",
			   (unsigned long)page, pgoff);
	check_entry(&w, pgoff, object_entry(r->object, pgoff));
	pthread_mutex_unlock(&p->rc.lock);
}
