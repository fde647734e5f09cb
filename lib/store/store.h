/* SPDX-License-Identifier: MIT */
/*
 * store.h - the store seam: where the engine keeps the pages it evicts.
 *
 * A store holds page-sized contents in *slots*, named by a 64-bit number
 * the store chooses. The engine allocates slots, writes pages to them in
 * batches, reads them back in batches, counts references (a slot shared
 * by a process and its forked child, or by a page and its staged copy)
 * and asks whether a page in memory is still what a slot holds. It never
 * sees how a slot is stored: the file store (store-file.h) keeps slots in
 * a file through io_uring, shared across fork; a compressed in-memory
 * tier or a remote store implement the same struct store_ops.
 *
 * The contract every implementation keeps (the engine relies on it):
 *   - A read never hands over data it cannot vouch for: each page's result
 *     is 0 (the bytes last written to the slot), -EBADMSG (they fail the
 *     slot's checksum) or another -errno; on any nonzero result the
 *     buffer's contents are undefined and the engine must not serve them.
 *   - A failed write leaves the slot never "matching" (slot_matches false)
 *     and the caller keeps its page; a full store is -ENOSPC from alloc.
 *   - A slot's reference count is the number of holders of it (this
 *     process's references plus one per other process); 1 means only this
 *     process holds it once, so it may be rewritten in place.
 *   - I/O goes through a struct store_io, one per thread, never shared, so
 *     a store needs no locking on its I/O path; slot calls are
 *     thread-safe. Nothing on the read path may call malloc (it runs in
 *     the fault handlers).
 *   - Fork: prepare (parent, before fork), parent (after), child (in the
 *     child, single-threaded, first call), then io_forget on every
 *     store_io inherited. The child inherits the parent's references.
 *
 * The engine calls the inline dispatchers below, never the ops directly.
 */
#ifndef UPAGER_STORE_H
#define UPAGER_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hist.h"
#include "core/stats.h"

#define STORE_NO_SLOT UINT64_MAX

struct store;
struct store_io;

/*
 * Store-wide fields describe the whole store, whichever process did what;
 * per-process fields count this process's own work (a forked child starts
 * them from zero). A store leaves at 0 what it does not have.
 */
struct store_stats {
	uint64_t capacity_slots;     /* store-wide */
	uint64_t slots_in_use;       /* store-wide: slots some holder holds */
	uint64_t slots_peak;         /* store-wide */
	uint64_t pages_written;      /* per process */
	uint64_t pages_read;         /* per process */
	uint64_t write_ios;          /* per process: I/O requests submitted (after coalescing) */
	uint64_t read_ios;           /* per process */
	/* Per process: calls into the kernel that submitted requests (each
	 * rings the device's doorbell at least once), and the requests they
	 * submitted (resubmitted short transfers included). */
	uint64_t write_submits;
	uint64_t write_sqes;
	uint64_t read_submits;
	uint64_t read_sqes;
	uint64_t checksum_failures;  /* per process: reads answered -EBADMSG */
	uint64_t io_errors;          /* per process */
	uint64_t clusters_punched;   /* store-wide */
	uint32_t holders;            /* store-wide: processes sharing the store (forks in progress included) */
	bool direct_io;              /* O_DIRECT in use */
	/* A compressed tier's (store-zpool.h), per process (its pool is
	 * private memory). Now: */
	uint64_t pool_bytes;         /* memory the pool holds */
	uint64_t pool_pages;         /* pages in it, compressed */
	uint64_t pool_compressed_bytes; /* their compressed size */
	/* Since open (a forked child inherits its parent's): */
	uint64_t pool_stored;        /* pages written compressed into the pool */
	uint64_t pool_stored_bytes;  /* ... their compressed size */
	uint64_t same_filled;        /* pages of one word repeated, kept as the word */
	uint64_t compress_rejected;  /* pages that compressed badly, sent to the lower store */
	uint64_t pool_written_back;  /* pool pages written back to the lower store (pool full) */
};

/*
 * One implementation. Every op is required unless marked optional (a
 * store without fork sharing still has to say what a child gets). The meaning of each is that of its
 * dispatcher below.
 */
struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	const char *(*path)(const struct store *s);

	int (*alloc)(struct store *s, unsigned int n, uint64_t *slots);
	void (*get)(struct store *s, uint64_t slot);
	void (*put)(struct store *s, uint64_t slot);
	uint32_t (*refcount)(struct store *s, uint64_t slot);
	bool (*slot_matches)(struct store *s, uint64_t slot, const void *page);
	uint64_t (*reap)(struct store *s);

	void (*stats_read)(struct store *s, struct store_stats *out);
	/* Optional (NULL: 0). */
	size_t (*resident_bytes)(struct store *s);

	int (*fork_prepare)(struct store *s);
	void (*fork_parent)(struct store *s);
	int (*fork_child)(struct store *s);

	int (*io_new)(struct store *s, unsigned int depth, struct store_io **out);
	void (*io_free)(struct store_io *io);
	void (*io_forget)(struct store_io *io);
	int (*write)(struct store_io *io, const uint64_t *slots, void *const *pages,
		     unsigned int n);
	int (*read)(struct store_io *io, const uint64_t *slots, void *const *pages,
		    unsigned int n, int *results);
};

/* An implementation embeds these as the first member of its own types. */
struct store {
	const struct store_ops *ops;
	/* Latency of whole batches, nanoseconds, per process: the
	 * implementation records its reads and writes, the engine reads. */
	struct hist read_ns, write_ns;
};

