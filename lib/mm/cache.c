/* SPDX-License-Identifier: MIT */
/*
 * cache.c - shared objects' page cache: pages read in on first touch
 * (from the file, a swap slot, or zeros) into the object's memfd, staged
 * and evicted under a budget, and written back to the file. The fault
 * kinds map them into regions from there (fault-shared.c) and copy them
 * on the first write through a private mapping (fault-private.c).
 *
 * Why a memfd: a page in it is one physical page however many regions
 * map it (the kernel's page cache gives that for free), punching it out
 * takes it out of every mapping at once, and userfaultfd reports a page
 * the memfd holds but a region does not map as a cheap minor fault
 * (UFFDIO_CONTINUE maps it, no copy). A page the memfd lacks is read
 * into a bounce buffer and written into the memfd before it is mapped.
 */
#define _GNU_SOURCE
#include "mm/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "os/fdreg.h"
#include "core/log.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "mm/reclaim.h"
#include "store/store.h"

/* Most cache pages staged together (one madvise per mapping). */
#define CACHE_STAGE_MAX 64u

static bool has_budget(const struct upager *p)
{
	return reclaim_has_budget(&p->rc);
}

/* Do @obj's pages take frames? Not a pinned object's (object.h). */
static bool framed(const struct upager *p, const struct object *obj)
{
	return has_budget(p) && !obj->pinned;
}

static int punch(struct upager *p, struct object *obj, uint64_t pgoff, uint64_t n)
{
	fdreg_check(obj->cache_fd);
	if (fallocate(obj->cache_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(pgoff * p->page_size), (off_t)(n * p->page_size)))
		return -errno;
	return 0;
}

/* Without a budget nothing counts frames: count resident pages here. */
static void account(struct upager *p, int64_t pages)
{
	atomic_fetch_add_explicit(&p->stats.cache_pages, pages, memory_order_relaxed);
	if (!has_budget(p))
		atomic_fetch_add_explicit(&p->stats.pages_resident, pages, memory_order_relaxed);
}

/*
 * Put pages [pgoff, pgoff + n) from @buf into a pinned object's memfd,
 * each only if it is not there yet: the process it is shared with may
 * have put it there meanwhile (and written to it since), and its version
 * stands. UFFDIO_COPY into a shared mapping of the memfd creates a page
 * atomically or fails with EEXIST. Returns 0 or -errno.
 */
static int fill_window(struct upager *p, struct object *obj, const char *buf, uint64_t pgoff,
		       uint32_t n)
{
	size_t ps = p->page_size;
	uint32_t k = 0;

	while (k < n) {
		long done = p->be_ops->copy(p->be, (uintptr_t)obj->window + (pgoff + k) * ps,
					    buf + k * ps, (n - k) * ps);

		if (done > 0)
			k += (uint32_t)((size_t)done / ps);
		else if (done == -EEXIST)
			k++; /* theirs */
		else
			return done < 0 ? (int)done : -EIO;
	}
	/* The window's own mapping of the pages goes; the memfd keeps them. */
	reclaim_zap(p, (uintptr_t)obj->window + pgoff * ps, n * ps);
	return 0;
}

int cache_pin_inject;

int cache_pin(struct upager *p, struct object *obj)
{
	size_t len = obj->cache_pages * p->page_size;
	void *w;
	int err;

	if (obj->pinned)
		return 0;
	if (cache_pin_inject)
		return cache_pin_inject;
	w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, obj->cache_fd, 0);
	if (w == MAP_FAILED)
		return -errno;
	err = p->be_ops->attach(p->be, (uintptr_t)w, (uintptr_t)w + len, BACKEND_SHARED);
	if (err) {
		munmap(w, len);
		return err;
	}
	obj->window = w;
	obj->window_len = len;
	/* Its pages leave the budget: they stay in memory from now on. */
	for (uint64_t i = 0; i < obj->pages; i++) {
		struct page_entry *e = &obj->pte[i];

		if (e->state != PAGE_RESIDENT && e->state != PAGE_STAGED)
			continue;
		if (has_budget(p))
			frames_release(&p->rc.frames, e->frame);
		e->state = PAGE_RESIDENT;
	}
	obj->pinned = true;
	return 0;
}

