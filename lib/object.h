/* SPDX-License-Identifier: MIT */
/*
 * object.h - what backs a region: today an anonymous object, whose pages
 * start as zeros and may later live in a frame (resident), in the staging
 * area (unmapped, on the inactive list) or only in a swap slot.
 *
 * An object knows, per page index, where that page lives now: a flat
 * array of struct page_entry, mapped MAP_NORESERVE so that only the parts
 * describing touched pages ever take memory (the kernel's page tables
 * work the same way), and so that the fault path never calls malloc.
 *
 * Page states (docs/ARCHITECTURE.md has the diagram):
 *   ABSENT     never touched, or discarded: reads as zeros
 *   RESIDENT   mapped in its region, holding frame `frame`
 *   STAGED     moved out to its frame's staging slot: unmapped
 *              but still in memory; a touch moves it back (second chance)
 *   WRITEBACK  STAGED, with its contents being written to `slot`
 *   SWAPPED    only in swap slot `slot`
 *   SWAPIN     being read from `slot` by a handler
 * `slot` is valid in every state when has_slot is set: a RESIDENT or
 * STAGED page with a slot whose checksum still matches is clean.
 * All fields are guarded by the pager's page lock (evict.h).
 */
#ifndef UPAGER_OBJECT_H
#define UPAGER_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum page_state {
	PAGE_ABSENT = 0,
	PAGE_RESIDENT,
	PAGE_STAGED,
	PAGE_WRITEBACK,
	PAGE_SWAPPED,
	PAGE_SWAPIN,
};

struct page_entry {
	uint64_t slot;    /* swap slot, valid when has_slot */
	uint32_t frame;   /* frame index, valid when RESIDENT/STAGED/WRITEBACK */
	uint8_t state;    /* enum page_state */
	uint8_t has_slot;
	uint8_t poisoned; /* its slot failed its checksum: SIGBUS on touch */
	uint8_t pad;
};

struct object {
	uint64_t pages;         /* size in pages */
	uint64_t mapped_pages;  /* pages of it some region still maps */
	struct page_entry *pte; /* pages entries, lazily backed by the kernel */
	size_t pte_bytes;
};

/* A new anonymous object of @pages pages. Returns 0 or -ENOMEM. */
int object_new_anon(uint64_t pages, struct object **out);
void object_free(struct object *obj);

static inline struct page_entry *object_entry(struct object *obj, uint64_t pgoff)
{
	return &obj->pte[pgoff];
}

/*
 * Visit the entries of [pgoff, pgoff + n) that may hold something, skipping
 * untouched stretches of the entry array cheaply (mincore on the array):
 * @fn sees (ctx, pgoff, entry) for each entry not ABSENT.
 */
void object_for_each_used(struct object *obj, uint64_t pgoff, uint64_t n,
			  void (*fn)(void *ctx, uint64_t pgoff, struct page_entry *e),
			  void *ctx);

/* In a forked child (fork.c): reset the object pool's lock. */
void object_fork_child(void);

#endif /* UPAGER_OBJECT_H */
