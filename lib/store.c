/* SPDX-License-Identifier: MIT */
/*
 * store.c - the swap store: slot allocation in clusters, reference counts
 * and checksums, shared by a process and the children it forks, and the
 * I/O that moves pages between memory and the store file through io_uring.
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
 *
 * Reaping runs in two phases so that a reaper dying halfway leaves nothing
 * inconsistent behind: first, with the lock held throughout, the dead
 * holder's bit is taken off every slot (freeing those nobody else holds)
 * and the holder becomes FREE; then the sweep punches wholly free clusters
 * one at a time, the lock dropped around each fallocate as store_put()
 * does. A holder records the cluster it is punching, so a cluster hidden
 * by a holder that died punching it is shown again by its reaper.
 *
 * A struct store_io runs batches: it splits the pages into runs that are
 * consecutive both on disk and in memory, submits one request per run,
 * keeps at most `depth` requests in flight, and resubmits the remainder of
 * short or interrupted transfers. Everything it needs is allocated when it
 * is created, so the fault path never calls malloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "store.h"

#define STORE_IO_DEFAULT_DEPTH 64u
/* Pages per chunk of a batch: the checksums and per-page status of one
 * chunk live in the store_io, so a batch of any size needs no malloc. */
#define STORE_IO_CHUNK 1024u
/* -EAGAIN/-EINTR completions resubmitted before a request is failed. */
#define STORE_IO_RETRIES 1000u
/* Per-page status of a chunk before its I/O: to be transferred. */
#define IO_TODO 1

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

struct store {
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
	 * A fork in progress, from store_fork_prepare() to _parent() or
	 * _child(): the holder made for the child (or NO_HOLDER) and our
	 * description of the guard memfd that locks its guard byte (or -1).
	 * fork_pending stays set in a child that never calls
	 * store_fork_child(), which is then no holder.
	 */
	bool fork_pending;
	int fork_child;
	int embryo_fd;

	_Atomic uint64_t pages_written;
	_Atomic uint64_t pages_read;
	_Atomic uint64_t write_ios;
	_Atomic uint64_t read_ios;
	_Atomic uint64_t checksum_failures;
	_Atomic uint64_t io_errors;
	struct hist read_ns;
	struct hist write_ns;
};

/* One request: pages [first, first + count) of the current chunk, stored
 * in one run of the file. */
struct io_req {
	char *buf;
	uint64_t off;
	uint32_t len;           /* bytes */
	uint32_t done;          /* bytes already transferred */
	unsigned int first;
	unsigned int count;
	unsigned int retries;
	bool busy;              /* taken from free_reqs */
};

/* The first failure of a batch, logged once at its end. */
struct io_fail {
	unsigned int n;         /* failed pages */
	uint64_t slot;
	uint64_t off;
	int err;
};

struct store_io {
	struct store *s;
	struct io_uring ring;
	bool fixed_file;        /* the store's fd is registered as file 0 */
	bool broken;            /* the ring failed; every I/O answers -EIO */
	unsigned int depth;     /* requests in flight at most */
	unsigned int outstanding; /* requests taken from free_reqs */
	struct io_req *reqs;    /* [depth] */
	unsigned int *free_reqs; /* [depth], a stack of unused reqs */
	unsigned int nfree;
	XXH128_hash_t *sums;    /* [STORE_IO_CHUNK] */
	int *status;            /* [STORE_IO_CHUNK], per page of a write chunk */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bit_set(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ull << (i % 64);
}

static void bit_clear(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ull << (i % 64));
}

static bool bit_test(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

/* Set bits [0, nbits), and no more. */
static void bit_fill(uint64_t *map, uint64_t nbits)
{
	memset(map, 0xff, nbits / 64 * sizeof(uint64_t));
	if (nbits % 64)
		map[nbits / 64] = (1ull << (nbits % 64)) - 1;
}

/* First set bit in [from, nbits), or STORE_NO_SLOT. */
static uint64_t bit_find(const uint64_t *map, uint64_t nbits, uint64_t from)
{
	uint64_t w = from / 64, word;

	if (from >= nbits)
		return STORE_NO_SLOT;
	word = map[w] & (~0ull << (from % 64));
	for (;;) {
		if (word) {
			uint64_t i = w * 64 + (uint64_t)__builtin_ctzll(word);

			return i < nbits ? i : STORE_NO_SLOT;
		}
		if (++w >= (nbits + 63) / 64)
			return STORE_NO_SLOT;
		word = map[w];
	}
}

/* Next-fit: first set bit at or after @from, wrapping around. */
static uint64_t bit_find_wrap(const uint64_t *map, uint64_t nbits, uint64_t from)
{
	uint64_t i = bit_find(map, nbits, from);

	return i != STORE_NO_SLOT || !from ? i : bit_find(map, nbits, 0);
}

/* ---- the shared state: lock, holders ------------------------------------ */

/* The one way to take the store's lock. A process that died holding it
 * may have left its last change half done; it was short (no lock is held
 * across I/O), and going on beats stopping every process of the family. */
static void shared_lock(struct store *s)
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

static void shared_unlock(struct store *s)
{
	pthread_mutex_unlock(&s->sh->lock);
}

/* May this process use its references? Not in a child that got no
 * holder at the fork, nor in one that has not become its holder yet.
 * Lock held (or no other thread). */
static bool is_holder(const struct store *s)
{
	return s->self != NO_HOLDER && !s->fork_pending;
}

static bool holder_check(struct store *s)
{
	bool ok;

	shared_lock(s);
	ok = is_holder(s);
	shared_unlock(s);
	return ok;
}

static uint64_t own_bit(const struct store *s)
{
	return 1ull << s->self;
}

/* Lock (F_WRLCK) or unlock (F_UNLCK) byte @h of the lock area. */
static int holder_lock(struct store *s, int h, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = h, .l_len = 1 };

	return fcntl(s->mfd, F_SETLK, &fl) < 0 ? -errno : 0;
}

/* Has holder @h (not ourselves) died, exec'd, or never started? A LIVE
 * holder's process holds its byte of the lock area, an EMBRYO's guard its
 * byte of the guard memfd. Our own locks never conflict with our test, so
 * the answer is about other processes only. Lock held. */