static void account_shared(struct upager *p, int64_t pages)
{
	atomic_fetch_add_explicit(&p->stats.private_shared, pages, memory_order_relaxed);
}

/*
 * Read pages [pgoff, pgoff + n) of @obj, which were @was (ABSENT or
 * SWAPPED), into ctx->bounce. Page lock not held (the pages are SWAPIN).
 * Returns how many pages from the first were read intact; *@why says
 * why the next one was not (-ENXIO: past the end of the file).
 */
static uint32_t read_pages(struct upager *p, struct fault_ctx *ctx, struct object *obj,
			   uint64_t pgoff, uint32_t n, enum page_state was, int *why)
{
	size_t ps = p->page_size;
	uint32_t ok = 0;

	*why = 0;
	if (obj->kind == OBJ_FILE) {
		ssize_t got = object_file_read(obj, ctx->bounce, n * ps, pgoff * ps);

		/* A read ahead that failed may have failed for a page after
		 * the one the fault needs: read them one by one, as the
		 * kernel falls back from a failed read-ahead. */
		if (got < 0 && n > 1) {
			ssize_t one = 0;
			uint32_t k;

			for (k = 0; k < n; k++) {
				one = object_file_read(obj, ctx->bounce + k * ps, ps,
						       (pgoff + k) * ps);
				if (one != (ssize_t)ps)
					break;
			}
			if (k < n && one < 0)
				*why = (int)one;
			got = k || one >= 0 ? (ssize_t)(k * ps) + (k < n && one > 0 ? one : 0) : one;
		}
		if (got < 0) {
			if (!*why)
				*why = (int)got;
			return 0;
		}
		ok = (uint32_t)(((size_t)got + ps - 1) / ps);
		/* The last page of a file reads as zeros past its end. */
		if ((size_t)got % ps)
			memset(ctx->bounce + got, 0, ps - (size_t)got % ps);
		if (ok < n && !*why)
			*why = -ENXIO;
		return ok;
	}
	if (was == PAGE_ABSENT) {
		memset(ctx->bounce, 0, n * ps);
		return n;
	}
	for (uint32_t k = 0; k < n; k++) {
		ctx->slots[k] = object_entry(obj, pgoff + k)->slot;
		ctx->bufs[k] = ctx->bounce + k * ps;
	}
	store_read(ctx->io, ctx->slots, ctx->bufs, n, ctx->results);
	while (ok < n && !ctx->results[ok])
		ok++;
	if (ok < n)
		*why = ctx->results[ok];
	return ok;
}

/*
 * Bring pages of shared object @obj from @pgoff on (up to @want) into its
 * cache: read them, write them into the memfd, take their frames. Page
 * lock held, dropped during the read. Returns as cache_get().
 */
