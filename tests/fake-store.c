/* SPDX-License-Identifier: MIT */
/*
 * fake-store.c - see fake-store.h. One lock over everything: the fake
 * keeps the seam's contract, not the file store's speed. Nothing on the
 * read path allocates (it runs in the engine's fault handlers).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fake-store.h"

struct fake_state {
	struct fake_store pub;  /* first */
	pthread_mutex_t lock;
	uint64_t nslots;
	uint32_t *refs;         /* [nslots]; 0: free */
	bool *valid;            /* [nslots]: data[] holds the last good write */
	unsigned char *data;    /* [nslots * PAGE] */
};

static struct fake_state *st(struct store *s)
{
	return (struct fake_state *)s;
}

static unsigned char *slot_data(struct fake_state *f, uint64_t slot)
{
	return f->data + slot * PAGE;
}

static void f_close(struct store *s)
{
	struct fake_state *f = st(s);

	pthread_mutex_destroy(&f->lock);
	free(f->refs);
	free(f->valid);
	free(f->data);
	free(f);
}

static const char *f_path(const struct store *s)
{
	return "fake store";
}

static int f_alloc(struct store *s, unsigned int n, uint64_t *slots)
{
	struct fake_state *f = st(s);
	unsigned int got = 0;

	atomic_fetch_add(&f->pub.allocs, 1);
	if (atomic_load(&f->pub.full)) {
		atomic_fetch_add(&f->pub.alloc_refused, 1);
		return -ENOSPC;
	}
	pthread_mutex_lock(&f->lock);
	for (uint64_t i = 0; i < f->nslots && got < n; i++) {
		if (!f->refs[i]) {
			f->refs[i] = 1;
			f->valid[i] = false;
			slots[got++] = i;
		}
	}
	pthread_mutex_unlock(&f->lock);
	if (!got)
		atomic_fetch_add(&f->pub.alloc_refused, 1);
	return got ? (int)got : -ENOSPC;
}

static void f_get(struct store *s, uint64_t slot)
{
	struct fake_state *f = st(s);

	atomic_fetch_add(&f->pub.gets, 1);
	pthread_mutex_lock(&f->lock);
	if (slot < f->nslots && f->refs[slot])
		f->refs[slot]++;
	pthread_mutex_unlock(&f->lock);
}

static void f_put(struct store *s, uint64_t slot)
{
	struct fake_state *f = st(s);

	atomic_fetch_add(&f->pub.puts, 1);
	pthread_mutex_lock(&f->lock);
	if (slot < f->nslots && f->refs[slot] && !--f->refs[slot])
		f->valid[slot] = false;
	pthread_mutex_unlock(&f->lock);
}