static bool holder_is_gone(struct store *s, unsigned int h)
{
	const struct store_holder *hd = &s->sh->holder[h];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = h, .l_len = 1 };
	int fd, err;

	if (hd->state == HOLDER_LIVE)
		fd = s->mfd;
	else if (hd->state == HOLDER_EMBRYO && hd->guarded)
		fd = s->guard_fd;
	else
		return false;
	err = fcntl(fd, F_GETLK, &fl) < 0 ? -errno : 0;
	if (err) {
		log_warn("store: %s: test holder %u: %s", s->path, h, strerror(-err));
		return false;
	}
	return fl.l_type == F_UNLCK;
}

/* ---- clusters and slots -------------------------------------------------- */

enum cluster_kind {
	CLUSTER_USED,           /* not wholly free: may hold some holder's slots */
	CLUSTER_UNPUNCHED,      /* wholly free, but may have blocks on disk */
};

static uint64_t cluster_word(const struct store *s, enum cluster_kind k, uint64_t w)
{
	return k == CLUSTER_USED ? ~s->whole[w] : s->whole[w] & s->dirty[w];
}

/* First cluster of kind @k at or after @from, or STORE_NO_SLOT. Lock held. */
static uint64_t cluster_find(const struct store *s, enum cluster_kind k, uint64_t from)
{
	uint64_t words = (s->nclusters + 63) / 64, w = from / 64, word;

	if (from >= s->nclusters)
		return STORE_NO_SLOT;
	word = cluster_word(s, k, w) & (~0ull << (from % 64));
	for (;;) {
		if (word) {
			uint64_t c = w * 64 + (uint64_t)__builtin_ctzll(word);

			return c < s->nclusters ? c : STORE_NO_SLOT;
		}
		if (++w >= words)
			return STORE_NO_SLOT;
		word = cluster_word(s, k, w);
	}
}

/* A new cluster to fill: next-fit from the last one, wholly free ones
 * first so a stream of evictions lands contiguously. Lock held. */
static uint64_t cluster_pick(struct store *s)
{
	uint64_t c = bit_find_wrap(s->whole, s->nclusters, s->sh->hint);

	if (c == STORE_NO_SLOT)
		c = bit_find_wrap(s->avail, s->nclusters, s->sh->hint);
	return c;
}

/* Return the wholly free cluster @c to the file system. Lock held (by a
 * holder); dropped around the fallocate, with the cluster hidden from
 * allocation and recorded as ours to show again should we die there. */
static void cluster_punch(struct store *s, uint64_t c)
{
	struct store_shared *sh = s->sh;
	uint64_t len = s->page_size * STORE_CLUSTER_SLOTS;
	int ret;

	bit_clear(s->whole, c);
	bit_clear(s->avail, c);
	sh->holder[s->self].punching = c;
	shared_unlock(s);
	ret = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)(c * len), (off_t)len);
	if (ret < 0)
		ret = -errno;
	shared_lock(s);
	sh->holder[s->self].punching = STORE_NO_SLOT;
	bit_set(s->whole, c);
	bit_set(s->avail, c);
	if (!ret) {
		sh->punched++;
		bit_clear(s->dirty, c);
	} else if (ret == -EOPNOTSUPP || ret == -ENOSYS) {
		if (!sh->punch_off)
			log_warn("store: %s cannot punch holes: freed slots keep their disk space",
				 s->path);
		sh->punch_off = true;
	} else {
		log_warn("store: punch cluster %" PRIu64 " of %s: %s", c, s->path,
			 strerror(-ret));
	}
}

/* Punch the wholly free clusters that departed holders left with blocks
 * (store_put() punches its own as it goes). The cluster being filled is
 * punched too, and is then no longer the cursor. Lock held by a holder;
 * dropped around each punch. */
static void sweep(struct store *s)
{
	struct store_shared *sh = s->sh;

	if (!sh->sweep)
		return;
	sh->sweep = false;
	for (uint64_t c = cluster_find(s, CLUSTER_UNPUNCHED, 0);
	     c != STORE_NO_SLOT && !sh->punch_off;
	     c = cluster_find(s, CLUSTER_UNPUNCHED, c + 1)) {
		if (c == sh->cursor)
			sh->cursor = STORE_NO_SLOT;
		cluster_punch(s, c);
	}
}

/* Mark @slot allocated to this process. Lock held. */
static void slot_take(struct store *s, uint64_t slot)
{
	struct store_shared *sh = s->sh;
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	s->mask[slot] = own_bit(s);
	s->count[slot] = 1;
	bit_clear(s->valid, slot);
	bit_set(s->dirty, c);
	if (s->cfree[c]-- == STORE_CLUSTER_SLOTS)
		bit_clear(s->whole, c);
	if (!s->cfree[c])
		bit_clear(s->avail, c);
	if (++sh->in_use > sh->peak)
		sh->peak = sh->in_use;
}

/* @slot, whose mask has just become 0, is free. Returns true when its
 * cluster is then wholly free. Lock held. */
static bool slot_free(struct store *s, uint64_t slot)
{
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	bit_clear(s->valid, slot);
	s->sh->in_use--;
	bit_set(s->avail, c);
	if (++s->cfree[c] < STORE_CLUSTER_SLOTS)
		return false;
	bit_set(s->whole, c);
	return true;
}

/*
 * The free slot of cluster @c at or after @off, wrapping inside the
 * cluster. cfree[c] > 0 says there is one; should a process have died
 * halfway through a change and left it saying so wrongly, the cluster is
 * set right rather than searched forever. Lock held.
 */
static int cluster_free_slot(struct store *s, uint64_t c, uint32_t off)
{
	uint64_t base = c * STORE_CLUSTER_SLOTS;

	for (uint32_t n = 0; n < STORE_CLUSTER_SLOTS; n++, off = (off + 1) % STORE_CLUSTER_SLOTS)
		if (!s->mask[base + off])
			return (int)off;
	log_error("store: %s: cluster %" PRIu64 " has no free slot but counted %u; corrected",
		  s->path, c, s->cfree[c]);
	s->cfree[c] = 0;
	bit_clear(s->avail, c);
	bit_clear(s->whole, c);
	return -1;
}