static int read_in(struct upager *p, struct fault_ctx *ctx, struct object *obj,
		   uint64_t pgoff, uint64_t want, uint64_t *n_out)
{
	struct frames *fr = &p->rc.frames;
	enum page_state was = object_entry(obj, pgoff)->state;
	uint64_t free_frames = framed(p, obj) ? frames_count(fr, FRAME_FREE) : SWAPIN_MAX;
	size_t ps = p->page_size;
	uint32_t n, ok;
	bool io;
	int why;

	if (!free_frames)
		return CACHE_NO_FRAME;
	if (want > p->rc.readahead_max)
		want = p->rc.readahead_max;
	if (want > free_frames)
		want = free_frames;
	n = (uint32_t)object_run(obj, pgoff, want, was);
	for (uint32_t k = 0; k < n; k++) {
		if (framed(p, obj))
			ctx->frames[k] = frames_take(fr, obj, pgoff + k, 0, FRAME_HELD);
		object_entry(obj, pgoff + k)->state = PAGE_SWAPIN;
	}
	if (framed(p, obj))
		reclaim_note_taken(p);
	/* Zeros need no I/O: the page lock stays (a handler that may not
	 * wait could not take it back). */
	io = obj->kind == OBJ_FILE || was == PAGE_SWAPPED;
	if (io)
		pthread_mutex_unlock(&p->rc.lock);
	ok = read_pages(p, ctx, obj, pgoff, n, was, &why);
	if (ok && io)
		fdreg_check(obj->cache_fd); /* cheap beside the read */
	if (ok) {
		int err = obj->pinned ? fill_window(p, obj, ctx->bounce, pgoff, ok)
				      : pwrite_full(obj->cache_fd, ctx->bounce, ok * ps, pgoff * ps);

		if (err) {
			log_error("cache: filling the memfd at page %lu: %s",
				  (unsigned long)pgoff, strerror(-err));
			why = err;
			ok = 0;
		}
	}
	if (io)
		pthread_mutex_lock(&p->rc.lock);
	for (uint32_t k = 0; k < n; k++) {
		struct page_entry *e = object_entry(obj, pgoff + k);

		if (k < ok) {
			e->state = PAGE_RESIDENT;
			if (framed(p, obj)) {
				e->frame = ctx->frames[k];
				frames_move(fr, ctx->frames[k], FRAME_ACTIVE);
			}
			if (obj->kind == OBJ_FILE && obj->written)
				obj->sums[pgoff + k] = XXH3_128bits(ctx->bounce + k * ps, ps);
			continue;
		}
		if (framed(p, obj))
			frames_release(fr, ctx->frames[k]);
		e->state = was;
		/* A slot that cannot be read back intact is never served;
		 * a file read that failed is tried again by the next touch. */
		if (k == ok && obj->kind == OBJ_SHMEM && why) {
			e->poisoned = 1;
			log_error("cache: shared page %lu: slot %lu %s", (unsigned long)(pgoff + k),
				  (unsigned long)e->slot,
				  why == -EBADMSG ? "fails its checksum" : strerror(-why));
		}
	}
	pthread_cond_broadcast(&p->rc.io_done);
	if (obj->kind == OBJ_FILE)
		stat_add(&p->stats.file_reads, ok);
	else if (was == PAGE_SWAPPED)
		stat_add(&p->stats.swapins, ok);
	else
		stat_add(&p->stats.zero_fills, ok);
	if (ok > 1)
		stat_add(&p->stats.readahead_pages, ok - 1);
	account(p, ok);
	if (!ok)
		return why ? why : -EIO;
	*n_out = ok;
	return 0;
}

int cache_get(struct upager *p, struct fault_ctx *ctx, struct object *obj, uint64_t pgoff,
	      uint64_t want, unsigned int access, uint64_t *n)
{
	struct page_entry *e = object_entry(obj, pgoff);

	if (e->poisoned)
		return -EBADMSG;
	if (obj->pinned) {
		/* The memfd is the truth, whatever this process's entries
		 * say: a minor fault means the page is there (the other
		 * process may have brought it in), a missing one that it is
		 * not. */
		bool in_flight = e->state == PAGE_SWAPIN || e->state == PAGE_WRITEBACK;

		if ((access & FAULT_MINOR) && !in_flight) {
			if (e->state != PAGE_RESIDENT)
				account(p, 1);
			e->state = PAGE_RESIDENT;
			*n = 1;
			return 0;
		}
		if (!(access & FAULT_MINOR) &&
		    (e->state == PAGE_RESIDENT || e->state == PAGE_STAGED)) {
			account(p, -1);
			e->state = e->has_slot ? PAGE_SWAPPED : PAGE_ABSENT;
		}
	}
	switch (e->state) {
	case PAGE_RESIDENT:
		*n = object_run(obj, pgoff, want, PAGE_RESIDENT);
		return 0;
	case PAGE_STAGED:
		/* Touched on the inactive list: back, no I/O. */
		e->state = PAGE_RESIDENT;
		frames_move(&p->rc.frames, e->frame, FRAME_ACTIVE);
		stat_add(&p->stats.reactivations, 1);
		*n = 1;
		return 0;
	case PAGE_WRITEBACK:
	case PAGE_SWAPIN:
		pthread_cond_wait(&p->rc.io_done, &p->rc.lock);
		return 1;
	default:
		return read_in(p, ctx, obj, pgoff, want, n);
	}
}

