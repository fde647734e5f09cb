/* SPDX-License-Identifier: MIT */
/*
 * store-user.c - the user store: the engine's struct store_ops over the
 * public struct upager_store_ops. The caller's store only moves bytes;
 * everything the engine relies on stays here, in upager's own memory:
 * slot allocation (next-fit from a cursor, so pages evicted together get
 * consecutive slots), reference counts, and an XXH3-128 checksum of every
 * page written, verified on every read, so a store that hands back wrong
 * bytes is caught (-EBADMSG: the engine poisons the page) and never
 * served. A request the store leaves unanswered has failed (-EIO).
 *
 * The slot table is one zeroed mapping (pool_map_calloc: never the
 * allocator's memory, which the shim pages), 24 bytes a slot, touched only
 * where slots are used. One mutex guards it; the user's calls run outside
 * it, on the calling thread's own batch, so the seam's "one store_io per
 * thread" needs nothing more than the batch arrays.
 *
 * Fork: the user's store is not known to be shareable (two processes
 * writing one slot namespace would overwrite each other's pages), so a
 * child never calls the user's ops: it keeps a copy of the table (private
 * memory) but may not use the store. Its allocations and writes answer
 * -EAGAIN (the seam's answer for a process without a share: nothing is
 * evicted), its reads -EAGAIN (the engine raises SIGBUS for the page), and
 * no page of it ever "matches" a slot, so a page in memory is never
 * dropped for a copy the child could not read back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/log.h"
#include "core/options.h"
#include "core/pool.h"
#include "core/stats.h"
#include "os/clock.h"
#include "store/store-user.h"

/* The smallest capacity: a cluster of the file store (OPT_MIN_SWAP_PAGES),
 * what options.c asks of a swap file. */
#define USER_MIN_SLOTS OPT_MIN_SWAP_PAGES
/* Where the last member of struct upager_store_ops this library knows
 * ends (as OPTS_KNOWN_END for the options). */
#define USER_OPS_KNOWN_END offsetofend(struct upager_store_ops, close)
_Static_assert(sizeof(struct upager_store_ops) - USER_OPS_KNOWN_END <
	       _Alignof(struct upager_store_ops),
	       "USER_OPS_KNOWN_END must name the last member of struct upager_store_ops");

struct user_slot {
	uint32_t refs;          /* 0: free */
	uint16_t valid;         /* sum is the checksum of the last good write */
	uint16_t freeing;       /* refs 0, the user's free not returned yet: not allocatable */
	XXH128_hash_t sum;
};

struct user_store {
	struct store base;      /* first: what the engine holds */
	struct upager_store_ops ops;
	void *ctx;
	unsigned long page_size;
	pid_t owner;            /* the process that opened it: the only one calling ops */
	pthread_mutex_t lock;   /* guards slots, cursor, in_use, peak */
	struct user_slot *slots; /* [ops.capacity] */
	uint64_t cursor;        /* next-fit: where the next allocation looks first */
	uint64_t in_use, peak;
	_Atomic uint64_t pages_written, pages_read, write_ios, read_ios;
	_Atomic uint64_t checksum_failures, io_errors;
};

struct user_store_io {
	struct store_io base;   /* first */
	struct upager_store_req reqs[UPAGER_STORE_BATCH_MAX];
	XXH128_hash_t sums[UPAGER_STORE_BATCH_MAX];
	unsigned int index[UPAGER_STORE_BATCH_MAX]; /* a read's reqs[j] is its page index[j] */
};

static struct user_store *us(struct store *s)
{
	return (struct user_store *)s;
}

/* Ops may be called here: the opener, not a forked child. */
static bool is_owner(const struct user_store *u)
{
	return getpid() == u->owner;
}

static const struct store_ops user_store_ops;

bool store_is_user(const struct store *s)
{
	return s && s->ops == &user_store_ops;
}

int user_store_open(const struct upager_store_ops *ops, void *ctx, unsigned long page_size,
		    struct store **out)
{
	struct user_store *u;
	size_t sz;

