/* SPDX-License-Identifier: MIT */
/*
 * fault.c - the fault path: classify the faulting access against the
 * region tree the way the kernel's do_user_addr_fault() does, decide how
 * many pages to bring in, and have the backend install them.
 */
#include "mm/fault.h"
#include "mm/debug.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "mm/cache.h"
#include "mm/events.h"
#include "core/log.h"
#include "mm/pager.h"
#include "mm/reclaim.h"
#include "store/store.h"

void fault_streams_init(struct fault_streams *fs, unsigned int max_pages)
{
	memset(fs->s, 0, sizeof(fs->s));
	fs->clock = 0;
	fs->max = max_pages ? max_pages : 1;
	fs->start = 1;
	fs->fresh_open = false;
	fs->page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	pthread_mutex_init(&fs->lock, NULL);
}

void fault_streams_destroy(struct fault_streams *fs)
{
	pthread_mutex_destroy(&fs->lock);
}

unsigned int fault_streams_window(struct fault_streams *fs, uintptr_t page)
{
	unsigned int window;

	if (fs->max == 1)
		return 1;
	pthread_mutex_lock(&fs->lock);
	/* Fresh: halved already if the latest fresh stream went nowhere
	 * (fault_streams_advance() then halves fs->start). */
	window = fs->fresh_open && fs->start > 1 ? fs->start / 2 : fs->start;
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->next == page) {
			window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return window;
}

unsigned int fault_streams_window_down(struct fault_streams *fs, uintptr_t page)
{
	unsigned int window = 0;

	if (fs->max == 1)
		return 0;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->low == page + fs->page_size && s->next != page) {
			window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return window;
}

void fault_streams_advance_down(struct fault_streams *fs, uintptr_t low, uintptr_t page)
{
	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->low == page + fs->page_size) {
			s->window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			s->low = low;
			s->next = page + fs->page_size;
			s->last_use = ++fs->clock;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

void fault_streams_trim(struct fault_streams *fs, uintptr_t page, uintptr_t planned,
			uintptr_t end)
{
	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++)
		if (fs->s[i].window && fs->s[i].low == page && fs->s[i].next == planned)
			fs->s[i].next = end;
	if (fs->fresh_open && fs->fresh_next == planned)
		fs->fresh_next = end;
	pthread_mutex_unlock(&fs->lock);
}

void fault_streams_advance(struct fault_streams *fs, uintptr_t page, uintptr_t end)
{
	struct fault_stream *victim = &fs->s[0];
	unsigned int pages_done;

	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->next == page) {
			victim = s;
			break;
		}
		if (s->last_use < victim->last_use)
			victim = s;
	}
	/* The window a stream carries is what it was given; the next fault
	 * in sequence doubles it. A fresh stream starts at fs->start, which
	 * learns from whether the latest fresh stream went on. */
	if (victim->next == page && victim->window) {
		pages_done = victim->window * 2;
		if (fs->fresh_open && fs->fresh_next == page) {
			fs->fresh_open = false;
			if (fs->start < fs->max / 2)
				fs->start *= 2;
		}
	} else {
		if (fs->fresh_open && fs->start > 1)
			fs->start /= 2;
		pages_done = fs->start;
		fs->fresh_open = true;
		fs->fresh_next = end;
	}
	victim->window = pages_done > fs->max ? fs->max : pages_done;
	victim->low = page;
	victim->next = end;
	victim->last_use = ++fs->clock;
	pthread_mutex_unlock(&fs->lock);
}

static bool access_allowed(const struct region *r, unsigned int access)
{
	if (access & FAULT_WRITE)
		return r->prot & UPAGER_PROT_WRITE;
	/* As on x86: any mapping that is not PROT_NONE can be read. */
	return r->prot != UPAGER_PROT_NONE;
}

/* Move the install counters from @was pages to @now pages for one run.
 * The first page of a run is the fault's own; the rest are fault-around. */
