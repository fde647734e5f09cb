/* SPDX-License-Identifier: MIT */
/*
 * serve.c - the engine's side of the serving seam (serve.h): what a
 * backend's threads may ask of the pager, without its lock or its tree.
 */
#include "backend/serve.h"
#include "mm/events.h"
#include "mm/fault.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

unsigned long serve_page_size(const struct upager *p)
{
	return p->page_size;
}

const struct upager_options *serve_options(const struct upager *p)
{
	return &p->opts;
}

struct stats *serve_stats(struct upager *p)
{
	return &p->stats;
}

int serve_ctx_new(struct upager *p, struct fault_ctx **out)
{
	return fault_ctx_new(p, out);
}

void serve_ctx_free(struct fault_ctx *ctx)
{
	fault_ctx_free(ctx);
}

void serve_ctx_forget(struct fault_ctx *ctx)
{
	fault_ctx_forget(ctx);
}

enum fault_result serve_fault(struct upager *p, struct fault_ctx *ctx, uintptr_t addr,
			      unsigned int access, bool may_block)
{
	ctx->may_block = may_block;
	return fault_handle(p, ctx, addr, access);
}

void serve_reading(struct upager *p, bool on)
{
	atomic_store(&p->events.reading, on ? 1 : 0);
}

bool serve_removed(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct event e = { .kind = EVENT_REMOVE, .start = start, .end = end };

	return events_push(&p->events, &e);
}

bool serve_unmapped(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct event e = { .kind = EVENT_UNMAP, .start = start, .end = end };

	return events_push(&p->events, &e);
}

bool serve_remapped(struct upager *p, uintptr_t from, uintptr_t len, uintptr_t to)
{
	struct event e = { .kind = EVENT_REMAP, .start = from, .end = from + len, .to = to };

	return events_push(&p->events, &e);
}

bool serve_events_pending(struct upager *p)
{
	return events_pending(&p->events);
}

void serve_events_apply(struct upager *p)
{
	pthread_rwlock_wrlock(&p->lock);
	events_apply(p);
	pthread_rwlock_unlock(&p->lock);
}
