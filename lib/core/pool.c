/* SPDX-License-Identifier: MIT */
/*
 * pool.c - fixed-size items carved from 64 KiB mappings (see pool.h).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/pool.h"

#define POOL_CHUNK (64u << 10)

/* Where pool_map_own() places mappings: 32 TiB, between a non-PIE
 * program's heap and the 0x55.. of a PIE one, above AddressSanitizer's
 * shadow; a guard page between two. Never reused: the address space is
 * far larger than what a process maps in its life. */
#define OWN_ZONE 0x200000000000ull
static uintptr_t own_next = OWN_ZONE;

void *pool_map_own(size_t len, int prot, int flags)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	size_t span = ((len + ps - 1) & ~(ps - 1)) + ps;
	uintptr_t hint = __atomic_fetch_add(&own_next, span, __ATOMIC_RELAXED);

	return mmap((void *)hint, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

#ifdef UPAGER_DEBUG_CHECKS
#include <stdatomic.h>

static _Atomic long fail_countdown = -1; /* < 0: never fail */

void pool_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}

static bool pool_injected_failure(void)
{
	long n = atomic_load(&fail_countdown);

	while (n > 0 && !atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
		;
	return n == 0;
}
#else
static bool pool_injected_failure(void)
{
	return false;
}
#endif

/* Carve a fresh chunk into items on the free list. Lock held. */
static int pool_grow(struct pool *pool)
{
	char *chunk = pool_map_own(POOL_CHUNK, PROT_READ | PROT_WRITE, 0);

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

	if (pool_injected_failure())
		return NULL;
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

/* Before the item: the mapping's length, keeping the item aligned for
 * any type. */
#define MAP_HEADER 64u

void *pool_map_calloc(size_t n, size_t size)
{
	size_t len;
	char *m;

	if (size && n > (SIZE_MAX - MAP_HEADER) / size)
		return NULL;
	len = MAP_HEADER + n * size;
	m = pool_map_own(len, PROT_READ | PROT_WRITE, 0);
	if (m == MAP_FAILED)
		return NULL;
	*(size_t *)m = len;
	return m + MAP_HEADER;
}

void pool_map_free(void *item)
{
	char *m;

	if (!item)
		return;
	m = (char *)item - MAP_HEADER; /* not before the test: NULL - n is undefined */
	munmap(m, *(size_t *)m);
}
