/* SPDX-License-Identifier: MIT */
/*
 * store.c - the swap store: slot allocation in clusters, reference counts
 * and checksums in memory, and the I/O that moves pages between memory and
 * the store file through io_uring.
 *
 * Allocation state (per slot: reference count, checksum, a bit saying the
 * checksum is known; per cluster: free count, and two bitmaps to find a
 * wholly free or a not-full cluster quickly) is guarded by one mutex.
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

struct store {
	int fd;
	char *path;             /* owned */
	bool keep;
	bool abandoned;         /* a forked child's copy: touch nothing on disk */
	bool direct_io;
	unsigned long page_size;
	uint64_t nslots;
	uint64_t nclusters;

	pthread_mutex_t lock;   /* guards everything down to `punched` */
	uint32_t *ref;          /* per slot; 0: free */
	XXH128_hash_t *sum;     /* per slot; meaningful when its valid bit is set */
	uint64_t *valid;        /* bitmap per slot: sum describes the slot's data */
	uint8_t *cfree;         /* per cluster: free slots, 0..STORE_CLUSTER_SLOTS */
	/*
	 * Bitmaps per cluster. Invariants (outside a punch):
	 *   avail bit  <=> cfree > 0
	 *   whole bit  <=> cfree == STORE_CLUSTER_SLOTS
	 * A cluster being punched (store lock dropped around fallocate) is
	 * wholly free with both bits clear, so no allocation can land in it.
	 */
	uint64_t *avail;
	uint64_t *whole;
	uint64_t cursor;        /* cluster being filled, or STORE_NO_SLOT */
	uint32_t cursor_next;   /* next slot offset to try in it */
	uint64_t hint;          /* where the next-fit search for a cluster starts */
	bool punch_off;         /* the file system cannot punch holes */
	uint64_t in_use;
	uint64_t peak;
	uint64_t punched;

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

/*
 * Per-slot tables grow with capacity (20 bytes a slot: 40 MiB for 8 GiB),
 * but only the slots in use are ever touched: map them MAP_NORESERVE so
 * the kernel backs only the pages written, as for the object entry arrays.
 */
