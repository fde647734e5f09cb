/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the narrow interface between the pager and the mechanism
 * that catches faults and installs pages.
 *
 * The pager owns policy (region tree, classification, fault-around,
 * statistics); a backend owns mechanism: it learns of faults, hands each
 * to fault_handle() (fault.h), and installs what the pager decides.
 * The userfaultfd backend (uffd.c) reads fault messages on handler threads;
 * an mprotect + SIGSEGV backend would call fault_handle() from its signal
 * handler instead. Nothing above this interface changes between them.
 */
#ifndef UPAGER_BACKEND_H
#define UPAGER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct upager;
struct backend;

/* How a range is attached (backend_ops.attach). */
#define BACKEND_FAULTS 0  /* anonymous memory: first touches */
#define BACKEND_STAGING 1 /* the staging area: a place to move pages to */
/* A shared mapping of an object's cache (memfd): first touches of pages
 * the cache lacks (missing) and of pages it holds but the mapping does
 * not (minor). */
#define BACKEND_SHARED 2
/* A private mapping of an object's cache: as BACKEND_SHARED, plus
 * write-protect faults, so the first write to a page that still maps
 * the object's page (copy-on-write) reaches the pager. */
#define BACKEND_PRIVATE 3

struct backend_ops {
	const char *name;
	/* Create the fault source for @pager. Threads start in start(). */
	int (*open)(struct upager *pager, struct backend **out);
	/* Start serving faults. */
	int (*start)(struct backend *be);
	/* Catch first touches in [start, end), a fresh kernel mapping
	 * (BACKEND_FAULTS); or only make the range a place pages can be
	 * moved to and from, leaving its faults to the kernel (BACKEND_STAGING). */
	int (*attach)(struct backend *be, uintptr_t start, uintptr_t end, int how);
	/*
	 * Stop catching faults in [start, end) (attached before), for a
	 * munmap of upager's own: the kernel then raises no unmap event,
	 * which it would hold the munmap for until a handler read it.
	 * Threads waiting there retry their access. Returns 0 or -errno
	 * (-ENOMEM: splitting the kernel's mapping would pass
	 * vm.max_map_count; the range stays attached).
	 */
	int (*detach)(struct backend *be, uintptr_t start, uintptr_t end);
	/*
	 * Install zero-filled pages over [start, start + len) and wake the
	 * threads waiting there. @writable: a private zeroed page (the thread
	 * is about to write) rather than the shared zero page.
	 * Returns the bytes installed from @start (> 0; may be short when a
	 * page further on already exists), or -EEXIST (the first page already
	 * exists), -ENOENT (the range is no longer mapped), -errno.
	 */
	long (*fill_zero)(struct backend *be, uintptr_t start, size_t len,
			  bool writable);
	/* Let threads waiting on [start, start + len) retry their access. */
	int (*wake)(struct backend *be, uintptr_t start, size_t len);
	/*
	 * Install a copy of @len bytes at @src over [dst, dst + len) and wake
	 * waiters. Returns bytes installed (> 0), -EEXIST, -ENOENT, -errno.
	 */
	long (*copy)(struct backend *be, uintptr_t dst, const void *src, size_t len);
	/*
	 * Move the pages of [src, src + len) to [dst, dst + len) without
	 * copying, leaving src unmapped, and wake waiters at dst. Both ranges
	 * must be writable and the pager's. Returns bytes moved (> 0), or
	 * -ENOENT (no page at src), -EEXIST (a page at dst), -EBUSY (page
	 * shared, e.g. after fork), -EINVAL (not movable), -errno.
	 */
	long (*move)(struct backend *be, uintptr_t dst, uintptr_t src, size_t len);
	/*
	 * Map the pages the cache already holds over [start, start + len)
	 * (UFFDIO_CONTINUE) and wake waiters; @wp: write-protected, so a
	 * write faults (BACKEND_PRIVATE ranges). Returns bytes mapped (> 0),
	 * -EEXIST (the first page is mapped already), -EFAULT (the cache
	 * lacks the first page), -ENOENT, -errno.
	 */
	long (*cont)(struct backend *be, uintptr_t start, size_t len, bool wp);
	/* Set (@on) or clear the write protection of [start, start + len) in
	 * a BACKEND_PRIVATE range; clearing wakes waiters. 0 or -errno. */
	int (*protect)(struct backend *be, uintptr_t start, size_t len, bool on);
	/*
	 * Make the page at @addr raise SIGBUS when touched (until the page
	 * is discarded: MADV_DONTNEED removes the mark). The waiting thread
	 * is not woken: the caller logs why first and then wakes it (woken
	 * at once, a program without a SIGBUS handler would die before the
	 * reason was written). Returns 0 or -errno (-EOPNOTSUPP: the kernel
	 * cannot).
	 */
	int (*poison)(struct backend *be, uintptr_t addr);
	/* Return once every message read from the kernel so far has been
	 * looked at (its events queued or dropped: events.h). */
	void (*fence)(struct backend *be);
	/* Stop serving faults and free @be. Regions must be gone already. */
	void (*close)(struct backend *be);
	/* In a forked child: free @be, inherited from the parent, touching
	 * nothing the parent still uses (its threads, descriptors' state,
	 * I/O rings). */
	void (*forget)(struct backend *be);
};

extern const struct backend_ops uffd_backend_ops;

#endif /* UPAGER_BACKEND_H */
