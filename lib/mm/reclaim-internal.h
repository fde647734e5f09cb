/* SPDX-License-Identifier: MIT */
/*
 * reclaim-internal.h - what reclaim's three files share and nobody else
 * uses: reclaim.c (staging, eviction, write-back), reclaim-poison.c
 * (pages poisoned for want of a frame) and kswapd.c (the background
 * reclaim thread and the process cap's measurement).
 */
#ifndef UPAGER_RECLAIM_INTERNAL_H
#define UPAGER_RECLAIM_INTERNAL_H

#include "mm/reclaim.h"

/* Size the inactive list, the eviction batch, the free-frame watermarks
 * and the read-ahead for @budget_pages frames in use at most. */
void reclaim_size_lists(struct upager *p, struct reclaim *rc, uint32_t budget_pages);

/* Unpoison the remembered pages a frame can now be had for. Page lock
 * held. */
void reclaim_lift_transient_poison(struct upager *p);

/* The chunks of remembered poisoned addresses: the child's pool after a
 * fork, all given back at destroy. */
void reclaim_poison_fork_child(void);
void reclaim_poison_forget(struct reclaim *rc);

#endif /* UPAGER_RECLAIM_INTERNAL_H */