/* Up to @n slots, as store_alloc() describes. Lock held, by a holder. */
static unsigned int alloc_locked(struct store *s, unsigned int n, uint64_t *slots)
{
	struct store_shared *sh = s->sh;
	unsigned int got = 0;

	while (got < n) {
		uint64_t c = sh->cursor, base;

		if (c == STORE_NO_SLOT) {
			c = cluster_pick(s);
			if (c == STORE_NO_SLOT)
				break;
			sh->cursor = c;
			sh->cursor_next = 0;
		}
		/* Free slots of the cluster in order from where the last
		 * allocation stopped, wrapping inside the cluster. */
		base = c * STORE_CLUSTER_SLOTS;
		while (got < n && s->cfree[c]) {
			int off = cluster_free_slot(s, c, sh->cursor_next);

			if (off < 0)
				break;
			slot_take(s, base + (uint64_t)off);
			slots[got++] = base + (uint64_t)off;
			sh->cursor_next = ((uint32_t)off + 1) % STORE_CLUSTER_SLOTS;
		}
		if (!s->cfree[c]) {
			sh->cursor = STORE_NO_SLOT;
			sh->hint = c + 1 < s->nclusters ? c + 1 : 0;
		}
	}
	return got;
}

/* ---- holders: leaving, reaping ------------------------------------------ */

/* Take holder @h off every slot, freeing the slots nobody else holds.
 * Lock held, never dropped. Returns the slots freed. */
static uint64_t holder_clear(struct store *s, unsigned int h)
{
	uint64_t bit = 1ull << h, freed = 0;

	for (uint64_t c = cluster_find(s, CLUSTER_USED, 0); c != STORE_NO_SLOT;
	     c = cluster_find(s, CLUSTER_USED, c + 1)) {
		uint64_t base = c * STORE_CLUSTER_SLOTS;

		for (uint64_t slot = base; slot < base + STORE_CLUSTER_SLOTS; slot++) {
			if (!(s->mask[slot] & bit))
				continue;
			s->mask[slot] &= ~bit;
			if (!s->mask[slot]) {
				freed++;
				if (slot_free(s, slot))
					s->sh->sweep = true;
			}
		}
	}
	return freed;
}

/* Holder @h, holding no slot any more, is FREE. A cluster it was punching
 * when it died is shown again (its blocks may be left: sweep). Lock held. */
static void holder_release(struct store *s, unsigned int h)
{
	struct store_holder *hd = &s->sh->holder[h];

	if (hd->punching != STORE_NO_SLOT) {
		bit_set(s->whole, hd->punching);
		bit_set(s->avail, hd->punching);
		s->sh->sweep = true;
	}
	*hd = (struct store_holder){ .state = HOLDER_FREE, .punching = STORE_NO_SLOT };
}

/* Drop every holder that is gone (see holder_is_gone()). Lock held, by a
 * holder, never dropped. Returns the slots freed. */
static uint64_t reap_locked(struct store *s)
{
	uint64_t total = 0;

	for (unsigned int h = 0; h < STORE_HOLDERS; h++) {
		const struct store_holder *hd = &s->sh->holder[h];
		bool embryo = hd->state == HOLDER_EMBRYO;
		int pid = hd->pid;
		uint64_t n;

		if ((int)h == s->self || !holder_is_gone(s, h))
			continue;
		n = holder_clear(s, h);
		holder_release(s, h);
		log_info("store: reaped holder %u (pid %d%s): %" PRIu64 " slots", h, pid,
			 embryo ? ", a fork child that never started" : "", n);
		total += n;
	}
	return total;
}

uint64_t store_reap(struct store *s)
{
	uint64_t n = 0;

	shared_lock(s);
	if (is_holder(s)) {
		n = reap_locked(s);
		sweep(s);
	}
	shared_unlock(s);
	return n;
}

/* ---- opening and closing ---------------------------------------------- */

static int create_file(const struct store_config *cfg, char **pathp)
{
	const char *dir;
	char *path;
	int fd, err;

	if (cfg->path) {
		path = strdup(cfg->path);
		if (!path)
			return -ENOMEM;
		/* Buffered first, O_DIRECT after (see enable_direct()). */
		fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	} else {
		/* Not /tmp: it is often tmpfs, and swapping memory to memory
		 * frees nothing. */
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/var/tmp";
		if (asprintf(&path, "%s/upager-swap-XXXXXX", dir) < 0)
			return -ENOMEM;
		fd = mkostemp(path, O_CLOEXEC);
	}
	if (fd < 0) {
		err = -errno;
		if (err != -EEXIST)
			log_error("store: create %s: %s", path, strerror(-err));
		free(path);
		return err;
	}
	*pathp = path;
	return fd;
}

/*
 * O_DIRECT keeps swapped pages out of the page cache, which would
 * otherwise hold a second copy of the very memory being evicted. It is
 * turned on after the file exists rather than passed to open(): a file
 * system without O_DIRECT (ramfs, some FUSE) creates the file and only
 * then refuses the open with EINVAL, so a buffered retry with O_EXCL
 * would meet its own file.
 */
static bool enable_direct(int fd, const char *path)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0)
		return true;
	log_info("store: %s: no O_DIRECT here (%s), using buffered I/O", path,
		 strerror(errno));
	return false;
}

static size_t page_up(size_t n, unsigned long page_size)
{
	return (n + page_size - 1) & ~(size_t)(page_size - 1);
}

/*
 * The shared state, wholly free: a memfd laid out as the top of this file
 * says, mapped MAP_NORESERVE so only the pages touched take memory (the
 * per-slot tables take 24 bytes a slot: 48 MiB of address space for
 * 8 GiB). What is not zero when free is initialised here: the lock, the
 * cursor, and per cluster (a byte and two bits each) cfree, avail, whole.
 */