/*
 * Take pages [pgoff, pgoff + n) of @obj out of every region mapping them;
 * the memfd keeps them. A private mapping loses only the pages that still
 * map the object's page (its own copies stay). Page lock held: a touch
 * now faults and waits for it.
 */
static void unmap_everywhere(struct upager *p, struct object *obj, uint64_t pgoff, uint64_t n)
{
	size_t ps = p->page_size;

	for (struct object_map *m = obj->maps; m; m = m->next) {
		uint64_t mpages = (m->end - m->start) / ps;
		uint64_t lo = pgoff > m->pgoff ? pgoff : m->pgoff;
		uint64_t hi = pgoff + n < m->pgoff + mpages ? pgoff + n : m->pgoff + mpages;

		if (lo >= hi)
			continue;
		if (!m->anon) {
			reclaim_zap(p, m->start + (lo - m->pgoff) * ps, (hi - lo) * ps);
			continue;
		}
		for (uint64_t i = lo, j; i < hi; i = j + 1) {
			for (j = i; j < hi; j++) {
				struct page_entry *le = object_entry(m->anon, j);

				if (le->state != PAGE_ABSENT || !(le->flags & PE_MAPS_BACKING))
					break;
				le->flags = 0;
			}
			if (j > i) {
				reclaim_zap(p, m->start + (i - m->pgoff) * ps, (j - i) * ps);
				account_shared(p, -(int64_t)(j - i));
			}
		}
	}
}

int cache_stage(struct upager *p, uint32_t first)
{
	struct frames *fr = &p->rc.frames;
	struct object *obj = fr->f[first].obj;
	uint64_t pgoff = fr->f[first].pgoff;
	uint32_t run[CACHE_STAGE_MAX], k = 1;

	run[0] = first;
	for (uint32_t j = frames_next(fr, first); j != FRAME_NONE && k < CACHE_STAGE_MAX;
	     j = frames_next(fr, j), k++) {
		if (fr->f[j].obj != obj || fr->f[j].pgoff != pgoff + k)
			break;
		run[k] = j;
	}
	unmap_everywhere(p, obj, pgoff, k);
	for (uint32_t m = 0; m < k; m++) {
		object_entry(obj, pgoff + m)->state = PAGE_STAGED;
		frames_move(fr, run[m], FRAME_STAGED);
	}
	stat_add(&p->stats.staged, k);
	return 0;
}

/* Punch the pages of frames @idx[0..n) (indexes into @frames) out of
 * their memfds, coalescing runs, and give the frames back. */
static void drop_pages(struct upager *p, const uint32_t *frames, const uint32_t *idx, uint32_t n)
{
	struct frames *fr = &p->rc.frames;

	for (uint32_t k = 0, run; k < n; k += run) {
		const struct frame *f = &fr->f[frames[idx[k]]];
		int err;

		for (run = 1; k + run < n; run++) {
			const struct frame *g = &fr->f[frames[idx[k + run]]];

			if (g->obj != f->obj || g->pgoff != f->pgoff + run)
				break;
		}
		err = punch(p, f->obj, f->pgoff, run);
		if (err)
			log_error("cache: punching %u pages out of the memfd: %s", run, strerror(-err));
		for (uint32_t m = 0; m < run; m++)
			frames_release(fr, frames[idx[k + m]]);
		account(p, -(int64_t)run);
	}
}

