/* SPDX-License-Identifier: MIT */
/*
 * store.h - the swap store: a file of page-sized slots, written and read
 * through io_uring, with a reference count and a checksum per slot.
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
 * Locking: slot allocation, reference counts and checksums are guarded by
 * the store's own mutex; any thread may call them. I/O goes through a
 * struct store_io, one per thread (one io_uring each, no locking).
 */
#ifndef UPAGER_STORE_H
#define UPAGER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define STORE_CLUSTER_SLOTS 64u
#define STORE_NO_SLOT UINT64_MAX

struct store;
struct store_io;

struct store_config {
	/* File to create (O_CREAT | O_EXCL, mode 0600); NULL: a fresh file
	 * under $TMPDIR (or /var/tmp). */
	const char *path;
	uint64_t capacity; /* bytes; rounded down to whole clusters; > 0 */
	bool keep;         /* leave the file in place at close */
	bool preallocate;  /* fallocate the whole capacity up front */
};

struct store_stats {
	uint64_t capacity_slots;
	uint64_t slots_in_use;       /* slots with a reference count > 0 */
	uint64_t slots_peak;
	uint64_t pages_written;
	uint64_t pages_read;
	uint64_t write_ios;          /* I/O requests submitted (after coalescing) */
	uint64_t read_ios;
	uint64_t checksum_failures;  /* reads answered -EBADMSG */
	uint64_t io_errors;
	uint64_t clusters_punched;
	bool direct_io;              /* O_DIRECT in use */
};

/*
 * Create the store file. Returns 0, or -EINVAL (capacity below one
 * cluster), -EEXIST (path exists), -errno from open/fallocate (logged).
 */
int store_open(const struct store_config *cfg, unsigned long page_size,
	       struct store **out);

/* Close, and remove the file unless cfg->keep. NULL is fine. */
void store_close(struct store *s);

/*
 * From now on, change nothing on disk: no hole is punched and the file is
 * not removed at close. For a forked child, whose copy of the store's
 * state describes a file its parent still uses; call it only from a
 * single-threaded child (it takes no lock).
 */
void store_abandon(struct store *s);

/* The file's path (for tests and tools). */
const char *store_path(const struct store *s);

/*
 * Allocate up to @n free slots, preferring consecutive slots in the
 * current cluster; each comes with a reference count of 1. Fills
 * @slots[0..ret) and returns how many (> 0), or -ENOSPC when no slot is
 * free. Thread-safe.
 */
int store_alloc(struct store *s, unsigned int n, uint64_t *slots);

/* Take another reference on an allocated slot. Thread-safe. */
void store_get(struct store *s, uint64_t slot);

/* Drop a reference; at zero the slot is free (and its cluster punched if
 * it is then wholly free). Thread-safe. */
void store_put(struct store *s, uint64_t slot);

/* The slot's reference count (0: free). Thread-safe. */
uint32_t store_refcount(struct store *s, uint64_t slot);

/* True when @page (page_size bytes) hashes to the checksum recorded for
 * @slot by its last completed write. Thread-safe. */
bool store_slot_matches(struct store *s, uint64_t slot, const void *page);

/* Byte offset of @slot in the file (for tests that corrupt it). */
uint64_t store_slot_offset(const struct store *s, uint64_t slot);

void store_stats_read(struct store *s, struct store_stats *out);

/* Latency histograms of whole batches, nanoseconds. */
struct hist *store_read_hist(struct store *s);
struct hist *store_write_hist(struct store *s);

/*
 * An I/O context: one io_uring of @depth entries. Create one per thread
 * that does I/O. Returns 0 or -errno (logged).
 */
int store_io_new(struct store *s, unsigned int depth, struct store_io **out);
void store_io_free(struct store_io *io);

/*
 * Write @n pages to @slots: pages[i] (page-aligned, page_size bytes) goes
 * to slots[i]. Runs of consecutive slots whose buffers are also
 * consecutive in memory are coalesced into one request; all requests are
 * submitted together, and the call returns when all have completed.
 * On success each slot's checksum is updated. Returns 0 or -EIO (the
 * checksums of failed slots are left invalid, so they never "match").
 */
int store_write(struct store_io *io, const uint64_t *slots, void *const *pages,
		unsigned int n);

/*
 * Read @n slots into pages[i], coalescing and submitting as store_write()
 * does, and verify each page against its slot's checksum. results[i] is
 * 0, -EBADMSG (checksum mismatch: the data must not be used) or -EIO.
 * Returns 0 when every result is 0, else the first error.
 */
int store_read(struct store_io *io, const uint64_t *slots, void *const *pages,
	       unsigned int n, int *results);

#endif /* UPAGER_STORE_H */
