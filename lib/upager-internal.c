/* SPDX-License-Identifier: MIT */
/*
 * upager-internal.c - holds upager-internal.h to the modules it copies
 * from: a prototype that drifts is a conflicting declaration here, a
 * bound that drifts a failed assertion.
 */
#include "upager-internal.h"

#include "core/options.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

_Static_assert(UPAGER_INTERNAL_SWAP_READAHEAD_MAX == OPT_MAX_SWAP_READAHEAD,
	       "upager-internal.h: swap read-ahead bound");
_Static_assert(UPAGER_INTERNAL_REACTIVATE_AROUND == REACTIVATE_AROUND,
	       "upager-internal.h: reactivation window");
