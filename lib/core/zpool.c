/* SPDX-License-Identifier: MIT */
/*
 * zpool.c - the compressed tier's allocator (see zpool.h): size classes
 * over fixed chunks, a partial list per class, a free list of chunks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/zpool.h"

#define NO_CHUNK UINT32_MAX

static uint32_t h_chunk(uint64_t h)
{
	return (uint32_t)(h >> 16);
}

static uint32_t h_index(uint64_t h)
{
	return (uint32_t)(h & 0xffff);
}

static size_t class_bytes(const struct zpool *z, uint32_t cls)
{
	return (cls + 1) * z->align;
}

static uint32_t class_objs(const struct zpool *z, uint32_t cls)
{
	return (uint32_t)(z->chunk_bytes / class_bytes(z, cls));
}

int zpool_init(struct zpool *z, uint32_t nchunks, size_t max_obj)
{
	memset(z, 0, sizeof(*z));
	if (!nchunks || !max_obj || max_obj % ZPOOL_CLASSES || nchunks >= NO_CHUNK >> 1)
		return -EINVAL;
	z->chunks = calloc(nchunks, sizeof(*z->chunks));
	if (!z->chunks)
		return -ENOMEM;
	z->max_obj = max_obj;
	z->align = max_obj / ZPOOL_CLASSES;
	z->chunk_bytes = 4 * max_obj;
	z->nchunks = nchunks;
	z->fresh = nchunks;
	z->free_head = NO_CHUNK;
	for (uint32_t c = 0; c < ZPOOL_CLASSES; c++)
		z->partial[c] = NO_CHUNK;
	return 0;
}

void zpool_destroy(struct zpool *z)
{
	free(z->chunks);
	z->chunks = NULL;
}

static void partial_push(struct zpool *z, uint32_t i)
{
	struct zpool_chunk *c = &z->chunks[i];

	c->prev = NO_CHUNK;
	c->next = z->partial[c->cls];
	if (c->next != NO_CHUNK)
		z->chunks[c->next].prev = i;
	z->partial[c->cls] = i;
}

static void partial_remove(struct zpool *z, uint32_t i)
{
	struct zpool_chunk *c = &z->chunks[i];

	if (c->prev != NO_CHUNK)
		z->chunks[c->prev].next = c->next;
	else
		z->partial[c->cls] = c->next;
	if (c->next != NO_CHUNK)
		z->chunks[c->next].prev = c->prev;
	c->prev = c->next = NO_CHUNK;
}

static uint32_t chunk_take(struct zpool *z, uint32_t cls)
{
	uint32_t i;

	if (z->free_head != NO_CHUNK) {
		i = z->free_head;
		z->free_head = z->chunks[i].next;
	} else if (z->fresh) {
		i = z->nchunks - z->fresh--;
	} else {
		return NO_CHUNK;
	}
	memset(&z->chunks[i], 0, sizeof(z->chunks[i]));
	z->chunks[i].cls = (uint16_t)cls;
	z->chunks_used++;
	partial_push(z, i);
	return i;
}

uint64_t zpool_alloc(struct zpool *z, size_t len)
{
	uint32_t cls, i, objs;
	struct zpool_chunk *c;

	if (!len || len > z->max_obj)
		return ZPOOL_NONE;
	cls = (uint32_t)((len + z->align - 1) / z->align - 1);
	i = z->partial[cls];
	if (i == NO_CHUNK && (i = chunk_take(z, cls)) == NO_CHUNK)
		return ZPOOL_NONE;
	c = &z->chunks[i];
	objs = class_objs(z, cls);
	for (uint32_t w = 0; w < ZPOOL_MAP_WORDS; w++) {
		uint64_t freebits = ~c->taken[w];
		uint32_t k;

		if (!freebits)
			continue;
		k = w * 64 + (uint32_t)__builtin_ctzll(freebits);
		if (k >= objs)
			break;
		c->taken[w] |= 1ull << (k % 64);
		if (++c->used == objs)
			partial_remove(z, i);
		z->objects++;
		return (uint64_t)i << 16 | k;
	}
	return ZPOOL_NONE; /* unreachable: a partial chunk has a free object */
}

uint32_t zpool_free(struct zpool *z, uint64_t h)
{
	uint32_t i = h_chunk(h), k = h_index(h);
	struct zpool_chunk *c = &z->chunks[i];

	c->taken[k / 64] &= ~(1ull << (k % 64));
	z->objects--;
	if (c->used-- == class_objs(z, c->cls))
		partial_push(z, i); /* it was full: on no list */
	if (c->used)
		return NO_CHUNK;
	partial_remove(z, i);
	c->next = z->free_head;
	z->free_head = i;
	z->chunks_used--;
	return i;
}

size_t zpool_offset(const struct zpool *z, uint64_t h)
{
	uint32_t i = h_chunk(h);

	return (size_t)i * z->chunk_bytes + h_index(h) * class_bytes(z, z->chunks[i].cls);
}

size_t zpool_obj_bytes(const struct zpool *z, uint64_t h)
{
	return class_bytes(z, z->chunks[h_chunk(h)].cls);
}

int zpool_validate(const struct zpool *z, const char **why)
{
	uint32_t used = 0, on_free = 0;
	uint64_t objects = 0;

	for (uint32_t i = z->free_head; i != NO_CHUNK; i = z->chunks[i].next) {
		if (i >= z->nchunks - z->fresh || z->chunks[i].used || ++on_free > z->nchunks) {
			*why = "free list: a chunk in use, never used, or a loop";
			return -EUCLEAN;
		}
	}
	for (uint32_t i = 0; i < z->nchunks - z->fresh; i++) {
		const struct zpool_chunk *c = &z->chunks[i];
		uint32_t bits = 0;

		if (!c->used)
			continue;
		used++;
		for (uint32_t w = 0; w < ZPOOL_MAP_WORDS; w++)
			bits += (uint32_t)__builtin_popcountll(c->taken[w]);
		if (c->cls >= ZPOOL_CLASSES || bits != c->used || c->used > class_objs(z, c->cls)) {
			*why = "chunk: bitmap and count disagree";
			return -EUCLEAN;
		}
		objects += c->used;
	}
	for (uint32_t cls = 0; cls < ZPOOL_CLASSES; cls++) {
		uint32_t prev = NO_CHUNK, n = 0;

		for (uint32_t i = z->partial[cls]; i != NO_CHUNK; prev = i, i = z->chunks[i].next) {
			const struct zpool_chunk *c = &z->chunks[i];

			if (c->cls != cls || c->prev != prev || !c->used ||
			    c->used == class_objs(z, cls) || ++n > z->nchunks) {
				*why = "partial list: wrong class, link, or a full or empty chunk";
				return -EUCLEAN;
			}
		}
	}
	if (used != z->chunks_used || objects != z->objects ||
	    used + on_free != z->nchunks - z->fresh) {
		*why = "counts: chunks or objects disagree with the chunks";
		return -EUCLEAN;
	}
	return 0;
}