static int shared_new(struct store *s)
{
	unsigned long pg = s->page_size;
	uint64_t swords = (s->nslots + 63) / 64, cwords = (s->nclusters + 63) / 64;
	size_t off = pg; /* the lock area */
	size_t o_hdr, o_mask, o_sum, o_valid, o_cfree, o_avail, o_whole, o_dirty;
	pthread_mutexattr_t attr;
	char *m;
	int err;

	o_hdr = off;
	off += page_up(sizeof(struct store_shared), pg);
	o_mask = off;
	off += page_up(s->nslots * sizeof(*s->mask), pg);
	o_sum = off;
	off += page_up(s->nslots * sizeof(*s->sum), pg);
	o_valid = off;
	off += page_up(swords * sizeof(uint64_t), pg);
	o_cfree = off;
	off += page_up(s->nclusters, pg);
	o_avail = off;
	off += page_up(cwords * sizeof(uint64_t), pg);
	o_whole = off;
	off += page_up(cwords * sizeof(uint64_t), pg);
	o_dirty = off;
	off += page_up(cwords * sizeof(uint64_t), pg);

	s->mfd = memfd_create("upager-store", MFD_CLOEXEC);
	if (s->mfd < 0 || ftruncate(s->mfd, (off_t)off) < 0)
		goto out_errno;
	s->guard_fd = memfd_create("upager-store-guard", MFD_CLOEXEC);
	if (s->guard_fd < 0)
		goto out_errno;
	m = mmap(NULL, off, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, s->mfd, 0);
	if (m == MAP_FAILED)
		goto out_errno;
	s->map = m;
	s->map_len = off;
	s->sh = (struct store_shared *)(m + o_hdr);
	s->mask = (uint64_t *)(m + o_mask);
	s->sum = (XXH128_hash_t *)(m + o_sum);
	s->valid = (uint64_t *)(m + o_valid);
	s->cfree = (uint8_t *)(m + o_cfree);
	s->avail = (uint64_t *)(m + o_avail);
	s->whole = (uint64_t *)(m + o_whole);
	s->dirty = (uint64_t *)(m + o_dirty);

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	err = pthread_mutex_init(&s->sh->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (err) {
		log_error("store: shared mutex: %s", strerror(err));
		return -err;
	}
	s->sh->cursor = STORE_NO_SLOT;
	for (unsigned int h = 0; h < STORE_HOLDERS; h++)
		s->sh->holder[h].punching = STORE_NO_SLOT;
	memset(s->cfree, STORE_CLUSTER_SLOTS, s->nclusters);
	bit_fill(s->avail, s->nclusters);
	bit_fill(s->whole, s->nclusters);
	return 0;

out_errno:
	err = -errno;
	log_error("store: shared state (%zu bytes): %s", off, strerror(-err));
	return err;
}

/* This process's reference counts: MAP_NORESERVE, so only the pages of
 * slots it has used take memory; MAP_PRIVATE, so a child gets a copy. */
static void *table_new(uint64_t n, size_t size)
{
	void *t = mmap(NULL, n * size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return t == MAP_FAILED ? NULL : t;
}

/* Release what this process has of @s; the shared state is left as is. */
static void store_free(struct store *s)
{
	if (s->map)
		munmap(s->map, s->map_len);
	if (s->count)
		munmap(s->count, s->nslots * sizeof(*s->count));
	if (s->embryo_fd >= 0)
		close(s->embryo_fd);
	if (s->guard_fd >= 0)
		close(s->guard_fd);
	if (s->mfd >= 0)
		close(s->mfd);
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s);
}

int store_open(const struct store_config *cfg, unsigned long page_size,
	       struct store **out)
{
	uint64_t cluster_bytes = (uint64_t)page_size * STORE_CLUSTER_SLOTS;
	struct store *s;
	off_t bytes;
	int err;

	if (!cfg || !page_size || (page_size & (page_size - 1)) ||
	    cfg->capacity / cluster_bytes == 0 ||
	    cfg->capacity / cluster_bytes > (uint64_t)INT64_MAX / cluster_bytes)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = s->mfd = s->guard_fd = s->embryo_fd = -1;
	s->self = s->fork_child = NO_HOLDER;
	s->page_size = page_size;
	s->nclusters = cfg->capacity / cluster_bytes;
	s->nslots = s->nclusters * STORE_CLUSTER_SLOTS;
	err = shared_new(s);
	if (err)
		goto out_free;
	s->count = table_new(s->nslots, sizeof(*s->count));
	if (!s->count) {
		err = -ENOMEM;
		goto out_free;
	}

	err = create_file(cfg, &s->path);
	if (err < 0)
		goto out_free;
	s->fd = err;
	/* Gone from the directory at once: the file lives exactly as long as
	 * some process of the family has it open, however they end. */
	if (!cfg->keep && unlink(s->path) < 0) {
		err = -errno;
		log_error("store: remove %s: %s", s->path, strerror(-err));
		goto out_free;
	}
	/* open()'s mode passes through the umask, which may take bits we
	 * need (or, set permissively elsewhere, is no help): say it exactly. */
	if (fchmod(s->fd, 0600) < 0) {
		err = -errno;
		log_error("store: chmod %s: %s", s->path, strerror(-err));
		goto out_unlink;
	}
	s->direct_io = enable_direct(s->fd, s->path);

	bytes = (off_t)(s->nslots * page_size);
	if (cfg->preallocate) {
		if (fallocate(s->fd, 0, 0, bytes) < 0) {
			err = -errno;
			log_error("store: preallocate %s (%" PRIu64 " bytes): %s", s->path,
				  (uint64_t)bytes, strerror(-err));
			goto out_unlink;
		}
	} else if (ftruncate(s->fd, bytes) < 0) {
		err = -errno;
		log_error("store: size %s to %" PRIu64 " bytes: %s", s->path,
			  (uint64_t)bytes, strerror(-err));
		goto out_unlink;
	}

	err = holder_lock(s, 0, F_WRLCK);
	if (err) {
		log_error("store: %s: lock holder 0: %s", s->path, strerror(-err));
		goto out_unlink;
	}
	s->sh->holder[0] = (struct store_holder){
		.state = HOLDER_LIVE,
		.pid = (int32_t)getpid(),
		.punching = STORE_NO_SLOT,
	};
	s->self = 0;
	s->pid = getpid();
	*out = s;
	return 0;

out_unlink:
	/* The caller gets no store, so nothing of it is left behind. */
	if (cfg->keep)
		unlink(s->path);
out_free:
	store_free(s);
	return err;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	/* Not concurrent with other calls: no lock needed to know who we are.
	 * A process that is not holder `self` (a child that never became a
	 * holder) touches nothing shared. */
	if (is_holder(s) && s->pid == getpid()) {
		shared_lock(s);
		holder_clear(s, (unsigned int)s->self);
		/* Every wholly free cluster, the one being filled included:
		 * nothing of a free slot is left on disk. */
		s->sh->sweep = true;
		sweep(s);
		/* Before FREE: a child made holder `self` must find it unlocked. */
		holder_lock(s, s->self, F_UNLCK);
		holder_release(s, (unsigned int)s->self);
		shared_unlock(s);
	}
	store_free(s);
}

const char *store_path(const struct store *s)
{
	return s->path;
}

int store_fd(const struct store *s)
{
	return s->fd;
}

uint64_t store_slot_offset(const struct store *s, uint64_t slot)
{
	return slot * s->page_size;
}

/* ---- slots ---------------------------------------------------------------- */

int store_alloc(struct store *s, unsigned int n, uint64_t *slots)
{
	unsigned int got = 0;

	shared_lock(s);
	if (!is_holder(s)) {
		shared_unlock(s);
		return -EAGAIN;
	}
	got = alloc_locked(s, n, slots);
	/* Full: perhaps of slots only a dead holder held. No sweep: what is
	 * freed is about to be written again. */
	if (!got && n && reap_locked(s))
		got = alloc_locked(s, n, slots);
	shared_unlock(s);
	return got ? (int)got : -ENOSPC;
}

/* A slot the caller may name: in range, allocated and, when @ours, held
 * by this process. Logs the caller's bug otherwise. Lock held. */
static bool slot_is_held(struct store *s, uint64_t slot, const char *what, bool ours)
{
	if (slot >= s->nslots) {
		log_error("store: %s of slot %" PRIu64 ": out of range (%" PRIu64 " slots)",
			  what, slot, s->nslots);
		return false;
	}
	if (!s->mask[slot]) {
		log_error("store: %s of free slot %" PRIu64, what, slot);
		return false;
	}
	if (ours && !s->count[slot]) {
		log_error("store: %s of slot %" PRIu64 ", which this process does not hold",
			  what, slot);
		return false;
	}
	return true;
}

void store_get(struct store *s, uint64_t slot)
{
	shared_lock(s);
	if (is_holder(s) && slot_is_held(s, slot, "get", false)) {
		if (s->count[slot] == UINT32_MAX)
			log_error("store: get of slot %" PRIu64 ": count overflow", slot);
		else if (!s->count[slot]++)
			s->mask[slot] |= own_bit(s);
	}
	shared_unlock(s);
}

void store_put(struct store *s, uint64_t slot)
{
	struct store_shared *sh = s->sh;
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	shared_lock(s);
	if (!is_holder(s) || !slot_is_held(s, slot, "put", true) || --s->count[slot])
		goto out_unlock;
	s->mask[slot] &= ~own_bit(s);
	if (s->mask[slot] || !slot_free(s, slot))
		goto out_unlock;
	/* Wholly free. The cluster being filled is left alone: it is about
	 * to be written again, and punching it would race with nothing but
	 * cost a fallocate per slot when one slot is taken and put in turn. */
	if (c != sh->cursor && !sh->punch_off && bit_test(s->dirty, c))
		cluster_punch(s, c);
out_unlock:
	shared_unlock(s);
}

uint32_t store_refcount(struct store *s, uint64_t slot)
{
	uint32_t ref = 0;

	shared_lock(s);
	if (slot < s->nslots) {
		uint64_t others = s->mask[slot], n = 0;

		if (is_holder(s)) {
			others &= ~own_bit(s);
			n = s->count[slot];
		}
		n += (uint64_t)__builtin_popcountll(others);
		ref = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	} else {
		log_error("store: refcount of slot %" PRIu64 ": out of range", slot);
	}
	shared_unlock(s);
	return ref;
}

/* Lock held. */
static bool sum_matches(const struct store *s, uint64_t slot, XXH128_hash_t h)
{
	return bit_test(s->valid, slot) && XXH128_isEqual(s->sum[slot], h);
}

bool store_slot_matches(struct store *s, uint64_t slot, const void *page)
{
	XXH128_hash_t h;
	bool match;

	if (slot >= s->nslots)
		return false;
	h = XXH3_128bits(page, s->page_size);
	shared_lock(s);
	match = is_holder(s) && sum_matches(s, slot, h);
	shared_unlock(s);
	return match;
}

void store_stats_read(struct store *s, struct store_stats *out)
{
	struct store_shared *sh = s->sh;
	uint32_t holders = 0;

	shared_lock(s);
	if (is_holder(s)) {
		reap_locked(s);
		sweep(s);
	}
	for (unsigned int h = 0; h < STORE_HOLDERS; h++)
		holders += sh->holder[h].state != HOLDER_FREE;
	*out = (struct store_stats){
		.capacity_slots = s->nslots,
		.slots_in_use = sh->in_use,
		.slots_peak = sh->peak,
		.clusters_punched = sh->punched,
		.holders = holders,
		.direct_io = s->direct_io,
	};
	shared_unlock(s);
	out->pages_written = stat_get(&s->pages_written);
	out->pages_read = stat_get(&s->pages_read);
	out->write_ios = stat_get(&s->write_ios);
	out->read_ios = stat_get(&s->read_ios);
	out->checksum_failures = stat_get(&s->checksum_failures);
	out->io_errors = stat_get(&s->io_errors);
}

struct hist *store_read_hist(struct store *s)
{
	return &s->read_ns;
}

struct hist *store_write_hist(struct store *s)
{
	return &s->write_ns;
}

/* ---- fork ------------------------------------------------------------------ */

/*
 * Guard embryo @c: a description of the guard memfd of this fork's own,
 * OFD-locked on byte c, which the child inherits. Without /proc there is
 * no way to open one; the embryo is then reaped only once it is LIVE.
 * Lock held.
 */
static bool embryo_guard(struct store *s, unsigned int c)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = c, .l_len = 1 };
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->guard_fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	err = fd < 0 ? -errno : fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
	if (!err) {
		s->embryo_fd = fd;
		return true;
	}
	if (!s->guard_warned)
		log_warn("store: %s: cannot guard a fork's child (%s): one that dies before "
			 "it starts keeps its slots until the store is gone",
			 s->path, strerror(-err));
	s->guard_warned = true;
	if (fd >= 0)
		close(fd);
	return false;
}

