/* SPDX-License-Identifier: MIT */
/*
 * store-zpool.c - the compressed tier behind the store seam (see
 * store-zpool.h): where each slot's page is, the pool's LRU, writing the
 * coldest pages back to the lower store, and the seam's ops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "core/log.h"
#include "core/pool.h"
#include "core/zpool.h"
#include "os/clock.h"
#include "store/store-zpool.h"
#include "store/zstore-codec.h"

/* Pages of a read or write handled together (arrays of the I/O context). */
#define ZIO_BATCH 128u
#define NO_LINK UINT32_MAX

enum zwhere {
	ZS_NONE = 0,    /* nothing trustworthy: never written, or a write failed */
	ZS_SAME,        /* one word repeated: val */
	ZS_POOL,        /* compressed in the pool: handle val, clen bytes */
	ZS_LOWER,       /* in the lower store, in the slot of the same number */
};

struct zslot {
	uint32_t refs;          /* this process's references; 0: it holds none */
	uint8_t where;          /* enum zwhere */
	uint8_t moving;         /* being written back: rewriting or freeing waits */
	uint16_t clen;          /* compressed bytes (ZS_POOL) */
	uint32_t prev, next;    /* the LRU, head coldest (ZS_POOL and not moving) */
	uint64_t val;
	XXH128_hash_t sum;      /* of the page's bytes */
};
/* Memory per slot used, beside the file store's own (tests/test-swap.c
 * allows for it). */
_Static_assert(sizeof(struct zslot) == 40, "struct zslot grew");

struct zstore {
	struct store base;      /* first */
	struct store *lower;
	enum zstore_codec codec;
	size_t page_size;
	size_t accept;          /* the largest compressed page kept */
	char name[48];

	pthread_mutex_t lock;   /* everything below but the atomics */
	pthread_cond_t moved;   /* a write-back finished */
	struct zslot *slot;     /* [nslots], the lower store's slots */
	uint64_t nslots;
	uint32_t lru_head, lru_tail;
	struct zpool pool;
	unsigned char *area;    /* the pool's memory */
	size_t area_len;
	bool wb_busy;           /* a write-back is in flight (one at a time) */
	uint32_t nwb;           /* its slots, for a child to take back */
	uint64_t wb_slots[ZSTORE_WRITEBACK_BATCH];
	/* Its pages, decompressed: one buffer for the store, as there is
	 * one write-back at a time (a mapping of its own, page-aligned as
	 * O_DIRECT wants). */
	unsigned char *wb;
	size_t wb_len;
	void *wpages[ZSTORE_WRITEBACK_BATCH];
	uint64_t pool_pages, pool_cbytes;

	_Atomic uint64_t pool_bytes;    /* zpool_bytes(), read without the lock */
	_Atomic uint64_t stored, stored_bytes, same, rejected, written_back;
	_Atomic uint64_t pages_written, pages_read, checksum_failures, io_errors;
};

struct zstore_io {
	struct store_io base;   /* first */
	struct store_io *lower;
	struct zcodec codec;
	unsigned char *cbuf;    /* one compressed page */
	uint64_t lslots[ZIO_BATCH];
	void *lpages[ZIO_BATCH];
	int lres[ZIO_BATCH];
	unsigned int lidx[ZIO_BATCH];
};

static const struct store_ops zpool_store_ops;

static struct zstore *zs(struct store *s)
{
	return (struct zstore *)s;
}

static struct zstore_io *zio(struct store_io *io)
{
	return (struct zstore_io *)io;
}

static bool sum_eq(XXH128_hash_t a, XXH128_hash_t b)
{
	return a.low64 == b.low64 && a.high64 == b.high64;
}

/* Make @prev and @next neighbours on the LRU (NO_LINK: the list's end). */
static void lru_join(struct zstore *s, uint32_t prev, uint32_t next)
{
	if (prev != NO_LINK)
		s->slot[prev].next = next;
	else
		s->lru_head = next;
	if (next != NO_LINK)
		s->slot[next].prev = prev;
	else
		s->lru_tail = prev;
}

