/* SPDX-License-Identifier: MIT */
/*
 * reclaim.c - staging, eviction and write-back: how a pager stays within
 * its frame budget without losing a byte.
 *
 * Eviction is safe against concurrent writers by construction: a page
 * leaves its region atomically (UFFDIO_MOVE to a staging slot),
 * after which a writer faults and waits for upager instead of writing
 * into a page being copied out. Only then is the page examined: all zero
 * (dropped, no slot needed), identical to the swap slot it came from
 * (dropped without I/O: the checksum says so), or dirty (written). A
 * region that is not writable cannot be written behind upager's back, so
 * its pages are copied out through /proc/self/mem and discarded instead.
 */
#define _GNU_SOURCE
#include "mm/reclaim.h"
#include "mm/debug.h"
#include "mm/reclaim-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "mm/cache.h"
#include "mm/events.h"
#include "os/aspace.h"
#include "core/log.h"
#include "core/options.h"
#include "core/victim.h"
#include "mm/pager.h"
#include "core/pool.h"
#include "store/store.h"

int reclaim_zap(struct upager *p, uintptr_t addr, size_t len)
{
	int expect = events_expect(&p->events, EVENT_REMOVE, addr, addr + len);

	int err = aspace_zap(p->as, addr, len, ASPACE_ZAP_DONTNEED);

	events_unexpect(p, expect);
	return err;
}

/* The staging bitmap: a bit per frame of the budget (frames_init() set
 * rc->frames.n). */
static void free_staging_used(struct reclaim *rc)
{
	if (rc->slots.used)
		munmap(rc->slots.used, staging_bitmap_bytes(rc->frames.n));
	rc->slots.used = NULL;
}

/* Size the inactive list, the eviction batch, the free-frame watermarks
 * and the read-ahead for @budget_pages frames in use at most: the budget,
 * or the limit a process cap sets (kswapd.c: measure_rss()). */
void reclaim_size_lists(struct upager *p, struct reclaim *rc, uint32_t budget_pages)
{
	/* A read ahead takes its frames before the read: a small budget
	 * must not go to one stream while other faults find none. */
	rc->readahead_max = p->opts.swap_readahead_max; /* resolved: 1..SWAPIN_MAX */
	if (rc->readahead_max > budget_pages / 4)
		rc->readahead_max = budget_pages / 4 ? budget_pages / 4 : 1;
	/* An eighth of the budget is the inactive list: long enough for a
	 * hot page to be touched while it waits there, short enough that
	 * the soft faults it costs stay rare (a quarter or a third cost
	 * more in soft faults than it saved in reads: docs/BENCHMARKS.md,
	 * "Design figures", the inactive list's size). */
	rc->staged_target = budget_pages / 8;
	if (rc->staged_target < RECLAIM_BATCH)
		rc->staged_target = budget_pages < 2 * RECLAIM_BATCH ? budget_pages / 2 : RECLAIM_BATCH;
	if (!rc->staged_target)
		rc->staged_target = 1;
	/* A round that evicted the whole inactive list would leave no page
	 * a second chance: at most half of it goes at once. */
	rc->evict_max = rc->staged_target / 2 < RECLAIM_BATCH ? rc->staged_target / 2 : RECLAIM_BATCH;
	if (!rc->evict_max)
		rc->evict_max = 1;
	/* Background reclaim keeps about a batch of frames free, so a
	 * fault finds one without waiting for eviction I/O; no more, as
	 * free frames hold no page, where the kernel's memory cgroup lets
	 * the program use it all (docs/BENCHMARKS.md, "Design figures":
	 * background reclaim). */
	rc->low_free = budget_pages / 32;
	if (rc->low_free > RECLAIM_BATCH)
		rc->low_free = RECLAIM_BATCH;
	if (rc->low_free < RECLAIM_BATCH)
		/* Small budgets: a batch, but never so much that free and
		 * staged frames crowd out the active ones. */
		rc->low_free = budget_pages / 16 < RECLAIM_BATCH ? budget_pages / 16 : RECLAIM_BATCH;
	if (!rc->low_free)
		rc->low_free = 1;
	rc->high_free = rc->low_free + rc->low_free / 2;
}

int reclaim_init(struct upager *p, struct reclaim *rc, uint32_t budget_pages,
		 struct store *store)
{
	uint64_t *used;
	int err;

