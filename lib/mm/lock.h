/* SPDX-License-Identifier: MIT */
/*
 * lock.h - locked memory (mlock, mlockall) in a pager's regions, for the
 * LD_PRELOAD shim's interposed calls (tools/run/preload-lock.c).
 *
 * The kernel must not lock upager's regions itself: it would fill them
 * inside the call (mlock, or every mmap after mlockall(MCL_FUTURE))
 * before upager sees a fault, and UFFDIO_MOVE refuses to move pages
 * between a locked and an unlocked mapping, so nothing could be staged.
 * upager locks them instead, as the kernel would: a locked region
 * (REGION_LOCKED) has its pages made resident at once (unless on fault)
 * and never staged (reclaim moves their frames to FRAME_PINNED, the
 * kernel's unevictable list); they count against the budget, less what
 * reclaim needs to keep the rest moving (lock_limit()), which plays the
 * part of RLIMIT_MEMLOCK: a lock beyond it fails with -ENOMEM, a mapping
 * made locked by MCL_FUTURE with -EAGAIN. Locks are not inherited by a
 * fork child, as the kernel's are not.
 *
 * Each call takes the pager's lock for writing and blocks the program's
 * signals (signals.h) itself.
 */
#ifndef UPAGER_LOCK_H
#define UPAGER_LOCK_H

#include <stdbool.h>
#include <stdint.h>

struct upager;

/* Most pages the pager's regions may have locked (UINT64_MAX without a
 * budget: nothing is ever evicted). */
uint64_t lock_limit(const struct upager *p);

/* Lock the pager's regions inside [start, end) (holes are left alone:
 * they are the kernel's); their pages are made resident unless
 * @onfault. Returns 0, -ENOMEM (more than lock_limit(); nothing
 * changed), -EINVAL (a shared mapping: not supported). */
int lock_range(struct upager *p, uintptr_t start, uintptr_t end, bool onfault);

/* Unlock the pager's regions inside [start, end). 0 or -ENOMEM. */
int lock_unlock_range(struct upager *p, uintptr_t start, uintptr_t end);

/*
 * mlockall(@flags) for the whole process: the kernel locks its own
 * mappings (lock-on-fault, so that it fills none of upager's inside the
 * call), upager unlocks its own in the kernel's eyes and locks them
 * itself (MCL_CURRENT), and maps locked from now on (MCL_FUTURE).
 * Returns 0, -ENOMEM (MCL_CURRENT beyond lock_limit(); nothing changed)
 * or the kernel's -errno. The kernel's mappings stay locked on fault:
 * they hold upager's own sparse tables too (preload-lock.c).
 */
int lock_all(struct upager *p, int flags);

/* munlockall(): the kernel's, and every region unlocked. Returns 0 or
 * the kernel's -errno. */
int lock_none(struct upager *p);

/* The first of the pager's regions that meets [addr, end), clipped to
 * it, in *@s, *@e; false when there is none. */
bool lock_next_region(struct upager *p, uintptr_t addr, uintptr_t end, uintptr_t *s,
		      uintptr_t *e);

/* ---- for pager.c and fork.c -------------------------------------------- */

/* upager_map() under mlockall(MCL_FUTURE): region flags for a new
 * mapping of @pages pages (REGION_LOCKED, reserved), -EAGAIN beyond the
 * limit, or 0 when nothing is locked. Pager lock held for writing. */
int lock_map_flags(struct upager *p, uint64_t pages, unsigned int *flags);
/* Right after the mmap of a mapping lock_map_flags() locked: the kernel
 * locked it too (its lock-on-fault default); upager does instead. */
void lock_map_kernel(void *addr, size_t len);
/* After the map, no lock held: fill it, unless MCL_ONFAULT. */
void lock_map_fill(struct upager *p, void *addr, size_t len);
/* Does a locked region meet [start, end)? upager_discard() then answers
 * -EINVAL, as madvise(MADV_DONTNEED) of a locked mapping. Pager lock held. */
bool lock_range_has_locked(struct upager *p, uintptr_t start, uintptr_t end);
/* In a fork child: nothing is locked. */
void lock_fork_child(struct upager *p);

#endif /* UPAGER_LOCK_H */