static uint32_t f_refcount(struct store *s, uint64_t slot)
{
	struct fake_state *f = st(s);
	uint32_t n;

	pthread_mutex_lock(&f->lock);
	n = slot < f->nslots ? f->refs[slot] : 0;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static bool f_slot_matches(struct store *s, uint64_t slot, const void *page)
{
	struct fake_state *f = st(s);
	bool same;

	pthread_mutex_lock(&f->lock);
	same = slot < f->nslots && f->refs[slot] && f->valid[slot] &&
	       !memcmp(slot_data(f, slot), page, PAGE);
	pthread_mutex_unlock(&f->lock);
	return same;
}

static uint64_t f_reap(struct store *s)
{
	return 0; /* one process: nobody to reap */
}

uint64_t fake_store_in_use(struct fake_store *pub)
{
	struct fake_state *f = (struct fake_state *)pub;
	uint64_t n = 0;

	pthread_mutex_lock(&f->lock);
	for (uint64_t i = 0; i < f->nslots; i++)
		n += f->refs[i] != 0;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void f_stats_read(struct store *s, struct store_stats *out)
{
	struct fake_state *f = st(s);

	memset(out, 0, sizeof(*out));
	out->capacity_slots = f->nslots;
	out->slots_in_use = fake_store_in_use(&f->pub);
	out->pages_written = atomic_load(&f->pub.pages_written);
	out->pages_read = atomic_load(&f->pub.pages_read);
	out->checksum_failures = atomic_load(&f->pub.checksum_failures);
	out->io_errors = atomic_load(&f->pub.writes_failed) + atomic_load(&f->pub.reads_failed) -
			 out->checksum_failures;
	out->holders = 1;
}

/* The fake is private memory: a child gets a copy of it, and so keeps the
 * references it inherited, as the seam asks. */
static int f_fork_prepare(struct store *s)
{
	return 0;
}

static void f_fork_parent(struct store *s)
{
}

static int f_fork_child(struct store *s)
{
	return 0;
}

static int f_io_new(struct store *s, unsigned int depth, struct store_io **out)
{
	struct store_io *io = calloc(1, sizeof(*io));

	if (!io)
		return -ENOMEM;
	io->store = s;
	atomic_fetch_add(&st(s)->pub.ios_open, 1);
	*out = io;
	return 0;
}

static void f_io_free(struct store_io *io)
{
	atomic_fetch_sub(&st(io->store)->pub.ios_open, 1);
	free(io);
}

static int f_write(struct store_io *io, const uint64_t *slots, void *const *pages,
		   unsigned int n)
{
	struct fake_state *f = st(io->store);
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t sl = slots[i];

		if (sl >= f->nslots || !f->refs[sl] || atomic_load(&f->pub.write_fails)) {
			if (sl < f->nslots)
				f->valid[sl] = false;
			atomic_fetch_add(&f->pub.writes_failed, 1);
			ret = -EIO;
			continue;
		}
		memcpy(slot_data(f, sl), pages[i], PAGE);
		f->valid[sl] = true;
		atomic_fetch_add(&f->pub.pages_written, 1);
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static int f_read(struct store_io *io, const uint64_t *slots, void *const *pages,
		  unsigned int n, int *results)
{
	struct fake_state *f = st(io->store);
	int mode = atomic_load(&f->pub.read_mode);
	uint64_t target = atomic_load(&f->pub.read_slot);
	int ret = 0;

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t sl = slots[i];
		unsigned char *buf = pages[i];
		int res = 0;

		if (sl >= f->nslots || !f->refs[sl] || !f->valid[sl]) {
			memset(buf, 0, PAGE);
			res = -EIO;
		} else if (mode == FAKE_READ_OK || (target != STORE_NO_SLOT && target != sl)) {
			memcpy(buf, slot_data(f, sl), PAGE);
		} else if (mode == FAKE_READ_EIO) {
			memset(buf, 0, PAGE);
			res = -EIO;
		} else if (mode == FAKE_READ_SHORT) {
			memcpy(buf, slot_data(f, sl), PAGE / 2);
			memset(buf + PAGE / 2, 0, PAGE / 2);
			res = -EIO;
		} else {
			/* What the checksum is for: the bytes came back changed. */
			memcpy(buf, slot_data(f, sl), PAGE);
			buf[PAGE / 3] ^= 0x40;
			res = -EBADMSG;
		}
		results[i] = res;
		if (res == -EBADMSG)
			atomic_fetch_add(&f->pub.checksum_failures, 1);
		if (res) {
			atomic_fetch_add(&f->pub.reads_failed, 1);
			if (!ret)
				ret = res;
		} else {
			atomic_fetch_add(&f->pub.pages_read, 1);
		}
	}
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static const struct store_ops fake_store_ops = {
	.name = "fake",
	.close = f_close,
	.path = f_path,
	.alloc = f_alloc,
	.get = f_get,
	.put = f_put,
	.refcount = f_refcount,
	.slot_matches = f_slot_matches,
	.reap = f_reap,
	.stats_read = f_stats_read,
	.fork_prepare = f_fork_prepare,
	.fork_parent = f_fork_parent,
	.fork_child = f_fork_child,
	.io_new = f_io_new,
	.io_free = f_io_free,
	.io_forget = f_io_free,
	.write = f_write,
	.read = f_read,
};

struct fake_store *fake_store_new(uint64_t slots)
{
	struct fake_state *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	f->nslots = slots;
	f->refs = calloc(slots ? slots : 1, sizeof(*f->refs));
	f->valid = calloc(slots ? slots : 1, sizeof(*f->valid));
	f->data = calloc(slots ? slots : 1, PAGE);
	if (!f->refs || !f->valid || !f->data) {
		f_close(&f->pub.base);
		return NULL;
	}
	f->pub.base.ops = &fake_store_ops;
	atomic_store(&f->pub.read_slot, STORE_NO_SLOT);
	return &f->pub;
}

uint64_t fake_store_slot_of(struct fake_store *pub, const void *page)
{
	struct fake_state *f = (struct fake_state *)pub;
	uint64_t found = STORE_NO_SLOT;

	pthread_mutex_lock(&f->lock);
	for (uint64_t i = 0; i < f->nslots && found == STORE_NO_SLOT; i++)
		if (f->refs[i] && f->valid[i] && !memcmp(slot_data(f, i), page, PAGE))
			found = i;
	pthread_mutex_unlock(&f->lock);
	return found;
}
