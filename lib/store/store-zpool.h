/* SPDX-License-Identifier: MIT */
/*
 * store-zpool.h - the compressed tier: a store that keeps evicted pages
 * compressed in memory (as the kernel's zswap does), in front of a lower
 * store (the file store) that takes what the pool does not.
 *
 * Where a page written to a slot goes:
 *   - one 64-bit word repeated (zeros included): the word, no pool space;
 *   - compressed (lz4, or zstd) to at most ZSTORE_ACCEPT_PCT of a page:
 *     the pool (core/zpool.h), most recently written at the LRU's tail;
 *   - otherwise (compresses badly): straight to the lower store.
 * When the pool has no room, its coldest pages (the LRU's head) are
 * written back to the lower store, a batch at a time, and the new page
 * takes their place; if there is still no room it goes to the lower
 * store. Every page keeps an XXH3-128 checksum of its bytes: a page whose
 * decompressed bytes do not match is -EBADMSG (logged), never served.
 *
 * Slots are the lower store's: allocating one here allocates one there,
 * so a page can always be written back without finding room, and a full
 * lower store is -ENOSPC from alloc, as without the tier. Reference
 * counts, reaping and the fork protocol are the lower store's; this
 * store keeps only, per process, where each slot's page is. That table
 * and the pool are private memory: a forked child gets a copy of both,
 * so it sees every page its parent had, compressed or not, and neither
 * process writes a page to a lower slot the other could still read from
 * there (a slot is rewritten only when nobody else holds it, and the
 * write-back of a shared slot's page writes the very bytes the other
 * process holds).
 *
 * Locking: one mutex over the table, the LRU and the pool; compression
 * and I/O run outside it. A slot being written back is marked moving:
 * rewriting or freeing it waits for the write-back to finish.
 */
#ifndef UPAGER_STORE_ZPOOL_H
#define UPAGER_STORE_ZPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

enum zstore_codec {
	ZSTORE_LZ4 = 1,
	ZSTORE_ZSTD,
};

/* A page is kept compressed only when it compresses to at most this
 * share of a page: below a ratio of 4:3 the memory saved does not pay
 * for the compression (zsmalloc's "huge" classes start about there). */
#define ZSTORE_ACCEPT_PCT 75u
/* Pages written back to the lower store at once when the pool is full:
 * a reclaim batch (mm/fault-ctx.h's RECLAIM_BATCH), so the pages one
 * eviction put in the pool together (consecutive lower slots) leave it in
 * as few writes as they arrived. */
#define ZSTORE_WRITEBACK_BATCH 128u

struct zstore_config {
	enum zstore_codec codec;
	size_t pool_max;        /* bytes of memory the pool may hold; > 0 */
};

/*
 * Open a compressed tier over @lower (which it owns from now on, even on
 * failure). Returns 0, -EINVAL (bad config, or a codec this build lacks;
 * logged), -ENOMEM.
 */
int zpool_store_open(const struct zstore_config *cfg, struct store *lower,
		     unsigned long page_size, struct store **out);

bool store_is_zpool(const struct store *s);

/* Is @codec built in? */
bool zpool_store_has_codec(enum zstore_codec codec);

/* For tests: the compressed bytes of @slot's page in the pool (NULL when
 * its page is not in the pool), and their length. */
unsigned char *zpool_store_slot_bytes(struct store *s, uint64_t slot, size_t *len);

#endif /* UPAGER_STORE_ZPOOL_H */
