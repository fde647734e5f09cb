/* SPDX-License-Identifier: MIT */
/*
 * fault.c - the top of the fault path: classify the faulting access
 * against the region tree the way the kernel's do_user_addr_fault() does,
 * then hand it, once, to the kind of memory the region maps
 * (fault-kind.h); and the fault-around streams that decide how many pages
 * a fault brings in.
 */
#include "mm/fault.h"
#include "mm/debug.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "mm/events.h"
#include "mm/fault-kind.h"
#include "mm/pager.h"

void fault_streams_init(struct fault_streams *fs, unsigned int max_pages)
{
	memset(fs->s, 0, sizeof(fs->s));
	fs->clock = 0;
	fs->max = max_pages ? max_pages : 1;
	fs->start = 1;
	fs->fresh_open = false;
	fs->page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	pthread_mutex_init(&fs->lock, NULL);
}

void fault_streams_destroy(struct fault_streams *fs)
{
	pthread_mutex_destroy(&fs->lock);
}

unsigned int fault_streams_window(struct fault_streams *fs, uintptr_t page)
{
	unsigned int window;

	if (fs->max == 1)
		return 1;
	pthread_mutex_lock(&fs->lock);
	/* Fresh: halved already if the latest fresh stream went nowhere
	 * (fault_streams_advance() then halves fs->start). */
	window = fs->fresh_open && fs->start > 1 ? fs->start / 2 : fs->start;
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->next == page) {
			window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return window;
}

unsigned int fault_streams_window_down(struct fault_streams *fs, uintptr_t page)
{
	unsigned int window = 0;

	if (fs->max == 1)
		return 0;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->low == page + fs->page_size && s->next != page) {
			window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return window;
}

void fault_streams_advance_down(struct fault_streams *fs, uintptr_t low, uintptr_t page)
{
	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->low == page + fs->page_size) {
			s->window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			s->low = low;
			s->next = page + fs->page_size;
			s->last_use = ++fs->clock;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

void fault_streams_trim(struct fault_streams *fs, uintptr_t page, uintptr_t planned,
			uintptr_t end)
{
	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++)
		if (fs->s[i].window && fs->s[i].low == page && fs->s[i].next == planned)
			fs->s[i].next = end;
	if (fs->fresh_open && fs->fresh_next == planned)
		fs->fresh_next = end;
	pthread_mutex_unlock(&fs->lock);
}

void fault_streams_advance(struct fault_streams *fs, uintptr_t page, uintptr_t end)
{
	struct fault_stream *victim = &fs->s[0];
	unsigned int pages_done;

	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->next == page) {
			victim = s;
			break;
		}
		if (s->last_use < victim->last_use)
			victim = s;
	}
	/* The window a stream carries is what it was given; the next fault
	 * in sequence doubles it. A fresh stream starts at fs->start, which
	 * learns from whether the latest fresh stream went on. */
	if (victim->next == page && victim->window) {
		pages_done = victim->window * 2;
		if (fs->fresh_open && fs->fresh_next == page) {
			fs->fresh_open = false;
			if (fs->start < fs->max / 2)
				fs->start *= 2;
		}
	} else {
		if (fs->fresh_open && fs->start > 1)
			fs->start /= 2;
		pages_done = fs->start;
		fs->fresh_open = true;
		fs->fresh_next = end;
	}
	victim->window = pages_done > fs->max ? fs->max : pages_done;
	victim->low = page;
	victim->next = end;
	victim->last_use = ++fs->clock;
	pthread_mutex_unlock(&fs->lock);
}

static bool access_allowed(const struct region *r, unsigned int access)
{
	if (access & FAULT_WRITE)
		return r->prot & UPAGER_PROT_WRITE;
	/* As on x86: any mapping that is not PROT_NONE can be read. */
	return r->prot != UPAGER_PROT_NONE;
}

/* What @r maps, which decides how its faults are served: by its object,
 * as the kernel's vma->vm_ops. */
static const struct fault_ops *fault_kind_of(const struct region *r)
{
	if (!r->object)
		return &fault_zero_ops;
	if (object_is_shared(r->object))
		return &fault_shared_ops;
	return r->object->backing ? &fault_private_ops : &fault_anon_ops;
}

enum fault_result fault_handle(struct upager *pager, struct fault_ctx *ctx, uintptr_t addr,
			       unsigned int access)
{
	uintptr_t page = addr & ~(uintptr_t)(pager->page_size - 1);
	enum fault_result result = FAULT_RESOLVED;
	const struct fault_ops *kind;
	bool grew = false;
	struct region *r;

again:
	if (events_pending(&pager->events)) {
		/* Changes read before this fault come first: a page the
		 * program discarded must not be served from its old home. */
		if (!ctx->may_block)
			return FAULT_DEFER;
		pthread_rwlock_wrlock(&pager->lock);
		events_apply(pager);
		pthread_rwlock_unlock(&pager->lock);
	}
	if (!ctx->may_block) {
		if (pthread_rwlock_tryrdlock(&pager->lock))
			return FAULT_DEFER;
	} else {
		pthread_rwlock_rdlock(&pager->lock);
	}
	stat_add(&pager->stats.faults, 1);
	stat_add(access & FAULT_WRITE ? &pager->stats.faults_write
				      : &pager->stats.faults_read, 1);
	r = region_find(&pager->tree, addr);
	if (!r && ctx->may_block && !grew) {
		/* userfaultfd reported it, so the kernel has it registered:
		 * a region grown in place by mremap, which raises no event. */
		pthread_rwlock_unlock(&pager->lock);
		grew = true;
		if (pager_follow_growth(pager, addr))
			goto again;
		pthread_rwlock_rdlock(&pager->lock);
	}
	if (!r) {
		/* The worker looks for a region grown in place. */
		result = ctx->may_block ? FAULT_MAPERR : FAULT_DEFER;
		goto out_unlock;
	}
	if (!access_allowed(r, access)) {
		result = FAULT_ACCERR;
		goto out_unlock;
	}
	kind = fault_kind_of(r);
	result = kind->fault(pager, ctx, r, page, access);
	if (r->object)
		debug_check_page(pager, r, page, ctx->may_block, "a fault");
	if (result == FAULT_DEFER) {
		/* Counted again by whoever serves it. */
		atomic_fetch_sub_explicit(&pager->stats.faults, 1, memory_order_relaxed);
		atomic_fetch_sub_explicit(access & FAULT_WRITE ? &pager->stats.faults_write
							       : &pager->stats.faults_read,
					  1, memory_order_relaxed);
	}

out_unlock:
	pthread_rwlock_unlock(&pager->lock);
	return result;
}
