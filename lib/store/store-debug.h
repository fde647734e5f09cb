/* SPDX-License-Identifier: MIT */
/*
 * store-debug.h - what the debug build's invariant checks (mm/debug.h)
 * ask of the swap store: this process's references, slot by slot, to be
 * compared with the page entries that name each slot. Only in a build
 * with -Ddebug_checks=true.
 */
#ifndef UPAGER_STORE_DEBUG_H
#define UPAGER_STORE_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#ifdef UPAGER_DEBUG_CHECKS
/* Slots in the store (the size of the table store_debug_check_refs()
 * reads). */
uint64_t store_debug_slots(const struct store *s);

/* This process's own references to @slot (0: out of range, or a process
 * that is not a holder). Thread-safe. */
uint32_t store_debug_own_refs(struct store *s, uint64_t slot);

/* Can this process's references be compared at all? Not in a child that
 * got no holder at its fork, nor for a store other than the file store.
 * Thread-safe. */
bool store_debug_is_holder(struct store *s);

/*
 * Compare this process's reference to every slot of every cluster that
 * is not wholly free with @held[slot] (the page entries naming it), and
 * each count with the slot's holder mask. Returns 0, or -EUCLEAN with
 * *@why and *@bad (the first slot that differs), *@refs (its count).
 * Thread-safe.
 */
int store_debug_check_refs(struct store *s, const uint32_t *held, uint64_t *bad,
			   uint32_t *refs, const char **why);
#endif

#endif /* UPAGER_STORE_DEBUG_H */