/* Write the dirty file pages of frames[@idx[0..n)] (their contents in
 * bounce pages @idx[i], see cache_evict()) to their files, clipped to the end
 * of each file. Page lock not held. Returns 0 or -errno. */
static int write_file_pages(struct upager *p, struct fault_ctx *ctx, const uint32_t *frames,
			    const uint32_t *idx, uint32_t n)
{
	struct frames *fr = &p->rc.frames;
	size_t ps = p->page_size;
	int err = 0;

	for (uint32_t k = 0, run; k < n; k += run) {
		const struct frame *f = &fr->f[frames[idx[k]]];
		struct stat st;
		uint64_t off = f->pgoff * ps, end;

		for (run = 1; k + run < n && idx[k + run] == idx[k] + run; run++) {
			const struct frame *g = &fr->f[frames[idx[k + run]]];

			if (g->obj != f->obj || g->pgoff != f->pgoff + run)
				break;
		}
		if (fstat(f->obj->file_fd, &st)) {
			err = -errno;
			continue;
		}
		/* Pages past the end of the file (it was truncated) are
		 * dropped, as the kernel drops them. */
		end = off + run * ps;
		if (end > (uint64_t)st.st_size)
			end = (uint64_t)st.st_size;
		if (end > off) {
			int e = object_file_write(f->obj, ctx->bounce + idx[k] * ps,
						  (size_t)(end - off), off);

			if (e && !err)
				err = e;
		}
	}
	return err;
}

