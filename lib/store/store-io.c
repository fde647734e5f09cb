/* SPDX-License-Identifier: MIT */
/*
 * store-io.c - the swap store's I/O: pages moved between memory and the
 * store file through io_uring, and checked against the checksums their
 * slots carry. Apart from the slots (store.c) because it runs per thread
 * without the store's lock, which it takes only to check a batch's slots
 * and to read or set their checksums.
 *
 * A struct file_store_io runs batches: it splits the pages into runs that are
 * consecutive on disk, makes one request per run (a plain read or write
 * when the run's buffers are consecutive in memory too, else a vectored
 * one: the device sees one request either way), submits every request of
 * the batch with one io_uring_enter() (one doorbell to a virtual disk,
 * where each costs a VM exit), keeps at most `depth` requests in flight,
 * and resubmits the remainder of short or interrupted transfers. Everything it needs is allocated when it
 * is created, so the fault path never calls malloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <liburing.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <xxhash.h>

#include "os/fdreg.h"
#include "core/pool.h"
#include "core/log.h"
#include "os/clock.h"
#include "store/store-internal.h"

#define STORE_IO_DEFAULT_DEPTH 64u
/* Pages per chunk of a batch: the checksums and per-page status of one
 * chunk live in the store_io, so a batch of any size needs no malloc. */
#define STORE_IO_CHUNK 1024u
_Static_assert(STORE_IO_CHUNK <= IOV_MAX, "a run of a chunk is one vectored request");
/* -EAGAIN/-EINTR completions resubmitted before a request is failed. */
#define STORE_IO_RETRIES 1000u
/* Per-page status of a chunk before its I/O: to be transferred. */
#define IO_TODO 1

/* One request: pages [first, first + count) of the current chunk, stored
 * in one run of the file. */
