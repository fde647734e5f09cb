/* SPDX-License-Identifier: MIT */
/*
 * reclaim-poison.c - pages a fault could not be given a frame for: the
 * fault is answered with a transient poison (SIGBUS for that touch), the
 * address remembered, and the poison lifted as soon as reclaim frees a
 * frame again, so the failure lasts only as long as its cause.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "core/pool.h"
#include "mm/pager.h"
#include "mm/reclaim-internal.h"

/* Addresses poisoned for want of a frame past the sixteen transient[]
 * holds (reclaim.h). */
#define TRANSIENT_CHUNK 62
struct transient_chunk {
	struct transient_chunk *next;
	uint32_t n;
	uintptr_t addr[TRANSIENT_CHUNK];
};

static struct pool transient_pool = POOL_INIT(struct transient_chunk);

/* Remember @addr, poisoned for want of a frame. Page lock held. Only
 * with no memory at all for a chunk is a page left poisoned: said. */
static void remember_transient(struct upager *p, uintptr_t addr)
{
	struct reclaim *rc = &p->rc;
	struct transient_chunk *c = rc->transient_more;

	if (rc->ntransient < sizeof(rc->transient) / sizeof(rc->transient[0])) {
		rc->transient[rc->ntransient++] = addr;
		return;
	}
	if (!c || c->n == TRANSIENT_CHUNK) {
		c = pool_alloc(&transient_pool);
		if (!c) {
			log_error("reclaim: 0x%lx stays poisoned (SIGBUS) until unmapped: no memory "
				  "to remember it by", (unsigned long)addr);
			return;
		}
		c->next = rc->transient_more;
		rc->transient_more = c;
	}
	c->addr[c->n++] = addr;
}

int reclaim_poison_transient(struct upager *p, uintptr_t addr)
{
	int err = p->be_ops->poison(p->be, addr);

	if (err)
		return err;
	remember_transient(p, addr);
	return 0;
}

static void move_addr(uintptr_t *a, uintptr_t start, uintptr_t end, intptr_t delta)
{
	if (*a >= start && *a < end)
		*a += (uintptr_t)delta;
}

void reclaim_transient_moved(struct upager *p, uintptr_t start, uintptr_t end, intptr_t delta)
{
	struct reclaim *rc = &p->rc;

	for (uint32_t k = 0; k < rc->ntransient; k++)
		move_addr(&rc->transient[k], start, end, delta);
	for (struct transient_chunk *c = rc->transient_more; c; c = c->next)
		for (uint32_t k = 0; k < c->n; k++)
			move_addr(&c->addr[k], start, end, delta);
}

bool reclaim_note_oom(struct upager *p)
{
	bool first = !p->rc.oom_logged;

	p->rc.oom_logged = true;
	return first;
}

/* Whether a frame held for an install in flight is for @addr. A zero
 * fill lets go of the page lock across its install (fault_absent()):
 * its pages are mapped before their entries stop saying absent. */
static bool install_in_flight(const struct frames *fr, uintptr_t addr)
{
	for (uint32_t i = frames_oldest(fr, FRAME_HELD); i != FRAME_NONE; i = frames_next(fr, i))
		if (fr->f[i].addr == addr)
			return true;
	return false;
}

/* May the poison mark at @addr of @r go? Only where upager holds no page
 * in memory (the address may have been unmapped and mapped again since,
 * and hold a page now), and no install is in flight over it (looked at
 * again next time, when its entry says whether the install got there). */
static bool transient_liftable(struct upager *p, const struct region *r, uintptr_t addr,
			       bool *in_flight)
{
	const struct page_entry *e;

	*in_flight = install_in_flight(&p->rc.frames, addr);
	if (*in_flight)
		return false;
	e = object_entry(r->object, region_page_index(r, addr, p->page_size));
	/* A private page mapping its object's page has a page table entry
	 * of its own, not a mark. */
	return (e->state == PAGE_ABSENT || e->state == PAGE_SWAPPED) && !e->poisoned &&
	       !(e->flags & PE_MAPS_BACKING);
}

/* Lift the mark at @addr if it may go; false when it must stay to be
 * looked at again (an install in flight over it). */
static bool lift_one(struct upager *p, uintptr_t addr)
{
	const struct region *r = region_find(&p->tree, addr);
	bool in_flight;

	if (!r || !r->object)
		return true;
	/* MADV_DONTNEED removes the poison mark. */
	if (transient_liftable(p, r, addr, &in_flight))
		reclaim_zap(p, addr, p->page_size);
	return !in_flight;
}

/* Frames are free again: lift the poison of pages that only lacked one.
 * Pager lock (read) and page lock held. */
void reclaim_lift_transient_poison(struct upager *p)
{
	struct reclaim *rc = &p->rc;
	struct transient_chunk *more = rc->transient_more;
	uint32_t kept = 0, n = rc->ntransient;

	/* Memory is to be had again: the next want of it is news. */
	rc->oom_logged = false;
	rc->ntransient = 0;
	rc->transient_more = NULL;
	/* What must stay is remembered again, in transient[] first. */
	for (uint32_t k = 0; k < n; k++)
		if (!lift_one(p, rc->transient[k]))
			rc->transient[kept++] = rc->transient[k];
	rc->ntransient = kept;
	while (more) {
		struct transient_chunk *c = more;

		more = c->next;
		for (uint32_t k = 0; k < c->n; k++)
			if (!lift_one(p, c->addr[k]))
				remember_transient(p, c->addr[k]);
		pool_free(&transient_pool, c);
	}
}


void reclaim_poison_fork_child(void)
{
	pool_fork_child(&transient_pool);
}

void reclaim_poison_forget(struct reclaim *rc)
{
	while (rc->transient_more) {
		struct transient_chunk *c = rc->transient_more;

		rc->transient_more = c->next;
		pool_free(&transient_pool, c);
	}
}
