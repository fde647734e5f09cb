/* SPDX-License-Identifier: MIT */
/*
 * fault-ctx.c - a fault-serving thread's context (fault-ctx.h).
 */
#include "mm/fault-ctx.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/pool.h"
#include "mm/pager.h"
#include "store/store.h"

int fault_ctx_new(struct upager *p, struct fault_ctx **out)
{
	struct fault_ctx *ctx = pool_map_calloc(1, sizeof(*ctx));
	int err;

	if (!ctx)
		return -ENOMEM;
	if (p->rc.store) {
		err = store_io_new(p->rc.store, 2 * RECLAIM_BATCH, &ctx->io);
		if (err)
			goto out_free;
	}
	/* Swap-in and file read-in (shared objects, with or without a
	 * budget) go through it; only touched pages take memory. */
	ctx->bounce = mmap(NULL, SWAPIN_MAX * p->page_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ctx->bounce == MAP_FAILED) {
		ctx->bounce = NULL;
		err = -ENOMEM;
		goto out_free;
	}
	*out = ctx;
	return 0;

out_free:
	fault_ctx_free(ctx);
	return err;
}

void fault_ctx_free(struct fault_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->io)
		store_io_free(ctx->io);
	if (ctx->bounce)
		munmap(ctx->bounce, SWAPIN_MAX * (size_t)sysconf(_SC_PAGESIZE));
	pool_map_free(ctx);
}

void fault_ctx_forget(struct fault_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->io)
		store_io_forget(ctx->io);
	ctx->io = NULL;
	fault_ctx_free(ctx);
}
