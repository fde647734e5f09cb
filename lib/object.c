/* SPDX-License-Identifier: MIT */
/*
 * object.c - anonymous objects and their page-entry arrays.
 */
#define _GNU_SOURCE
#include "object.h"
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Objects come from a pool, not malloc: see pool.h. */
static struct pool object_pool = POOL_INIT(struct object);

void object_fork_child(void)
{
	pool_fork_child(&object_pool);
}

int object_new_anon(uint64_t pages, struct object **out)
{
	struct object *obj = pool_alloc(&object_pool);
	size_t bytes;

	if (!obj)
		return -ENOMEM;
	if (pages > SIZE_MAX / sizeof(struct page_entry)) {
		pool_free(&object_pool, obj);
		return -ENOMEM;
	}
	bytes = (size_t)pages * sizeof(struct page_entry);
	obj->pte = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (obj->pte == MAP_FAILED) {
		pool_free(&object_pool, obj);
		return -ENOMEM;
	}
	obj->pte_bytes = bytes;
	obj->pages = pages;
	obj->mapped_pages = pages;
	*out = obj;
	return 0;
}

void object_free(struct object *obj)
{
	if (!obj)
		return;
	munmap(obj->pte, obj->pte_bytes);
	pool_free(&object_pool, obj);
}

void object_for_each_used(struct object *obj, uint64_t pgoff, uint64_t n,
			  void (*fn)(void *ctx, uint64_t pgoff, struct page_entry *e),
			  void *ctx)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const uint64_t per_page = page / sizeof(struct page_entry);
	unsigned char vec[256];
	uint64_t end = pgoff + n;

	while (pgoff < end) {
		/* One mincore covers 256 pages of entries: a page of entries
		 * that was never touched holds only ABSENT entries. */
		uint64_t first = pgoff / per_page;
		uint64_t count = (end - 1) / per_page - first + 1;

		if (count > sizeof(vec))
			count = sizeof(vec);
		if (mincore((char *)obj->pte + first * page, count * page, vec))
			for (uint64_t i = 0; i < count; i++)
				vec[i] = 1; /* cannot tell: look at everything */
		for (uint64_t i = 0; i < count; i++) {
			uint64_t from = (first + i) * per_page, to = from + per_page;

			if (!(vec[i] & 1))
				continue;
			if (from < pgoff)
				from = pgoff;
			if (to > end)
				to = end;
			for (uint64_t p = from; p < to; p++)
				if (obj->pte[p].state != PAGE_ABSENT || obj->pte[p].has_slot)
					fn(ctx, p, &obj->pte[p]);
		}
		pgoff = (first + count) * per_page;
	}
}