	if (!ops || ops->sz < offsetofend(struct upager_store_ops, read)) {
		log_error("store: store_ops %s (use UPAGER_STORE_OPS())",
			  ops ? "sz is too small" : "is NULL");
		return -EINVAL;
	}
	sz = ops->sz;
	for (size_t i = USER_OPS_KNOWN_END; i < sz; i++) {
		if (((const unsigned char *)ops)[i]) {
			log_error("store: store_ops member at offset %zu is unknown to this libupager",
				  i);
			return -EINVAL;
		}
	}
	if (!ops->write || !ops->read) {
		log_error("store: store_ops without %s", ops->write ? "read" : "write");
		return -EINVAL;
	}
	if (ops->capacity < USER_MIN_SLOTS || ops->capacity > SIZE_MAX / sizeof(struct user_slot)) {
		log_error("store: store_ops capacity of %llu slots; it takes %u at least",
			  (unsigned long long)ops->capacity, USER_MIN_SLOTS);
		return -EINVAL;
	}
	u = pool_map_calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	memcpy(&u->ops, ops, sz < sizeof(u->ops) ? sz : sizeof(u->ops));
	u->ops.sz = sizeof(u->ops);
	u->slots = pool_map_calloc(ops->capacity, sizeof(*u->slots));
	if (!u->slots) {
		pool_map_free(u);
		return -ENOMEM;
	}
	u->base.ops = &user_store_ops;
	u->ctx = ctx;
	u->page_size = page_size;
	u->owner = getpid();
	pthread_mutex_init(&u->lock, NULL);
	*out = &u->base;
	return 0;
}

static void op_close(struct store *s)
{
	struct user_store *u = us(s);

	if (is_owner(u) && u->ops.close)
		u->ops.close(u->ctx);
	pthread_mutex_destroy(&u->lock);
	pool_map_free(u->slots);
	pool_map_free(u);
}

static const char *op_path(const struct store *s)
{
	return "the caller's store (store_ops)";
}

static int op_alloc(struct store *s, unsigned int n, uint64_t *slots)
{
	struct user_store *u = us(s);
	uint64_t cap = u->ops.capacity;
	unsigned int got = 0;

	if (!is_owner(u))
		return -EAGAIN;
	pthread_mutex_lock(&u->lock);
	for (uint64_t seen = 0; got < n && u->in_use < cap && seen < cap; seen++) {
		struct user_slot *sl = &u->slots[u->cursor];

		if (!sl->refs && !sl->freeing) {
			sl->refs = 1;
			sl->valid = 0;
			slots[got++] = u->cursor;
			u->in_use++;
		}
		u->cursor = u->cursor + 1 < cap ? u->cursor + 1 : 0;
	}
	if (u->in_use > u->peak)
		u->peak = u->in_use;
	pthread_mutex_unlock(&u->lock);
	return got ? (int)got : -ENOSPC;
}

static void op_get(struct store *s, uint64_t slot)
{
	struct user_store *u = us(s);

	pthread_mutex_lock(&u->lock);
	if (slot < u->ops.capacity && u->slots[slot].refs)
		u->slots[slot].refs++;
	else
		log_error("store: reference taken on free slot %llu", (unsigned long long)slot);
	pthread_mutex_unlock(&u->lock);
}

static void op_put(struct store *s, uint64_t slot)
{
	struct user_store *u = us(s);
	bool freed = false;

	pthread_mutex_lock(&u->lock);
	if (slot < u->ops.capacity && u->slots[slot].refs) {
		if (!--u->slots[slot].refs) {
			u->slots[slot].valid = 0;
			u->in_use--;
			freed = u->ops.free && is_owner(u);
			u->slots[slot].freeing = freed;
		}
	} else {
		log_error("store: reference dropped on free slot %llu", (unsigned long long)slot);
	}
	pthread_mutex_unlock(&u->lock);
	/* Outside the lock (the user's free may do I/O); alloc passes over
	 * the slot until it has returned, so a new page written to it
	 * cannot be the one freed. */
	if (freed) {
		u->ops.free(u->ctx, slot);
		pthread_mutex_lock(&u->lock);
		u->slots[slot].freeing = 0;
		pthread_mutex_unlock(&u->lock);
	}
}

