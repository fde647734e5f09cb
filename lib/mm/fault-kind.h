/* SPDX-License-Identifier: MIT */
/*
 * fault-kind.h - the kinds of memory a fault can land in, each with its
 * own fault handler, and what the handlers share.
 *
 * fault_handle() (fault.c) classifies an access against the region tree
 * and then calls the region's kind once, as the kernel's handle_mm_fault()
 * calls vma->vm_ops->fault(); nothing downstream asks the kind again:
 * - zero     anonymous memory no object pages (no budget): demand-zero
 *            runs, no page entries (fault-anon.c);
 * - anon     private anonymous memory with page entries (under a
 *            budget): zeros on first touch, taking frames; staged and
 *            swapped pages brought back (fault-anon.c);
 * - shared   a shared mapping of a shared object, anonymous or a file:
 *            the object's page, from its page cache (fault-shared.c over
 *            cache.h);
 * - private  a private mapping of a shared object: the object's page,
 *            write-protected, until the first write makes the region's
 *            own copy (fault-private.c); that copy then pages as anon.
 *
 * Calls go downward only: fault.c -> a kind -> fault-swap.c (the way back
 * for pages reclaim took out) and fault-common.c (page lock, SIGBUS, the
 * reclaim entry) -> cache, reclaim, backend, store.
 *
 * Locking: a kind's fault() is called with the pager's lock held for
 * reading; those with page entries take the page lock (reclaim.h) through
 * fault_page_lock() and may drop it across I/O.
 */
#ifndef UPAGER_FAULT_KIND_H
#define UPAGER_FAULT_KIND_H

#include <stdbool.h>
#include <stdint.h>

#include "mm/fault.h"
#include "mm/object.h"

struct fault_ctx;
struct region;
struct upager;

/*
 * One look at the page of a fault, page lock held: 1 to look again (the
 * lock was dropped meanwhile, or the page changed), else 0 with *@result
 * set. A step first defers (FAULT_DEFER) what a handler that may not
 * wait cannot serve at once.
 */
typedef int fault_step_fn(struct upager *p, struct fault_ctx *ctx, const struct region *r,
			  uintptr_t page, unsigned int access, enum fault_result *result);

/* A kind sets one of fault and step. */
struct fault_ops {
	const char *name;
	/* Serve the legal access @access (FAULT_*) at @page, page aligned,
	 * in @r. Returns what the faulting thread gets. */
	enum fault_result (*fault)(struct upager *p, struct fault_ctx *ctx, const struct region *r,
				   uintptr_t page, unsigned int access);
	/* For kinds with page entries: the fault is @step's, run under the
	 * page lock until answered (fault_run_locked()). */
	fault_step_fn *step;
};

extern const struct fault_ops fault_zero_ops;
extern const struct fault_ops fault_anon_ops;
extern const struct fault_ops fault_shared_ops;
extern const struct fault_ops fault_private_ops;

/* fault-common.c: what every kind with page entries needs. */

/* Take the page lock, unless the caller may not wait and another thread
 * holds it. */
bool fault_page_lock(struct upager *p, const struct fault_ctx *ctx);


/* A kind's fault() for kinds with page entries: take the page lock (or
 * defer), @step until the fault is answered, let go. */
enum fault_result fault_run_locked(struct upager *p, struct fault_ctx *ctx, const struct region *r,
				   uintptr_t page, unsigned int access, fault_step_fn *step);

/* Answer the access at @page with SIGBUS, for @why (logged): for every
 * later access of this page of its region too when @permanent, else only
 * until frames are free again (reclaim.h). */
enum fault_result fault_sigbus(struct upager *p, uintptr_t page, const char *why, bool permanent);

/* No frame could be had for the fault at @page: reclaim_frames() said
 * @err. -EINTR: the thread is woken to fault again once the program's
 * changes are applied; else *@result is a SIGBUS until frames are free. */
void fault_no_frame(struct upager *p, uintptr_t page, int err, enum fault_result *result);

/* No frame free: reclaim some (page lock held; reclaim_frames()). Returns
 * 1 to look at the page again, or 0 as fault_no_frame() left it. */
