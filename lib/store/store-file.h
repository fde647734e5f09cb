/* SPDX-License-Identifier: MIT */
/*
 * store-file.h - the file store, the swap store behind store.h's seam: a
 * file of page-sized slots, written and read through io_uring, with a
 * reference count and a checksum per slot, shared by a process and the
 * children it forks. Only the pager's open and the tests name it; the
 * engine reaches it through struct store_ops.
 *
 * Slots are allocated in clusters (STORE_CLUSTER_SLOTS consecutive slots),
 * next-fit from a cursor, so pages evicted together land together on disk
 * and can be read back with one large I/O, as the kernel's swap clusters
 * do. The cursor cycles over a window of clusters about twice those in
 * use, not the whole store, so the per-slot tables in memory grow with the
 * slots in use. A cluster whose slots are all free again is returned to
 * the file system (FALLOC_FL_PUNCH_HOLE), so disk use falls back to its
 * baseline.
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
#ifndef UPAGER_STORE_FILE_H
#define UPAGER_STORE_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_CLUSTER_SLOTS 64u
/* Clusters next-fit may cycle over beyond twice those in use
 * (store.c: cluster_window()). */
#define STORE_WINDOW_MIN_CLUSTERS 64u
/* Processes that can share one store at a time (bits of a slot's mask). */
#define STORE_HOLDERS 64u

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
 * Create the store file and make the calling process its first holder.
 * Returns 0, or -EINVAL (capacity below one cluster), -EEXIST (path
 * exists and is not a directory; logged), -errno from open/unlink/fallocate/memfd_create/mmap (logged).
 * Nothing is left on disk on failure. store_close() closes it.
 */
int file_store_open(const struct store_config *cfg, unsigned long page_size,
		    struct store **out);

/* Is @s a file store? (The two calls below take only file stores.) */
bool store_is_file(const struct store *s);

/* The store file's descriptor (tests reach the unlinked file through
 * /proc/self/fd/N). Owned by the store. */
int file_store_fd(const struct store *s);

/* Byte offset of @slot in the file (for tests that corrupt it). */
uint64_t file_store_slot_offset(const struct store *s, uint64_t slot);

#endif /* UPAGER_STORE_FILE_H */
