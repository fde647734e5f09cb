/* SPDX-License-Identifier: MIT */
/*
 * cache.h - the pages of shared objects (shared anonymous memory, files):
 * how they come into the object's cache (a memfd) and into the regions
 * that map it, how private mappings copy them on write, how they leave
 * under a frame budget, and how they reach the file.
 *
 * A shared object's page has one copy, in the object's memfd. Regions map
 * the memfd: a page the memfd lacks raises a missing fault, one it holds
 * but the region does not map yet a minor fault, resolved by mapping the
 * memfd's page (UFFDIO_CONTINUE) — the same physical page in every region.
 * A private region maps it write-protected; its first write raises a
 * write-protect fault and the kernel then copies the page (copy-on-write),
 * which upager records in the private region's ANON layer (object.h).
 *
 * Under a budget, a cache page takes one frame however many regions map
 * it. Staging takes it out of every region (the object's reverse map),
 * leaving it in the memfd; eviction writes it back if it changed (to its
 * swap slot, or to the file) and punches it out of the memfd.
 *
 * The fault path's shared and private kinds (fault-kind.h) map what
 * cache_get() brings in. Locking as for the rest of the paging state
 * (reclaim.h): the pager's lock for reading (or writing), then the page
 * lock.
 */
#ifndef UPAGER_CACHE_H
#define UPAGER_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/fault.h"

struct upager;
struct fault_ctx;
struct object;
struct region;

/* cache_get(): no frame is free; reclaim, then look again. */
#define CACHE_NO_FRAME 2

/*
 * Make pages of shared object @obj from @pgoff on (up to @want, read-ahead
 * included) resident in its cache (the memfd), for a fault of kind
 * @access (FAULT_*) on the first: read from the file, a swap slot, or
 * zeros, taking their frames. Page lock held, dropped during a read.
 * Returns 0 with the pages resident from @pgoff in *@n (>= 1), 1 to look
 * again (the lock was dropped), CACHE_NO_FRAME, or -errno: -ENXIO (past
 * the end of the file), -EIO, -EBADMSG (a slot that fails its checksum,
 * or a page poisoned before), or what filling the memfd said.
 */
int cache_get(struct upager *p, struct fault_ctx *ctx, struct object *obj, uint64_t pgoff,
	      uint64_t want, unsigned int access, uint64_t *n);

/*
 * Stage the cache page of active frame @first, and the active frames
 * after it holding the next pages of the same object: take them out of
 * every region mapping them. Page lock held. Returns 0, or -EAGAIN when
 * nothing was staged.
 */
int cache_stage(struct upager *p, uint32_t first);

/*
 * Evict the staged cache pages of frames @frames[0..n): unchanged ones
 * are dropped, changed ones written to their swap slot or file; then
 * they leave the memfd. Page lock held, dropped during I/O. Uses
 * @ctx->bounce. Returns the frames freed (>= 0), or -ENOSPC / -EIO when
 * none could be.
 */
int cache_evict(struct upager *p, struct fault_ctx *ctx, const uint32_t *frames, uint32_t n);

/*
 * Write the changed cache pages of file object @obj in [pgoff, pgoff + n)
 * to the file; @durable: fdatasync it too. No-op (0) for other objects.
 * Pager lock held (either way); takes the reclaim and page locks.
 * Returns 0 or -EIO (logged; the pages stay cached and dirty).
 */
int cache_sync(struct upager *p, struct object *obj, uint64_t pgoff, uint64_t n, bool durable);

/*
 * A fork is under way: @obj's memfd will be mapped by two processes, each
 * with its own copy of its entries. Pin it (object.h): its pages leave the
 * budget and stay in memory, and from now on fills are atomic. Page lock
 * held. Returns 0 or -errno.
 */
int cache_pin(struct upager *p, struct object *obj);
/* Fault injection for the tests: when nonzero (-errno), cache_pin()
 * fails with it. */
extern int cache_pin_inject;

/* Give back every page of a shared object no region maps any more
 * (writing back a file's changed pages first), and free it. Pager lock
 * held for writing. */
void cache_release(struct upager *p, struct object *obj);

#endif /* UPAGER_CACHE_H */