static void lru_unlink(struct zstore *s, uint64_t i)
{
	struct zslot *e = &s->slot[i];

	lru_join(s, e->prev, e->next);
	e->prev = e->next = NO_LINK;
}

/* Link @i between @prev and @next. */
static void lru_link(struct zstore *s, uint64_t i, uint32_t prev, uint32_t next)
{
	lru_join(s, prev, (uint32_t)i);
	lru_join(s, (uint32_t)i, next);
}

static void lru_add_tail(struct zstore *s, uint64_t i)
{
	lru_link(s, i, s->lru_tail, NO_LINK);
}

static void lru_add_head(struct zstore *s, uint64_t i)
{
	lru_link(s, i, NO_LINK, s->lru_head);
}

/* Give back @e's pool object. Lock held. */
static void pool_release(struct zstore *s, struct zslot *e)
{
	uint32_t emptied = zpool_free(&s->pool, e->val);

	s->pool_pages--;
	s->pool_cbytes -= e->clen;
	if (emptied != UINT32_MAX)
		madvise(s->area + (size_t)emptied * s->pool.chunk_bytes, s->pool.chunk_bytes,
			MADV_DONTNEED);
	atomic_store_explicit(&s->pool_bytes, zpool_bytes(&s->pool), memory_order_relaxed);
}

/* Forget where slot @i's page was (pool space comes back). Lock held, the
 * slot not moving. */
static void where_clear(struct zstore *s, uint64_t i)
{
	struct zslot *e = &s->slot[i];

	if (e->where == ZS_POOL) {
		if (!e->moving)
			lru_unlink(s, i);
		pool_release(s, e);
	}
	e->where = ZS_NONE;
}

static void wait_not_moving(struct zstore *s, struct zslot *e)
{
	while (e->moving)
		pthread_cond_wait(&s->moved, &s->lock);
}

/* ---- slots ---------------------------------------------------------------- */

static int op_alloc(struct store *st, unsigned int n, uint64_t *slots)
{
	struct zstore *s = zs(st);
	int got = store_alloc(s->lower, n, slots);

	if (got <= 0)
		return got;
	pthread_mutex_lock(&s->lock);
	for (int k = 0; k < got; k++) {
		struct zslot *e = &s->slot[slots[k]];

		/* Free in the lower store: this process let go of it. */
		e->refs = 1;
		e->where = ZS_NONE;
	}
	pthread_mutex_unlock(&s->lock);
	return got;
}