static void count_installed(struct upager *pager, uint64_t was, uint64_t now)
{
	struct stats *s = &pager->stats;
	uint64_t around_was = was ? was - 1 : 0, around_now = now ? now - 1 : 0;

	atomic_fetch_add_explicit(&s->zero_fills, now - was, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->fault_around_pages, around_now - around_was,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->pages_resident, (int64_t)now - (int64_t)was,
				  memory_order_relaxed);
}

/*
 * Install a run of zero pages at @page: up to @max pages, clipped to the
 * region. Counts them, handles the races. Returns bytes installed (> 0),
 * 0 when the fault needs nothing more (raced, or the range vanished), or
 * -errno.
 */
static long install_zero_run(struct upager *pager, const struct region *r,
			     uintptr_t page, uint64_t max, unsigned int access)
{
	uintptr_t end = page + (uintptr_t)max * pager->page_size;
	uint64_t want, installed;
	long done;

	if (end > r->end || end < page)
		end = r->end;
	/* Count the pages before installing them: the ioctl wakes the
	 * faulting thread, which may read the statistics before this thread
	 * runs again. A short or failed install takes the excess back. */
	want = (end - page) / pager->page_size;
	count_installed(pager, 0, want);
	done = pager->be_ops->fill_zero(pager->be, page, end - page, access & FAULT_WRITE);
	installed = done > 0 ? (uint64_t)done / pager->page_size : 0;
	if (installed < want)
		count_installed(pager, want, installed);
	if (done == -EEXIST) {
		/* Another thread's fault (or fault-around) got there first:
		 * the page is in place, the waiter only needs waking. */
		stat_add(&pager->stats.faults_raced, 1);
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return 0;
	}
	if (done == -ENOENT || done == -EAGAIN) {
		/* The range was unmapped behind the tree's back (munmap by the
		 * program), or is changing and this handler may not wait: the
		 * thread retries and the kernel decides. */
		stat_add(&pager->stats.faults_dropped, 1);
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return 0;
	}
	if (done < 0)
		log_error("fault at 0x%lx: installing zero page: %s", (unsigned long)page,
			  strerror((int)-done));
	return done;
}

enum fault_result fault_sigbus(struct upager *pager, uintptr_t page, const char *why,
				      bool permanent)
{
	int err = permanent ? pager->be_ops->poison(pager->be, page)
			    : reclaim_poison_transient(pager, page);

	if (err == -EAGAIN) {
		/* The address space is changing (an event is being read):
		 * the thread faults again, and is answered then. */
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return FAULT_RESOLVED;
	}
	if (err == -EEXIST) {
		/* A page is there after all (the range was discarded and
		 * refilled meanwhile, or another handler's install got
		 * there): the access goes on, and no SIGBUS is counted. */
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return FAULT_RESOLVED;
	}
	stat_add(&pager->stats.sigbus, 1);
	log_error("fault at 0x%lx: SIGBUS: %s", (unsigned long)page, why);
	if (err) {
		log_error("fault at 0x%lx: cannot deliver SIGBUS: %s", (unsigned long)page,
			  strerror(-err));
		return FAULT_FAILED;
	}
	/* Only now, the reason written: the signal may end the process. */
	pager->be_ops->wake(pager->be, page, pager->page_size);
	return FAULT_RESOLVED;
}

void fault_no_frame(struct upager *pager, uintptr_t page, int err, enum fault_result *result)
{
	if (err == -EINTR) {
		/* Served after the events (fault_handle() applies them). */
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return;
	}
	*result = fault_sigbus(pager, page,
			       err == -ENOSPC ? "out of memory: frame budget full and swap store full"
			       : err == -EBUSY ? "out of memory: frame budget full and no page "
						 "could be staged"
			       : "out of memory: eviction failed", false);
}

int fault_reclaim(struct upager *pager, struct fault_ctx *ctx, uintptr_t page,
		  enum fault_result *result)
{
	int got = reclaim_frames(pager, ctx, RECLAIM_BATCH);