int cache_evict(struct upager *p, struct fault_ctx *ctx, const uint32_t *in, uint32_t n)
{
	struct frames *fr = &p->rc.frames;
	uint32_t frames[RECLAIM_BATCH], nf = 0;
	size_t ps = p->page_size;
	uint32_t drop[RECLAIM_BATCH], dirty[RECLAIM_BATCH], ndrop = 0, ndirty = 0, freed;
	uint32_t unread[RECLAIM_BATCH], nunread = 0;
	uint32_t nfile = 0, nslot = 0;
	int err = 0, file_err = 0, slot_err = 0;

	if (n > RECLAIM_BATCH)
		n = RECLAIM_BATCH;
	/* Only pages still staged: the page lock may have been dropped
	 * since they were picked, and a touch brings a page back. */
	for (uint32_t k = 0; k < n; k++) {
		const struct frame *f = &fr->f[in[k]];
		const struct page_entry *e = object_entry(f->obj, f->pgoff);

		if (f->list == FRAME_STAGED && e->state == PAGE_STAGED && e->frame == in[k])
			frames[nf++] = in[k];
	}
	/* Pages of a file no writable shared mapping ever mapped are the
	 * file's: dropped unread. */
	n = nf;
	nf = 0;
	for (uint32_t k = 0; k < n; k++) {
		const struct frame *f = &fr->f[frames[k]];

		if (f->obj->kind == OBJ_FILE && !f->obj->written) {
			object_entry(f->obj, f->pgoff)->state = PAGE_ABSENT;
			stat_add(&p->stats.clean_drops, 1);
			unread[nunread] = frames[k];
			drop[nunread] = nunread;
			nunread++;
		} else {
			frames[nf++] = frames[k];
		}
	}
	if (nunread)
		drop_pages(p, unread, drop, nunread);
	freed = nunread;
	n = nf;
	if (!n)
		return (int)freed;
	/* The pages' contents, into the bounce buffer (page k for frame k);
	 * mapped nowhere now, nobody can change them while the page lock
	 * is held. */
	for (uint32_t k = 0, run; k < n; k += run) {
		const struct frame *f = &fr->f[frames[k]];
		ssize_t got;

		for (run = 1; k + run < n; run++)
			if (fr->f[frames[k + run]].obj != f->obj ||
			    fr->f[frames[k + run]].pgoff != f->pgoff + run)
				break;
		got = pread_full(f->obj->cache_fd, ctx->bounce + k * ps, run * ps, f->pgoff * ps);
		if (got != (ssize_t)(run * ps)) {
			log_error("cache: reading %u pages back from the memfd: %s", run,
				  got < 0 ? strerror((int)-got) : "short read");
			return -EIO;
		}
	}
	for (uint32_t k = 0; k < n; k++) {
		const struct frame *f = &fr->f[frames[k]];
		struct page_entry *e = object_entry(f->obj, f->pgoff);
		const char *page = ctx->bounce + k * ps;

		if (f->obj->kind == OBJ_FILE) {
			if (XXH128_isEqual(XXH3_128bits(page, ps), f->obj->sums[f->pgoff])) {
				e->state = PAGE_ABSENT;
				stat_add(&p->stats.clean_drops, 1);
				drop[ndrop++] = k;
				continue;
			}
		} else if (reclaim_page_is_zero(page, ps)) {
			reclaim_put_slot(p, e);
			e->state = PAGE_ABSENT;
			stat_add(&p->stats.zero_drops, 1);
			drop[ndrop++] = k;
			continue;
		} else if (e->has_slot && store_slot_matches(p->rc.store, e->slot, page)) {
			e->state = PAGE_SWAPPED;
			stat_add(&p->stats.clean_drops, 1);
			drop[ndrop++] = k;
			continue;
		} else if (reclaim_slot_for(p, e)) {
			slot_err = -ENOSPC;
			continue; /* stays staged: no slot for it */
		}
		e->state = PAGE_WRITEBACK;
		dirty[ndirty++] = k;
	}
	drop_pages(p, frames, drop, ndrop);
	freed += ndrop;
	if (slot_err)
		stat_add(&p->stats.swap_full, 1);
	if (!ndirty)
		return freed ? (int)freed : slot_err ? slot_err : 0;

	/* Shared anonymous pages go to their slots, file pages to their
	 * files; written from the bounce buffer, not the memfd, so what is
	 * written is what was examined. */
	for (uint32_t i = 0; i < ndirty; i++) {
		const struct frame *f = &fr->f[frames[dirty[i]]];

		if (f->obj->kind == OBJ_FILE) {
			nfile++;
			continue;
		}
		ctx->slots[nslot] = object_entry(f->obj, f->pgoff)->slot;
		ctx->bufs[nslot++] = ctx->bounce + dirty[i] * ps;
	}
	pthread_mutex_unlock(&p->rc.lock);
	if (nslot)
		err = store_write(ctx->io, ctx->slots, ctx->bufs, nslot);
	if (nfile) {
		uint32_t fidx[RECLAIM_BATCH], nfidx = 0;

		for (uint32_t i = 0; i < ndirty; i++)
			if (fr->f[frames[dirty[i]]].obj->kind == OBJ_FILE)
				fidx[nfidx++] = dirty[i];
		file_err = write_file_pages(p, ctx, frames, fidx, nfidx);
		if (file_err)
			log_error("cache: writing %u pages back to their file: %s", nfidx,
				  strerror(-file_err));
	}
	pthread_mutex_lock(&p->rc.lock);
	ndrop = 0;
	for (uint32_t i = 0; i < ndirty; i++) {
		const struct frame *f = &fr->f[frames[dirty[i]]];
		struct page_entry *e = object_entry(f->obj, f->pgoff);
		bool file = f->obj->kind == OBJ_FILE;

		/* Not written, or not known to be (which pages of a failed
		 * file write made it is not known): keep it in memory, and
		 * never trust its slot. */
		if (file ? file_err : err) {
			if (!file)
				reclaim_put_slot(p, e);
			e->state = PAGE_STAGED;
			continue;
		}
		e->state = file ? PAGE_ABSENT : PAGE_SWAPPED;
		stat_add(file ? &p->stats.file_writes : &p->stats.writebacks, 1);
		drop[ndrop++] = dirty[i];
	}
	drop_pages(p, frames, drop, ndrop);
	freed += ndrop;
	pthread_cond_broadcast(&p->rc.io_done);
	if (err)
		log_error("cache: writing %u shared pages to swap: %s", nslot, strerror(-err));
	return freed ? (int)freed : -EIO;
}

