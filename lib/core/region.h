/* SPDX-License-Identifier: MIT */
/*
 * region.h - the region tree: upager's own VMA tree.
 *
 * A region is one run of address space a pager owns, with one protection
 * and one backing. Regions never overlap; adjacent regions that are
 * compatible (same protection, flags and backing, contiguous offsets) are
 * always merged, as the kernel's vma_merge() does, so the tree is the
 * unique, minimal description of the pager's address space.
 *
 * The tree makes no system calls and takes no locks: its owner (the pager)
 * serialises mutations and lets lookups run under a read lock. It is an AVL
 * tree keyed by start address, so lookup, insert and remove are O(log n).
 * Splitting and trimming change bounds in place, which never reorders keys
 * because regions do not overlap.
 */
#ifndef UPAGER_REGION_H
#define UPAGER_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct object;

struct region {
	uintptr_t start; /* first byte (inclusive), page aligned */
	uintptr_t end;   /* last byte + 1 (exclusive), page aligned, > start */
	int prot;        /* UPAGER_PROT_* */
	/* UPAGER_MAP_PRIVATE or _SHARED, and the fork advice (REGION_*). */
	unsigned int flags;
	/* Backing object; NULL is anonymous demand-zero memory. Regions with
	 * the same non-NULL object merge only when pgoff is contiguous. */
	struct object *object;
	uint64_t pgoff; /* offset into object, in pages, of start */

	/* AVL links, owned by the tree. */
	struct region *left, *right;
	int height;
};

/*
 * Fork advice (madvise), kept in the region as the kernel keeps it in the
 * VMA's vm_flags: a region that differs in it is another region (advice
 * on part of one splits it, as it splits the kernel's VMA), and the fork
 * handler reads it (fork.c). Above every UPAGER_MAP_* bit.
 */
#define REGION_DONTFORK (1u << 16)   /* MADV_DONTFORK: not in a forked child */
#define REGION_WIPEONFORK (1u << 17) /* MADV_WIPEONFORK: zeros in a forked child */
#define REGION_ADVICE (REGION_DONTFORK | REGION_WIPEONFORK)

/*
 * Internal bits of region.flags, beside the UPAGER_MAP_* sharing bits:
 * regions that differ in them never merge, as the kernel's VMAs split
 * at an mlock.
 *   REGION_LOCKED  mlock'd (lock.c): its pages are made resident and
 *                  never staged (reclaim moves their frames to
 *                  FRAME_PINNED), counted in upager.locked_pages.
 */
#define REGION_LOCKED (1u << 31)

/* The object page index that @page (in @r) maps. */
static inline uint64_t region_page_index(const struct region *r, uintptr_t page,
					 unsigned long page_size)
{
	return r->pgoff + (page - r->start) / page_size;
}

struct region_tree {
	struct region *root;
	size_t count; /* regions in the tree */
	unsigned long page_size;
};

/* Called for each piece [piece->start, piece->end) taken out of the tree by
 * region_tree_remove_range(); the piece is freed after the call. */
typedef void (*region_visit_fn)(void *ctx, const struct region *piece);

void region_tree_init(struct region_tree *tree, unsigned long page_size);

/* Free every region, calling @visit (may be NULL) for each first. */
void region_tree_clear(struct region_tree *tree, region_visit_fn visit, void *ctx);

/* The region containing @addr, or NULL. */
struct region *region_find(const struct region_tree *tree, uintptr_t addr);

/* The lowest region ending above @addr (it may start above @addr), or NULL. */
struct region *region_find_next(const struct region_tree *tree, uintptr_t addr);

/* The part of @r inside [start, end) in *@s, *@e: false when none is. */
static inline bool region_clip(const struct region *r, uintptr_t start, uintptr_t end,
			       uintptr_t *s, uintptr_t *e)
{
	*s = r->start > start ? r->start : start;
	*e = r->end < end ? r->end : end;
	return *s < *e;
}

/*
 * The regions of [*@at, @end) in order, one a call:
 *	for (at = start; (r = region_next_in(tree, &at, end, &s, &e));)
 * the next one, clipped to the range in *@s, *@e, with *@at moved to *@e
 * (the tree may change under the walk past it); NULL when none is left.
 */
struct region *region_next_in(const struct region_tree *tree, uintptr_t *at, uintptr_t end,
			      uintptr_t *s, uintptr_t *e);

/* True when no region intersects [start, end). */
bool region_range_is_free(const struct region_tree *tree, uintptr_t start,
			  uintptr_t end);

/* True when regions cover every byte of [start, end) without a hole. */
bool region_range_is_covered(const struct region_tree *tree, uintptr_t start,
			     uintptr_t end);

/*
 * Add [start, end) with @prot/@flags/@object/@pgoff, merging it with
 * compatible neighbours. The range must be free.
 * Returns 0, -EEXIST (range not free), -ENOMEM.
 */
int region_insert(struct region_tree *tree, uintptr_t start, uintptr_t end,
		  int prot, unsigned int flags, struct object *object, uint64_t pgoff);

/*
 * Take [start, end) out of the tree: regions inside are removed, regions
 * straddling an end are trimmed or split. @visit (may be NULL) sees every
 * piece removed, in address order. Returns 0, or -ENOMEM when a split
 * could not allocate; the tree is then unchanged.
 */
int region_remove_range(struct region_tree *tree, uintptr_t start,
			uintptr_t end, region_visit_fn visit, void *ctx);

/*
 * Set @prot on [start, end), which must be covered; regions are split at
 * the ends and merged afterwards. Returns 0, -ENOMEM (not covered, or a
 * split could not allocate; the tree is then unchanged).
 */
int region_protect_range(struct region_tree *tree, uintptr_t start,
			 uintptr_t end, int prot);

/*
 * Set the flags in @set and clear those in @clear (REGION_ADVICE bits,
 * REGION_LOCKED) on every part of a region inside [start, end); parts of
 * the range in no region are left alone (the kernel's madvise and mlock
 * skip holes too). Regions are split at the ends and merged afterwards.
 * Returns 0 or -ENOMEM (a split could not allocate; the tree is then
 * unchanged).
 */
int region_flag_range(struct region_tree *tree, uintptr_t start, uintptr_t end,
		      unsigned int set, unsigned int clear);

/* Visit every region in address order. */
void region_for_each(const struct region_tree *tree, region_visit_fn visit,
		     void *ctx);

/*
 * Check every invariant: AVL balance and heights, key order, alignment,
 * no overlap, no mergeable neighbours, count. Returns 0 or -EUCLEAN
 * with *@why describing the first violation.
 */
int region_tree_validate(const struct region_tree *tree, const char **why);

/* In a forked child (fork.c): reset the node pool's lock. */
void region_fork_child(void);

#endif /* UPAGER_REGION_H */