	if (got >= 0)
		return 1;
	fault_no_frame(pager, page, got, result);
	return 0;
}

/* Pages from @pgoff on that are @state, consecutive, within the region and
 * @max; for SWAPPED also in consecutive slots (one I/O reads them). */
static uint64_t run_of(struct upager *pager, const struct region *r, uintptr_t page,
		       uint64_t max, enum page_state state)
{
	uint64_t limit = (r->end - page) / pager->page_size;

	return object_run(r->object, region_page_index(r, page, pager->page_size),
			  max < limit ? max : limit, state);
}

/*
 * The run of zero pages to install for a first touch of @page: along a
 * stream walking up, from @page up (fault-around); along one walking
 * down (a buffer filled from its end, as sort(1) fills its own), from
 * below @page up to it. Returns its length in pages, from *@start; the
 * run always holds @page. For an object, only absent pages below.
 */
static uint64_t zero_window(struct upager *pager, const struct region *r, uintptr_t page,
			    uintptr_t *start)
{
	uint64_t n = fault_streams_window_down(&pager->streams, page);
	uint64_t below = (page - r->start) / pager->page_size;

	if (n <= 1) {
		*start = page;
		return fault_streams_window(&pager->streams, page);
	}
	if (n - 1 > below)
		n = below + 1;
	if (r->object) {
		uint64_t pgoff = region_page_index(r, page, pager->page_size), k;

		for (k = 1; k < n; k++) {
			const struct page_entry *e = object_entry(r->object, pgoff - k);

			if (e->state != PAGE_ABSENT || e->poisoned || e->has_slot)
				break;
		}
		n = k;
	}
	*start = page - (n - 1) * pager->page_size;
	return n;
}

/* Before installing @n pages of a zero run from @start for a fault on
 * @page, the streams learn which way it goes: the install wakes the
 * thread, whose next fault another handler may serve before this one
 * goes on. Returns where the run is planned to end. */
static uintptr_t zero_run_planned(struct upager *pager, const struct region *r, uintptr_t start,
				  uintptr_t page, uint64_t n)
{
	uintptr_t planned = start + n * pager->page_size;

	if (planned > r->end || planned < start)
		planned = r->end;
	if (start == page)
		fault_streams_advance(&pager->streams, page, planned);
	else
		fault_streams_advance_down(&pager->streams, start, page);
	return planned;
}

/* After the install of @done bytes: a run up that stopped short of
 * @planned gives the stream back what it did not map. */
static void zero_run_short(struct upager *pager, uintptr_t start, uintptr_t page,
			   uintptr_t planned, long done)
{
	if (start == page && done >= 0 && page + (uintptr_t)done < planned)
		fault_streams_trim(&pager->streams, page, planned, page + (uintptr_t)done);
}

/* A first touch (or a touch after discard) of a page of a budgeted
 * object: zero pages, each taking a frame. Page lock held on entry and
 * on return; a handler that may wait lets go of it across the install.
 * Returns 1 to look at the page again (reclaim dropped the lock), else
 * the result. */
