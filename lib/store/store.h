/* SPDX-License-Identifier: MIT */
/*
 * store.h - the swap store: a file of page-sized slots, written and read
 * through io_uring, with a reference count and a checksum per slot, shared
 * by a process and the children it forks.
 *
 * Slots are allocated in clusters (STORE_CLUSTER_SLOTS consecutive slots),
 * next-fit from a cursor, so pages evicted together land together on disk
 * and can be read back with one large I/O, as the kernel's swap clusters
 * do. A cluster whose slots are all free again is returned to the file
 * system (FALLOC_FL_PUNCH_HOLE), so disk use falls back to its baseline.
 *
 * Each slot carries an XXH3-128 checksum of the page last written to it,
 * kept in memory. A read whose data does not match is reported as
 * -EBADMSG and its data must never be served. The same checksum answers
 * "is this page still what the slot holds?" (store_slot_matches()), which
 * is how a page swapped in and not modified since is dropped without I/O.
 *
 * Sharing across fork. A forked child keeps using its parent's store: it
 * needs the slots that held its swapped-out pages at the fork, and both
 * processes go on allocating and freeing slots of the same file. So the
 * allocation state (which slots are free, their checksums, the cursor,
 * the store-wide statistics) lives in one shared memory object that every
 * process of the family maps, under one process-shared robust mutex.
 *
 * Each process using the store is a *holder* (at most STORE_HOLDERS at a
 * time). A slot records which holders hold it (a 64-bit mask); each
 * process counts its own references to a slot privately. A slot is free
 * when no holder holds it. A holder that dies or execs without closing the
 * store is found out by the next store_reap() (also run when the store is
 * full, when statistics are read and at every fork), and its references
 * are dropped as if it had closed the store. The store file is unlinked as
 * soon as it is created (unless kept), so it disappears with the last
 * process that has it open, however that process ends.
 *
 * Fork protocol (the pager calls these from its pthread_atfork handlers):
 *   prepare (parent, before fork): store_fork_prepare()
 *   parent  (parent, after fork):  store_fork_parent()
 *   child   (child, after fork):   store_fork_child(), then
 *                                  store_io_forget() on every store_io
 *                                  inherited from the parent.
 * The child inherits the parent's references: each slot the parent holds
 * at the fork is held by the child too, with the same count.
 *
 * Locking: slot allocation, reference counts and checksums are guarded by
 * the store's shared mutex; any thread of any holder may call them. I/O
 * goes through a struct store_io, one per thread (one io_uring each, no
 * locking).
 */
#ifndef UPAGER_STORE_H
#define UPAGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stats.h"

#define STORE_CLUSTER_SLOTS 64u
#define STORE_NO_SLOT UINT64_MAX
/* Processes that can share one store at a time (bits of a slot's mask). */
#define STORE_HOLDERS 64u

struct store;
struct store_io;

struct store_config {
	/* File to create (O_CREAT | O_EXCL, mode 0600), or an existing
	 * directory to make a fresh file in; NULL: a fresh file under
	 * $TMPDIR (or /var/tmp). */
	const char *path;
	uint64_t capacity; /* bytes; rounded down to whole clusters; > 0 */
	/* Leave the file at its path. Otherwise it is unlinked as soon as it
	 * is created: only the processes holding the store reach it. */
	bool keep;
	bool preallocate;  /* fallocate the whole capacity up front */
};

/*
 * Store-wide fields describe the whole file, whichever holder did what;
 * per-process fields count this process's own work (a forked child starts
 * them from zero).
 */
struct store_stats {
	uint64_t capacity_slots;     /* store-wide */
	uint64_t slots_in_use;       /* store-wide: slots some holder holds */
	uint64_t slots_peak;         /* store-wide */
	uint64_t pages_written;      /* per process */
	uint64_t pages_read;         /* per process */
	uint64_t write_ios;          /* per process: I/O requests submitted (after coalescing) */
	uint64_t read_ios;           /* per process */
	uint64_t checksum_failures;  /* per process: reads answered -EBADMSG */
	uint64_t io_errors;          /* per process */
	uint64_t clusters_punched;   /* store-wide */
	uint32_t holders;            /* store-wide: processes sharing the store (forks in progress included) */
	bool direct_io;              /* O_DIRECT in use */
};

/*
 * Create the store file and make the calling process its first holder.
 * Returns 0, or -EINVAL (capacity below one cluster), -EEXIST (path
 * exists and is not a directory; logged), -errno from open/unlink/fallocate/memfd_create/mmap (logged).
 * Nothing is left on disk on failure.
 */
int store_open(const struct store_config *cfg, unsigned long page_size,
	       struct store **out);

/*
 * Give back every reference this process holds (slots no other holder
 * holds become free, wholly free clusters are punched) and leave the
 * store. Never removes or truncates the file: unlinked at open, it goes
 * away with its last user. In a process that is not a holder (a child
 * whose fork got no holder) it only releases descriptors and memory.
 * NULL is fine. Not concurrent with any other call on @s.
 */
void store_close(struct store *s);

/* The path the file was created under (for log messages; unless
 * cfg->keep, nothing is there any more). */
const char *store_path(const struct store *s);

/* The store file's descriptor (tests reach the unlinked file through
 * /proc/self/fd/N). Owned by the store. */
