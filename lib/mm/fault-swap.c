/* SPDX-License-Identifier: MIT */
/*
 * fault-swap.c - the way back into a region for private pages reclaim
 * took out: swap-in of SWAPPED pages (with read-ahead up or down a
 * stream), reactivation of STAGED ones (with the run staged beside
 * them), and adoption of a private copy the kernel still maps. Used by
 * the anon and private kinds (fault-kind.h); reclaim.c takes pages out,
 * this file brings them back.
 */
#include "mm/fault-kind.h"

#include <errno.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "mm/pager.h"
#include "mm/reclaim.h"
#include "store/store.h"

static struct page_entry *entry_at_swap(struct upager *p, const struct region *r, uintptr_t a)
{
	return object_entry(r->object, region_page_index(r, a, p->page_size));
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

/*
 * A swap-in off any stream, near recent ones (core/readaround.h): read
 * the swapped pages of the aligned window around @page with it, in one
 * batch (their slots need not be consecutive: one request each, all in
 * flight at once), and put them on the staged list as the kernel puts
 * read-ahead pages in its swap cache: read into staging slots, unmapped,
 * so that the first touch of one is a soft fault (with the run staged
 * beside it: fault_reactivate()) that says the read paid, and one never
 * touched is dropped clean (its slot still holds it). The faulting page
 * goes in as any swap-in. The batch is in address order, the faulting
 * page in its place: pages evicted together sit in consecutive slots, and
 * the store reads a run of those with one request whatever the buffers.
 * The window counts as a stream's run (fault_streams_advance()), so a
 * program that goes on past its end is a stream again, read ahead mapped
 * with no soft fault per page. Returns 1 when it served the fault, 0 when
 * the caller should read @page alone. Page lock held; dropped for the read.
 */
/* The staging slot of page @k of a read-around batch whose slots begin at
 * @start: every page but the faulting one (@fk) has one, in order. */
static uint32_t staging_of(uint32_t start, uint32_t k, uint32_t fk)
{
	return start + k - (k > fk);
}

static int read_around(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
		       uintptr_t page, enum fault_result *result)
{
	struct frames *fr = &pager->rc.frames;
	size_t ps = pager->page_size;
	uint32_t w = readaround_window(&pager->rc.ra, page / ps), n = 0, fk = 0, got, start;
	uint32_t ok = 0;
	uint64_t free_frames = frames_count(fr, FRAME_FREE);
	uintptr_t lo, hi, a;

	if (w <= 1 || free_frames < 2)
		return 0;
	if (w > free_frames)
		w = (uint32_t)free_frames; /* one for each page, the faulting one too */
	lo = page - page % ((size_t)w * ps);
	hi = lo + (size_t)w * ps;
	lo = lo < r->start ? r->start : lo;
	hi = hi > r->end ? r->end : hi;
	for (a = lo; a < hi && n < w; a += ps) {
		const struct page_entry *e = entry_at_swap(pager, r, a);

		if (a == page)
			fk = n;
		if (a == page || (e->state == PAGE_SWAPPED && !e->poisoned && e->has_slot))
			ctx->addrs[n++] = a;
	}
	if (n == 1)
		return 0;
	got = reclaim_staging_alloc(pager, n - 1, &start);
	if (!got)
		return 0;
	if (got < n - 1) {
		/* Fewer staging slots than neighbours: the ones nearest
		 * above the faulting page (a program going up goes there). */
		uint32_t from = fk + 1 + got <= n ? fk : n - 1 - got;

		memmove(ctx->addrs, ctx->addrs + from, (got + 1) * sizeof(ctx->addrs[0]));
		fk -= from;
		n = got + 1;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint64_t pgoff = region_page_index(r, ctx->addrs[k], ps);
		struct page_entry *e = object_entry(r->object, pgoff);

		ctx->frames[k] = frames_take(fr, r->object, pgoff, ctx->addrs[k], FRAME_HELD);
		e->state = PAGE_SWAPIN;
		ctx->slots[k] = e->slot;
		ctx->bufs[k] = k == fk ? ctx->bounce
				       : reclaim_staging_page(pager, staging_of(start, k, fk));
	}
	reclaim_note_taken(pager);
	pthread_mutex_unlock(&pager->rc.lock);
	store_read(ctx->io, ctx->slots, ctx->bufs, n, ctx->results);
	pthread_mutex_lock(&pager->rc.lock);
	for (uint32_t k = 0; k < n; k++) {
		struct page_entry *e = entry_at_swap(pager, r, ctx->addrs[k]);
		struct frame *f = &fr->f[ctx->frames[k]];
		uint32_t staged = staging_of(start, k, fk);

		if (k == fk)
			continue;
		if (ctx->results[k]) {
			/* Left in its slot: a fault of its own reads it and
			 * says what is wrong. */
			e->state = PAGE_SWAPPED;
			frames_release(fr, ctx->frames[k]);
			reclaim_staging_free(pager, staged, 1, true);
			continue;
		}
		e->state = PAGE_STAGED;
		e->frame = ctx->frames[k];
		f->staging = staged;
		f->readahead = 1;
		frames_move(fr, ctx->frames[k], FRAME_STAGED);
		ok++;
	}
	readaround_read(&pager->rc.ra, ok);
	stat_add(&pager->stats.swapins, ok);
	stat_add(&pager->stats.readahead_pages, ok);
	/* install_swapped() takes the faulting page as the batch's first. */
	ctx->frames[0] = ctx->frames[fk];
	ctx->bufs[0] = ctx->bufs[fk];
	ctx->results[0] = ctx->results[fk];
	install_swapped(pager, ctx, r, page, 1, 0, result);
	fault_streams_advance(&pager->streams, lo, hi);
	pthread_cond_broadcast(&pager->rc.io_done);
	return 1;
}

int fault_swapped(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
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
		if (window <= 1 && read_around(pager, ctx, r, page, result))
			return 0;
		n = (uint32_t)fault_run_of(pager, r, page, window, PAGE_SWAPPED);
	}
	if (free_frames < n) {
		/* Short of frames: what they allow, from the faulting page
		 * up (or reclaim first). */
		page = fault_page;
		pgoff = region_page_index(r, page, pager->page_size);
		fault_k = 0;
		if (free_frames)
			n = (uint32_t)fault_run_of(pager, r, page, free_frames, PAGE_SWAPPED);
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

/* The entry of the page at @a, in @r. */
static struct page_entry *entry_at(struct upager *p, const struct region *r, uintptr_t a)
{
	return object_entry(r->object, region_page_index(r, a, p->page_size));
}

/* Was the page at @a (in @r) staged from there into slot @slot, and is it
 * still? */
static bool staged_in(struct upager *p, const struct region *r, uintptr_t a, uint32_t slot)
{
	const struct page_entry *e = entry_at(p, r, a);
	const struct frame *f;

	if (e->state != PAGE_STAGED || e->poisoned)
		return false;
	f = &p->rc.frames.f[e->frame];
	return f->staging == slot && f->addr == a;
}

/*
 * The run of pages around @addr (in @r, staged in @slot) that were staged
 * together with it and are still staged: consecutive in the region and in
 * their staging slots, within the aligned REACTIVATE_AROUND window. Its
 * first page in *@first; returns its length (at least 1).
 */
static uint32_t staged_run_around(struct upager *p, const struct region *r, uintptr_t addr,
				  uint32_t slot, uintptr_t *first)
{
	size_t ps = p->page_size, window = (size_t)REACTIVATE_AROUND * ps;
	uintptr_t lo = addr & ~(window - 1), hi = lo + window, a;
	uint32_t k;

	if (lo < r->start)
		lo = r->start;
	if (hi > r->end)
		hi = r->end;
	for (a = addr, k = 1; a > lo && k <= slot && staged_in(p, r, a - ps, slot - k);
	     a -= ps, k++)
		;
	*first = a;
	for (a = addr + ps, k = 1; a < hi && staged_in(p, r, a, slot + k); a += ps, k++)
		;
	return (uint32_t)((a - *first) / ps);
}

/* The page at @a (@e), back in its region by a soft fault: active again,
 * and marked referenced (stage_oldest() spares it once). */
static void back_in_region(struct upager *p, struct page_entry *e, uintptr_t a)
{
	struct frame *f = &p->rc.frames.f[e->frame];

	e->state = PAGE_RESIDENT;
	frames_move(&p->rc.frames, e->frame, FRAME_ACTIVE);
	f->addr = a;
	f->referenced = 1;
}

/* @n staged pages from @first, moved back from slots @slot on, are in
 * their region again, active; their slots are empty. */
static void moved_back(struct upager *p, const struct region *r, uintptr_t first,
		       uint32_t slot, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		uintptr_t a = first + (size_t)k * p->page_size;

		back_in_region(p, entry_at(p, r, a), a);
	}
	reclaim_staging_free(p, slot, n, false);
}

/*
 * A staged page was touched: bring it back, with the pages staged beside
 * it in the same run (pages staged together were used together: a
 * neighbour touched next then costs no fault, as the kernel maps the
 * cached pages around a file fault).
 *
 * A run is moved back (UFFDIO_MOVE: one TLB shootdown across the CPUs
 * running the process, for all its pages). A page alone is copied back
 * (UFFDIO_COPY: no shootdown on the faulting thread's time) and its
 * staging copy discarded later, DISCARD_BATCH slots in one
 * MADV_DONTNEED; until then those copies hold up to DISCARD_BATCH pages
 * beyond the budget. Moving lone pages too, or copying runs too, was
 * slower (docs/BENCHMARKS.md, "Design figures": a page back alone is
 * copied).
 */
static int reactivate(struct upager *p, struct page_entry *e, uintptr_t addr)
{
	const struct region *r = region_find(&p->tree, addr);
	uint32_t slot = p->rc.frames.f[e->frame].staging;
	long n;

	if (p->rc.frames.f[e->frame].readahead) {
		p->rc.frames.f[e->frame].readahead = 0;
		readaround_hit(&p->rc.ra);
	}

	/* A private copy in a private mapping of a shared object is put back
	 * alone: UFFDIO_MOVE moves into anonymous mappings only, and its
	 * neighbours may be the object's own pages. */
	if (r && (r->prot & UPAGER_PROT_WRITE) && !p->rc.frames.f[e->frame].obj->backing) {
		uintptr_t first;
		uint32_t len = staged_run_around(p, r, addr, slot, &first), first_slot, back;

		if (len > 1) {
			first_slot = slot - (uint32_t)((addr - first) / p->page_size);
			n = reclaim_move_counted(p, first, (uintptr_t)reclaim_staging_page(p, first_slot),
					 (size_t)len * p->page_size);
			back = n > 0 ? (uint32_t)((size_t)n / p->page_size) : 0;
			moved_back(p, r, first, first_slot, back);
			if (addr < first + (size_t)back * p->page_size) {
				stat_add(&p->stats.reactivations, 1);
				stat_add(&p->stats.reactivated_around, back - 1);
				return 0;
			}
			/* Short (staged before a fork, shared with the
			 * other process: -EBUSY), or the rest of the run is
			 * still staged: this page alone, by copy. */
			stat_add(&p->stats.reactivated_around, back);
		}
	}
	n = p->be_ops->copy(p->be, addr, reclaim_staging_page(p, slot), p->page_size);
	if (n == -EEXIST)
		return -EEXIST;
	if (n != (long)p->page_size)
		return n < 0 ? (int)n : -EIO;
	reclaim_discard_later(p, slot);
	back_in_region(p, e, addr);
	stat_add(&p->stats.reactivations, 1);
	return 0;
}

int fault_reactivate(struct upager *p, struct page_entry *e, uintptr_t addr)
{
	/* Raced (another fault brought it back), or the range is changing:
	 * the thread faults again. */
	if (reactivate(p, e, addr))
		p->be_ops->wake(p->be, addr, p->page_size);
	return 0;
}

/*
 * A write-protect fault at @addr on a private copy (of a private mapping
 * of a shared object, page @pgoff of @layer) that upager holds STAGED or
 * SWAPPED while the kernel still maps the page (reclaim_page_mapped()):
 * its copy-out raced the program's mremap, and the discard after it
 * found the old address empty.
 * The protection kept every writer out, so the page holds what upager's
 * copy holds: it is resident again (a swapped copy keeps its slot, as
 * after a swap-in) and writable. Page lock held. Returns 0, -ENOMEM when
 * no frame is free (reclaim, then fault again), or -errno from the backend.
 */
static int adopt_page(struct upager *p, struct object *layer, uint64_t pgoff, uintptr_t addr)
{
	struct page_entry *e = object_entry(layer, pgoff);
	struct frames *fr = &p->rc.frames;
	bool staged = e->state == PAGE_STAGED;
	uint32_t frame;
	int err;

	if (!staged && !frames_count(fr, FRAME_FREE))
		return -ENOMEM;
	frame = staged ? e->frame : frames_take(fr, layer, pgoff, addr, FRAME_HELD);
	err = p->be_ops->protect(p->be, addr, p->page_size, false);
	if (err) {
		if (!staged)
			frames_release(fr, frame);
		return err;
	}
	if (staged)
		reclaim_staging_free(p, fr->f[frame].staging, 1, true);
	else
		reclaim_note_taken(p);
	e->state = PAGE_RESIDENT;
	e->frame = frame;
	fr->f[frame].addr = addr;
	frames_move(fr, frame, FRAME_ACTIVE);
	stat_add(&p->stats.reactivations, 1);
	return 0;
}

int fault_adopt_mapped(struct upager *pager, struct fault_ctx *ctx, const struct region *r,
		       uintptr_t page, enum fault_result *result)
{
	int err = adopt_page(pager, r->object, region_page_index(r, page, pager->page_size),
			     page);

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
