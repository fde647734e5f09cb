/* SPDX-License-Identifier: MIT */
/*
 * fault-common.c - what the fault kinds with page entries share
 * (fault-kind.h): the page lock, the way out when no frame can be had
 * (reclaim, or SIGBUS until frames are free), SIGBUS itself, and the
 * wake-up of a fault another one resolved.
 */
#include "mm/fault-kind.h"

#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

bool fault_page_lock(struct upager *pager, const struct fault_ctx *ctx)
{
	if (ctx->may_block) {
		pthread_mutex_lock(&pager->rc.lock);
		return true;
	}
	return !pthread_mutex_trylock(&pager->rc.lock);
}

enum fault_result fault_run_locked(struct upager *p, struct fault_ctx *ctx, const struct region *r,
				   uintptr_t page, unsigned int access, fault_step_fn *step)
{
	enum fault_result result = FAULT_RESOLVED;

	if (!fault_page_lock(p, ctx))
		return FAULT_DEFER;
	while (step(p, ctx, r, page, access, &result))
		;
	pthread_mutex_unlock(&p->rc.lock);
	return result;
}

enum fault_result fault_sigbus(struct upager *pager, uintptr_t page, const char *why,
			       bool permanent)
{
	int err = permanent ? pager->be_ops->poison(pager->be, page)
			    : reclaim_poison_transient(pager, page);

	if (err == -EAGAIN) {
		/* The address space is changing (an event is being read):
		 * the thread faults again, and is answered then. */
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return FAULT_RESOLVED;
	}
	if (err == -EEXIST) {
		/* A page is there after all (the range was discarded and
		 * refilled meanwhile, or another handler's install got
		 * there): the access goes on, and no SIGBUS is counted. */
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return FAULT_RESOLVED;
	}
	stat_add(&pager->stats.sigbus, 1);
	/* A want of memory is said once, until memory is to be had again:
	 * every page touched meanwhile is refused for the same reason. */
	if (permanent || reclaim_note_oom(pager))
		log_error("fault at 0x%lx: SIGBUS: %s%s", (unsigned long)page, why,
			  permanent ? "" : "; further pages refused for want of memory are "
			  "counted (statistics: sigbus), not logged, until memory is free again");
	if (err) {
		log_error("fault at 0x%lx: cannot deliver SIGBUS: %s", (unsigned long)page,
			  strerror(-err));
		return FAULT_FAILED;
	}
	/* Only now, the reason written: the signal may end the process. */
	pager->be_ops->wake(pager->be, page, pager->page_size);
	return FAULT_RESOLVED;
}

void fault_no_frame(struct upager *pager, uintptr_t page, int err, enum fault_result *result)
{
	if (err == -EINTR) {
		/* Served after the events (fault_handle() applies them). */
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return;
	}
	*result = fault_sigbus(pager, page,
			       err == -ENOSPC ? "out of memory: frame budget full and swap store full"
			       : err == -EBUSY ? "out of memory: frame budget full and no page "
						 "could be staged"
			       : "out of memory: eviction failed", false);
}

int fault_reclaim(struct upager *pager, struct fault_ctx *ctx, uintptr_t page,
		  enum fault_result *result)
{
	int got = reclaim_frames(pager, ctx, RECLAIM_BATCH);

	if (got >= 0)
		return 1;
	fault_no_frame(pager, page, got, result);
	return 0;
}

void fault_wake_raced(struct upager *p, uintptr_t page, long why)
{
	stat_add(why == -EEXIST ? &p->stats.faults_raced : &p->stats.faults_dropped, 1);
	p->be_ops->wake(p->be, page, p->page_size);
}

bool fault_deferred_or_lost(struct upager *p, const struct page_entry *e, bool now,
			    uintptr_t page, enum fault_result *result)
{
	if (!now)
		*result = FAULT_DEFER;
	else if (e->poisoned)
		*result = fault_sigbus(p, page, "page was lost (see the earlier error)", true);
	else
		return false;
	return true;
}

int fault_wait_io(struct upager *p)
{
	pthread_cond_wait(&p->rc.io_done, &p->rc.lock);
	return 1;
}

bool fault_has_frame(struct upager *p)
{
	return !reclaim_has_budget(&p->rc) || frames_count(&p->rc.frames, FRAME_FREE) > 0;
}

void fault_count_shared(struct upager *p, int64_t pages)
{
	atomic_fetch_add_explicit(&p->stats.private_shared, pages, memory_order_relaxed);
}

uint64_t fault_run_of(struct upager *pager, const struct region *r, uintptr_t page,
		      uint64_t max, enum page_state state)
{
	uint64_t limit = (r->end - page) / pager->page_size;

	return object_run(r->object, region_page_index(r, page, pager->page_size),
			  max < limit ? max : limit, state);
}