static void *table_new(uint64_t n, size_t size)
{
	void *t = mmap(NULL, n * size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return t == MAP_FAILED ? NULL : t;
}

static void table_free(void *t, uint64_t n, size_t size)
{
	if (t)
		munmap(t, n * size);
}

static int alloc_state(struct store *s)
{
	uint64_t cwords = (s->nclusters + 63) / 64;

	s->ref = table_new(s->nslots, sizeof(*s->ref));
	s->sum = table_new(s->nslots, sizeof(*s->sum));
	s->valid = calloc((s->nslots + 63) / 64, sizeof(uint64_t));
	s->cfree = malloc(s->nclusters);
	s->avail = calloc(cwords, sizeof(uint64_t));
	s->whole = calloc(cwords, sizeof(uint64_t));
	if (!s->ref || !s->sum || !s->valid || !s->cfree || !s->avail || !s->whole)
		return -ENOMEM;
	memset(s->cfree, STORE_CLUSTER_SLOTS, s->nclusters);
	for (uint64_t c = 0; c < s->nclusters; c++) {
		bit_set(s->avail, c);
		bit_set(s->whole, c);
	}
	return 0;
}

static void free_state(struct store *s)
{
	table_free(s->ref, s->nslots, sizeof(*s->ref));
	table_free(s->sum, s->nslots, sizeof(*s->sum));
	free(s->valid);
	free(s->cfree);
	free(s->avail);
	free(s->whole);
	free(s->path);
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
	s->fd = -1;
	s->keep = cfg->keep;
	s->page_size = page_size;
	s->nclusters = cfg->capacity / cluster_bytes;
	s->nslots = s->nclusters * STORE_CLUSTER_SLOTS;
	s->cursor = STORE_NO_SLOT;
	pthread_mutex_init(&s->lock, NULL);
	err = alloc_state(s);
	if (err)
		goto out_free;

	err = create_file(cfg, &s->path);
	if (err < 0)
		goto out_free;
	s->fd = err;
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
	*out = s;
	return 0;

out_unlink:
	/* The caller gets no store, so nothing of it is left behind. */
	unlink(s->path);
	close(s->fd);
out_free:
	free_state(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return err;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	close(s->fd);
	if (!s->keep && !s->abandoned && unlink(s->path) < 0)
		log_warn("store: remove %s: %s", s->path, strerror(errno));
	pthread_mutex_destroy(&s->lock);
	free_state(s);
	free(s);
}

void store_abandon(struct store *s)
{
	/* No lock: a thread of the parent may have held it at the fork, and
	 * the child calling this has no other thread. */
	s->abandoned = true;
	s->punch_off = true;
}

const char *store_path(const struct store *s)
{
	return s->path;
}

uint64_t store_slot_offset(const struct store *s, uint64_t slot)
{
	return slot * s->page_size;
}

/* ---- slots ---------------------------------------------------------------- */

/* A new cluster to fill: next-fit from the last one, wholly free ones
 * first so a stream of evictions lands contiguously. Lock held. */
static uint64_t cluster_pick(struct store *s)
{
	uint64_t c = bit_find_wrap(s->whole, s->nclusters, s->hint);

	if (c == STORE_NO_SLOT)
		c = bit_find_wrap(s->avail, s->nclusters, s->hint);
	return c;
}

/* Mark @slot allocated. Lock held. */
static void slot_take(struct store *s, uint64_t slot)
{
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	s->ref[slot] = 1;
	bit_clear(s->valid, slot);
	if (s->cfree[c]-- == STORE_CLUSTER_SLOTS)
		bit_clear(s->whole, c);
	if (!s->cfree[c])
		bit_clear(s->avail, c);
	if (++s->in_use > s->peak)
		s->peak = s->in_use;
}

int store_alloc(struct store *s, unsigned int n, uint64_t *slots)
{
	unsigned int got = 0;

	pthread_mutex_lock(&s->lock);
	while (got < n) {
		uint64_t c = s->cursor, base;

		if (c == STORE_NO_SLOT) {
			c = cluster_pick(s);
			if (c == STORE_NO_SLOT)
				break;
			s->cursor = c;
			s->cursor_next = 0;
		}
		/* Free slots of the cluster in order from where the last
		 * allocation stopped, wrapping inside the cluster. */
		base = c * STORE_CLUSTER_SLOTS;
		while (got < n && s->cfree[c]) {
			uint32_t off = s->cursor_next;

			while (s->ref[base + off]) /* ends: cfree[c] > 0 */
				off = (off + 1) % STORE_CLUSTER_SLOTS;
			slot_take(s, base + off);
			slots[got++] = base + off;
			s->cursor_next = (off + 1) % STORE_CLUSTER_SLOTS;
		}
		if (!s->cfree[c]) {
			s->cursor = STORE_NO_SLOT;
			s->hint = c + 1 < s->nclusters ? c + 1 : 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return got ? (int)got : -ENOSPC;
}

/* A slot the caller may hold a reference on; logs the caller's bug
 * otherwise. Lock held. */
static bool slot_is_held(struct store *s, uint64_t slot, const char *what)
{
	if (slot >= s->nslots) {
		log_error("store: %s of slot %" PRIu64 ": out of range (%" PRIu64 " slots)",
			  what, slot, s->nslots);
		return false;
	}
	if (!s->ref[slot]) {
		log_error("store: %s of free slot %" PRIu64, what, slot);
		return false;
	}
	return true;
}

void store_get(struct store *s, uint64_t slot)
{
	pthread_mutex_lock(&s->lock);
	if (slot_is_held(s, slot, "get")) {
		if (s->ref[slot] == UINT32_MAX)
			log_error("store: get of slot %" PRIu64 ": count overflow", slot);
		else
			s->ref[slot]++;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Return the wholly free cluster @c to the file system. Lock held; dropped
 * around the fallocate, with the cluster hidden from allocation. */
static void cluster_punch(struct store *s, uint64_t c)
{
	uint64_t len = s->page_size * STORE_CLUSTER_SLOTS;
	int ret;

	bit_clear(s->whole, c);
	bit_clear(s->avail, c);
	pthread_mutex_unlock(&s->lock);
	ret = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)(c * len), (off_t)len);
	if (ret < 0)
		ret = -errno;
	pthread_mutex_lock(&s->lock);
	bit_set(s->whole, c);
	bit_set(s->avail, c);
	if (!ret) {
		s->punched++;
	} else if (ret == -EOPNOTSUPP || ret == -ENOSYS) {
		if (!s->punch_off)
			log_warn("store: %s cannot punch holes: freed slots keep their disk space",
				 s->path);
		s->punch_off = true;
	} else {
		log_warn("store: punch cluster %" PRIu64 " of %s: %s", c, s->path,
			 strerror(-ret));
	}
}

void store_put(struct store *s, uint64_t slot)
{
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	pthread_mutex_lock(&s->lock);
	if (!slot_is_held(s, slot, "put") || --s->ref[slot])
		goto out_unlock;
	bit_clear(s->valid, slot);
	s->in_use--;
	bit_set(s->avail, c);
	if (++s->cfree[c] < STORE_CLUSTER_SLOTS)
		goto out_unlock;
	/* Wholly free. The cluster being filled is left alone: it is about
	 * to be written again, and punching it would race with nothing but
	 * cost a fallocate per slot when one slot is taken and put in turn. */
	if (c == s->cursor || s->punch_off)
		bit_set(s->whole, c);
	else
		cluster_punch(s, c);
out_unlock:
	pthread_mutex_unlock(&s->lock);
}

uint32_t store_refcount(struct store *s, uint64_t slot)
{
	uint32_t ref = 0;

	pthread_mutex_lock(&s->lock);
	if (slot < s->nslots)
		ref = s->ref[slot];
	else
		log_error("store: refcount of slot %" PRIu64 ": out of range", slot);
	pthread_mutex_unlock(&s->lock);
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
	pthread_mutex_lock(&s->lock);
	match = sum_matches(s, slot, h);
	pthread_mutex_unlock(&s->lock);
	return match;
}

void store_stats_read(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = (struct store_stats){
		.capacity_slots = s->nslots,
		.slots_in_use = s->in_use,
		.slots_peak = s->peak,
		.clusters_punched = s->punched,
		.direct_io = s->direct_io,
	};
	pthread_mutex_unlock(&s->lock);
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

/* ---- I/O ------------------------------------------------------------------ */

int store_io_new(struct store *s, unsigned int depth, struct store_io **out)
{
	struct store_io *io;
	int err;

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

void store_io_free(struct store_io *io)
{
	if (!io)
		return;
	io_uring_queue_exit(&io->ring);
	free(io->reqs);
	free(io->free_reqs);
	free(io->sums);
	free(io->status);
	free(io);
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

	for (unsigned int base = 0; base < n; base += STORE_IO_CHUNK) {
		unsigned int m = n - base < STORE_IO_CHUNK ? n - base : STORE_IO_CHUNK;
		const uint64_t *sl = slots + base;
		int *st = io->status;

		/* The old contents are going away: until the write is known
		 * to be complete, the slot matches nothing. */
		pthread_mutex_lock(&s->lock);
		for (unsigned int i = 0; i < m; i++) {
			st[i] = slot_is_held(s, sl[i], "write") ? IO_TODO : -EINVAL;
			if (st[i] == IO_TODO)
				bit_clear(s->valid, sl[i]);
		}
		pthread_mutex_unlock(&s->lock);
		for (unsigned int i = 0; i < m; i++)
			if (st[i] == IO_TODO)
				io->sums[i] = XXH3_128bits(pages[base + i], s->page_size);
		ios += io_chunk(io, true, sl, pages + base, m, st, &fail);

		pthread_mutex_lock(&s->lock);
		for (unsigned int i = 0; i < m; i++) {
			if (st[i]) {
				ret = -EIO;
				continue;
			}
			written++;
			/* Put while being written: nothing to describe. */
			if (!s->ref[sl[i]])
				continue;
			s->sum[sl[i]] = io->sums[i];
			bit_set(s->valid, sl[i]);
		}
		pthread_mutex_unlock(&s->lock);
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

	for (unsigned int base = 0; base < n; base += STORE_IO_CHUNK) {
		unsigned int m = n - base < STORE_IO_CHUNK ? n - base : STORE_IO_CHUNK;
		const uint64_t *sl = slots + base;
		int *st = results + base;

		/* A slot with no known contents cannot be verified: no I/O. */
		pthread_mutex_lock(&s->lock);
		for (unsigned int i = 0; i < m; i++) {
			if (sl[i] >= s->nslots) {
				log_error("store: read of slot %" PRIu64 ": out of range", sl[i]);
				st[i] = -EIO;
			} else {
				st[i] = bit_test(s->valid, sl[i]) ? IO_TODO : -EBADMSG;
			}
		}
		pthread_mutex_unlock(&s->lock);
		ios += io_chunk(io, false, sl, pages + base, m, st, &fail);

		for (unsigned int i = 0; i < m; i++)
			if (!st[i])
				io->sums[i] = XXH3_128bits(pages[base + i], s->page_size);
		pthread_mutex_lock(&s->lock);
		for (unsigned int i = 0; i < m; i++)
			if (!st[i] && !sum_matches(s, sl[i], io->sums[i]))
				st[i] = -EBADMSG;
		pthread_mutex_unlock(&s->lock);

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