struct store_io {
	struct store *store;    /* set by the store's io_new */
};

/* Give back every reference this process holds and leave the store (the
 * last process to leave frees it). NULL is fine. Not concurrent with any
 * other call on @s. */
static inline void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

/* What to name the store by in log messages. */
static inline const char *store_path(const struct store *s)
{
	return s->ops->path(s);
}

/*
 * Allocate up to @n free slots, preferring ones that read back together
 * well; each is held by this process alone, with a count of 1. Fills
 * @slots[0..ret) and returns how many (> 0), or -ENOSPC when the store is
 * full, or -EAGAIN in a process that may not use the store (a child whose
 * fork got no share of it). Thread-safe.
 */
static inline int store_alloc(struct store *s, unsigned int n, uint64_t *slots)
{
	return s->ops->alloc(s, n, slots);
}

/* Take another reference on an allocated slot. A free slot is a caller's
 * bug: logged, nothing changes. Thread-safe. */
static inline void store_get(struct store *s, uint64_t slot)
{
	s->ops->get(s, slot);
}

/* Drop one of this process's references; the slot is free when nobody
 * holds it any more. Thread-safe. */
static inline void store_put(struct store *s, uint64_t slot)
{
	s->ops->put(s, slot);
}

/* The slot's total reference count (0: free; 1: only this process holds
 * it, once: it may be rewritten in place). Thread-safe. */
static inline uint32_t store_refcount(struct store *s, uint64_t slot)
{
	return s->ops->refcount(s, slot);
}

/* True when @page (one page) is what the slot's last completed write put
 * there, by its checksum: a page swapped in and unmodified since is then
 * dropped without I/O. False after a failed write. Thread-safe. */
static inline bool store_slot_matches(struct store *s, uint64_t slot, const void *page)
{
	return s->ops->slot_matches(s, slot, page);
}

/* Drop the references of processes that left without closing the store.
 * Returns the slots freed. Thread-safe. */
static inline uint64_t store_reap(struct store *s)
{
	return s->ops->reap(s);
}

/* Statistics (see struct store_stats); exact after a holder died. */
static inline void store_stats_read(struct store *s, struct store_stats *out)
{
	s->ops->stats_read(s, out);
}

/* Latency histograms of whole batches, nanoseconds; per process. */
static inline struct hist *store_read_hist(struct store *s)
{
	return &s->read_ns;
}

static inline struct hist *store_write_hist(struct store *s)
{
	return &s->write_ns;
}

/* Memory the store itself holds in this process (a compressed tier's
 * pool): the frame budget gives up as many frames while it does, so the
 * pool counts against the cap. 0 for a store that keeps pages elsewhere.
 * Thread-safe, cheap (no lock: a value at most a moment old). */
static inline size_t store_resident_bytes(struct store *s)
{
	return s->ops->resident_bytes ? s->ops->resident_bytes(s) : 0;
}

/*
 * Fork protocol, from the pager's pthread_atfork handlers. prepare may
 * return -EAGAIN (the child will have no share of the store: every later
 * call there fails cleanly); parent runs whatever prepare returned and
 * even if fork() failed; child runs first thing in the child and returns
 * 0 or -errno (then the child is no holder either).
 */
static inline int store_fork_prepare(struct store *s)
{
	return s->ops->fork_prepare(s);
}

static inline void store_fork_parent(struct store *s)
{
	s->ops->fork_parent(s);
}

static inline int store_fork_child(struct store *s)
{
	return s->ops->fork_child(s);
}

/*
 * An I/O context for one thread, able to keep @depth requests in flight.
 * Returns 0, -EAGAIN in a process that may not use the store, or -errno
 * (logged).
 */
static inline int store_io_new(struct store *s, unsigned int depth, struct store_io **out)
{
	return s->ops->io_new(s, depth, out);
}

/* NULL is fine. */
static inline void store_io_free(struct store_io *io)
{
	if (io)
		io->store->ops->io_free(io);
}

/* In a forked child, free a store_io its parent created without touching
 * what the parent still uses. NULL is fine. */
static inline void store_io_forget(struct store_io *io)
{
	if (io)
		io->store->ops->io_forget(io);
}

/*
 * Write @n pages: pages[i] (page-aligned, one page) to slots[i], all
 * submitted together; returns when all have completed. Returns 0, or
 * -EIO (the failed slots never "match"), or -EAGAIN (nothing written) in a
 * process that may not use the store.
 */
static inline int store_write(struct store_io *io, const uint64_t *slots, void *const *pages,
			      unsigned int n)
{
	return io->store->ops->write(io, slots, pages, n);
}

/*
 * Read @n slots into pages[i], verified against each slot's checksum.
 * results[i] is 0, -EBADMSG (the data fails its checksum: it must not be
 * used), -EIO (or another -errno), or -EAGAIN (a process that may not use
 * the store: nothing read). Returns 0 when every result is 0, else the
 * first error.
 */
static inline int store_read(struct store_io *io, const uint64_t *slots, void *const *pages,
			     unsigned int n, int *results)
{
	return io->store->ops->read(io, slots, pages, n, results);
}

/* For an implementation's read in a process that may not use the store:
 * every result -EAGAIN, nothing read. */
static inline int store_read_refused(unsigned int n, int *results)
{
	for (unsigned int i = 0; i < n; i++)
		results[i] = -EAGAIN;
	return n ? -EAGAIN : 0;
}

#endif /* UPAGER_STORE_H */