int store_fd(const struct store *s);

/*
 * Allocate up to @n free slots, preferring consecutive slots in the
 * current cluster; each is held by this process alone, with a count of 1.
 * Fills @slots[0..ret) and returns how many (> 0), or -ENOSPC when no slot
 * is free even after store_reap(), or -EAGAIN in a process that is not a
 * holder. Thread-safe.
 */
int store_alloc(struct store *s, unsigned int n, uint64_t *slots);

/* Take another reference on an allocated slot (this process becomes one
 * of its holders if it was not). A free slot is a caller's bug: logged,
 * nothing changes. No-op in a process that is not a holder. Thread-safe. */
void store_get(struct store *s, uint64_t slot);

/* Drop one of this process's references; at zero the process no longer
 * holds the slot, and when no holder does, the slot is free (and its
 * cluster punched if it is then wholly free). No-op in a process that is
 * not a holder. Thread-safe. */
void store_put(struct store *s, uint64_t slot);

/*
 * The slot's total reference count: this process's count plus one for
 * every other holder of it (0: free). So 1 means "this process holds it
 * once and nobody else does": only then may it be rewritten in place.
 * Thread-safe.
 */
uint32_t store_refcount(struct store *s, uint64_t slot);

/* True when @page (page_size bytes) hashes to the checksum recorded for
 * @slot by its last completed write. False in a process that is not a
 * holder. Thread-safe. */
bool store_slot_matches(struct store *s, uint64_t slot, const void *page);

/* Byte offset of @slot in the file (for tests that corrupt it). */
uint64_t store_slot_offset(const struct store *s, uint64_t slot);

/* Statistics (see struct store_stats). Reaps first, so the store-wide
 * figures are exact after a holder died. Thread-safe. */
void store_stats_read(struct store *s, struct store_stats *out);

/* Latency histograms of whole batches, nanoseconds; per process. */
struct hist *store_read_hist(struct store *s);
struct hist *store_write_hist(struct store *s);

/*
 * Find holders that died or exec'd without closing the store, and drop
 * their references: slots nobody else holds become free and their wholly
 * free clusters are punched. A child killed before store_fork_child() is
 * found too, once the fork is over. Returns the slots freed (logged at
 * info level per holder); 0 in a process that is not a holder.
 * Thread-safe.
 */
uint64_t store_reap(struct store *s);

/*
 * Fork protocol, from pthread_atfork handlers (see the top of this file).
 *
 * store_fork_prepare(): takes the store's lock (held until
 * store_fork_parent() in the parent; a child never releases it), reaps,
 * and sets up a holder for the child holding everything this process
 * holds. Returns 0, or -EAGAIN when STORE_HOLDERS processes already share
 * the store (or this process is not a holder): the lock is taken all the
 * same, and the child will have no holder.
 *
 * store_fork_parent(): in the parent, whatever prepare returned and even
 * if fork() failed (a child that never came to be is reaped later).
 *
 * store_fork_child(): in the child, single-threaded, before any other
 * call on @s. Waits for the parent to leave store_fork_parent(), then
 * makes the child its holder. Per-process statistics start from zero.
 * Returns 0, or -EAGAIN when prepare found no holder, or -errno from
 * fcntl (logged); on failure the child is not a holder, and every later
 * call on @s fails cleanly (-EAGAIN, no-op, false, 0) without touching
 * any holder's slots; only store_close() and store_io_forget() are of use.
 * A child that never calls it is not a holder either.
 */
int store_fork_prepare(struct store *s);
void store_fork_parent(struct store *s);
int store_fork_child(struct store *s);

/*
 * An I/O context: one io_uring of @depth entries. Create one per thread
 * that does I/O. Returns 0, -EAGAIN in a process that is not a holder, or
 * -errno (logged).
 */
int store_io_new(struct store *s, unsigned int depth, struct store_io **out);
void store_io_free(struct store_io *io);

/*
 * In a forked child, free a store_io its parent created, leaving the
 * parent's ring alone: the child's mappings of the ring and its copy of
 * the ring descriptor go, nothing is submitted, reaped or unregistered.
 * NULL is fine.
 */
void store_io_forget(struct store_io *io);

/*
 * Write @n pages to @slots: pages[i] (page-aligned, page_size bytes) goes
 * to slots[i]. Runs of consecutive slots whose buffers are also
 * consecutive in memory are coalesced into one request; all requests are
 * submitted together, and the call returns when all have completed.
 * On success each slot's checksum is updated. Returns 0 or -EIO (the
 * checksums of failed slots are left invalid, so they never "match"), or
 * -EAGAIN (nothing written) in a process that is not a holder.
 */
int store_write(struct store_io *io, const uint64_t *slots, void *const *pages,
		unsigned int n);

/*
 * Read @n slots into pages[i], coalescing and submitting as store_write()
 * does, and verify each page against its slot's checksum. results[i] is
 * 0, -EBADMSG (checksum mismatch: the data must not be used), -EIO, or
 * -EAGAIN (in a process that is not a holder: nothing read).
 * Returns 0 when every result is 0, else the first error.
 */
int store_read(struct store_io *io, const uint64_t *slots, void *const *pages,
	       unsigned int n, int *results);

#endif /* UPAGER_STORE_H */
