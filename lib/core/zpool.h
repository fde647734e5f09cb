/* SPDX-License-Identifier: MIT */
/*
 * zpool.h - the compressed tier's allocator: variable-size objects (one
 * compressed page each) packed into the fixed-size chunks of one area.
 *
 * As zsmalloc does, every chunk serves one size class, so an object never
 * needs more than its class's bytes and a chunk's objects never move: an
 * object is named by a handle (chunk, index) that stays valid until it is
 * freed. A class is a multiple of ZPOOL_ALIGN bytes; a chunk is four times
 * the largest object, so even the largest classes waste at most a fifth
 * of a chunk to its tail. A chunk whose last object is freed goes back to
 * the free chunks, and the caller may give its memory back to the kernel.
 *
 * Pure bookkeeping over offsets: the caller maps the area (nchunks *
 * chunk_bytes) and does the copying; no system calls, no locking (the
 * caller serialises), no allocation after zpool_init(), unit-tested
 * in-process against a model (tests/test-zpool.c).
 */
#ifndef UPAGER_ZPOOL_H
#define UPAGER_ZPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZPOOL_NONE UINT64_MAX
/* Size classes: multiples of max_obj / ZPOOL_CLASSES (32 bytes for pages
 * of 4 KiB), so a chunk holds at most 4 * ZPOOL_CLASSES objects. */
#define ZPOOL_CLASSES 128u
#define ZPOOL_MAP_WORDS (4u * ZPOOL_CLASSES / 64u)

struct zpool_chunk {
	uint32_t prev, next;  /* on its class's partial list, or the free list (next only) */
	uint16_t cls;         /* size class while in use */
	uint16_t used;        /* objects allocated in it; 0: free */
	uint64_t taken[ZPOOL_MAP_WORDS]; /* bit per object slot */
};

struct zpool {
	size_t chunk_bytes;   /* 4 * max_obj */
	size_t max_obj;       /* largest object, bytes */
	size_t align;         /* class granularity: max_obj / ZPOOL_CLASSES */
	uint32_t nchunks;
	struct zpool_chunk *chunks;  /* [nchunks] */
	/* Per class, the chunks of it with a free object (doubly linked). */
	uint32_t partial[ZPOOL_CLASSES];
	uint32_t free_head;   /* free chunks used before, linked by next */
	uint32_t fresh;       /* chunks never used: [nchunks - fresh, nchunks) */
	uint32_t chunks_used;
	uint64_t objects;     /* objects allocated */
};

/* A pool of @nchunks chunks (> 0) for objects of 1..@max_obj bytes
 * (@max_obj a multiple of ZPOOL_CLASSES). Returns 0, -EINVAL or -ENOMEM. */
int zpool_init(struct zpool *z, uint32_t nchunks, size_t max_obj);
void zpool_destroy(struct zpool *z);

/* An object of @len bytes (1..max_obj): its handle, or ZPOOL_NONE when no
 * chunk has room for it. */
uint64_t zpool_alloc(struct zpool *z, size_t len);

/* Free @h. Returns the chunk it emptied (whose memory the caller may
 * give back), or UINT32_MAX. */
uint32_t zpool_free(struct zpool *z, uint64_t h);

/* Where @h's bytes start in the area, and the bytes it may hold. */
size_t zpool_offset(const struct zpool *z, uint64_t h);
size_t zpool_obj_bytes(const struct zpool *z, uint64_t h);

/* Bytes of chunks in use: what the pool holds of memory. */
static inline size_t zpool_bytes(const struct zpool *z)
{
	return (size_t)z->chunks_used * z->chunk_bytes;
}

/* Check lists, counts and bitmaps. Returns 0 or -EUCLEAN (*@why says). */
int zpool_validate(const struct zpool *z, const char **why);

#endif /* UPAGER_ZPOOL_H */