int store_fork_prepare(struct store *s)
{
	struct store_shared *sh = s->sh;
	bool holder;
	uint64_t own, bit;
	int c = NO_HOLDER;

	shared_lock(s);
	holder = is_holder(s);
	s->fork_pending = true;
	s->fork_child = NO_HOLDER;
	/* A guard inherited by a child that never became a holder guards
	 * nothing of ours: let its embryo be reaped. */
	if (s->embryo_fd >= 0)
		close(s->embryo_fd);
	s->embryo_fd = -1;
	/* On every return the lock stays taken, until store_fork_parent(). */
	if (!holder)
		return -EAGAIN;
	reap_locked(s);
	for (unsigned int h = 0; h < STORE_HOLDERS && c == NO_HOLDER; h++)
		if (sh->holder[h].state == HOLDER_FREE)
			c = (int)h;
	if (c == NO_HOLDER)
		return -EAGAIN;
	sh->holder[c] = (struct store_holder){
		.state = HOLDER_EMBRYO,
		.punching = STORE_NO_SLOT,
	};
	sh->holder[c].guarded = embryo_guard(s, (unsigned int)c);
	/* The child will inherit our counts: it holds what we hold. */
	own = own_bit(s);
	bit = 1ull << c;
	for (uint64_t cl = cluster_find(s, CLUSTER_USED, 0); cl != STORE_NO_SLOT;
	     cl = cluster_find(s, CLUSTER_USED, cl + 1))
		for (uint64_t slot = cl * STORE_CLUSTER_SLOTS;
		     slot < (cl + 1) * STORE_CLUSTER_SLOTS; slot++)
			if (s->mask[slot] & own)
				s->mask[slot] |= bit;
	s->fork_child = c;
	return 0;
}

