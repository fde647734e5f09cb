/* SPDX-License-Identifier: MIT */
/*
 * release.c - giving a range back to the program (upager_release), for a
 * program that registers it with a userfaultfd of its own: the kernel
 * lets one userfaultfd watch a range (another's registration is EBUSY),
 * and the program's handler must then see exactly what it would without
 * upager: the bytes it wrote, and first touches of pages never touched.
 *
 * So the pages upager holds elsewhere (staged, in swap) are brought back
 * by reading them, which faults them in through upager as any read does;
 * absent pages are left absent. A chunk at a time, so that bringing one
 * in cannot evict another of the same chunk for long: once every page of
 * a chunk is in (checked with the pager's lock held for writing, so no
 * reclaim round runs), the chunk leaves the pager at once.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "backend/backend.h"
#include "mm/object.h"
#include "mm/pager.h"

/* Pages per chunk: far below any budget (a frame batch is 128). */
#define CHUNK 64u
/* Rounds per chunk before giving up with -EBUSY. */
#define TRIES 8

/*
 * The pages of [start, end) to read before the range can leave: staged
 * and swapped pages of anonymous objects, into @out (CHUNK of them at
 * most). Lock held for writing. Returns how many, or -errno.
 */
static int pages_away(struct upager *p, uintptr_t start, uintptr_t end, uintptr_t *out)
{
	int n = 0;

	for (uintptr_t at = start; at < end;) {
		const struct region *r = region_find_next(&p->tree, at);
		uintptr_t e;

		if (!r || r->start >= end)
			break;
		if (r->start > at)
			at = r->start;
		e = r->end < end ? r->end : end;
		if (r->object && (object_is_shared(r->object) || r->object->backing))
			return -EOPNOTSUPP;
		for (; r->object && at < e; at += p->page_size) {
			const struct page_entry *pe = object_entry(r->object,
								   region_page_index(r, at, p->page_size));

			if (pe->state == PAGE_ABSENT || pe->state == PAGE_RESIDENT || pe->poisoned)
				continue;
			if (!(r->prot & UPAGER_PROT_READ))
				return -EACCES;
			out[n++] = at;
		}
		at = e;
	}
	return n;
}

static int release_chunk(struct upager *p, uintptr_t start, uintptr_t end)
{
	uintptr_t away[CHUNK];
	int n, err;

	for (int tries = 0; tries < TRIES; tries++) {
		pager_write_lock(p);
		n = pages_away(p, start, end, away);
		if (!n) {
			err = pager_release_locked(p, start, end);
			pthread_rwlock_unlock(&p->lock);
			return err;
		}
		pthread_rwlock_unlock(&p->lock);
		if (n < 0)
			return n;
		for (int k = 0; k < n; k++)
			(void)*(volatile const char *)away[k];
	}
	return -EBUSY;
}

int pager_release(struct upager *p, void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr, end;
	int err;

	if ((err = pager_check_live(p, "upager_release")))
		return err;
	end = start + ((len + p->page_size - 1) & ~(uintptr_t)(p->page_size - 1));
	if ((start & (p->page_size - 1)) || end < start)
		return -EINVAL;
	for (uintptr_t at = start; at < end; at += CHUNK * p->page_size) {
		uintptr_t e = end - at > CHUNK * p->page_size ? at + CHUNK * p->page_size : end;

		if ((err = release_chunk(p, at, e)))
			return err;
	}
	return 0;
}

/* Given up to the program (upager_release): the kernel keeps the pages. */
static void released_piece(void *ctx, const struct region *piece)
{
	struct upager *p = ctx;

	pager_forget_piece(p, piece,
			   piece->object ? 0 : pager_count_resident(p, piece->start, piece->end));
}

int pager_release_locked(struct upager *p, uintptr_t start, uintptr_t end)
{
	uintptr_t at = start, s, e;
	int err;

	while (region_next_in(&p->tree, &at, end, &s, &e))
		if ((err = p->be_ops->detach(p->be, s, e)))
			return err;
	return region_remove_range(&p->tree, start, end, released_piece, p);
}
