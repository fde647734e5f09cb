/* SPDX-License-Identifier: MIT */
/*
 * store-internal.h - what the three files of the swap store share, and
 * nothing else may use (other modules have store.h): the shared state of a
 * fork family, struct file_store, the lock, and the few helpers one file calls
 * in another. store.c owns the file, the shared state and the slots;
 * store-holders.c the processes that share them (holders, reaping, fork);
 * store-io.c the io_uring I/O.
 *
 * Shared state. What the processes of a fork family must agree on lives in
 * one memfd that every holder maps MAP_SHARED (a child inherits the
 * mapping): a header (the lock, the cursor, the store-wide counters, the
 * holder table), then the tables, each at a page-aligned offset:
 *
 *   [0, page)           lock area: byte h carries holder h's record lock
 *   header              struct store_shared
 *   mask[nslots]        bit h set <=> holder h holds the slot; 0: free
 *   sum[nslots]         checksum of the slot's data, when its valid bit is set
 *   valid[nslots / 64]  bitmap: sum describes the slot's data
 *   cfree[nclusters]    free slots per cluster
 *   avail, whole, dirty bitmaps per cluster (struct store_shared)
 *
 * Only touched pages take memory, so the tables cost in proportion to the
 * slots in use. A process's own reference counts are private (count[],
 * MAP_PRIVATE, so a child inherits a copy: exactly its references). For a
 * holder h in process P: bit h of mask[slot] is set <=> P's count[slot] > 0.
 *
 * Holders are FREE, EMBRYO (made by a fork's prepare for the child to
 * come) or LIVE. A LIVE holder h keeps a POSIX record lock on byte h of
 * the lock area. POSIX locks are not inherited by fork and go away when
 * their process exits or execs (the memfd is close-on-exec, and closing it
 * drops the process's locks), so F_GETLK finding no lock there means the
 * holder is gone. An EMBRYO is guarded the other way round: a description
 * of the guard memfd opened for this one fork, inherited by the child,
 * holds an OFD lock on byte h. The parent closes its copy after the fork
 * and the child its own once LIVE, so the guard disappears when fork()
 * failed or the child died before it could become LIVE, and that embryo is
 * reaped like a dead holder. (It is a separate inode: closing any
 * descriptor of the state memfd would drop this process's POSIX lock.)
 */
#ifndef UPAGER_STORE_INTERNAL_H
#define UPAGER_STORE_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <xxhash.h>

#include "core/log.h"
#include "core/stats.h"
#include "store/store-file.h"
#include "store/store.h"

#define NO_HOLDER (-1)

enum holder_state {
	HOLDER_FREE = 0,        /* zero: a fresh memfd has only free holders */
	HOLDER_EMBRYO,          /* a fork's child to come; holds what its parent held */
	HOLDER_LIVE,            /* a process; byte h of the lock area is locked */
};

struct store_holder {
	uint32_t state;         /* enum holder_state */
	int32_t pid;            /* LIVE: its process; otherwise 0 */
	/* The cluster it is punching with the lock dropped (hidden from
	 * allocation meanwhile), or STORE_NO_SLOT. */
	uint64_t punching;
	bool guarded;           /* EMBRYO: byte h of the guard memfd is OFD-locked */
};

/*
 * The header of the shared state. Everything in it and in the tables is
 * guarded by `lock`. Per cluster, outside a punch:
 *   avail bit  <=> cfree > 0
 *   whole bit  <=> cfree == STORE_CLUSTER_SLOTS
 *   dirty bit  <=  slots of it were allocated since it was last punched
 *                  (it may have blocks on disk)
 * A cluster being punched is wholly free with avail and whole clear, so no
 * allocation can land in it, and its puncher's `punching` names it.
 */
struct store_shared {
	pthread_mutex_t lock;   /* process-shared, robust */
	uint64_t cursor;        /* cluster being filled, or STORE_NO_SLOT */
	uint32_t cursor_next;   /* next slot offset to try in it */
	uint64_t hint;          /* where the next-fit search for a cluster starts */
	bool punch_off;         /* the file system cannot punch holes */
	bool sweep;             /* a holder left: wholly free clusters may have blocks */
	uint64_t in_use;        /* slots some holder holds */
	uint64_t peak;
	uint64_t punched;
	struct store_holder holder[STORE_HOLDERS];
};

struct file_store {
	struct store base;      /* first: the seam's view of it */
	int fd;                 /* the store file */
	int mfd;                /* memfd of the shared state; holders' record locks */
	int guard_fd;           /* memfd whose byte h guards embryo h (OFD locks) */
	char *path;             /* owned; where the file was created */
	bool direct_io;
	bool guard_warned;
	unsigned long page_size;
	uint64_t nslots;
	uint64_t nclusters;

	/* The shared mapping (see the top of this file) and its tables. */
	void *map;
	size_t map_len;
	struct store_shared *sh;
	uint64_t *mask;         /* per slot: its holders */
	XXH128_hash_t *sum;     /* per slot */
	uint64_t *valid;        /* bitmap per slot */
	uint8_t *cfree;         /* per cluster: free slots, 0..STORE_CLUSTER_SLOTS */
	uint64_t *avail;        /* bitmaps per cluster */
	uint64_t *whole;
	uint64_t *dirty;

	/* This process's own, guarded by sh->lock. */
	uint32_t *count;        /* per slot: this process's references */
	int self;               /* our holder, or NO_HOLDER */
	pid_t pid;              /* the process that is holder `self` */
	/*
	 * A fork in progress, from fstore_fork_prepare() to _parent() or
	 * _child(): the holder made for the child (or NO_HOLDER) and our
	 * description of the guard memfd that locks its guard byte (or -1).
	 * fork_pending stays set in a child that never calls
	 * fstore_fork_child(), which is then no holder.
	 */
	bool fork_pending;
	int fork_child;
	int embryo_fd;

