/* SPDX-License-Identifier: MIT */
/*
 * lock.c - locked memory in a pager's regions: mlock's and mlockall's
 * semantics kept by upager instead of the kernel (lock.h has why).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mm/lock.h"
#include "core/log.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "os/aspace.h"
#include "os/signals.h"

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

uint64_t lock_limit(const struct upager *p)
{
	/* Reclaim needs its inactive list and a batch or two of frames for
	 * the faults of everything not locked. */
	uint64_t reserve = (uint64_t)p->rc.staged_target + 2 * RECLAIM_BATCH;

	if (!reclaim_has_budget(&p->rc))
		return UINT64_MAX;
	return p->rc.frames.n > reserve ? p->rc.frames.n - reserve : 0;
}

struct count_ctx {
	unsigned long page_size;
	uintptr_t start, end;
	uint64_t unlocked, locked; /* pages in the range */
	bool shared;
};

static void count_piece(void *arg, const struct region *r)
{
	struct count_ctx *c = arg;
	uintptr_t s = r->start > c->start ? r->start : c->start;
	uintptr_t e = r->end < c->end ? r->end : c->end;

	if (s >= e)
		return;
	if (r->object && (object_is_shared(r->object) || r->object->backing))
		c->shared = true;
	if (r->flags & REGION_LOCKED)
		c->locked += (e - s) / c->page_size;
	else
		c->unlocked += (e - s) / c->page_size;
}

static struct count_ctx count(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct count_ctx c = { .page_size = p->page_size, .start = start, .end = end };

	region_for_each(&p->tree, count_piece, &c);
	return c;
}

/* Pinned frames of pages in [start, end) go back to the active list. */
static void unpin(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct frames *fr = &p->rc.frames;
	uint32_t i, next;

	if (!reclaim_has_budget(&p->rc))
		return;
	pthread_mutex_lock(&p->rc.lock);
	for (i = frames_oldest(fr, FRAME_PINNED); i != FRAME_NONE; i = next) {
		next = frames_next(fr, i);
		if (fr->f[i].addr >= start && fr->f[i].addr < end)
			frames_move(fr, i, FRAME_ACTIVE);
	}
	pthread_mutex_unlock(&p->rc.lock);
}

/* Make the pages of the pager's regions in [start, end) resident, as
 * the kernel's mlock fills a mapping: each one faults in through the
 * pager (a write fault where the region is writable). No lock held. */
static void fill(struct upager *p, uintptr_t start, uintptr_t end)
{
	uintptr_t s, e;

	for (uintptr_t at = start; at < end && lock_next_region(p, at, end, &s, &e); at = e) {
		int prot = 0;

		upager_query(p, (void *)s, p->page_size, &prot);
		if (prot & UPAGER_PROT_WRITE)
			aspace_advise(p->as, s, e - s, MADV_POPULATE_WRITE);
		else if (prot & UPAGER_PROT_READ)
			aspace_advise(p->as, s, e - s, MADV_POPULATE_READ);
	}
}

bool lock_range_has_locked(struct upager *p, uintptr_t start, uintptr_t end)
{
	return p->locked_pages && count(p, start, end).locked;
}

bool lock_next_region(struct upager *p, uintptr_t addr, uintptr_t end, uintptr_t *s,
		      uintptr_t *e)
{
	struct signals_saved sig;
	const struct region *r;
	bool found;

	signals_block(&sig);
	pthread_rwlock_rdlock(&p->lock);
	r = region_find_next(&p->tree, addr);
	found = r && r->start < end;
	if (found) {
		*s = r->start > addr ? r->start : addr;
		*e = r->end < end ? r->end : end;
	}
	pthread_rwlock_unlock(&p->lock);
	signals_restore(&sig);
	return found;
}

/* A program that retries a refused lock (stress-ng's mlock stressor: 183
 * times in 3 s) gets the reason once; the kernel logs nothing at all. */
static enum upager_log_level said_once(struct upager *p)
{
	if (p->lock_refusal_said)
		return UPAGER_LOG_DEBUG;
	p->lock_refusal_said = true;
	return UPAGER_LOG_WARN;
}

int lock_range(struct upager *p, uintptr_t start, uintptr_t end, bool onfault)
{
	struct signals_saved sig;
	struct count_ctx c;
	int err = 0;

	signals_block(&sig);
	pager_write_lock(p);
	c = count(p, start, end);
	if (c.shared) {
		err = -EINVAL;
		log_error("mlock 0x%lx-0x%lx: locking upager's shared mappings is not supported",
			  (unsigned long)start, (unsigned long)end);
	} else if (p->locked_pages + c.unlocked > lock_limit(p)) {
		err = -ENOMEM;
		log_emit(said_once(p), "mlock 0x%lx-0x%lx: %llu pages would be locked, more than the %llu of "
			 "the budget that may be (the rest keeps reclaim working); ENOMEM",
			 (unsigned long)start, (unsigned long)end,
			 (unsigned long long)(p->locked_pages + c.unlocked),
			 (unsigned long long)lock_limit(p));
	} else if (!(err = region_flag_range(&p->tree, start, end, REGION_LOCKED, 0))) {
		p->locked_pages += c.unlocked;
	}
	pthread_rwlock_unlock(&p->lock);
	if (!err && !onfault)
		fill(p, start, end);
	signals_restore(&sig);
	return err;
}

