/* SPDX-License-Identifier: MIT */
/*
 * frames.h - the frame budget and the replacement policy's lists.
 *
 * A frame is one unit of the budget: the most pages a pager keeps in
 * memory. Each frame in use holds one page of an object, either mapped in
 * its region (on the active list) or moved out to a slot of the staging
 * area (on the staged, i.e. inactive, list).
 *
 * The policy is second chance through unmapping, as the kernel's inactive
 * list is for memory without hardware accessed bits: when frames run out,
 * the oldest active pages are moved, unmapped, to the staged list; a page
 * touched there faults and goes back to the active tail at the cost of a
 * minor fault; a page that reaches the staged head untouched is evicted.
 * Hot pages therefore survive where FIFO would evict them.
 *
 * Pure bookkeeping: no system calls, no locking (the caller holds the
 * pager's page lock), unit-tested in-process.
 */
#ifndef UPAGER_FRAMES_H
#define UPAGER_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

struct object;

#define FRAME_NONE UINT32_MAX

enum frame_list {
	FRAME_FREE = 0,
	FRAME_ACTIVE,
	FRAME_STAGED,
	FRAME_HELD,   /* taken by a fault or reclaim in progress, on no list */
	FRAME_PINNED, /* a page of a locked region (mlock): never staged, the
	               * kernel's unevictable list */
	FRAME_WITHHELD, /* no page: given up to the store's own memory (a
	                 * compressed pool) while it holds it (mm/budget.c) */
	FRAME_LISTS,
};

struct frame {
	struct object *obj; /* owner, when not free */
	uint64_t pgoff;     /* page index in obj */
	uintptr_t addr;     /* where the page is mapped when active */
	uint32_t staging;   /* its staging slot when staged (reclaim.c's) */
	uint32_t prev, next;
	uint8_t list;       /* enum frame_list */
	/* Brought back from the staged list by a soft fault since it was
	 * last staged: the next time it is the oldest active page it goes
	 * round once more instead of being staged (reclaim.c). */
	uint8_t referenced;
	/* Read around a swap-in fault into the staged list, untouched
	 * since: its first touch is a read-around hit (fault-swap.c). */
	uint8_t readahead;
};

struct frame_list_head {
	uint32_t head, tail; /* head: oldest */
	uint32_t count;
};

struct frames {
	uint32_t n;          /* the budget, in frames */
	struct frame *f;     /* n frames */
	struct frame_list_head list[FRAME_LISTS];
	/* Frames never used yet: [n - fresh, n). Counted in the free list's
	 * count, linked on no list, so that a large budget costs nothing
	 * (no frame table touched) until its frames are used. */
	uint32_t fresh;
	/* Free frames that may not be taken: the budget is n, but only
	 * n - withheld frames may be in use at once (frames_set_limit();
	 * 0 unless the pager holds the process's resident set to a cap,
	 * reclaim.h). Free frames past the limit stay counted as free. */
	uint32_t withheld;
};

/* Returns 0 or -ENOMEM. All frames start free. */
int frames_init(struct frames *fr, uint32_t n);
void frames_destroy(struct frames *fr);

/* Frames on list @l; for FRAME_FREE, those that may be taken: free
 * frames within the limit (frames_set_limit()), 0 while more than the
 * limit are in use. */
static inline uint32_t frames_count(const struct frames *fr, enum frame_list l)
{
	uint32_t c = fr->list[l].count;

	if (l == FRAME_FREE)
		return c > fr->withheld ? c - fr->withheld : 0;
	return c;
}

/* Frames holding a page or held for one: on any list but the free one. */
static inline uint32_t frames_in_use(const struct frames *fr)
{
	return fr->n - fr->list[FRAME_FREE].count;
}

/* The most frames in use at once, 1 to n (clamped): frames_take() fails
 * once that many are, and frames_count(FRAME_FREE) says how many more may
 * be taken. Lowering it below frames_in_use() takes nothing away: the
 * caller evicts down to it. */
void frames_set_limit(struct frames *fr, uint32_t limit);

static inline uint32_t frames_limit(const struct frames *fr)
{
	return fr->n - fr->withheld;
}

/* The oldest frame of @l, or FRAME_NONE. */
static inline uint32_t frames_oldest(const struct frames *fr, enum frame_list l)
{
	return fr->list[l].head;
}

/* The frame after @i on its list (towards the newest), or FRAME_NONE. */
static inline uint32_t frames_next(const struct frames *fr, uint32_t i)
{
	return fr->f[i].next;
}

/* Take a free frame for (obj, pgoff, addr) onto list @to (newest end).
 * Returns the frame, or FRAME_NONE when none is free or the limit is
 * reached. */
uint32_t frames_take(struct frames *fr, struct object *obj, uint64_t pgoff,
		     uintptr_t addr, enum frame_list to);

/* Move frame @i to the newest end of list @to. */
void frames_move(struct frames *fr, uint32_t i, enum frame_list to);

/* Give frame @i back to the free list. */
void frames_release(struct frames *fr, uint32_t i);

/* Check the lists: links, counts, membership. Returns 0 or -EUCLEAN. */
int frames_validate(const struct frames *fr, const char **why);

#endif /* UPAGER_FRAMES_H */
