/* SPDX-License-Identifier: MIT */
/*
 * pool.h - fixed-size allocations for the structures that mapping calls
 * create and free (region nodes, objects), taken from pages the pool maps
 * itself rather than from malloc.
 *
 * Why: under the LD_PRELOAD shim, the program's allocator gets its memory
 * from upager_map(). If upager_map() called malloc, the allocator would be
 * re-entered from inside its own "get more memory" path, where it may hold
 * a lock (self-deadlock) or find no memory yet (unbounded recursion).
 * Like the kernel's slab caches, a pool never returns its pages.
 */
#ifndef UPAGER_POOL_H
#define UPAGER_POOL_H

#include <pthread.h>
#include <stddef.h>

struct pool {
	size_t size;          /* bytes per item, rounded up to a pointer */
	pthread_mutex_t lock;
	void *free;           /* free list threaded through the items */
};

#define POOL_INIT(type) \
	{ .size = (sizeof(type) + sizeof(void *) - 1) & ~(sizeof(void *) - 1), \
	  .lock = PTHREAD_MUTEX_INITIALIZER }

/* A zeroed item, or NULL (no memory). Thread-safe. */
void *pool_alloc(struct pool *pool);
/* Give @item (NULL is fine) back. Thread-safe. */
void pool_free(struct pool *pool, void *item);
#ifdef UPAGER_DEBUG_CHECKS
/* Fault injection (debug builds): after @n more successful pool_alloc()
 * calls, every one fails (NULL, the callers' -ENOMEM), until called again
 * with -1. Process-wide. */
void pool_fail_after(long n);
#endif
/* In a forked child: the lock may have been held by a thread that is not
 * there. */
void pool_fork_child(struct pool *pool);

/*
 * Memory the fault path uses (a backend, a handler's context, its I/O
 * state), zeroed, in a mapping of its own: never in the allocator's
 * memory, which the shim pages, so a handler never faults on its own
 * state. (At upager_open() the allocator's memory is not paged yet; in a
 * forked child's rebuild it is.) NULL when there is no memory.
 * pool_map_free() takes what pool_map_calloc() gave (NULL is fine).
 */
void *pool_map_calloc(size_t n, size_t size);
void pool_map_free(void *item);

/*
 * A private anonymous mapping of @len bytes (mmap's @prot, @flags added
 * to MAP_PRIVATE | MAP_ANONYMOUS) for upager's own use, or MAP_FAILED.
 * It is placed, by hint, in a part of the address space of upager's own,
 * far from where the kernel puts the program's mappings: left to the
 * kernel, it would take the highest hole that fits, often one the
 * program's munmap or mremap has just left in its memory, which natively
 * stays free (the program reads SIGSEGV there, or maps it again with
 * MAP_FIXED_NOREPLACE). Only when that place is taken does the kernel
 * choose.
 */
void *pool_map_own(size_t len, int prot, int flags);

#endif /* UPAGER_POOL_H */