int cache_sync(struct upager *p, struct object *obj, uint64_t pgoff, uint64_t n, bool durable)
{
	size_t ps = p->page_size;
	uint64_t end = pgoff + n, written = 0;
	char *buf;
	int err = 0;

	if (obj->kind != OBJ_FILE || !obj->written)
		return 0; /* nothing can have changed */
	if (end > obj->pages)
		end = obj->pages;
	buf = mmap(NULL, SWAPIN_MAX * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (buf == MAP_FAILED)
		return -ENOMEM;
	/* No eviction meanwhile: its write of a page and ours must not
	 * pass each other. Faults go on (those needing a frame wait). */
	pthread_mutex_lock(&p->rc.reclaim_lock);
	pthread_mutex_lock(&p->rc.lock);
	for (uint64_t i = pgoff, run; i < end; i += run) {
		XXH128_hash_t sums[SWAPIN_MAX];
		bool dirty[SWAPIN_MAX];
		ssize_t got;
		struct stat st;

		for (run = 0; i + run < end && run < SWAPIN_MAX; run++) {
			uint8_t s = object_entry(obj, i + run)->state;

			if (s != PAGE_RESIDENT && s != PAGE_STAGED)
				break;
		}
		if (!run) {
			run = 1;
			continue;
		}
		got = pread_full(obj->cache_fd, buf, run * ps, i * ps);
		if (got != (ssize_t)(run * ps)) {
			err = -EIO;
			break;
		}
		for (uint64_t k = 0; k < run; k++) {
			sums[k] = XXH3_128bits(buf + k * ps, ps);
			dirty[k] = !XXH128_isEqual(sums[k], obj->sums[i + k]);
		}
		/* Pages changed after the copy stay dirty by their sums. */
		pthread_mutex_unlock(&p->rc.lock);
		if (fstat(obj->file_fd, &st))
			err = -errno;
		for (uint64_t k = 0, d; !err && k < run; k += d) {
			uint64_t off = (i + k) * ps, stop;

			if (!dirty[k]) {
				d = 1;
				continue;
			}
			for (d = 1; k + d < run && dirty[k + d]; d++)
				;
			stop = off + d * ps < (uint64_t)st.st_size ? off + d * ps : (uint64_t)st.st_size;
			if (stop > off)
				err = object_file_write(obj, buf + k * ps, (size_t)(stop - off),
							off);
			written += d;
		}
		pthread_mutex_lock(&p->rc.lock);
		if (err)
			break;
		for (uint64_t k = 0; k < run; k++)
			if (dirty[k])
				obj->sums[i + k] = sums[k];
	}
	pthread_mutex_unlock(&p->rc.lock);
	pthread_mutex_unlock(&p->rc.reclaim_lock);
	munmap(buf, SWAPIN_MAX * ps);
	if (!err && durable && fdatasync(obj->file_fd))
		err = -errno;
	stat_add(&p->stats.file_writes, written);
	if (err)
		log_error("cache: writing pages back to the file: %s", strerror(-err));
	return err;
}

void cache_release(struct upager *p, struct object *obj)
{
	struct object **pp;

	cache_sync(p, obj, 0, obj->pages, false);
	reclaim_forget_range(p, obj, obj->base, obj->pages);
	for (pp = &p->shared_objects; *pp; pp = &(*pp)->next) {
		if (*pp == obj) {
			*pp = obj->next;
			break;
		}
	}
	object_free(obj);
}