static int fault_absent(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
			uintptr_t page, unsigned int access, enum fault_result *result)
{
	struct frames *fr = &pager->rc.frames;
	uint64_t pgoff, n, free_frames;
	uintptr_t start, planned;
	bool down = true;
	long done;

again:
	/* Counted again after a retry: the page lock was dropped. */
	free_frames = frames_count(fr, FRAME_FREE);
	if (!free_frames)
		return fault_reclaim(pager, ctx, page, result);
	n = zero_window(pager, r, page, &start);
	if (!down) {
		start = page;
		n = 1;
	}
	if (start == page)
		n = run_of(pager, r, page, n, PAGE_ABSENT);
	if (n > free_frames || n > RECLAIM_BATCH) {
		/* Short of frames: the faulting page first. */
		n = n > free_frames ? free_frames : n;
		n = n > RECLAIM_BATCH ? RECLAIM_BATCH : n;
		if (start != page)
			start = page - (n - 1) * pager->page_size;
	}
	pgoff = region_page_index(r, start, pager->page_size);
	/* Frames are taken before the install wakes the thread, so the
	 * budget's books never lag behind what the thread can see. */
	for (uint64_t k = 0; k < n; k++)
		ctx->frames[k] = frames_take(fr, r->object, pgoff + k,
					     start + k * pager->page_size, FRAME_HELD);
	reclaim_note_taken(pager);
	planned = zero_run_planned(pager, r, start, page, n);
	/*
	 * The install runs without the page lock: making the pages is most
	 * of a zero fill's time, and other threads' faults would queue
	 * behind it (docs/BENCHMARKS.md: random first touches under a
	 * budget, 2 threads, 140k -> 165k pages/s). Nothing can take what
	 * is in flight: the frames are held, which reclaim leaves alone, and
	 * the entries stay absent until the install returns, so another
	 * thread's fault on these pages meanwhile makes its own install,
	 * which the kernel refuses with EEXIST page by page. Events wait for the pager's
	 * lock, held for reading throughout. A reclaim round that finds
	 * every frame held waits for io_done, broadcast below. The last
	 * free handler keeps the page lock: it could not wait to take it
	 * back.
	 */
	if (ctx->may_block)
		pthread_mutex_unlock(&pager->rc.lock);
	done = install_zero_run(pager, r, start, n, access);
	if (ctx->may_block)
		pthread_mutex_lock(&pager->rc.lock);
	for (uint64_t k = 0; k < n; k++) {
		struct page_entry *e = object_entry(r->object, pgoff + k);

		if (done > 0 && k < (uint64_t)done / pager->page_size) {
			e->frame = ctx->frames[k];
			e->state = PAGE_RESIDENT;
			frames_move(fr, ctx->frames[k], FRAME_ACTIVE);
		} else {
			frames_release(fr, ctx->frames[k]);
		}
	}
	if (ctx->may_block)
		pthread_cond_broadcast(&pager->rc.io_done);
	if (done < 0) {
		*result = FAULT_FAILED;
		return 0;
	}
	if (start != page && start + (uintptr_t)done <= page) {
		/* A page below was there after all: this page alone, or the
		 * thread would fault here again and again. */
		down = false;
		goto again;
	}
	zero_run_short(pager, start, page, planned, done);
	return 0;
}

/* Page @k of a swap-in run is in place (@installed) or not: its entry,
 * its frame, and for a failed read the poison that keeps it from ever
 * being served. Returns 1 when it is in place. */
static int settle_swapped(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
			  uintptr_t page, uint32_t k, long done)
{
	struct frames *fr = &pager->rc.frames;
	uint64_t pgoff = region_page_index(r, page, pager->page_size) + k;
	struct page_entry *e = object_entry(r->object, pgoff);
	uintptr_t at = page + k * pager->page_size;

	if (done == (long)pager->page_size) {
		e->state = PAGE_RESIDENT;
		e->frame = ctx->frames[k];
		frames_move(fr, ctx->frames[k], FRAME_ACTIVE);
		return 1;
	}
	frames_release(fr, ctx->frames[k]);
	e->state = PAGE_SWAPPED;
	if (ctx->results[k] == -EBADMSG) {
		/* Corrupt on disk: this slot's data is never served. */
		e->poisoned = 1;
		log_error("swap-in at 0x%lx: slot %lu fails its checksum",
			  (unsigned long)at, (unsigned long)e->slot);
	} else if (ctx->results[k]) {
		e->poisoned = 1;
		log_error("swap-in at 0x%lx: %s", (unsigned long)at, strerror(-ctx->results[k]));
	} else if (done != -EEXIST && done != -EAGAIN && done != -ENOENT) {
		/* The data is intact in its slot: the next touch tries
		 * again. (EEXIST: another fault installed it; EAGAIN: the
		 * address space is changing; ENOENT: it went away.) */
		log_error("swap-in at 0x%lx: installing: %s", (unsigned long)at,
			  strerror(done < 0 ? (int)-done : EIO));
	}
	return 0;
}

