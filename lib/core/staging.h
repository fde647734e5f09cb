/* SPDX-License-Identifier: MIT */
/*
 * staging.h - the staging-slot allocator: which slots of the staging
 * area (one per frame of the budget) hold a staged page.
 *
 * Slot numbers only: the area's memory, the moves into it and the
 * discards of its pages are reclaim's (mm/reclaim.c). Runs are taken
 * next-fit from a cursor so that pages staged together sit together: one
 * UFFDIO_MOVE moves a run and one madvise discards it, a TLB shootdown
 * each instead of one per page. Slots whose page was copied back are set
 * aside and discarded DISCARD_BATCH at a time, coalesced into runs.
 *
 * Pure: no system calls, no locking (the caller holds the page lock),
 * never allocates. Unit-tested in-process (test-staging.c).
 */
#ifndef UPAGER_STAGING_H
#define UPAGER_STAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Staging slots discarded together (struct staging_slots.discard). */
#define DISCARD_BATCH 64u

struct staging_slots {
	uint64_t *used;   /* bit per slot: in use; the caller's memory,
	                   * staging_bitmap_bytes(n) bytes, zeroed */
	uint32_t n;       /* slots [0, n) */
	uint32_t cursor;  /* next-fit: where the next search starts */
	/* Slots whose page was copied back to its region and that await
	 * one discard for many (each discard is a TLB shootdown); they
	 * stay marked used until then. */
	uint32_t discard[DISCARD_BATCH];
	uint32_t ndiscard;
};

/* A discard of slots [start, start + len), done before they are free. */
typedef void (*staging_discard_fn)(void *arg, uint32_t start, uint32_t len);

/* Bytes of the bitmap for @n slots (a whole number of 64-bit words). */
static inline size_t staging_bitmap_bytes(uint32_t n)
{
	return ((size_t)n + 63) / 64 * sizeof(uint64_t);
}

/* @used: staging_bitmap_bytes(@n) zeroed bytes the caller owns. */
void staging_init(struct staging_slots *s, uint32_t n, uint64_t *used);

static inline bool staging_is_used(const struct staging_slots *s, uint32_t i)
{
	return s->used[i / 64] & (1ull << (i % 64));
}

/*
 * Take up to @want consecutive free slots, next-fit from the cursor (a
 * run does not wrap past the last slot). Returns the run's length (0:
 * none free), its first slot in *@start.
 */
uint32_t staging_alloc(struct staging_slots *s, uint32_t want, uint32_t *start);

/* Give back slots [start, start + len). */
void staging_release(struct staging_slots *s, uint32_t start, uint32_t len);

/* Sort @n slot numbers in place, without malloc (qsort(3) may call it;
 * see staging.c). */
void staging_sort(uint32_t *slots, uint32_t n);

/* Give back the @n slots of @slots (sorted in place): @discard is called
 * once per run of consecutive slots, before the run is free again. */
void staging_release_many(struct staging_slots *s, uint32_t *slots, uint32_t n,
			  staging_discard_fn discard, void *arg);

/* Set @slot aside to be discarded with others. Returns true when the
 * batch is full: the caller must staging_release_deferred() now. */
bool staging_defer_discard(struct staging_slots *s, uint32_t slot);

/* Discard and give back the slots set aside, as staging_release_many(). */
void staging_release_deferred(struct staging_slots *s, staging_discard_fn discard, void *arg);

#endif /* UPAGER_STAGING_H */