void store_fork_parent(struct store *s)
{
	/* Our copy of the guard goes; the child's keeps it (if fork() failed,
	 * there is none, and the embryo is reaped). */
	if (s->embryo_fd >= 0)
		close(s->embryo_fd);
	s->embryo_fd = -1;
	s->fork_child = NO_HOLDER;
	s->fork_pending = false;
	shared_unlock(s);
}

/* A child's I/O is its own. */
static void stats_reset(struct store *s)
{
	atomic_store(&s->pages_written, 0);
	atomic_store(&s->pages_read, 0);
	atomic_store(&s->write_ios, 0);
	atomic_store(&s->read_ios, 0);
	atomic_store(&s->checksum_failures, 0);
	atomic_store(&s->io_errors, 0);
	memset(&s->read_ns, 0, sizeof(s->read_ns));
	memset(&s->write_ns, 0, sizeof(s->write_ns));
}

/*
 * Becoming LIVE takes the lock, which the parent holds until
 * store_fork_parent(): every change of the shared state is then made under
 * the lock, and a reaper (which tests a holder's lock and reads its state
 * under the lock) can never see the moment between our record lock and
 * LIVE, nor LIVE before the record lock. If the parent dies first, the
 * robust lock comes to us as EOWNERDEAD; its prepare was complete.
 */
int store_fork_child(struct store *s)
{
	struct store_shared *sh = s->sh;
	int c = s->fork_child, err;
	pid_t pid = getpid();

	stats_reset(s);
	s->fork_child = NO_HOLDER;
	if (c == NO_HOLDER) {
		s->self = NO_HOLDER;
		s->fork_pending = false;
		return -EAGAIN;
	}
	shared_lock(s);
	s->fork_pending = false;
	err = holder_lock(s, c, F_WRLCK);
	if (err) {
		log_error("store: %s: lock holder %d in a fork's child (pid %d): %s; "
			  "the child gets no swap", s->path, c, (int)pid, strerror(-err));
		holder_clear(s, (unsigned int)c);
		holder_release(s, (unsigned int)c);
		s->self = NO_HOLDER;
	} else {
		sh->holder[c] = (struct store_holder){
			.state = HOLDER_LIVE,
			.pid = (int32_t)pid,
			.punching = STORE_NO_SLOT,
		};
		s->self = c;
		s->pid = pid;
	}
	shared_unlock(s);
	/* LIVE now (or gone): the guard has done its work. */
	if (s->embryo_fd >= 0)
		close(s->embryo_fd);
	s->embryo_fd = -1;
	return err;
}

/* ---- I/O ------------------------------------------------------------------ */

int store_io_new(struct store *s, unsigned int depth, struct store_io **out)
{
	struct store_io *io;
	int err;

	if (!holder_check(s))
		return -EAGAIN;
	if (!depth)
		depth = STORE_IO_DEFAULT_DEPTH;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->s = s;
	io->depth = depth;
	io->reqs = calloc(depth, sizeof(*io->reqs));
	io->free_reqs = calloc(depth, sizeof(*io->free_reqs));
	io->sums = calloc(STORE_IO_CHUNK, sizeof(*io->sums));
	io->status = calloc(STORE_IO_CHUNK, sizeof(*io->status));
	if (!io->reqs || !io->free_reqs || !io->sums || !io->status) {
		err = -ENOMEM;
		goto out_free;
	}
	for (unsigned int i = 0; i < depth; i++)
		io->free_reqs[i] = depth - 1 - i;
	io->nfree = depth;

	/* Completions are reaped by the submitting thread only, so it need
	 * not be interrupted to run their task work. */
	err = io_uring_queue_init(depth, &io->ring, IORING_SETUP_COOP_TASKRUN);
	if (err == -EINVAL)
		err = io_uring_queue_init(depth, &io->ring, 0);
	if (err) {
		log_error("store: io_uring with %u entries: %s", depth, strerror(-err));
		goto out_free;
	}
	/* A registered file spares a file table lookup per request. */
	io->fixed_file = io_uring_register_files(&io->ring, &s->fd, 1) == 0;
	*out = io;
	return 0;

out_free:
	free(io->reqs);
	free(io->free_reqs);
	free(io->sums);
	free(io->status);
	free(io);
	return err;
}