/*
 * Install the pages read into ctx->bufs[0..n) at @page and take their
 * frames; pages whose read failed are poisoned (never served). Runs of
 * good pages go in with one UFFDIO_COPY each (the buffers are
 * consecutive): one ioctl and one wake-up instead of one per page.
 * @fault_k is the page the faulting thread waits for.
 */
static void install_swapped(struct upager *pager, struct fault_ctx *ctx,
			    const struct region *r, uintptr_t page, uint32_t n,
			    uint32_t fault_k, enum fault_result *result)
{
	size_t ps = pager->page_size;
	uint64_t pgoff = region_page_index(r, page, ps);
	uint32_t ok = 0, k = 0;

	while (k < n) {
		uint32_t run = 0;
		long done = -EIO;

		while (k + run < n && !ctx->results[k + run])
			run++;
		if (run > 1) {
			done = pager->be_ops->copy(pager->be, page + k * ps, ctx->bufs[k], run * ps);
			if (done > 0) {
				uint32_t in = (uint32_t)((size_t)done / ps);

				for (uint32_t j = 0; j < in; j++)
					ok += settle_swapped(pager, ctx, r, page, k + j, (long)ps);
				k += in;
				continue;
			}
		}
		/* One page: a failed read, a single page, or a run the
		 * kernel refused as a whole (a page of it exists). */
		if (!ctx->results[k])
			done = pager->be_ops->copy(pager->be, page + k * ps, ctx->bufs[k], ps);
		ok += settle_swapped(pager, ctx, r, page, k, done);
		if (k == fault_k && object_entry(r->object, pgoff + k)->poisoned)
			*result = fault_sigbus(pager, page + k * ps,
					       "swapped-out page could not be read back intact", true);
		else if (k == fault_k && done != (long)ps)
			/* Not installed, not lost: the thread faults again. */
			pager->be_ops->wake(pager->be, page + k * ps, ps);
		k++;
	}
	stat_add(&pager->stats.swapins, ok);
	if (ok > 1)
		stat_add(&pager->stats.readahead_pages, ok - 1);
}

/* Pages below @page, down from it, that are SWAPPED in descending
 * consecutive slots (one I/O reads them with it), within the region and
 * @max in all (@page included). */
static uint32_t run_below(struct upager *pager, const struct region *r, uintptr_t page,
			  uint32_t max)
{
	uint64_t pgoff = region_page_index(r, page, pager->page_size);
	uint64_t limit = (page - r->start) / pager->page_size + 1;
	const struct page_entry *top = object_entry(r->object, pgoff);
	uint32_t n = 1;

	if (limit > max)
		limit = max;
	while (n < limit) {
		const struct page_entry *e = object_entry(r->object, pgoff - n);

		if (e->state != PAGE_SWAPPED || e->poisoned || !e->has_slot ||
		    e->slot + n != top->slot)
			break;
		n++;
	}
	return n;
}

/* A touch of a page that lives only in swap: read it (and, for a
 * sequential stream, the pages after it) and install. Page lock held,
 * dropped during the read. Returns 1 to look again, else the result. */
