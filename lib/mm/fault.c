/* SPDX-License-Identifier: MIT */
/*
 * fault.c - the top of the fault path: classify the faulting access
 * against the region tree the way the kernel's do_user_addr_fault() does,
 * then hand it, once, to the kind of memory the region maps
 * (fault-kind.h). How many pages a fault brings in: core/streams.h.
 */
#include "mm/fault.h"
#include "mm/debug.h"

#include <errno.h>

#include "mm/events.h"
#include "mm/fault-kind.h"
#include "mm/pager.h"

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
	result = kind->step ? fault_run_locked(pager, ctx, r, page, access, kind->step)
			    : kind->fault(pager, ctx, r, page, access);
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