struct io_req {
	char *buf;
	void *const *pages;     /* the chunk's pages + first, when vec */
	bool vec;               /* buffers not consecutive: iovs[first..first + count) */
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

struct file_store_io {
	struct store_io base;    /* first: the seam's view of it */
	struct file_store *s;
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
	struct iovec *iovs;     /* [STORE_IO_CHUNK], a vectored request's, by page of the chunk */
	/* Moving averages (1/8 weight) of how long a poll that found its
	 * completion took, and of how often the poll gave up (in 1/256):
	 * they bound the poll (poll_for_read()). */
	uint64_t poll_ns;
	uint32_t poll_misses;
	uint32_t reads;
};

/* is_holder(), for a caller without the lock. */
static bool holder_check(struct file_store *s)
{
	bool ok;

	shared_lock(s);
	ok = is_holder(s);
	shared_unlock(s);
	return ok;
}

/* ---- I/O ------------------------------------------------------------------ */

/*
 * io_uring_queue_init(), with the ring's descriptor moved out of the
 * program's way before the ring is mapped: liburing (2.3 on Debian 12)
 * keeps the number in the ring and uses it for every io_uring_enter(),
 * and offers the two halves of the setup, so the number it keeps is the
 * moved one.
 */
static int ring_open(struct io_uring *ring, unsigned int depth, unsigned int flags)
{
	struct io_uring_params p = { .flags = flags };
	int fd, err;

	/* liburing returns -errno from its own system calls, or -1 and errno
	 * when built on the C library's: tell the two apart. */
	errno = 0;
	fd = io_uring_setup(depth, &p);
	if (fd < 0)
		return fd == -1 && errno ? -errno : fd;
	fd = fdreg_hide(fd, "swap store I/O ring");
	err = io_uring_queue_mmap(fd, &p, ring);
	if (err) {
		fdreg_close(fd);
		return err;
	}
	/* What io_uring_queue_init() does after the mapping: each SQ slot
	 * names the SQE of the same index. */
	for (unsigned int i = 0; i < ring->sq.ring_entries; i++)
		ring->sq.array[i] = i;
	ring->features = p.features;
	return 0;
}

static struct file_store_io *fstore_io_of(struct store_io *io)
{
	return (struct file_store_io *)io;
}

/* What fstore_io_new() allocated, without the ring. */
static void io_free(struct file_store_io *io)
{
	pool_map_free(io->reqs);
	pool_map_free(io->free_reqs);
	pool_map_free(io->sums);
	pool_map_free(io->status);
	pool_map_free(io->iovs);
	pool_map_free(io);
}

int fstore_io_new(struct store *st, unsigned int depth, struct store_io **out)
{
	struct file_store *s = fstore_of(st);
	struct file_store_io *io;
	int err;

	if (!holder_check(s))
		return -EAGAIN;
	if (!depth)
		depth = STORE_IO_DEFAULT_DEPTH;
	io = pool_map_calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->base.store = &s->base;
	io->s = s;
	io->depth = depth;
	io->reqs = pool_map_calloc(depth, sizeof(*io->reqs));
	io->free_reqs = pool_map_calloc(depth, sizeof(*io->free_reqs));
	io->sums = pool_map_calloc(STORE_IO_CHUNK, sizeof(*io->sums));
	io->status = pool_map_calloc(STORE_IO_CHUNK, sizeof(*io->status));
	io->iovs = pool_map_calloc(STORE_IO_CHUNK, sizeof(*io->iovs));
	if (!io->reqs || !io->free_reqs || !io->sums || !io->status || !io->iovs) {
		err = -ENOMEM;
		goto out_free;
	}
	for (unsigned int i = 0; i < depth; i++)
		io->free_reqs[i] = depth - 1 - i;
	io->nfree = depth;

	/* Completions are reaped by the submitting thread only, so it need
	 * not be interrupted to run their task work. */
	err = ring_open(&io->ring, depth, IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);
	if (err == -EINVAL)
		err = ring_open(&io->ring, depth, IORING_SETUP_COOP_TASKRUN);
	if (err == -EINVAL)
		err = ring_open(&io->ring, depth, 0);
	if (err) {
		log_error("store: io_uring with %u entries: %s", depth, strerror(-err));
		goto out_free;
	}
	/* A registered file spares a file table lookup per request, and
	 * pins the file itself: the ring writes to the store even if the
	 * program later reuses the number. So make sure, before, that the
	 * number still is the store. */
	fdreg_check(s->fd);
	io->fixed_file = io_uring_register_files(&io->ring, &s->fd, 1) == 0;
	*out = &io->base;
	return 0;

out_free:
	io_free(io);
	return err;
}

static void io_release(struct file_store_io *io)
{
	/*
	 * For a ring whose descriptor was never registered with
	 * io_uring_register_ring_fd() (the store never does), liburing's
	 * io_uring_queue_exit() only unmaps the SQEs and the rings and closes
	 * the ring descriptor: no io_uring_enter(), no io_uring_register().
	 * That is all fstore_io_forget() may do to a parent's ring.
	 */
	fdreg_forget(io->ring.ring_fd);
	io_uring_queue_exit(&io->ring);
	io_free(io);
}

void fstore_io_free(struct store_io *sio)
{
	struct file_store_io *io = fstore_io_of(sio);

	if (io)
		io_release(io);
}

void fstore_io_forget(struct store_io *sio)
{
	struct file_store_io *io = fstore_io_of(sio);

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
static void req_queue(struct file_store_io *io, struct io_req *r, bool write)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	int fd = io->fixed_file ? 0 : io->s->fd;

	if (r->vec) {
		/* From the page the transfer stopped in, the rest of it
		 * first: the kernel has read the vector by completion. */
		size_t ps = io->s->page_size;
		unsigned int k0 = (unsigned int)(r->done / ps);
		size_t in = r->done % ps;
		struct iovec *v = &io->iovs[r->first + k0];

		for (unsigned int k = k0; k < r->count; k++)
			io->iovs[r->first + k] = (struct iovec){
				.iov_base = (char *)r->pages[k] + (k == k0 ? in : 0),
				.iov_len = ps - (k == k0 ? in : 0),
			};
		if (write)
			io_uring_prep_writev(sqe, fd, v, r->count - k0, r->off + r->done);
		else
			io_uring_prep_readv(sqe, fd, v, r->count - k0, r->off + r->done);
	} else if (write)
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
static void req_finish(struct file_store_io *io, struct io_req *r, int err, int *st,
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

static void req_complete(struct file_store_io *io, struct io_uring_cqe *cqe, bool write,
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
/*
 * A reader polls the ring for its completion before it sleeps: reads are
 * swap-ins a program thread is waiting on, and a sleeping thread whose
 * CPU went idle is woken well after its completion came (sleeping most
 * of the expected time and polling only the tail gave the CPU away at
 * each sleep when other processes competed for it). The poll yields each
 * turn, so a runnable thread on this CPU is not kept waiting. It lasts
 * three times what polls that found their completion took
 * (READ_POLL_MIN_NS to READ_POLL_MAX_NS), and while most polls give up
 * (a slow or busy device, where polling for each read that then slept
 * anyway took a large share of the CPU) only one read in READ_POLL_PROBE
 * polls, to learn when it pays again (docs/BENCHMARKS.md, "Design
 * figures": polling for a swap-in read). With
 * IORING_SETUP_TASKRUN_FLAG a peek enters the kernel only when
 * completions wait for their task work, instead of once per turn.
 * Writes (eviction, in the background) sleep.
 */
#define READ_POLL_MIN_NS 50000u
#define READ_POLL_MAX_NS 200000u
#define READ_POLL_PROBE 8u

/* Poll for a completion as the comment above says; true when one is
 * there, false to sleep until it is. */
static bool poll_for_read(struct file_store_io *io)
{
	struct io_uring_cqe *cqe;
	uint64_t t0, t, budget = io->poll_ns * 3;
	bool found = false;

	if (io->poll_misses > 128 && io->reads++ % READ_POLL_PROBE)
		return false;
	if (budget < READ_POLL_MIN_NS)
		budget = READ_POLL_MIN_NS;
	if (budget > READ_POLL_MAX_NS)
		budget = READ_POLL_MAX_NS;
	t0 = clock_now_ns();
	do {
		if (io_uring_peek_cqe(&io->ring, &cqe) == 0) {
			found = true;
			break;
		}
		if (!(io->ring.flags & IORING_SETUP_TASKRUN_FLAG))
			io_uring_get_events(&io->ring);
		sched_yield();
	} while ((t = clock_now_ns()) - t0 < budget);
	io->poll_misses = io->poll_misses - io->poll_misses / 8 + (found ? 0 : 256 / 8);
	if (found) {
		t = clock_now_ns() - t0;
		io->poll_ns = io->poll_ns ? io->poll_ns - io->poll_ns / 8 + t / 8 : t;
	}
	return found;
}

/* Submit what is queued (and wait for @wait completions), counting the
 * calls that submitted something and what they submitted. */
static int ring_submit(struct file_store_io *io, bool write, unsigned int wait)
{
	struct file_store *s = io->s;
	int ret = wait ? io_uring_submit_and_wait(&io->ring, wait) : io_uring_submit(&io->ring);

	if (ret > 0) {
		stat_add(write ? &s->write_submits : &s->read_submits, 1);
		stat_add(write ? &s->write_sqes : &s->read_sqes, (uint64_t)ret);
	}
	return ret;
}

static void ring_reap(struct file_store_io *io, bool write, int *st,
		      const uint64_t *slots, struct io_fail *fail)
{
	struct io_uring_cqe *cqe;
	int ret;

	if (!write) {
		ret = ring_submit(io, false, 0);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			goto out_broken;
		if (poll_for_read(io))
			goto reap;
	}
	for (;;) {
		ret = ring_submit(io, write, 1);
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
reap:
	while (io_uring_peek_cqe(&io->ring, &cqe) == 0)
		req_complete(io, cqe, write, st, slots, fail);
	return;

out_broken:
	if (ret == -EBADF)
		fdreg_lost(io->ring.ring_fd, ret);
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
 * Transfer pages [0, n) (n <= STORE_IO_CHUNK, within IOV_MAX) whose st[i]
 * is IO_TODO, coalescing runs, and leave st[i] = 0 or -EIO. Returns the
 * requests submitted.
 */
static unsigned int io_chunk(struct file_store_io *io, bool write, const uint64_t *slots,
			     void *const *pages, unsigned int n, int *st,
			     struct io_fail *fail)
{
	struct file_store *s = io->s;
	unsigned int ios = 0;

	for (unsigned int i = 0, j; i < n && !io->broken; i = j) {
		struct io_req *r;
		bool vec = false;

		if (st[i] != IO_TODO) {
			j = i + 1;
			continue;
		}
		for (j = i + 1; j < n && st[j] == IO_TODO && slots[j] == slots[j - 1] + 1; j++)
			vec |= (char *)pages[j] != (char *)pages[j - 1] + s->page_size;
		while (!io->nfree && !io->broken)
			ring_reap(io, write, st, slots, fail);
		if (io->broken)
			break;
		r = &io->reqs[io->free_reqs[--io->nfree]];
		io->outstanding++;
		*r = (struct io_req){
			.buf = pages[i],
			.pages = pages + i,
			.vec = vec,
			.off = fstore_slot_offset(s, slots[i]),
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
			fail_note(fail, slots[i], fstore_slot_offset(s, slots[i]), -EIO, 1);
			stat_add(&s->io_errors, 1);
		}
	}
	return ios;
}

static void fail_log(const struct file_store *s, const char *what, const struct io_fail *f)
{
	if (f->n)
		log_error("store: %s of slot %" PRIu64 " (offset %" PRIu64 ") in %s: %s"
			  " (%u page(s) failed in this batch)",
			  what, f->slot, f->off, s->path, strerror(-f->err), f->n);
}

int fstore_write(struct store_io *sio, const uint64_t *slots, void *const *pages,
		 unsigned int n)
{
	struct file_store_io *io = fstore_io_of(sio);
	struct file_store *s = io->s;
	struct io_fail fail = { 0 };
	uint64_t t0 = clock_now_ns(), written = 0, ios = 0;
	int ret = 0;

	if (!holder_check(s))
		return -EAGAIN;
	/* Without a registered file the ring writes to the number: once a
	 * batch, it must still be the store's. */
	if (!io->fixed_file)
		fdreg_check(s->fd);
	for (unsigned int base = 0; base < n; base += STORE_IO_CHUNK) {
		unsigned int m = n - base < STORE_IO_CHUNK ? n - base : STORE_IO_CHUNK;
		const uint64_t *sl = slots + base;
		int *st = io->status;

		/* The old contents are going away: until the write is known
		 * to be complete, the slot matches nothing. */
		shared_lock(s);
		for (unsigned int i = 0; i < m; i++) {
			st[i] = store_slot_is_held(s, sl[i], "write", true) ? IO_TODO : -EINVAL;
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
		hist_record(&s->base.write_ns, clock_now_ns() - t0);
	fail_log(s, "write", &fail);
	return ret;
}

int fstore_read(struct store_io *sio, const uint64_t *slots, void *const *pages,
		unsigned int n, int *results)
{
	struct file_store_io *io = fstore_io_of(sio);
	struct file_store *s = io->s;
	struct io_fail fail = { 0 }, bad = { 0 };
	uint64_t t0 = clock_now_ns(), good = 0, ios = 0;
	int ret = 0;

	if (!holder_check(s))
		return store_read_refused(n, results);
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
				fail_note(&bad, sl[i], fstore_slot_offset(s, sl[i]), -EBADMSG, 1);
			}
		}
	}
	stat_add(&s->pages_read, good);
	stat_add(&s->read_ios, ios);
	if (n)
		hist_record(&s->base.read_ns, clock_now_ns() - t0);
	fail_log(s, "read", &fail);
	fail_log(s, "checksum", &bad);
	return ret;
}