static void io_release(struct store_io *io)
{
	/*
	 * For a ring whose descriptor was never registered with
	 * io_uring_register_ring_fd() (the store never does), liburing's
	 * io_uring_queue_exit() only unmaps the SQEs and the rings and closes
	 * the ring descriptor: no io_uring_enter(), no io_uring_register().
	 * That is all store_io_forget() may do to a parent's ring.
	 */
	io_uring_queue_exit(&io->ring);
	free(io->reqs);
	free(io->free_reqs);
	free(io->sums);
	free(io->status);
	free(io);
}

void store_io_free(struct store_io *io)
{
	if (io)
		io_release(io);
}

void store_io_forget(struct store_io *io)
{
	/* The parent's requests in flight are the parent's: none is waited
	 * for or reaped here, and the parent's own descriptor keeps the ring
	 * and its registered file alive. */
	if (io)
		io_release(io);
}

static void fail_note(struct io_fail *f, uint64_t slot, uint64_t off, int err,
		      unsigned int pages)
{
	if (!f->n) {
		f->slot = slot;
		f->off = off;
		f->err = err;
	}
	f->n += pages;
}

/* Queue @r's remaining bytes. An SQE is always free: the SQ has at least
 * depth entries and at most depth requests are outstanding. */
static void req_queue(struct store_io *io, struct io_req *r, bool write)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	int fd = io->fixed_file ? 0 : io->s->fd;

	if (write)
		io_uring_prep_write(sqe, fd, r->buf + r->done, r->len - r->done,
				    r->off + r->done);
	else
		io_uring_prep_read(sqe, fd, r->buf + r->done, r->len - r->done,
				   r->off + r->done);
	if (io->fixed_file)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, (uint64_t)(r - io->reqs));
}

/* Pages wholly transferred before an error are good; the rest fail. */
static void req_finish(struct store_io *io, struct io_req *r, int err, int *st,
		       const uint64_t *slots, struct io_fail *fail)
{
	unsigned int good = err ? (unsigned int)(r->done / io->s->page_size) : r->count;

	for (unsigned int k = 0; k < r->count; k++)
		st[r->first + k] = k < good ? 0 : -EIO;
	if (good < r->count) {
		fail_note(fail, slots[r->first + good], r->off + r->done, err,
			  r->count - good);
		stat_add(&io->s->io_errors, r->count - good);
	}
	r->busy = false;
	io->free_reqs[io->nfree++] = (unsigned int)(r - io->reqs);
	io->outstanding--;
}

static void req_complete(struct store_io *io, struct io_uring_cqe *cqe, bool write,
			 int *st, const uint64_t *slots, struct io_fail *fail)
{
	struct io_req *r = &io->reqs[io_uring_cqe_get_data64(cqe)];
	int res = cqe->res;

	io_uring_cqe_seen(&io->ring, cqe);
	if ((res == -EAGAIN || res == -EINTR) && ++r->retries < STORE_IO_RETRIES) {
		req_queue(io, r, write);
		return;
	}
	if (res > 0 && (uint32_t)res < r->len - r->done) {
		/* Short: go on from where it stopped. */
		r->done += (uint32_t)res;
		req_queue(io, r, write);
		return;
	}
	/* Nothing transferred without an error: end of file or no progress;
	 * either way the pages are not where they should be. */
	req_finish(io, r, res < 0 ? res : res == 0 ? -EIO : 0, st, slots, fail);
}

/*
 * Submit what is queued, wait for at least one completion and reap all
 * that are there. When the ring itself fails, every outstanding request
 * is finished as failed and the ring is retired (io->broken): unsubmitted
 * SQEs must never reach the kernel later, when their buffers belong to
 * someone else.
 */
static void ring_reap(struct store_io *io, bool write, int *st,
		      const uint64_t *slots, struct io_fail *fail)
{
	struct io_uring_cqe *cqe;
	int ret;

	for (;;) {
		ret = io_uring_submit_and_wait(&io->ring, 1);
		if (ret >= 0)
			break;
		if (ret == -EINTR)
			continue;
		if (ret == -EAGAIN || ret == -EBUSY) {
			/* Short of resources: let completions drain. */
			if (io_uring_peek_cqe(&io->ring, &cqe) == 0)
				break;
			sched_yield();
			continue;
		}
		goto out_broken;
	}
	while (io_uring_peek_cqe(&io->ring, &cqe) == 0)
		req_complete(io, cqe, write, st, slots, fail);
	return;

out_broken:
	log_error("store: io_uring submit: %s; this I/O context is retired",
		  strerror(-ret));
	io->broken = true;
	/* Requests the kernel has must complete before their buffers are
	 * handed back; queued ones are simply dropped. */
	for (unsigned int left = io->outstanding - io_uring_sq_ready(&io->ring); left;) {
		ret = io_uring_wait_cqe(&io->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			log_error("store: io_uring wait: %s; %u request(s) abandoned",
				  strerror(-ret), left);
			break;
		}
		io_uring_cqe_seen(&io->ring, cqe);
		left--;
	}
	for (unsigned int i = 0; i < io->depth; i++)
		if (io->reqs[i].busy)
			req_finish(io, &io->reqs[i], -EIO, st, slots, fail);
}

/*
 * Transfer pages [0, n) (n <= STORE_IO_CHUNK) whose st[i] is IO_TODO,
 * coalescing runs, and leave st[i] = 0 or -EIO. Returns the requests
 * submitted.
 */
