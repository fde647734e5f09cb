/* SPDX-License-Identifier: MIT */
/*
 * fault.h - what happens on a fault: classification as the kernel does it,
 * and how many pages to bring in (fault-around). How each kind of memory
 * serves its faults: fault-kind.h. The vocabulary (enum fault_result,
 * FAULT_*) is the serving seam's (backend/serve.h).
 */
#ifndef UPAGER_FAULT_H
#define UPAGER_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/serve.h" /* enum fault_result, the FAULT_* access kinds */
#include "core/streams.h"

struct upager;
struct fault_ctx;

/*
 * Handle a fault at @addr for an access of kind @access (FAULT_*): look the
 * address up, classify it, and have the region's kind (fault-kind.h)
 * install the page (and, when the stream is sequential, the pages after
 * it) through the backend. Counts statistics.
 * For a budgeted object the page may come from the staging area or the
 * swap store, and frames may be reclaimed first (reclaim.h).
 * Never allocates. Called by backends from their fault context, with that
 * thread's @ctx (fault_ctx_new()); may block that thread on swap I/O.
 */
enum fault_result fault_handle(struct upager *pager, struct fault_ctx *ctx,
			       uintptr_t addr, unsigned int access);

#endif /* UPAGER_FAULT_H */
