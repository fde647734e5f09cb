/* SPDX-License-Identifier: MIT */
/*
 * fault-ctx.h - what a thread that serves faults (a handler, the worker,
 * background reclaim) carries with it: its swap I/O context and the
 * buffers a fault or a reclaim round fills, allocated once so that the
 * fault path never calls malloc.
 */
#ifndef UPAGER_FAULT_CTX_H
#define UPAGER_FAULT_CTX_H

#include <stdbool.h>
#include <stdint.h>

struct upager;
struct store_io;

/* Most pages read in one swap-in (read-ahead included). */
#define SWAPIN_MAX 128u
/* Most pages evicted per reclaim round. */
#define RECLAIM_BATCH 128u

/* Per handler thread: its I/O context and buffers (no malloc on faults). */
struct fault_ctx {
	/* May this thread wait (for a lock, I/O, another handler, reclaim)?
	 * Not when it is the last handler free to read the userfaultfd:
	 * the kernel holds a thread that unmaps or discards upager's
	 * memory until an event is read, and that thread may hold what
	 * this one would wait for (events.h). */
	bool may_block;
	struct store_io *io;
	char *bounce;                 /* SWAPIN_MAX pages */
	uint64_t slots[RECLAIM_BATCH > SWAPIN_MAX ? RECLAIM_BATCH : SWAPIN_MAX];
	void *bufs[RECLAIM_BATCH > SWAPIN_MAX ? RECLAIM_BATCH : SWAPIN_MAX];
	int results[RECLAIM_BATCH > SWAPIN_MAX ? RECLAIM_BATCH : SWAPIN_MAX];
	uint32_t frames[RECLAIM_BATCH > SWAPIN_MAX ? RECLAIM_BATCH : SWAPIN_MAX];
	uint32_t drop[RECLAIM_BATCH]; /* staging slots to discard */
	uintptr_t addrs[SWAPIN_MAX];  /* a read-around's pages (fault-swap.c) */
};

/* A context for a thread of @p: 0 or -ENOMEM / -errno from the store. */
int fault_ctx_new(struct upager *p, struct fault_ctx **out);
void fault_ctx_free(struct fault_ctx *ctx);
/* Free a context inherited across fork without touching the parent's
 * I/O ring. */
void fault_ctx_forget(struct fault_ctx *ctx);

#endif /* UPAGER_FAULT_CTX_H */
