/* SPDX-License-Identifier: MIT */
/*
 * serve.h - the engine as a serving model sees it: an interface of the
 * backend layer that the engine implements (mm/serve.c), so that a
 * serving model calls up into the engine without including any of mm/,
 * as the kernel's arch code calls handle_mm_fault(). With it the fault
 * vocabulary both sides speak: enum fault_result and the FAULT_* access
 * kinds (mm/fault.h takes them from here).
 *
 * A serving model (serve-threads.c for userfaultfd) learns of faults and
 * of changes the program made to upager's memory, on threads of its own;
 * it hands faults to serve_fault() and changes to the events sink below,
 * and has the queued changes applied (serve_events_apply()) when no fault
 * comes to do it. The pager's lock, its tree and its events queue stay
 * mm's: nothing here exposes them.
 */
#ifndef UPAGER_SERVE_H
#define UPAGER_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/options.h"
#include "core/stats.h"

struct upager;
struct fault_ctx;

enum fault_result {
	FAULT_RESOLVED, /* page(s) installed, or already there: thread goes on */
	FAULT_MAPERR,   /* no region: SIGSEGV, SEGV_MAPERR */
	FAULT_ACCERR,   /* the region forbids the access: SIGSEGV, SEGV_ACCERR */
	FAULT_FAILED,   /* could not install: SIGBUS */
	FAULT_DEFER,    /* would have to wait, and the caller may not (fault_ctx.may_block) */
};

/* Access kinds, as the kernel reports them. */
#define FAULT_WRITE (1u << 0)
/* A write to a write-protected page (copy-on-write of a private mapping). */
#define FAULT_WP (1u << 1)
/* The object's cache holds the page; the mapping does not (yet). */
#define FAULT_MINOR (1u << 2)

/* The pager's fixed facts: set before its backend is opened. */
unsigned long serve_page_size(const struct upager *p);
const struct upager_options *serve_options(const struct upager *p);
struct stats *serve_stats(struct upager *p);

/* A serving thread's context: I/O ring and buffers, so that a fault
 * never allocates. 0 or -errno. */
int serve_ctx_new(struct upager *p, struct fault_ctx **out);
void serve_ctx_free(struct fault_ctx *ctx);
/* In a forked child: free a context inherited from the parent. */
void serve_ctx_forget(struct fault_ctx *ctx);

/*
 * Serve the fault at @addr (@access: FAULT_*), as fault_handle() does;
 * @may_block: this thread may wait (for a lock, I/O, reclaim). Not when
 * it is the one that must read the next event: FAULT_DEFER then hands
 * the fault to a thread that may (the caller's own). Takes the pager's
 * lock and may wait for I/O: never from a signal handler.
 */
enum fault_result serve_fault(struct upager *p, struct fault_ctx *ctx, uintptr_t addr,
			      unsigned int access, bool may_block);

/*
 * The events sink. A reader brackets each read from the kernel with
 * serve_reading(true) / (false), and queues what the read carried in
 * between: reclaim trusts what it saw only if no read was in progress
 * (events.h). The program discarded [start, end) (MADV_DONTNEED and
 * kin), unmapped it, or moved [from, from + len) to @to. Each returns
 * true when queued: serve_events_apply() must then run soon if no fault
 * does (a fault applies queued events first). Never blocks for long.
 */
void serve_reading(struct upager *p, bool on);
bool serve_removed(struct upager *p, uintptr_t start, uintptr_t end);
bool serve_unmapped(struct upager *p, uintptr_t start, uintptr_t end);
bool serve_remapped(struct upager *p, uintptr_t from, uintptr_t len, uintptr_t to);

/* Events queued and not yet applied. */
bool serve_events_pending(struct upager *p);
/* Apply them (takes the pager's lock for writing). */
void serve_events_apply(struct upager *p);

#endif /* UPAGER_SERVE_H */