	memset(rc, 0, sizeof(*rc));
	pthread_mutex_init(&rc->lock, NULL);
	pthread_mutex_init(&rc->reclaim_lock, NULL);
	pthread_cond_init(&rc->io_done, NULL);
	pthread_cond_init(&rc->kick, NULL);
	_Static_assert(OPT_MAX_SWAP_READAHEAD == SWAPIN_MAX, "a swap-in's buffers hold SWAPIN_MAX");
	rc->readahead_max = p->opts.swap_readahead_max; /* resolved: 1..SWAPIN_MAX */
	if (!budget_pages)
		return 0;
	err = frames_init(&rc->frames, budget_pages);
	if (err)
		return err;
	rc->store = store;
	reclaim_size_lists(p, rc, budget_pages);
	/* UPAGER_NO_READAROUND=1 turns read-around off, to measure it. */
	/* UPAGER_SLOTS_IN_PLACE=1 rewrites pages in their old slots, to
	 * measure what fresh slots buy (assign_slots()). */
	rc->fresh_slots = !getenv("UPAGER_SLOTS_IN_PLACE");
	readaround_init(&rc->ra, getenv("UPAGER_NO_READAROUND") ? 1 :
			rc->readahead_max < READAROUND_NEAR ? rc->readahead_max : READAROUND_NEAR);
	if (p->opts.flags & UPAGER_OPEN_BUDGET_PROCESS) {
		rc->process_cap = true;
		budget_init(&rc->budget, budget_pages, budget_pages);
	}
	/* Reserved, not calloc'ed, as the frame table is (frames.c): only
	 * the words of slots used take memory. */
	used = mmap(NULL, staging_bitmap_bytes(budget_pages), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (used == MAP_FAILED) {
		err = -ENOMEM;
		goto out_frames;
	}
	staging_init(&rc->slots, budget_pages, used);
	rc->staging_len = (size_t)budget_pages * p->page_size;
	rc->staging = mmap(NULL, rc->staging_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (rc->staging == MAP_FAILED) {
		rc->staging = NULL;
		err = -ENOMEM;
		goto out_frames;
	}
	/* A forked child inherits the staging area with the pages staged
	 * in it (fork.c), so it is not MADV_DONTFORK. */
	madvise(rc->staging, rc->staging_len, MADV_NOHUGEPAGE);
	err = reclaim_attach_staging(p);
	if (err)
		goto out_unmap;
	return 0;

out_unmap:
	munmap(rc->staging, rc->staging_len);
	rc->staging = NULL;
out_frames:
	free_staging_used(rc);
	frames_destroy(&rc->frames);
	return err;
}

int reclaim_attach_staging(struct upager *p)
{
	struct reclaim *rc = &p->rc;
	int err;

	if (!rc->staging)
		return 0;
	err = p->be_ops->attach(p->be, (uintptr_t)rc->staging,
				(uintptr_t)rc->staging + rc->staging_len, BACKEND_STAGING);
	if (err)
		log_error("reclaim: the staging area needs UFFDIO_MOVE (Linux 6.8): %s",
			  strerror(-err));
	return err;
}

void reclaim_fork_reinit(struct reclaim *rc)
{
	reclaim_poison_fork_child();
	pthread_mutex_init(&rc->lock, NULL);
	pthread_mutex_init(&rc->reclaim_lock, NULL);
	pthread_cond_init(&rc->io_done, NULL);
	pthread_cond_init(&rc->kick, NULL);
}

int reclaim_fork_forget(struct upager *p)
{
	struct reclaim *rc = &p->rc;

	/* The parent's reclaim thread did not come along; its I/O ring is
	 * the parent's. */
	rc->kswapd_running = false;
	rc->kswapd_stop = false;
	rc->kswapd_started = false;
	fault_ctx_forget(rc->kswapd_ctx);
	rc->kswapd_ctx = NULL;
	/* The child's resident set is its own: measured afresh (the limit
	 * stays the parent's until the first measurement). */
	if (rc->process_cap) {
		budget_init(&rc->budget, rc->budget.cap, rc->frames.n);
		rc->budget.limit = frames_limit(&rc->frames);
		rc->measured_ns = 0;
		rc->measured_in_use = 0;
		rc->measure_due = false;
	}
	/* The address space is the child's now (its inherited /proc files
	 * read the parent's memory). */
	return aspace_fork_child(p->as);
}

void reclaim_destroy(struct upager *p, struct reclaim *rc)
{
	(void)p;
	reclaim_poison_forget(rc);
	if (rc->staging)
		munmap(rc->staging, rc->staging_len);
	free_staging_used(rc);
	frames_destroy(&rc->frames);
	pthread_cond_destroy(&rc->kick);
	pthread_cond_destroy(&rc->io_done);
	pthread_mutex_destroy(&rc->reclaim_lock);
	pthread_mutex_destroy(&rc->lock);
}

static char *staging_page(struct upager *p, uint32_t slot)
{
	return p->rc.staging + (size_t)slot * p->page_size;
}

/* The pages of slots [start, start + len) go (staging_discard_fn). */
static void discard_run(void *arg, uint32_t start, uint32_t len)
{
	struct upager *p = arg;

	madvise(staging_page(p, start), (size_t)len * p->page_size, MADV_DONTNEED);
}

/* Give back staging slots [start, start + len); @discard: their pages
 * are still there and must go (MADV_DONTNEED). Page lock held. */
static void staging_free(struct upager *p, uint32_t start, uint32_t len, bool discard)
{
	if (discard)
		discard_run(p, start, len);
	staging_release(&p->rc.slots, start, len);
}

/* Discard the slots set aside by discard_later(). Page lock held. */
static void discard_pending(struct upager *p)
{
	staging_release_deferred(&p->rc.slots, discard_run, p);
}

/* Slot @slot's page was copied back: discard it with the next batch. */
static void discard_later(struct upager *p, uint32_t slot)
{
	if (staging_defer_discard(&p->rc.slots, slot))
		discard_pending(p);
}

/* Discard the staging slots of @n dropped pages, coalesced into runs. */
static void staging_free_many(struct upager *p, uint32_t *slots, uint32_t n)
{
	staging_release_many(&p->rc.slots, slots, n, discard_run, p);
}

bool reclaim_page_is_zero(const void *page, size_t len)
{
	const uint64_t *w = page;

	for (size_t i = 0; i < len / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

void reclaim_put_slot(struct upager *p, struct page_entry *e)
{
	if (e->has_slot)
		store_put(p->rc.store, e->slot);
	e->has_slot = 0;
	e->slot = 0;
}

/*
 * Make the page at @addr this process's own: a write makes the kernel
 * copy a page shared copy-on-write. An atomic add of zero is a write that
 * changes no byte, even against a program thread writing the same word at
 * that moment. The region is writable and the pager's lock keeps it mapped.
 */

/* Most pages moved out in one ioctl. */
#define STAGE_RUN_MAX 64u

/* pagemap: which physical page is mapped (other bits change with use) */
#define PM_PRESENT ASPACE_PAGE_PRESENT
#define PM_PAGE ASPACE_PAGE_ID
/* a page is there: mapped, or in a swap-type entry (being migrated) */
#define PM_THERE (ASPACE_PAGE_PRESENT | ASPACE_PAGE_SWAP)

/* pagemap entries of @len pages from @addr into @out: 0 or -errno. */
static int read_pagemap(struct upager *p, uintptr_t addr, uint32_t len, uint64_t *out)
{
	return aspace_pages(p->as, addr, len, out);
}

/*
 * UFFDIO_MOVE [src, src + len) to @dst, returning the bytes moved or
 * -errno as the backend does, except that the kernel's count is only a
 * lower bound. Linux 6.18 moves present pages in batches under one page
 * table lock (move_present_ptes()), and when a batch stops early (a folio
 * lock not taken: compaction, another thread's fault) it can report fewer
 * pages than it moved, or an error after moving some. Seen on sort under
 * a cap: pages past the count sat in staging slots that reclaim then
 * freed as empty, while their entries still said resident; the next
 * touch read zeros. So a short count is checked with pagemap: pages
 * after it whose destination is mapped and whose source is empty were
 * moved. The page lock keeps anyone else from moving them meanwhile; the
 * program cannot fill either place without upager (a missing page faults
 * to it).
 */
static long move_counted(struct upager *p, uintptr_t dst, uintptr_t src, size_t len)
{
	uint64_t to[STAGE_RUN_MAX], from[STAGE_RUN_MAX];
	long n = p->be_ops->move(p->be, dst, src, len);
	size_t done = n > 0 ? (size_t)n : 0;
	uint32_t left = (uint32_t)((len - done) / p->page_size), k = 0;

	if (!left)
		return n;
	if (left > STAGE_RUN_MAX)
		left = STAGE_RUN_MAX;
	if (read_pagemap(p, dst + done, left, to) || read_pagemap(p, src + done, left, from)) {
		log_error("reclaim: cannot check a short UFFDIO_MOVE at 0x%lx: pagemap unreadable",
			  (unsigned long)src);
		return n;
	}
	/* A page the kernel is migrating (compaction, which is also what
	 * cuts the count short) reads as a swap-type entry, not present: it
	 * is there all the same. Taken for an empty slot, a page just moved
	 * was freed with its slot and read as zeros on its next touch. */
	while (k < left && (to[k] & PM_THERE) && !(from[k] & PM_THERE))
		k++;
	if (!k)
		return n;
	stat_add(&p->stats.moves_undercounted, 1);
	log_debug("reclaim: UFFDIO_MOVE at 0x%lx said %ld, moved %zu bytes", (unsigned long)src, n,
		  done + (size_t)k * p->page_size);
	/* The kernel wakes the threads waiting on what it reported moved,
	 * and none for an error: a thread faulting on a page moved in
	 * unreported would wait for ever. (Waking in the staging area,
	 * where nobody waits, does nothing.) */
	p->be_ops->wake(p->be, dst + done, (size_t)k * p->page_size);
	return (long)(done + (size_t)k * p->page_size);
}

bool reclaim_page_mapped(struct upager *p, uintptr_t addr)
{
	uint64_t entry;

	return !read_pagemap(p, addr, 1, &entry) && (entry & PM_PRESENT);
}

/*
 * Copy [addr, addr + len) out to staging slots from @slot on and take it
 * out of its region, for pages UFFDIO_MOVE cannot move: pages of a
 * region that cannot be written (nobody can change them meanwhile), and
 * private copies in a private mapping of a shared object (not an
 * anonymous mapping), which are write-protected first so that a writer
 * waits for upager instead of writing into a page being copied.
 *
 * Unlike UFFDIO_MOVE this is three steps by address, and the program may
 * move the mapping away (mremap) between them, or away and back: the
 * read would then copy whatever was at @addr meanwhile, and the discard
 * destroy the real page. So the pages must be the same physical pages
 * (pagemap) before and after the read, and no event may have been read
 * since @mark (events.h: a mapping cannot come back unseen). The window
 * left, between that check and the discard, only lets a page escape the
 * discard (it stays mapped, write-protected; the next write brings it
 * back: fault-swap.c).
 *
 * Returns the bytes staged (the run's pages up to the first one not
 * mapped), or -ENOENT (the first is not mapped), -EAGAIN (the pages moved
 * or were discarded meanwhile: an event will say what happened), -errno
 * (pagemap or the read failed, nothing having moved).
 */
static long copy_out(struct upager *p, uintptr_t addr, uint32_t slot, uint32_t len,
		     bool writable, uint64_t mark)
{
	uint64_t before[STAGE_RUN_MAX], after[STAGE_RUN_MAX];
	uint32_t mapped = 0;
	size_t bytes;
	ssize_t got;
	bool kept, quiet;
	int err;

	if (read_pagemap(p, addr, len, before))
		return -EIO;
	while (mapped < len && before[mapped] & PM_PRESENT)
		mapped++;
	if (!mapped)
		return -ENOENT;
	len = mapped;
	bytes = (size_t)len * p->page_size;
	if (writable && (err = p->be_ops->protect(p->be, addr, bytes, true)))
		return err == -ENOENT ? -EAGAIN : err;
	got = aspace_read(p->as, addr, staging_page(p, slot), bytes);
	kept = !read_pagemap(p, addr, len, after);
	for (uint32_t k = 0; kept && k < len; k++)
		kept = (before[k] & PM_PAGE) == (after[k] & PM_PAGE);
	quiet = events_quiet_since(&p->events, mark);
	if (got != (ssize_t)bytes || !kept || !quiet) {
		if (writable)
			p->be_ops->protect(p->be, addr, bytes, false);
		/* The read failed with the pages where they were and no event
		 * to explain it: the address space's error, not the program's
		 * change (whose event the caller would wait for, for ever). */
		if (got != (ssize_t)bytes && kept && quiet)
			return got < 0 ? got : -EIO;
		return -EAGAIN;
	}
	err = reclaim_zap(p, addr, bytes);
	/* Staged all the same: the copy holds the bytes, and a page left
	 * mapped is one that escaped the discard (above). -ENOMEM: the
	 * program unmapped part of it meanwhile, and its event says so. */
	if (err)
		log_emit(err == -ENOMEM ? UPAGER_LOG_DEBUG : UPAGER_LOG_ERROR,
			  "reclaim: discarding 0x%lx-0x%lx after its copy-out: %s; left mapped",
			  (unsigned long)addr, (unsigned long)(addr + bytes), strerror(-err));
	return (long)bytes;
}

/*
 * Move the oldest active page out to the staging area, with the active
 * pages after it that follow it in memory (one ioctl for the run); or,
 * when it is marked referenced, spare it (victim.h).
 * Cache pages of shared objects are staged where they are (cache.h).
 * Returns 0, or -EAGAIN when the oldest page could not be staged (it was
 * rotated to the newest end), -EBUSY when nothing can be until an event
 * of the program's is read (rotated too).
 */
static int stage_oldest(struct upager *p, uint64_t mark)
{
	struct frames *fr = &p->rc.frames;
	uint32_t run[STAGE_RUN_MAX], i, k, len, start, moved;
	enum victim_choice choice = victim_choose(fr, &i);
	const struct region *r;
	struct frame *f;
	bool writable, movable;
	long n;

	if (choice == VICTIM_NONE)
		return -EAGAIN;
	if (choice == VICTIM_SPARED)
		return 0;
	f = &fr->f[i];
	if (object_is_shared(f->obj))
		return cache_stage(p, i);
	r = region_find(&p->tree, f->addr);
	if (r && (r->flags & REGION_LOCKED)) {
		/* mlock'd (lock.h): off the lists reclaim walks, as the
		 * kernel culls mlocked pages to its unevictable list. */
		frames_move(fr, i, FRAME_PINNED);
		return 0;
	}
	writable = r && (r->prot & UPAGER_PROT_WRITE);
	/* UFFDIO_MOVE moves anonymous pages of anonymous mappings only. */
	movable = writable && !f->obj->backing;
	k = victim_run(fr, i, p->page_size, r ? r->end : f->addr, run, STAGE_RUN_MAX);
	len = staging_alloc(&p->rc.slots, k, &start);
	if (!len) {
		/* Slots awaiting their discard hold no frame. */
		discard_pending(p);
		len = staging_alloc(&p->rc.slots, k, &start);
	}
	if (!len)
		return -EAGAIN; /* cannot happen: staged pages <= frames - 1 */
	if (movable) {
		n = move_counted(p, (uintptr_t)staging_page(p, start), f->addr,
			       (size_t)len * p->page_size);
		if (n == -EBUSY) {
			/* Shared copy-on-write with a forked process, and
			 * UFFDIO_MOVE moves only pages this process owns
			 * alone: take a private copy first, as the program's
			 * own next write would. */
			for (uint32_t m = 0; m < len; m++)
				aspace_break_cow(p->as, f->addr + m * p->page_size);
			n = move_counted(p, (uintptr_t)staging_page(p, start), f->addr,
				       (size_t)len * p->page_size);
		}
	} else {
		n = copy_out(p, f->addr, start, len, writable, mark);
	}
	moved = n > 0 ? (uint32_t)((size_t)n / p->page_size) : 0;
	for (uint32_t m = 0; m < moved; m++) {
		struct frame *fm = &fr->f[run[m]];

		fm->staging = start + m;
		object_entry(fm->obj, fm->pgoff)->state = PAGE_STAGED;
		frames_move(fr, run[m], FRAME_STAGED);
	}
	if (moved < len)
		staging_free(p, start + moved, len - moved, false);
	stat_add(&p->stats.staged, moved);
	if (moved)
		return 0; /* a page after the run's moved part: next round */
	if (n == -ENOENT && events_quiet_since(&p->events, mark)) {
		/* Not mapped, and no event to explain it: a discard whose
		 * page came back before the kernel zapped it (events.h).
		 * It reads as zeros (or as its object) now, as a fault
		 * would find (fault-anon.c). Otherwise (and for -EAGAIN)
		 * the program is moving or discarding it, and its event
		 * will say which. */
		struct page_entry *e = object_entry(f->obj, f->pgoff);

		reclaim_put_slot(p, e);
		e->state = PAGE_ABSENT;
		e->flags = 0;
		frames_release(fr, i);
		return 0;
	}
	log_debug("reclaim: cannot stage 0x%lx: %s", (unsigned long)f->addr,
		  strerror(n < 0 ? (int)-n : EIO));
	stat_add(&p->stats.stage_failures, 1);
	frames_move(fr, i, FRAME_ACTIVE);
	/* EAGAIN: the kernel refuses every move and copy while an event of
	 * the program's (mremap, munmap) waits to be read. Not a failure of
	 * this page: no other page will stage either until it is read. */
	return n == -EAGAIN ? -EBUSY : -EAGAIN;
}

int reclaim_slot_for(struct upager *p, struct page_entry *e)
{
	uint64_t slot;

	if (e->has_slot && store_refcount(p->rc.store, e->slot) == 1)
		return 0;
	reclaim_put_slot(p, e);
	if (store_alloc(p->rc.store, 1, &slot) != 1)
		return -ENOSPC;
	e->slot = slot;
	e->has_slot = 1;
	return 0;
}

/* Find slots for the dirty pages of a batch: fresh ones, or when the
 * store is short a slot only this page holds is rewritten in place.
 * Returns how many of ctx->frames[0..n) got a slot (they come first), or
 * -ENOSPC for none. */
static int assign_slots(struct upager *p, struct fault_ctx *ctx, uint32_t n)
{
	uint64_t fresh[RECLAIM_BATCH];
	uint32_t with = 0;
	int got = p->rc.fresh_slots && n <= RECLAIM_BATCH ? store_alloc(p->rc.store, n, fresh) : 0;

	/* Fresh slots for the whole batch, rewritten pages too, as the
	 * kernel frees a page's swap entry once it is written: the store
	 * hands them out in order, so pages evicted together sit together
	 * and come back in one read (a run, or read-around), and the write
	 * coalesces. Rewriting in place scattered writes (4 pages per write
	 * I/O on a database build). In place only when the store is short. */
	if (got == (int)n) {
		for (uint32_t k = 0; k < n; k++) {
			struct frame *f = &p->rc.frames.f[ctx->frames[k]];
			struct page_entry *e = object_entry(f->obj, f->pgoff);

			reclaim_put_slot(p, e);
			e->slot = fresh[k];
			e->has_slot = 1;
		}
		return (int)n;
	}
	for (int k = 0; k < got; k++)
		store_put(p->rc.store, fresh[k]);

	for (uint32_t k = 0; k < n; k++) {
		struct frame *f = &p->rc.frames.f[ctx->frames[k]];

		if (reclaim_slot_for(p, object_entry(f->obj, f->pgoff)))
			continue;
		/* Keep slotted frames first, in order. */
		uint32_t tmp = ctx->frames[with];

		ctx->frames[with] = ctx->frames[k];
		ctx->frames[k] = tmp;
		with++;
	}
	return with ? (int)with : -ENOSPC;
}

/* Evict up to RECLAIM_BATCH of the oldest staged pages. Page lock held;
 * dropped during the write. Returns frames freed, or -ENOSPC/-EIO. */
static int evict_batch(struct upager *p, struct fault_ctx *ctx)
{
	struct frames *fr = &p->rc.frames;
	uint32_t dirty = 0, freed = 0, drops = 0, cached = 0;
	uint32_t cache_frames[RECLAIM_BATCH];
	int with, err;

	for (uint32_t i = frames_oldest(fr, FRAME_STAGED), next;
	     i != FRAME_NONE && freed + dirty + cached < p->rc.evict_max; i = next) {
		struct frame *f = &fr->f[i];
		struct page_entry *e = object_entry(f->obj, f->pgoff);
		char *page = staging_page(p, f->staging);

		next = frames_next(fr, i);
		if (e->state != PAGE_STAGED)
			continue;
		if (object_is_shared(f->obj)) {
			cache_frames[cached++] = i; /* evicted below, by cache.c */
			continue;
		}
		if (!f->obj->backing && reclaim_page_is_zero(page, p->page_size)) {
			/* Absent reads as zeros: no slot needed. (Not for a
			 * private copy of a file page: absent there reads as
			 * the file.) */
			reclaim_put_slot(p, e);
			e->state = PAGE_ABSENT;
			stat_add(&p->stats.zero_drops, 1);
		} else if (e->has_slot && store_slot_matches(p->rc.store, e->slot, page)) {
			e->state = PAGE_SWAPPED;
			stat_add(&p->stats.clean_drops, 1);
		} else {
			ctx->frames[dirty++] = i;
			continue;
		}
		ctx->drop[drops++] = f->staging;
		frames_release(fr, i);
		freed++;
	}
	staging_free_many(p, ctx->drop, drops);
	if (!dirty && !cached)
		return (int)freed;
	if (!dirty)
		goto out_cache;

	with = assign_slots(p, ctx, dirty);
	if (with < 0) {
		stat_add(&p->stats.swap_full, 1);
		if (freed || !cached)
			return freed ? (int)freed : with;
		goto out_cache;
	}
	for (int k = 0; k < with; k++) {
		struct frame *f = &fr->f[ctx->frames[k]];
		struct page_entry *e = object_entry(f->obj, f->pgoff);

		e->state = PAGE_WRITEBACK;
		ctx->slots[k] = e->slot;
		ctx->bufs[k] = staging_page(p, f->staging);
	}
	pthread_mutex_unlock(&p->rc.lock);
	err = store_write(ctx->io, ctx->slots, ctx->bufs, (unsigned int)with);
	pthread_mutex_lock(&p->rc.lock);
	drops = 0;
	for (int k = 0; k < with; k++) {
		struct frame *f = &fr->f[ctx->frames[k]];
		struct page_entry *e = object_entry(f->obj, f->pgoff);

		if (err) {
			/* Not written (or not known to be): keep it in memory
			 * and never trust that slot's contents. */
			reclaim_put_slot(p, e);
			e->state = PAGE_STAGED;
			continue;
		}
		e->state = PAGE_SWAPPED;
		ctx->drop[drops++] = f->staging;
		frames_release(fr, ctx->frames[k]);
		freed++;
	}
	staging_free_many(p, ctx->drop, drops);
	if (!err)
		stat_add(&p->stats.writebacks, (uint64_t)with);
	pthread_cond_broadcast(&p->rc.io_done);
	if (err)
		log_error("reclaim: writing %d pages to swap: %s", with, strerror(-err));
	if (!cached)
		return freed ? (int)freed : (err ? err : -ENOSPC);
out_cache:
	/* The page lock may have been dropped above: cache pages touched
	 * meanwhile are active again, and cache_evict() passes them over. */
	with = cache_evict(p, ctx, cache_frames, cached);
	if (with > 0)
		freed += (uint32_t)with;
	/* Nothing evicted because everything picked was touched again:
	 * the caller stages more and tries again. */
	return freed ? (int)freed : (with < 0 ? with : -EAGAIN);
}

int reclaim_frames(struct upager *p, struct fault_ctx *ctx, uint32_t want)
{
	struct frames *fr = &p->rc.frames;
	uint64_t first_mark = events_mark(&p->events);
	int last = 0, retries = 0, waits = 0;
	bool changing = false;

	if (want > frames_limit(fr))
		want = frames_limit(fr);
	/* One reclaimer at a time; never wait for it with the page lock. */
	pthread_mutex_unlock(&p->rc.lock);
	pthread_mutex_lock(&p->rc.reclaim_lock);
	pthread_mutex_lock(&p->rc.lock);
	reclaim_budget_follow(p);
	if (want > reclaim_budget_now(&p->rc))
		want = reclaim_budget_now(&p->rc);
	while (frames_count(fr, FRAME_FREE) < want) {
		uint32_t tries = frames_count(fr, FRAME_ACTIVE);
		uint64_t mark;

		/* Stage nothing while the tree is behind the kernel: pages
		 * may not be where it says. */
		if (!events_settle(&p->events)) {
			last = -EINTR;
			break;
		}
		mark = events_mark(&p->events);
		/* A call stages a run of pages: stop when the list runs dry. */
		while (frames_count(fr, FRAME_STAGED) < p->rc.staged_target &&
		       frames_count(fr, FRAME_ACTIVE) && tries--) {
			if (stage_oldest(p, mark) == -EBUSY) {
				changing = true;
				break;
			}
		}
		if (frames_count(fr, FRAME_FREE) >= want)
			break;
		last = evict_batch(p, ctx);
		/* What was evicted may have grown the store's pool. */
		reclaim_budget_follow(p);
		if (want > reclaim_budget_now(&p->rc))
			want = reclaim_budget_now(&p->rc);
		if (last == -EAGAIN && retries++ < 8)
			continue;
		if (last <= 0 && !frames_count(fr, FRAME_FREE) && frames_count(fr, FRAME_HELD) &&
		    waits++ < 100) {
			/* Every frame is in flight (swap-ins, reads of file
			 * pages): not out of memory, only busy. They settle
			 * as active pages, which can be staged. */
			pthread_cond_wait(&p->rc.io_done, &p->rc.lock);
			continue;
		}
		if (last <= 0)
			break; /* an error, or nothing could be staged */
	}
	pthread_mutex_unlock(&p->rc.reclaim_lock);
	debug_check_frames(p, "a reclaim round");
	if (frames_count(fr, FRAME_FREE) && reclaim_transient_pending(&p->rc))
		reclaim_lift_transient_poison(p);
	if (frames_count(fr, FRAME_FREE))
		return (int)frames_count(fr, FRAME_FREE);
	if (p->rc.process_cap && frames_limit(fr) < fr->n && last != -EINTR && !changing) {
		/* Nothing more could be evicted within the process cap's
		 * limit (pages locked or in flight since it was measured):
		 * the cap yields, up to the budget, rather than the program
		 * taking SIGBUS; the next measurement sets it again. */
		uint64_t up = (uint64_t)frames_in_use(fr) + want;

		frames_set_limit(fr, up < fr->n ? (uint32_t)up : fr->n);
		if (frames_count(fr, FRAME_FREE))
			return (int)frames_count(fr, FRAME_FREE);
	}
	/* Pages the program moved or discarded meanwhile could not be
	 * staged, or nothing could while its event waited to be read:
	 * not out of memory, only behind the program. */
	if (last == -EINTR || changing || events_mark(&p->events) != first_mark)
		return -EINTR;
	/* Nothing evicted and no error: no page could be staged at all. */
	return last < 0 ? last : -EBUSY;
}

void reclaim_note_taken(struct upager *p)
{
	struct reclaim *rc = &p->rc;

	if (!rc->kswapd_running)
		return;
	if (rc->process_cap) {
		uint32_t in_use = frames_in_use(&rc->frames), step = rc->budget.headroom;

		if (step < 256)
			step = 256;
		/* The limit rests on a measurement that many frames ago:
		 * the unpaged part may have grown meanwhile. Measure; and
		 * past a whole step, take no more frames (faults evict for
		 * themselves) until the measurement says how many. */
		if (in_use > rc->measured_in_use + step / 2 && !rc->measure_due) {
			rc->measure_due = true;
			pthread_cond_signal(&rc->kick);
		}
		if (in_use >= rc->measured_in_use + step && frames_limit(&rc->frames) > in_use)
			frames_set_limit(&rc->frames, in_use);
	}
	if (frames_count(&rc->frames, FRAME_FREE) < rc->low_free)
		pthread_cond_signal(&rc->kick);
}

char *reclaim_staging_page(struct upager *p, uint32_t slot)
{
	return staging_page(p, slot);
}

uint32_t reclaim_staging_alloc(struct upager *p, uint32_t want, uint32_t *start)
{
	uint32_t len = staging_alloc(&p->rc.slots, want, start);

	if (!len) {
		discard_pending(p);
		len = staging_alloc(&p->rc.slots, want, start);
	}
	return len;
}

void reclaim_staging_free(struct upager *p, uint32_t start, uint32_t len, bool discard)
{
	staging_free(p, start, len, discard);
}

void reclaim_discard_later(struct upager *p, uint32_t slot)
{
	discard_later(p, slot);
}

long reclaim_move_counted(struct upager *p, uintptr_t dst, uintptr_t src, size_t len)
{
	return move_counted(p, dst, src, len);
}

struct forget_ctx {
	struct upager *p;
	struct object *obj;
};

static void forget_entry(void *arg, uint64_t pgoff, struct page_entry *e)
{
	struct forget_ctx *c = arg;
	struct upager *p = c->p;
	bool budget = reclaim_has_budget(&p->rc), shared = object_is_shared(c->obj);
	bool in_memory = e->state == PAGE_RESIDENT || e->state == PAGE_STAGED;

	(void)pgoff;
	/* A pinned object's pages hold no frame (cache_pin gave them up):
	 * its entries' frame numbers are stale. */
	if (budget && in_memory && !c->obj->pinned) {
		/* Staged cache pages stay in their memfd: no staging slot. */
		if (e->state == PAGE_STAGED && !shared)
			staging_free(p, p->rc.frames.f[e->frame].staging, 1, true);
		frames_release(&p->rc.frames, e->frame);
	}
	if (in_memory && shared)
		atomic_fetch_sub_explicit(&p->stats.cache_pages, 1, memory_order_relaxed);
	if (in_memory && !budget)
		atomic_fetch_sub_explicit(&p->stats.pages_resident, 1, memory_order_relaxed);
	if (e->flags & PE_MAPS_BACKING)
		atomic_fetch_sub_explicit(&p->stats.private_shared, 1, memory_order_relaxed);
	reclaim_put_slot(p, e);
	e->state = PAGE_ABSENT;
	e->poisoned = 0;
	e->flags = 0;
}

void reclaim_forget_range(struct upager *p, struct object *obj, uint64_t pgoff, uint64_t n)
{
	struct forget_ctx c = { p, obj };

	pthread_mutex_lock(&p->rc.lock);
	object_for_each_used(obj, pgoff, n, forget_entry, &c);
	if (reclaim_transient_pending(&p->rc) && frames_count(&p->rc.frames, FRAME_FREE))
		reclaim_lift_transient_poison(p);
	pthread_mutex_unlock(&p->rc.lock);
}