static uint32_t op_refcount(struct store *s, uint64_t slot)
{
	struct user_store *u = us(s);
	uint32_t n;

	pthread_mutex_lock(&u->lock);
	n = slot < u->ops.capacity ? u->slots[slot].refs : 0;
	pthread_mutex_unlock(&u->lock);
	return n;
}

static bool op_slot_matches(struct store *s, uint64_t slot, const void *page)
{
	struct user_store *u = us(s);
	XXH128_hash_t sum;
	bool same;

	if (!is_owner(u))
		return false; /* a child cannot read the slot back: keep the page */
	sum = XXH3_128bits(page, u->page_size);
	pthread_mutex_lock(&u->lock);
	same = slot < u->ops.capacity && u->slots[slot].refs && u->slots[slot].valid &&
	       XXH128_isEqual(u->slots[slot].sum, sum);
	pthread_mutex_unlock(&u->lock);
	return same;
}

static uint64_t op_reap(struct store *s)
{
	return 0; /* one process holds it: nobody to reap */
}

static void op_stats_read(struct store *s, struct store_stats *out)
{
	struct user_store *u = us(s);

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&u->lock);
	out->slots_in_use = u->in_use;
	out->slots_peak = u->peak;
	pthread_mutex_unlock(&u->lock);
	out->capacity_slots = u->ops.capacity;
	out->pages_written = u->pages_written;
	out->pages_read = u->pages_read;
	out->write_ios = u->write_ios;
	out->read_ios = u->read_ios;
	out->checksum_failures = u->checksum_failures;
	out->io_errors = u->io_errors;
	out->holders = 1;
}

/* The child keeps its pager, not the store: see the top of the file. The
 * table's lock is held across the fork, so the child's copy is not
 * caught half-changed by a thread that does not exist there (the lock is
 * a leaf: nothing is waited for while it is held). */
static int op_fork_prepare(struct store *s)
{
	pthread_mutex_lock(&us(s)->lock);
	return 0;
}

static void op_fork_parent(struct store *s)
{
	pthread_mutex_unlock(&us(s)->lock);
}

static int op_fork_child(struct store *s)
{
	pthread_mutex_init(&us(s)->lock, NULL);
	return 0;
}

static int op_io_new(struct store *s, unsigned int depth, struct store_io **out)
{
	struct user_store_io *io;

	io = pool_map_calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->base.store = s;
	*out = &io->base;
	return 0;
}

static void op_io_free(struct store_io *io)
{
	pool_map_free(io);
}

static void op_io_forget(struct store_io *io)
{
	pool_map_free(io); /* the parent's copy is its own: nothing shared */
}

/* One user call over reqs[0..n): the batch's return folded into each
 * result, anything not 0 or a negative errno made -EIO. */
static void user_call(struct user_store *u, int (*fn)(void *, struct upager_store_req *,
						       unsigned int),
		      struct upager_store_req *reqs, unsigned int n)
{
	int ret;

	for (unsigned int i = 0; i < n; i++)
		reqs[i].result = -EIO;
	ret = fn(u->ctx, reqs, n);
	for (unsigned int i = 0; i < n; i++) {
		if (ret < 0)
			reqs[i].result = ret;
		else if (reqs[i].result > 0 || reqs[i].result < -4095)
			reqs[i].result = -EIO;
	}
}