static int fault_swapped(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
			 uintptr_t page, enum fault_result *result)
{
	struct frames *fr = &pager->rc.frames;
	uint64_t pgoff = region_page_index(r, page, pager->page_size);
	uint64_t free_frames = frames_count(fr, FRAME_FREE), window;
	uintptr_t fault_page = page;
	uint32_t n, fault_k = 0;

	window = fault_streams_window_down(&pager->streams, page);
	if (window > 1) {
		/* Walking down (a list freed from its end, a stack of
		 * records): read the pages below this one with it. */
		n = run_below(pager, r, page, window > pager->rc.readahead_max ?
					      pager->rc.readahead_max : (uint32_t)window);
		fault_k = n - 1;
		page -= fault_k * pager->page_size;
		pgoff -= fault_k;
	} else {
		window = fault_streams_window(&pager->streams, page);
		if (window > pager->rc.readahead_max)
			window = pager->rc.readahead_max;
		n = (uint32_t)run_of(pager, r, page, window, PAGE_SWAPPED);
	}
	if (free_frames < n) {
		/* Short of frames: what they allow, from the faulting page
		 * up (or reclaim first). */
		page = fault_page;
		pgoff = region_page_index(r, page, pager->page_size);
		fault_k = 0;
		if (free_frames)
			n = (uint32_t)run_of(pager, r, page, free_frames, PAGE_SWAPPED);
		else
			return fault_reclaim(pager, ctx, page, result);
	}
	for (uint32_t k = 0; k < n; k++) {
		struct page_entry *e = object_entry(r->object, pgoff + k);

		ctx->frames[k] = frames_take(fr, r->object, pgoff + k,
					     page + k * pager->page_size, FRAME_HELD);
		e->state = PAGE_SWAPIN;
		ctx->slots[k] = e->slot;
		ctx->bufs[k] = ctx->bounce + (size_t)k * pager->page_size;
	}
	reclaim_note_taken(pager);
	pthread_mutex_unlock(&pager->rc.lock);
	store_read(ctx->io, ctx->slots, ctx->bufs, n, ctx->results);
	pthread_mutex_lock(&pager->rc.lock);
	install_swapped(pager, ctx, r, page, n, fault_k, result);
	if (fault_k)
		fault_streams_advance_down(&pager->streams, page, fault_page);
	else
		fault_streams_advance(&pager->streams, page, page + n * pager->page_size);
	pthread_cond_broadcast(&pager->rc.io_done);
	return 0;
}

/*
 * Can this fault be served without waiting for anything: no reclaim (a
 * frame is free, or none is needed), no I/O, no page in another handler's
 * hands? Only such faults are served by a handler that may not block
 * (fault_ctx.may_block). Page lock held.
 */
static bool fault_is_quick(struct upager *pager, const struct region *r, uintptr_t page,
			   unsigned int access)
{
	struct object *obj = r->object;
	uint64_t pgoff = region_page_index(r, page, pager->page_size);
	const struct page_entry *e = object_entry(obj, pgoff);
	bool frame = !reclaim_has_budget(&pager->rc) ||
		     frames_count(&pager->rc.frames, FRAME_FREE) > 0;

	if (e->poisoned)
		return true;
	if (object_is_shared(obj))
		return cache_fault_is_quick(pager, obj, pgoff, access, false, frame);
	switch (e->state) {
	case PAGE_ABSENT:
		return obj->backing ? cache_fault_is_quick(pager, obj->backing, pgoff, access, true,
							   frame)
				    : frame;
	case PAGE_RESIDENT:
		/* A private copy discarded by the program: the object's page
		 * again. */
		if (obj->backing && !(access & FAULT_WP))
			return cache_fault_is_quick(pager, obj->backing, pgoff, access, true, frame);
		return true;
	case PAGE_STAGED:
		return true;
	default:
		return false; /* I/O, or waiting for another handler's */
	}
}

/* Take the page lock, unless the caller may not wait and another thread
 * holds it. */
static bool page_lock(struct upager *pager, const struct fault_ctx *ctx)
{
	if (ctx->may_block) {
		pthread_mutex_lock(&pager->rc.lock);
		return true;
	}
	return !pthread_mutex_trylock(&pager->rc.lock);
}

/* A write-protect fault on a private copy upager thought it had taken
 * out (reclaim_adopt_mapped). Returns 1 to look at the page again. */
