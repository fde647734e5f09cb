/* SPDX-License-Identifier: MIT */
/*
 * pool.c - fixed-size items carved from 64 KiB mappings (see pool.h).
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "pool.h"

#define POOL_CHUNK (64u << 10)

/* Carve a fresh chunk into items on the free list. Lock held. */
static int pool_grow(struct pool *pool)
{
	char *chunk = mmap(NULL, POOL_CHUNK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (chunk == MAP_FAILED)
		return -1;
	for (size_t off = 0; off + pool->size <= POOL_CHUNK; off += pool->size) {
		*(void **)(chunk + off) = pool->free;
		pool->free = chunk + off;
	}
	return 0;
}

void *pool_alloc(struct pool *pool)
{
	void *item = NULL;

	pthread_mutex_lock(&pool->lock);
	if (pool->free || pool_grow(pool) == 0) {
		item = pool->free;
		pool->free = *(void **)item;
	}
	pthread_mutex_unlock(&pool->lock);
	if (item)
		memset(item, 0, pool->size);
	return item;
}

void pool_free(struct pool *pool, void *item)
{
	if (!item)
		return;
	pthread_mutex_lock(&pool->lock);
	*(void **)item = pool->free;
	pool->free = item;
	pthread_mutex_unlock(&pool->lock);
}

void pool_fork_child(struct pool *pool)
{
	pthread_mutex_init(&pool->lock, NULL);
}