int fault_reclaim(struct upager *p, struct fault_ctx *ctx, uintptr_t page,
		  enum fault_result *result);

/* Wake a thread whose fault needs nothing more: another thread's fault
 * resolved it (@why -EEXIST), or its range vanished or is changing. */
void fault_wake_raced(struct upager *p, uintptr_t page, long why);

/* What a step with page entries answers before it looks at the state
 * of its page @e: FAULT_DEFER when this handler may not serve it now
 * (@now false: it may not wait and the page needs waiting for), a
 * SIGBUS when the page was lost to an earlier error. True with *@result
 * set when either answered the fault. */
bool fault_deferred_or_lost(struct upager *p, const struct page_entry *e, bool now,
			    uintptr_t page, enum fault_result *result);

/* The page is WRITEBACK or SWAPIN: wait until that handler is done.
 * Returns 1 (look again). */
int fault_wait_io(struct upager *p);

/* Is a frame free for a new page (or is there no budget)? */
bool fault_has_frame(struct upager *p);

/* Count @pages (signed) more private pages mapping their object's page. */
void fault_count_shared(struct upager *p, int64_t pages);

/* Pages from @page on that are @state, consecutive, within the region and
 * @max; for SWAPPED also in consecutive slots (one I/O reads them). */
uint64_t fault_run_of(struct upager *p, const struct region *r, uintptr_t page, uint64_t max,
		      enum page_state state);

/* fault-swap.c: private pages reclaim took out (STAGED, SWAPPED) and
 * pages another handler is moving, for the anon and private kinds. Page
 * lock held; each returns 1 to look at the page again, else 0 with
 * *@result set (or left FAULT_RESOLVED). */

/* A touch of a page that lives only in swap: read it (and, for a
 * sequential stream, its neighbours) and install. Drops the page lock
 * during the read. */
int fault_swapped(struct upager *p, struct fault_ctx *ctx, const struct region *r,
		  uintptr_t page, enum fault_result *result);

/* A touch of a STAGED page (@e): bring it back, with the run staged
 * beside it; raced (another fault brought it back) or the range changing,
 * wake the thread to fault again. Returns 0 (the fault is answered). */
int fault_reactivate(struct upager *p, struct page_entry *e, uintptr_t addr);

/* A write-protect fault on a private copy upager holds STAGED or SWAPPED
 * while the kernel still maps the page (fault-swap.c says how). */
int fault_adopt_mapped(struct upager *p, struct fault_ctx *ctx, const struct region *r,
		       uintptr_t page, enum fault_result *result);

/* fault-shared.c, for the private kind too: the object's pages. */

/*
 * Bring @obj's pages from @pgoff on (the page behind @page first, up to
 * @want) into its cache (cache_get()). Page lock held; may drop it.
 * Returns 1 to look again; else 0 with the pages resident in *@n, or
 * with *@n 0 and *@result set (no frame, SIGBUS).
 */
int fault_object_get(struct upager *p, struct fault_ctx *ctx, struct object *obj, uint64_t pgoff,
		     uintptr_t page, uint64_t want, unsigned int access, uint64_t *n,
		     enum fault_result *result);

/* Map @n resident pages of @obj at @page in @r; for a private mapping
 * (@layer, @r's ANON layer over @obj) write-protected, recorded in
 * @layer's entries. Page lock held; may drop it across the ioctl. */
void fault_object_map(struct upager *p, struct fault_ctx *ctx, const struct region *r,
		      struct object *obj, struct object *layer, uintptr_t page, uint64_t n,
		      unsigned int access, enum fault_result *result);

/*
 * Can the fault on page @pgoff of shared object @obj be served without
 * waiting (no I/O, no reclaim, no page in another handler's hands)? For
 * a private mapping (@private) too, with @frame: a frame is free (or no
 * budget). Page lock held.
 */
bool fault_object_is_quick(struct object *obj, uint64_t pgoff, unsigned int access, bool private,
			   bool frame);

#endif /* UPAGER_FAULT_KIND_H */