static void op_get(struct store *st, uint64_t slot)
{
	struct zstore *s = zs(st);

	if (slot >= s->nslots) {
		log_error("%s: get of slot %llu, past the end", s->name, (unsigned long long)slot);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (s->slot[slot].refs)
		s->slot[slot].refs++;
	pthread_mutex_unlock(&s->lock);
	store_get(s->lower, slot);
}

static void op_put(struct store *st, uint64_t slot)
{
	struct zstore *s = zs(st);
	struct zslot *e;

	if (slot >= s->nslots) {
		log_error("%s: put of slot %llu, past the end", s->name, (unsigned long long)slot);
		return;
	}
	e = &s->slot[slot];
	pthread_mutex_lock(&s->lock);
	/* The lower slot may be reused once put: no write-back to it may
	 * still be in flight. */
	wait_not_moving(s, e);
	if (e->refs && !--e->refs)
		where_clear(s, slot);
	pthread_mutex_unlock(&s->lock);
	store_put(s->lower, slot);
}

static uint32_t op_refcount(struct store *st, uint64_t slot)
{
	return store_refcount(zs(st)->lower, slot);
}

static bool op_slot_matches(struct store *st, uint64_t slot, const void *page)
{
	struct zstore *s = zs(st);
	XXH128_hash_t h = XXH3_128bits(page, s->page_size);
	bool same;

	if (slot >= s->nslots)
		return false;
	pthread_mutex_lock(&s->lock);
	same = s->slot[slot].refs && s->slot[slot].where != ZS_NONE &&
	       sum_eq(s->slot[slot].sum, h);
	pthread_mutex_unlock(&s->lock);
	return same;
}

static uint64_t op_reap(struct store *st)
{
	return store_reap(zs(st)->lower);
}

static void op_stats_read(struct store *st, struct store_stats *out)
{
	struct zstore *s = zs(st);

	store_stats_read(s->lower, out);
	out->pages_written = atomic_load(&s->pages_written);
	out->pages_read = atomic_load(&s->pages_read);
	out->checksum_failures += atomic_load(&s->checksum_failures);
	out->io_errors += atomic_load(&s->io_errors);
	pthread_mutex_lock(&s->lock);
	out->pool_bytes = zpool_bytes(&s->pool);
	out->pool_pages = s->pool_pages;
	out->pool_compressed_bytes = s->pool_cbytes;
	pthread_mutex_unlock(&s->lock);
	out->pool_stored = atomic_load(&s->stored);
	out->pool_stored_bytes = atomic_load(&s->stored_bytes);
	out->same_filled = atomic_load(&s->same);
	out->compress_rejected = atomic_load(&s->rejected);
	out->pool_written_back = atomic_load(&s->written_back);
}

static size_t op_resident_bytes(struct store *st)
{
	return (size_t)atomic_load_explicit(&zs(st)->pool_bytes, memory_order_relaxed);
}

/* ---- fork: the lower store's protocol; ours is private memory --------------- */

static int op_fork_prepare(struct store *st)
{
	struct zstore *s = zs(st);
	int err = store_fork_prepare(s->lower);

	/* Held across fork: the child's copy of the table and the pool is
	 * then never caught half-updated. */
	pthread_mutex_lock(&s->lock);
	return err;
}

static void op_fork_parent(struct store *st)
{
	struct zstore *s = zs(st);

	pthread_mutex_unlock(&s->lock);
	store_fork_parent(s->lower);
}

static int op_fork_child(struct store *st)
{
	struct zstore *s = zs(st);

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->moved, NULL);
	/* A write-back in flight is the parent's thread's: here its pages
	 * are still in the pool, so they go back on the LRU, coldest. */
	for (uint32_t k = 0; k < s->nwb; k++) {
		struct zslot *e = &s->slot[s->wb_slots[k]];

		if (e->moving) {
			e->moving = 0;
			lru_add_head(s, s->wb_slots[k]);
		}
	}
	s->nwb = 0;
	s->wb_busy = false;
	atomic_store(&s->pages_written, 0);
	atomic_store(&s->pages_read, 0);
	atomic_store(&s->checksum_failures, 0);
	atomic_store(&s->io_errors, 0);
	return store_fork_child(s->lower);
}

/* ---- I/O contexts ----------------------------------------------------------- */

static void zio_release(struct zstore_io *io)
{
	zcodec_destroy(&io->codec);
	pool_map_free(io->cbuf);
	pool_map_free(io);
}

static int op_io_new(struct store *st, unsigned int depth, struct store_io **out)
{
	struct zstore *s = zs(st);
	struct zstore_io *io = pool_map_calloc(1, sizeof(*io));
	int err;

	if (!io)
		return -ENOMEM;
	io->base.store = st;
	err = store_io_new(s->lower, depth, &io->lower);
	if (err) {
		pool_map_free(io);
		return err;
	}
	err = zcodec_init(&io->codec, s->codec);
	io->cbuf = pool_map_calloc(1, s->page_size);
	if (err || !io->cbuf) {
		store_io_free(io->lower);
		zio_release(io);
		log_error("%s: I/O context: %s", s->name, strerror(ENOMEM));
		return -ENOMEM;
	}
	*out = &io->base;
	return 0;
}

static void op_io_free(struct store_io *sio)
{
	struct zstore_io *io = zio(sio);

	store_io_free(io->lower);
	zio_release(io);
}

static void op_io_forget(struct store_io *sio)
{
	struct zstore_io *io = zio(sio);

	store_io_forget(io->lower);
	zio_release(io); /* our copy: private memory, nothing the parent uses */
}

/* ---- write-back ------------------------------------------------------------- */