static int adopt_mapped(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
			uintptr_t page, enum fault_result *result)
{
	int err = reclaim_adopt_mapped(pager, r->object,
				       region_page_index(r, page, pager->page_size), page);

	if (err == -ENOMEM)
		return fault_reclaim(pager, ctx, page, result);
	if (err == -ENOENT || err == -EAGAIN) {
		/* Gone or changing meanwhile: the thread faults again. */
		pager->be_ops->wake(pager->be, page, pager->page_size);
		return 0;
	}
	if (err) {
		log_error("fault: taking back the private copy at 0x%lx: %s", (unsigned long)page,
			  strerror(-err));
		*result = FAULT_FAILED;
	}
	return 0;
}

/* The fault path for regions backed by an object: anonymous memory under
 * a budget, private and shared mappings of shared objects. */
static enum fault_result fault_paged(struct upager *pager, struct fault_ctx *ctx,
				     const struct region *r, uintptr_t page,
				     unsigned int access)
{
	enum fault_result result = FAULT_RESOLVED;
	struct object *obj = r->object;
	struct page_entry *e = object_entry(obj, region_page_index(r, page, pager->page_size));
	int again = 1;
	long done;

	if (!page_lock(pager, ctx))
		return FAULT_DEFER;
	while (again) {
		again = 0;
		if (!ctx->may_block && !fault_is_quick(pager, r, page, access)) {
			result = FAULT_DEFER;
			break;
		}
		if (object_is_shared(obj)) {
			again = cache_fault(pager, ctx, r, page, access, &result);
			continue;
		}
		if (e->poisoned) {
			result = fault_sigbus(pager, page, "page was lost (see the earlier error)", true);
			break;
		}
		switch (e->state) {
		case PAGE_ABSENT:
			/* A private mapping of a shared object: no copy of
			 * its own here, so the object's page. */
			if (obj->backing)
				again = cache_fault(pager, ctx, r, page, access, &result);
			else
				again = fault_absent(pager, ctx, r, page, access, &result);
			break;
		case PAGE_SWAPPED:
		case PAGE_STAGED:
			/* A WP fault where no page is mapped any more was
			 * read before reclaim took the page: served from
			 * upager's copy like any other fault. */
			if (obj->backing && (access & FAULT_WP) && reclaim_page_mapped(pager, page)) {
				again = adopt_mapped(pager, ctx, r, page, &result);
				break;
			}
			if (e->state == PAGE_SWAPPED) {
				again = fault_swapped(pager, ctx, r, page, &result);
				break;
			}
			/* Raced (another fault brought it back), or the range
			 * is changing: the thread faults again. */
			if (reclaim_reactivate(pager, e, page))
				pager->be_ops->wake(pager->be, page, pager->page_size);
			break;
		case PAGE_WRITEBACK:
		case PAGE_SWAPIN:
			/* Another handler is moving this page: wait for it. */
			pthread_cond_wait(&pager->rc.io_done, &pager->rc.lock);
			again = 1;
			break;
		case PAGE_RESIDENT:
			if (obj->backing && (access & FAULT_WP)) {
				/* A private copy left write-protected by a
				 * reclaim round that backed off. */
				pager->be_ops->protect(pager->be, page, pager->page_size, false);
				break;
			}
			if (obj->backing && reclaim_page_mapped(pager, page)) {
				/* Another thread's fault on the page, served
				 * by another handler first. */
				stat_add(&pager->stats.faults_raced, 1);
				pager->be_ops->wake(pager->be, page, pager->page_size);
				break;
			}
			if (obj->backing) {
				/* Faulted though upager holds its private copy:
				 * the program discarded it, and the page is the
				 * object's again, as under the kernel. */
				reclaim_put_slot(pager, e);
				if (reclaim_has_budget(&pager->rc))
					frames_release(&pager->rc.frames, e->frame);
				else
					atomic_fetch_sub_explicit(&pager->stats.pages_resident, 1,
								  memory_order_relaxed);
				e->state = PAGE_ABSENT;
				e->flags = 0;
				again = 1;
				break;
			}
			/* Resident by upager's books, yet the kernel faulted:
			 * either another fault won a race (EEXIST, just wake)
			 * or the program discarded the page (MADV_DONTNEED),
			 * which then reads as zeros, as under the kernel. */
			done = pager->be_ops->fill_zero(pager->be, page, pager->page_size,
							access & FAULT_WRITE);
			if (done == -EEXIST) {
				stat_add(&pager->stats.faults_raced, 1);
				pager->be_ops->wake(pager->be, page, pager->page_size);
			} else if (done > 0 && e->has_slot) {
				store_put(pager->rc.store, e->slot);
				e->has_slot = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&pager->rc.lock);
	return result;
}

enum fault_result fault_handle(struct upager *pager, struct fault_ctx *ctx, uintptr_t addr,
			       unsigned int access)
{
	uintptr_t page = addr & ~(uintptr_t)(pager->page_size - 1);
	enum fault_result result = FAULT_RESOLVED;
	bool grew = false;
	struct region *r;
	long done;

again:
	if (events_pending(&pager->events)) {
		/* Changes read before this fault come first: a page the
		 * program discarded must not be served from its old home. */
		if (!ctx->may_block)
			return FAULT_DEFER;
		pthread_rwlock_wrlock(&pager->lock);
		events_apply(pager);
		pthread_rwlock_unlock(&pager->lock);
	}
	if (!ctx->may_block) {
		if (pthread_rwlock_tryrdlock(&pager->lock))
			return FAULT_DEFER;
	} else {
		pthread_rwlock_rdlock(&pager->lock);
	}
	stat_add(&pager->stats.faults, 1);
	stat_add(access & FAULT_WRITE ? &pager->stats.faults_write
				      : &pager->stats.faults_read, 1);
	r = region_find(&pager->tree, addr);
	if (!r && ctx->may_block && !grew) {
		/* userfaultfd reported it, so the kernel has it registered:
		 * a region grown in place by mremap, which raises no event. */
		pthread_rwlock_unlock(&pager->lock);
		grew = true;
		if (pager_follow_growth(pager, addr))
			goto again;
		pthread_rwlock_rdlock(&pager->lock);
	}
	if (!r) {
		/* The worker looks for a region grown in place. */
		result = ctx->may_block ? FAULT_MAPERR : FAULT_DEFER;
		goto out_unlock;
	}
	if (!access_allowed(r, access)) {
		result = FAULT_ACCERR;
		goto out_unlock;
	}
	if (r->object) {
		result = fault_paged(pager, ctx, r, page, access);
		debug_check_page(pager, r, page, "a fault");
		if (result == FAULT_DEFER) {
			/* Counted again by whoever serves it. */
			atomic_fetch_sub_explicit(&pager->stats.faults, 1, memory_order_relaxed);
			atomic_fetch_sub_explicit(access & FAULT_WRITE ? &pager->stats.faults_write
								       : &pager->stats.faults_read,
						  1, memory_order_relaxed);
		}
		goto out_unlock;
	}
	{
		uintptr_t start;
		uint64_t n = zero_window(pager, r, page, &start);
		uintptr_t planned = zero_run_planned(pager, r, start, page, n);

		done = install_zero_run(pager, r, start, n, access);
		if (start != page && done >= 0 && start + (uintptr_t)done <= page) {
			/* A page below was there already (nothing tracks
			 * them here): this page alone, or the thread would
			 * fault here again and again. */
			done = install_zero_run(pager, r, page, 1, access);
		} else {
			zero_run_short(pager, start, page, planned, done);
		}
		if (done < 0)
			result = FAULT_FAILED;
	}

out_unlock:
	pthread_rwlock_unlock(&pager->lock);
	return result;
}