int lock_unlock_range(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct signals_saved sig;
	struct count_ctx c;
	int err;

	signals_block(&sig);
	pager_write_lock(p);
	c = count(p, start, end);
	err = region_flag_range(&p->tree, start, end, 0, REGION_LOCKED);
	if (!err) {
		p->locked_pages -= c.locked;
		unpin(p, start, end);
	}
	pthread_rwlock_unlock(&p->lock);
	signals_restore(&sig);
	return err;
}

static void kernel_unlock_region(void *arg, const struct region *r)
{
	(void)arg;
	syscall(SYS_munlock, r->start, r->end - r->start);
}

int lock_all(struct upager *p, int flags)
{
	struct signals_saved sig;
	struct count_ctx c = { 0 };
	int err = 0;

	signals_block(&sig);
	pager_write_lock(p);
	if (flags & MCL_CURRENT) {
		c = count(p, 0, UINTPTR_MAX);
		if (c.shared) {
			err = -EINVAL;
			log_error("mlockall: locking upager's shared mappings is not supported");
			goto out_unlock;
		}
		if (p->locked_pages + c.unlocked > lock_limit(p)) {
			err = -ENOMEM;
			log_emit(said_once(p), "mlockall: %llu pages of upager's would be locked, more than the "
				 "%llu of the budget that may be (the rest keeps reclaim working); ENOMEM",
				 (unsigned long long)(p->locked_pages + c.unlocked),
				 (unsigned long long)lock_limit(p));
			goto out_unlock;
		}
	}
	/* Lock-on-fault: the kernel fills nothing of upager's inside the
	 * call, nor in upager's mmaps from now on; no fault is served
	 * meanwhile (the lock), and upager's own are unlocked again before
	 * any is. */
	if (syscall(SYS_mlockall, flags | MCL_ONFAULT)) {
		err = -errno;
		goto out_unlock;
	}
	region_for_each(&p->tree, kernel_unlock_region, NULL);
	if (p->rc.staging)
		syscall(SYS_munlock, p->rc.staging, p->rc.staging_len);
	if ((flags & MCL_CURRENT) &&
	    !(err = region_flag_range(&p->tree, 0, UINTPTR_MAX, REGION_LOCKED, 0)))
		p->locked_pages += c.unlocked;
	/* As the kernel: MCL_CURRENT alone ends an earlier MCL_FUTURE. */
	p->lock_future = flags & MCL_FUTURE ? flags & (MCL_FUTURE | MCL_ONFAULT) : 0;
out_unlock:
	pthread_rwlock_unlock(&p->lock);
	if (!err && (flags & MCL_CURRENT) && !(flags & MCL_ONFAULT))
		fill(p, 0, UINTPTR_MAX);
	signals_restore(&sig);
	return err;
}

int lock_none(struct upager *p)
{
	struct signals_saved sig;
	int err = 0;

	signals_block(&sig);
	pager_write_lock(p);
	if (syscall(SYS_munlockall))
		err = -errno;
	if (!region_flag_range(&p->tree, 0, UINTPTR_MAX, 0, REGION_LOCKED))
		p->locked_pages = 0;
	unpin(p, 0, UINTPTR_MAX);
	p->lock_future = 0;
	pthread_rwlock_unlock(&p->lock);
	signals_restore(&sig);
	return err;
}

int lock_map_flags(struct upager *p, uint64_t pages, unsigned int *flags)
{
	if (!p->lock_future)
		return 0;
	if (p->locked_pages + pages > lock_limit(p)) {
		log_warn("mmap of %llu pages refused (EAGAIN): mlockall(MCL_FUTURE) locks it, and "
			 "%llu pages are locked already of the %llu of the budget that may be",
			 (unsigned long long)pages, (unsigned long long)p->locked_pages,
			 (unsigned long long)lock_limit(p));
		return -EAGAIN;
	}
	p->locked_pages += pages;
	*flags |= REGION_LOCKED;
	return 0;
}

void lock_map_kernel(void *addr, size_t len)
{
	syscall(SYS_munlock, addr, len);
}

void lock_map_fill(struct upager *p, void *addr, size_t len)
{
	if (!(p->lock_future & MCL_ONFAULT))
		fill(p, (uintptr_t)addr, (uintptr_t)addr + len);
}

void lock_fork_child(struct upager *p)
{
	if (!region_flag_range(&p->tree, 0, UINTPTR_MAX, 0, REGION_LOCKED))
		p->locked_pages = 0;
	unpin(p, 0, UINTPTR_MAX);
	p->lock_future = 0;
}