static unsigned int io_chunk(struct store_io *io, bool write, const uint64_t *slots,
			     void *const *pages, unsigned int n, int *st,
			     struct io_fail *fail)
{
	struct store *s = io->s;
	unsigned int ios = 0;

	for (unsigned int i = 0, j; i < n && !io->broken; i = j) {
		struct io_req *r;

		if (st[i] != IO_TODO) {
			j = i + 1;
			continue;
		}
		for (j = i + 1; j < n && st[j] == IO_TODO && slots[j] == slots[j - 1] + 1 &&
				(char *)pages[j] == (char *)pages[j - 1] + s->page_size;
		     j++)
			;
		while (!io->nfree && !io->broken)
			ring_reap(io, write, st, slots, fail);
		if (io->broken)
			break;
		r = &io->reqs[io->free_reqs[--io->nfree]];
		io->outstanding++;
		*r = (struct io_req){
			.buf = pages[i],
			.off = store_slot_offset(s, slots[i]),
			.len = (uint32_t)((j - i) * s->page_size),
			.first = i,
			.count = j - i,
			.busy = true,
		};
		req_queue(io, r, write);
		ios++;
	}
	while (io->outstanding && !io->broken)
		ring_reap(io, write, st, slots, fail);
	/* A retired ring submits nothing more. */
	for (unsigned int i = 0; i < n; i++) {
		if (st[i] == IO_TODO) {
			st[i] = -EIO;
			fail_note(fail, slots[i], store_slot_offset(s, slots[i]), -EIO, 1);
			stat_add(&s->io_errors, 1);
		}
	}
	return ios;
}

static void fail_log(const struct store *s, const char *what, const struct io_fail *f)
{
	if (f->n)
		log_error("store: %s of slot %" PRIu64 " (offset %" PRIu64 ") in %s: %s"
			  " (%u page(s) failed in this batch)",
			  what, f->slot, f->off, s->path, strerror(-f->err), f->n);
}

int store_write(struct store_io *io, const uint64_t *slots, void *const *pages,
		unsigned int n)
{
	struct store *s = io->s;
	struct io_fail fail = { 0 };
	uint64_t t0 = now_ns(), written = 0, ios = 0;
	int ret = 0;

	if (!holder_check(s))
		return -EAGAIN;
	for (unsigned int base = 0; base < n; base += STORE_IO_CHUNK) {
		unsigned int m = n - base < STORE_IO_CHUNK ? n - base : STORE_IO_CHUNK;
		const uint64_t *sl = slots + base;
		int *st = io->status;

		/* The old contents are going away: until the write is known
		 * to be complete, the slot matches nothing. */
		shared_lock(s);
		for (unsigned int i = 0; i < m; i++) {
			st[i] = slot_is_held(s, sl[i], "write", true) ? IO_TODO : -EINVAL;
			if (st[i] == IO_TODO)
				bit_clear(s->valid, sl[i]);
		}
		shared_unlock(s);
		for (unsigned int i = 0; i < m; i++)
			if (st[i] == IO_TODO)
				io->sums[i] = XXH3_128bits(pages[base + i], s->page_size);
		ios += io_chunk(io, true, sl, pages + base, m, st, &fail);

		shared_lock(s);
		for (unsigned int i = 0; i < m; i++) {
			if (st[i]) {
				ret = -EIO;
				continue;
			}
			written++;
			/* Put while being written: not ours to describe. */
			if (!s->count[sl[i]])
				continue;
			s->sum[sl[i]] = io->sums[i];
			bit_set(s->valid, sl[i]);
		}
		shared_unlock(s);
	}
	stat_add(&s->pages_written, written);
	stat_add(&s->write_ios, ios);
	if (n)
		hist_record(&s->write_ns, now_ns() - t0);
	fail_log(s, "write", &fail);
	return ret;
}

int store_read(struct store_io *io, const uint64_t *slots, void *const *pages,
	       unsigned int n, int *results)
{
	struct store *s = io->s;
	struct io_fail fail = { 0 }, bad = { 0 };
	uint64_t t0 = now_ns(), good = 0, ios = 0;
	int ret = 0;

	if (!holder_check(s)) {
		for (unsigned int i = 0; i < n; i++)
			results[i] = -EAGAIN;
		return n ? -EAGAIN : 0;
	}
	for (unsigned int base = 0; base < n; base += STORE_IO_CHUNK) {
		unsigned int m = n - base < STORE_IO_CHUNK ? n - base : STORE_IO_CHUNK;
		const uint64_t *sl = slots + base;
		int *st = results + base;

		/* A slot with no known contents cannot be verified: no I/O. */
		shared_lock(s);
		for (unsigned int i = 0; i < m; i++) {
			if (sl[i] >= s->nslots) {
				log_error("store: read of slot %" PRIu64 ": out of range", sl[i]);
				st[i] = -EIO;
			} else {
				st[i] = bit_test(s->valid, sl[i]) ? IO_TODO : -EBADMSG;
			}
		}
		shared_unlock(s);
		ios += io_chunk(io, false, sl, pages + base, m, st, &fail);

		for (unsigned int i = 0; i < m; i++)
			if (!st[i])
				io->sums[i] = XXH3_128bits(pages[base + i], s->page_size);
		shared_lock(s);
		for (unsigned int i = 0; i < m; i++)
			if (!st[i] && !sum_matches(s, sl[i], io->sums[i]))
				st[i] = -EBADMSG;
		shared_unlock(s);

		for (unsigned int i = 0; i < m; i++) {
			if (!st[i]) {
				good++;
				continue;
			}
			if (!ret)
				ret = st[i];
			if (st[i] == -EBADMSG) {
				stat_add(&s->checksum_failures, 1);
				fail_note(&bad, sl[i], store_slot_offset(s, sl[i]), -EBADMSG, 1);
			}
		}
	}
	stat_add(&s->pages_read, good);
	stat_add(&s->read_ios, ios);
	if (n)
		hist_record(&s->read_ns, now_ns() - t0);
	fail_log(s, "read", &fail);
	fail_log(s, "checksum", &bad);
	return ret;
}