static int op_write(struct store_io *sio, const uint64_t *slots, void *const *pages,
		    unsigned int n)
{
	struct user_store_io *io = (struct user_store_io *)sio;
	struct user_store *u = us(sio->store);
	int ret = 0;

	if (!is_owner(u))
		return -EAGAIN;
	for (unsigned int base = 0; base < n; base += UPAGER_STORE_BATCH_MAX) {
		unsigned int k = n - base < UPAGER_STORE_BATCH_MAX ? n - base : UPAGER_STORE_BATCH_MAX;
		uint64_t t0 = clock_now_ns();

		/* A slot being written matches nothing until the write is
		 * known to have succeeded. */
		for (unsigned int i = 0; i < k; i++)
			io->sums[i] = XXH3_128bits(pages[base + i], u->page_size);
		pthread_mutex_lock(&u->lock);
		for (unsigned int i = 0; i < k; i++)
			if (slots[base + i] < u->ops.capacity)
				u->slots[slots[base + i]].valid = 0;
		pthread_mutex_unlock(&u->lock);
		for (unsigned int i = 0; i < k; i++)
			io->reqs[i] = (struct upager_store_req){ .slot = slots[base + i],
								 .page = pages[base + i] };
		user_call(u, u->ops.write, io->reqs, k);
		u->write_ios++;
		pthread_mutex_lock(&u->lock);
		for (unsigned int i = 0; i < k; i++) {
			struct user_slot *sl = slots[base + i] < u->ops.capacity ?
					       &u->slots[slots[base + i]] : NULL;

			if (!io->reqs[i].result && sl && sl->refs) {
				sl->sum = io->sums[i];
				sl->valid = 1;
				u->pages_written++;
			} else {
				u->io_errors++;
				ret = -EIO;
			}
		}
		pthread_mutex_unlock(&u->lock);
		hist_record(&u->base.write_ns, clock_now_ns() - t0);
	}
	return ret; /* logged by the caller (reclaim, cache), with the pages' context */
}

static int op_read(struct store_io *sio, const uint64_t *slots, void *const *pages,
		   unsigned int n, int *results)
{
	struct user_store_io *io = (struct user_store_io *)sio;
	struct user_store *u = us(sio->store);
	int ret = 0;

	if (!is_owner(u))
		return store_read_refused(n, results);
	for (unsigned int base = 0; base < n; base += UPAGER_STORE_BATCH_MAX) {
		unsigned int k = n - base < UPAGER_STORE_BATCH_MAX ? n - base : UPAGER_STORE_BATCH_MAX;
		uint64_t t0 = clock_now_ns();

		unsigned int m = 0;

		/* The sums of the slots read: they are referenced, so no
		 * write or free changes them while the read runs. A slot
		 * whose last write failed is not asked for. */
		pthread_mutex_lock(&u->lock);
		for (unsigned int i = 0; i < k; i++) {
			uint64_t slot = slots[base + i];
			bool ok = slot < u->ops.capacity && u->slots[slot].refs &&
				  u->slots[slot].valid;

			results[base + i] = ok ? 0 : -EIO;
			if (ok) {
				io->sums[m] = u->slots[slot].sum;
				io->index[m] = i;
				io->reqs[m++] = (struct upager_store_req){ .slot = slot,
									   .page = pages[base + i] };
			}
		}
		pthread_mutex_unlock(&u->lock);
		if (m) {
			user_call(u, u->ops.read, io->reqs, m);
			u->read_ios++;
		}
		for (unsigned int j = 0; j < m; j++) {
			unsigned int i = io->index[j];

			if (io->reqs[j].result)
				results[base + i] = io->reqs[j].result;
			else if (!XXH128_isEqual(XXH3_128bits(pages[base + i], u->page_size),
						 io->sums[j]))
				results[base + i] = -EBADMSG;
		}
		for (unsigned int i = 0; i < k; i++) {
			int res = results[base + i];

			if (res == -EBADMSG)
				u->checksum_failures++;
			else if (res)
				u->io_errors++;
			else
				u->pages_read++;
			if (res && !ret)
				ret = res;
		}
		hist_record(&u->base.read_ns, clock_now_ns() - t0);
	}
	return ret;
}

static const struct store_ops user_store_ops = {
	.name = "user",
	.close = op_close,
	.path = op_path,
	.alloc = op_alloc,
	.get = op_get,
	.put = op_put,
	.refcount = op_refcount,
	.slot_matches = op_slot_matches,
	.reap = op_reap,
	.stats_read = op_stats_read,
	.fork_prepare = op_fork_prepare,
	.fork_parent = op_fork_parent,
	.fork_child = op_fork_child,
	.io_new = op_io_new,
	.io_free = op_io_free,
	.io_forget = op_io_forget,
	.write = op_write,
	.read = op_read,
};