	_Atomic uint64_t pages_written;
	_Atomic uint64_t pages_read;
	_Atomic uint64_t write_ios;
	_Atomic uint64_t read_ios;
	/* io_uring_enter() calls that submitted requests, and the requests
	 * (SQEs, resubmissions of short transfers included) they submitted:
	 * each call is at least one doorbell to the device. */
	_Atomic uint64_t write_submits;
	_Atomic uint64_t write_sqes;
	_Atomic uint64_t read_submits;
	_Atomic uint64_t read_sqes;
	_Atomic uint64_t checksum_failures;
	_Atomic uint64_t io_errors;
};

static inline void bit_set(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ull << (i % 64);
}

static inline void bit_clear(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ull << (i % 64));
}

static inline bool bit_test(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

/* ---- the shared state: lock, holders ------------------------------------ */

/* The one way to take the store's lock. A process that died holding it
 * may have left its last change half done; it was short (no lock is held
 * across I/O), and going on beats stopping every process of the family. */
static inline void shared_lock(struct file_store *s)
{
	int err = pthread_mutex_lock(&s->sh->lock);

	if (err == EOWNERDEAD) {
		log_warn("store: %s: a process died holding the store's lock; going on",
			 s->path);
		pthread_mutex_consistent(&s->sh->lock);
	} else if (err) {
		log_error("store: %s: lock: %s", s->path, strerror(err));
	}
}

static inline void shared_unlock(struct file_store *s)
{
	pthread_mutex_unlock(&s->sh->lock);
}

/* May this process use its references? Not in a child that got no
 * holder at the fork, nor in one that has not become its holder yet.
 * Lock held (or no other thread). */
static inline bool is_holder(const struct file_store *s)
{
	return s->self != NO_HOLDER && !s->fork_pending;
}

static inline uint64_t own_bit(const struct file_store *s)
{
	return 1ull << s->self;
}

/* Lock held. */
static inline bool sum_matches(const struct file_store *s, uint64_t slot, XXH128_hash_t h)
{
	return bit_test(s->valid, slot) && XXH128_isEqual(s->sum[slot], h);
}

/* ---- clusters and slots (store.c) ---------------------------------------- */

enum cluster_kind {
	CLUSTER_USED,           /* not wholly free: may hold some holder's slots */
	CLUSTER_UNPUNCHED,      /* wholly free, but may have blocks on disk */
};

/* First cluster of kind @k at or after @from, or STORE_NO_SLOT. Lock held. */
uint64_t store_cluster_find(const struct file_store *s, enum cluster_kind k, uint64_t from);
/* @slot, whose mask has just become 0, is free. Returns true when its
 * cluster is then wholly free. Lock held. */
bool store_slot_free(struct file_store *s, uint64_t slot);
/* Punch the wholly free clusters that departed holders left with blocks.
 * Lock held by a holder; dropped around each punch. */
void store_sweep(struct file_store *s);
/* A slot the caller may name: in range, allocated and, when @ours, held
 * by this process. Logs the caller's bug otherwise. Lock held. */
bool store_slot_is_held(struct file_store *s, uint64_t slot, const char *what, bool ours);

/* ---- holders (store-holders.c) ------------------------------------------- */

/* Lock (F_WRLCK) or unlock (F_UNLCK) byte @h of the lock area: 0 or -errno. */
int store_holder_lock(struct file_store *s, int h, short type);
/* Take holder @h off every slot, freeing the slots nobody else holds.
 * Lock held, never dropped. Returns the slots freed. */
uint64_t store_holder_clear(struct file_store *s, unsigned int h);
/* Holder @h, holding no slot any more, is FREE. Lock held. */
void store_holder_release(struct file_store *s, unsigned int h);
/* Drop every holder that is gone. Lock held, by a holder, never dropped.
 * Returns the slots freed. */
uint64_t store_reap_locked(struct file_store *s);

/* ---- the file store's side of the seam: the ops table's members -------- */

extern const struct store_ops file_store_ops;

static inline struct file_store *fstore_of(struct store *st)
{
	return (struct file_store *)st;
}

static inline const struct file_store *fstore_const_of(const struct store *st)
{
	return (const struct file_store *)st;
}

int fstore_open(const struct store_config *cfg, unsigned long page_size,
		struct file_store **out);
uint64_t fstore_slot_offset(const struct file_store *s, uint64_t slot);
/* The ops (store.h says what each does). */
void fstore_close(struct store *st);
const char *fstore_path(const struct store *st);
int fstore_alloc(struct store *st, unsigned int n, uint64_t *slots);
void fstore_get(struct store *st, uint64_t slot);
void fstore_put(struct store *st, uint64_t slot);
uint32_t fstore_refcount(struct store *st, uint64_t slot);
bool fstore_slot_matches(struct store *st, uint64_t slot, const void *page);
void fstore_stats_read(struct store *st, struct store_stats *out);
uint64_t fstore_reap(struct store *st);
int fstore_fork_prepare(struct store *st);
void fstore_fork_parent(struct store *st);
int fstore_fork_child(struct store *st);
int fstore_io_new(struct store *st, unsigned int depth, struct store_io **out);
void fstore_io_free(struct store_io *sio);
void fstore_io_forget(struct store_io *sio);
int fstore_write(struct store_io *sio, const uint64_t *slots, void *const *pages,
		 unsigned int n);
int fstore_read(struct store_io *sio, const uint64_t *slots, void *const *pages,
		unsigned int n, int *results);

#endif