/* Decompress @e's page into @dst and check it. Lock held. */
static int pool_page(struct zstore *s, struct zcodec *c, const struct zslot *e, void *dst)
{
	const unsigned char *src = s->area + zpool_offset(&s->pool, e->val);

	if (zcodec_decompress(c, src, e->clen, dst, s->page_size))
		return -EBADMSG;
	return sum_eq(XXH3_128bits(dst, s->page_size), e->sum) ? 0 : -EBADMSG;
}

/*
 * Make room in the pool: write its coldest pages back to the lower store.
 * Called without the lock. Returns the pages written back (0: nothing
 * could be, or another thread's write-back just finished: try again).
 */
static unsigned int writeback(struct zstore *s, struct zstore_io *io)
{
	unsigned int k = 0, done = 0, visits = 0;
	int err;

	pthread_mutex_lock(&s->lock);
	if (s->wb_busy) {
		while (s->wb_busy)
			pthread_cond_wait(&s->moved, &s->lock);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	for (uint32_t i = s->lru_head, next;
	     i != NO_LINK && k < ZSTORE_WRITEBACK_BATCH && visits++ < 2 * ZSTORE_WRITEBACK_BATCH;
	     i = next) {
		struct zslot *e = &s->slot[i];

		next = e->next;
		if (pool_page(s, &io->codec, e, s->wpages[k])) {
			/* Corrupt: its reader is told (-EBADMSG); not copied
			 * to the lower store as if it were good. */
			lru_unlink(s, i);
			lru_add_tail(s, i);
			continue;
		}
		lru_unlink(s, i);
		if (store_refcount(s->lower, i) > e->refs) {
			/* Another process (a fork) holds the slot too, with
			 * these very bytes: it may be reading them from the
			 * lower slot, where a write would make its read fail
			 * (the file store trusts no slot while it is
			 * written). Either that process wrote them back
			 * already, and they can be dropped here, or the page
			 * stays in the pool until the slot is ours alone. */
			if (store_slot_matches(s->lower, i, s->wpages[k])) {
				pool_release(s, e);
				e->where = ZS_LOWER;
				done++;
			} else {
				lru_add_tail(s, i);
			}
			continue;
		}
		e->moving = 1;
		s->wb_slots[k++] = i;
	}
	s->nwb = k;
	s->wb_busy = k != 0;
	pthread_mutex_unlock(&s->lock);
	if (!k) {
		atomic_fetch_add(&s->written_back, done);
		return done;
	}

	err = store_write(io->lower, s->wb_slots, s->wpages, k);
	pthread_mutex_lock(&s->lock);
	for (unsigned int j = 0; j < k; j++) {
		struct zslot *e = &s->slot[s->wb_slots[j]];

		e->moving = 0;
		if (err && !store_slot_matches(s->lower, s->wb_slots[j], s->wpages[j])) {
			/* Not written: still the pool's, coldest. */
			lru_add_head(s, s->wb_slots[j]);
			continue;
		}
		pool_release(s, e);
		e->where = ZS_LOWER;
		done++;
	}
	s->nwb = 0;
	s->wb_busy = false;
	pthread_cond_broadcast(&s->moved);
	pthread_mutex_unlock(&s->lock);
	if (err && err != -EAGAIN)
		log_warn("%s: writing back %u pages: %s; %u kept in the pool", s->name, k,
			 strerror(-err), k - done);
	atomic_fetch_add(&s->written_back, done);
	return done ? done : (err ? 0 : k);
}

/* ---- reads and writes ------------------------------------------------------- */

static bool same_filled(const void *page, size_t len, uint64_t *word)
{
	const uint64_t *w = page;

	for (size_t i = 1; i < len / sizeof(*w); i++)
		if (w[i] != w[0])
			return false;
	*word = w[0];
	return true;
}

static void fill_word(void *page, size_t len, uint64_t word)
{
	uint64_t *w = page;

	for (size_t i = 0; i < len / sizeof(*w); i++)
		w[i] = word;
}

static int checksum_failed(struct zstore *s, uint64_t slot, const char *what)
{
	atomic_fetch_add(&s->checksum_failures, 1);
	log_error("%s: slot %llu: %s fails its checksum; not served", s->name,
		  (unsigned long long)slot, what);
	return -EBADMSG;
}

/* Store @page in the pool for slot @i if it compresses well and there is
 * room. Returns true when it did. */
static bool pool_store(struct zstore *s, struct zstore_io *io, uint64_t i, const void *page,
		       XXH128_hash_t sum)
{
	size_t clen = zcodec_compress(&io->codec, page, s->page_size, io->cbuf, s->accept);
	uint64_t h = ZPOOL_NONE;

	if (!clen) {
		atomic_fetch_add(&s->rejected, 1);
		return false;
	}
	for (int tries = 0; tries < 4; tries++) {
		pthread_mutex_lock(&s->lock);
		h = zpool_alloc(&s->pool, clen);
		if (h != ZPOOL_NONE)
			break;
		pthread_mutex_unlock(&s->lock);
		if (!writeback(s, io) && tries)
			break;
	}
	if (h == ZPOOL_NONE)
		return false; /* full, and nothing more could be written back */
	memcpy(s->area + zpool_offset(&s->pool, h), io->cbuf, clen);
	s->slot[i].where = ZS_POOL;
	s->slot[i].val = h;
	s->slot[i].clen = (uint16_t)clen;
	s->slot[i].sum = sum;
	lru_add_tail(s, i);
	s->pool_pages++;
	s->pool_cbytes += clen;
	atomic_store_explicit(&s->pool_bytes, zpool_bytes(&s->pool), memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&s->stored, 1);
	atomic_fetch_add(&s->stored_bytes, clen);
	return true;
}

static int write_batch(struct zstore *s, struct zstore_io *io, const uint64_t *slots,
		       void *const *pages, unsigned int n)
{
	unsigned int nl = 0;
	int ret = 0, err;

	for (unsigned int k = 0; k < n; k++) {
		uint64_t i = slots[k], word;
		XXH128_hash_t sum = XXH3_128bits(pages[k], s->page_size);
		struct zslot *e = &s->slot[i < s->nslots ? i : 0];

		pthread_mutex_lock(&s->lock);
		if (i >= s->nslots || !e->refs) {
			pthread_mutex_unlock(&s->lock);
			log_error("%s: write to slot %llu, not held", s->name, (unsigned long long)i);
			ret = -EIO;
			continue;
		}
		wait_not_moving(s, e);
		where_clear(s, i);
		e->sum = sum;
		if (same_filled(pages[k], s->page_size, &word)) {
			e->where = ZS_SAME;
			e->val = word;
			pthread_mutex_unlock(&s->lock);
			atomic_fetch_add(&s->same, 1);
			atomic_fetch_add(&s->pages_written, 1);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		if (pool_store(s, io, i, pages[k], sum)) {
			atomic_fetch_add(&s->pages_written, 1);
			continue;
		}
		io->lslots[nl] = i;
		io->lpages[nl++] = pages[k];
	}
	if (!nl)
		return ret;
	err = store_write(io->lower, io->lslots, io->lpages, nl);
	if (err == -EAGAIN)
		return err;
	pthread_mutex_lock(&s->lock);
	for (unsigned int k = 0; k < nl; k++) {
		if (err && !store_slot_matches(s->lower, io->lslots[k], io->lpages[k])) {
			atomic_fetch_add(&s->io_errors, 1);
			ret = -EIO;
			continue;
		}
		s->slot[io->lslots[k]].where = ZS_LOWER;
		atomic_fetch_add(&s->pages_written, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int read_batch(struct zstore *s, struct zstore_io *io, const uint64_t *slots,
		      void *const *pages, unsigned int n, int *results)
{
	unsigned int nl = 0;
	int ret = 0;

	for (unsigned int k = 0; k < n; k++) {
		uint64_t i = slots[k];
		struct zslot *e = &s->slot[i < s->nslots ? i : 0], copy;
		int res = 0;

		/* Only the copying under the lock: decompressing outside it
		 * lets the handlers read in parallel. */
		pthread_mutex_lock(&s->lock);
		copy = *e;
		if (i >= s->nslots || !e->refs)
			copy.where = ZS_NONE;
		else if (copy.where == ZS_POOL)
			memcpy(io->cbuf, s->area + zpool_offset(&s->pool, e->val), e->clen);
		pthread_mutex_unlock(&s->lock);
		if (copy.where == ZS_NONE) {
			res = -EIO;
		} else if (copy.where == ZS_SAME) {
			fill_word(pages[k], s->page_size, copy.val);
			if (!sum_eq(XXH3_128bits(pages[k], s->page_size), copy.sum))
				res = checksum_failed(s, i, "a same-filled page");
		} else if (copy.where == ZS_POOL) {
			if (zcodec_decompress(&io->codec, io->cbuf, copy.clen, pages[k], s->page_size) ||
			    !sum_eq(XXH3_128bits(pages[k], s->page_size), copy.sum))
				res = checksum_failed(s, i, "a compressed page");
		} else {
			io->lslots[nl] = i;
			io->lpages[nl] = pages[k];
			io->lidx[nl++] = k;
			res = 1; /* read below */
		}
		results[k] = res;
	}
	if (nl) {
		int err = store_read(io->lower, io->lslots, io->lpages, nl, io->lres);

		if (err == -EAGAIN)
			return err;
		for (unsigned int j = 0; j < nl; j++)
			results[io->lidx[j]] = io->lres[j];
	}
	for (unsigned int k = 0; k < n; k++) {
		if (results[k] == -EBADMSG && !ret)
			ret = -EBADMSG;
		else if (results[k] && !ret)
			ret = results[k];
		if (!results[k])
			atomic_fetch_add(&s->pages_read, 1);
	}
	return ret;
}

/* @n pages, ZIO_BATCH at a time, written, or read (results[i] each
 * page's); -EAGAIN stops at once. Returns the first error. */
static int in_batches(struct store_io *sio, const uint64_t *slots, void *const *pages,
		      unsigned int n, bool write, int *results)
{
	struct zstore_io *io = zio(sio);
	struct zstore *s = zs(sio->store);
	uint64_t t0 = clock_now_ns();
	int ret = 0;

	for (unsigned int base = 0; base < n; base += ZIO_BATCH) {
		unsigned int m = n - base < ZIO_BATCH ? n - base : ZIO_BATCH;
		int err = write ? write_batch(s, io, slots + base, pages + base, m) :
				  read_batch(s, io, slots + base, pages + base, m, results + base);

		if (err == -EAGAIN)
			return err;
		if (err && !ret)
			ret = err;
	}
	hist_record(write ? &s->base.write_ns : &s->base.read_ns, clock_now_ns() - t0);
	return ret;
}

static int op_write(struct store_io *sio, const uint64_t *slots, void *const *pages,
		    unsigned int n)
{
	return in_batches(sio, slots, pages, n, true, NULL);
}

static int op_read(struct store_io *sio, const uint64_t *slots, void *const *pages,
		   unsigned int n, int *results)
{
	return in_batches(sio, slots, pages, n, false, results);
}

/* ---- open and close --------------------------------------------------------- */

static void zstore_free(struct zstore *s)
{
	if (s->slot)
		munmap(s->slot, s->nslots * sizeof(*s->slot));
	if (s->area)
		munmap(s->area, s->area_len);
	if (s->wb)
		munmap(s->wb, s->wb_len);
	zpool_destroy(&s->pool);
	pthread_cond_destroy(&s->moved);
	pthread_mutex_destroy(&s->lock);
	pool_map_free(s);
}

static void op_close(struct store *st)
{
	struct zstore *s = zs(st);

	store_close(s->lower);
	zstore_free(s);
}

static const char *op_path(const struct store *st)
{
	return ((const struct zstore *)st)->name;
}

bool zpool_store_has_codec(enum zstore_codec codec)
{
	return zcodec_available(codec);
}

bool store_is_zpool(const struct store *s)
{
	return s && s->ops == &zpool_store_ops;
}

unsigned char *zpool_store_slot_bytes(struct store *st, uint64_t slot, size_t *len)
{
	struct zstore *s = zs(st);
	unsigned char *p = NULL;

	pthread_mutex_lock(&s->lock);
	if (slot < s->nslots && s->slot[slot].refs && s->slot[slot].where == ZS_POOL) {
		p = s->area + zpool_offset(&s->pool, s->slot[slot].val);
		*len = s->slot[slot].clen;
	}
	pthread_mutex_unlock(&s->lock);
	return p;
}

int zpool_store_open(const struct zstore_config *cfg, struct store *lower,
		     unsigned long page_size, struct store **out)
{
	struct store_stats ls;
	struct zstore *s;
	uint32_t nchunks;
	int err;

	if (!cfg || !cfg->pool_max || !zcodec_available(cfg->codec) || page_size % ZPOOL_CLASSES) {
		log_error("compressed tier: %s", cfg && cfg->pool_max && !zcodec_available(cfg->codec) ?
			  "this build has no such codec" : "bad configuration");
		store_close(lower);
		return -EINVAL;
	}
	store_stats_read(lower, &ls);
	s = pool_map_calloc(1, sizeof(*s));
	if (!s) {
		store_close(lower);
		return -ENOMEM;
	}
	s->base.ops = &zpool_store_ops;
	s->lower = lower;
	s->codec = cfg->codec;
	s->page_size = page_size;
	s->accept = page_size * ZSTORE_ACCEPT_PCT / 100;
	snprintf(s->name, sizeof(s->name), "compressed tier (%s)", zcodec_name(cfg->codec));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->moved, NULL);
	s->lru_head = s->lru_tail = NO_LINK;
	s->nslots = ls.capacity_slots;
	err = -EINVAL;
	if (!s->nslots || s->nslots >= NO_LINK)
		goto out_free;
	nchunks = (uint32_t)(cfg->pool_max / (4 * page_size));
	err = zpool_init(&s->pool, nchunks ? nchunks : 1, page_size);
	if (err)
		goto out_free;
	err = -ENOMEM;
	s->area_len = (size_t)s->pool.nchunks * s->pool.chunk_bytes;
	s->area = pool_map_own(s->area_len, PROT_READ | PROT_WRITE, MAP_NORESERVE);
	if (s->area == MAP_FAILED) {
		s->area = NULL;
		goto out_free;
	}
	s->wb_len = ZSTORE_WRITEBACK_BATCH * page_size;
	s->wb = pool_map_own(s->wb_len, PROT_READ | PROT_WRITE, MAP_NORESERVE);
	if (s->wb == MAP_FAILED) {
		s->wb = NULL;
		goto out_free;
	}
	for (unsigned int k = 0; k < ZSTORE_WRITEBACK_BATCH; k++)
		s->wpages[k] = s->wb + (size_t)k * page_size;
	/* The table is touched only where slots are used (NORESERVE). */
	s->slot = pool_map_own(s->nslots * sizeof(*s->slot), PROT_READ | PROT_WRITE,
			       MAP_NORESERVE);
	if (s->slot == MAP_FAILED) {
		s->slot = NULL;
		goto out_free;
	}
	log_info("%s over %s: a pool of %zu KiB", s->name, store_path(lower), s->area_len >> 10);
	*out = &s->base;
	return 0;

out_free:
	log_error("compressed tier: %s", strerror(-err));
	store_close(lower);
	zstore_free(s);
	return err;
}

static const struct store_ops zpool_store_ops = {
	.name = "zpool",
	.close = op_close,
	.path = op_path,
	.alloc = op_alloc,
	.get = op_get,
	.put = op_put,
	.refcount = op_refcount,
	.slot_matches = op_slot_matches,
	.reap = op_reap,
	.stats_read = op_stats_read,
	.resident_bytes = op_resident_bytes,
	.fork_prepare = op_fork_prepare,
	.fork_parent = op_fork_parent,
	.fork_child = op_fork_child,
	.io_new = op_io_new,
	.io_free = op_io_free,
	.io_forget = op_io_forget,
	.write = op_write,
	.read = op_read,
};
