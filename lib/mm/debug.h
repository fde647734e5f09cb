/* SPDX-License-Identifier: MIT */
/*
 * debug.h - the debug build's invariant checks (-Ddebug_checks=true, which
 * defines UPAGER_DEBUG_CHECKS), as the kernel's validate_mm() and
 * mimalloc's MI_DEBUG: after a mutation, the structures are checked
 * against each other, and a violation aborts the process with what was
 * wrong. Without the option every call here compiles to nothing.
 *
 * What is checked where (docs/ARCHITECTURE.md, "Debug checks"):
 *   debug_check_pager()   everything: the region tree, each region's
 *                         object range, the frame lists, every frame
 *                         against its page entry and every entry against
 *                         its frame, and the swap store's references
 *                         against the entries naming each slot. Each time
 *                         the pager's lock is taken for writing (every
 *                         API call, every batch of the program's changes,
 *                         a fork child's rebuild) and before the mapping
 *                         calls let go of it.
 *   debug_check_frames()  the frame lists and every frame against its
 *                         entry (O(budget)): each reclaim round.
 *   debug_check_page()    the faulting page's entry and frame, and the
 *                         lists' counts (O(1)): each fault served (not
 *                         waiting for the page lock in a handler that
 *                         may not wait, as the fault path itself).
 * None allocates (the fault path never calls malloc).
 */
#ifndef UPAGER_DEBUG_H
#define UPAGER_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

struct upager;
struct region;

#ifdef UPAGER_DEBUG_CHECKS
/* Pager lock held for writing (or no other thread); takes the page lock. */
void debug_check_pager(struct upager *p, const char *where);
/* Page lock held. */
void debug_check_frames(struct upager *p, const char *where);
/* Pager lock held (read); takes the page lock, or only tries to when
 * @may_block is false (a handler that must not wait: the check is then
 * skipped if the lock is busy). @r contains @page. */
void debug_check_page(struct upager *p, const struct region *r, uintptr_t page,
		      bool may_block, const char *where);
#else
static inline void debug_check_pager(struct upager *p, const char *where)
{
	(void)p;
	(void)where;
}

static inline void debug_check_frames(struct upager *p, const char *where)
{
	(void)p;
	(void)where;
}

static inline void debug_check_page(struct upager *p, const struct region *r,
				    uintptr_t page, bool may_block, const char *where)
{
	(void)p;
	(void)r;
	(void)page;
	(void)may_block;
	(void)where;
}
#endif

#endif /* UPAGER_DEBUG_H */
