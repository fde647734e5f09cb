/* SPDX-License-Identifier: MIT */
/*
 * advice.c - fork advice (madvise DONTFORK, DOFORK, WIPEONFORK,
 * KEEPONFORK) kept in the region tree as well as in the kernel's VMAs.
 *
 * The kernel alone cannot honour it for upager's memory: a forked child's
 * pager serves pages that were swapped out or staged from upager's own
 * tables, which the child inherits whatever the VMA says. So the regions
 * carry the advice (REGION_* flags, region.h), split where the kernel
 * splits its VMAs, and the fork handler (fork.c) reads it in the child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"
#include "mm/pager.h"
#include "os/aspace.h"

struct advice {
	int madv;           /* what the kernel is told */
	unsigned int set;   /* REGION_* flags the regions get */
	unsigned int clear; /* and lose */
};

static int advice_of(int advice, struct advice *out)
{
	switch (advice) {
	case UPAGER_ADVISE_DONTFORK:
		*out = (struct advice){ MADV_DONTFORK, REGION_DONTFORK, 0 };
		return 0;
	case UPAGER_ADVISE_DOFORK:
		*out = (struct advice){ MADV_DOFORK, 0, REGION_DONTFORK };
		return 0;
	case UPAGER_ADVISE_WIPEONFORK:
		*out = (struct advice){ MADV_WIPEONFORK, REGION_WIPEONFORK, 0 };
		return 0;
	case UPAGER_ADVISE_KEEPONFORK:
		*out = (struct advice){ MADV_KEEPONFORK, 0, REGION_WIPEONFORK };
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Advise [start, end) in the kernel, then the regions in it when the
 * kernel took it. Lock held for writing. The kernel is asked region by
 * region (and once for each stretch between), so that when it refuses a
 * part (WIPEONFORK on a shared mapping) the tree holds exactly what it
 * kept: its walk stops at the first VMA it refuses, and so does this one.
 */
static int advise_locked(struct upager *p, uintptr_t start, uintptr_t end,
			 const struct advice *a)
{
	int hole = 0;

	for (uintptr_t at = start; at < end;) {
		const struct region *r = region_find_next(&p->tree, at);
		uintptr_t to = end;
		bool ours = false;
		int err;

		if (r && r->start <= at) {
			to = r->end < end ? r->end : end;
			ours = true;
		} else if (r && r->start < end) {
			to = r->start;
		}
		/* upager's regions stay MADV_DONTFORK in the kernel outside
		 * the forks it sees (fork.c): the program's DOFORK is kept
		 * in the tree only, and applied by the fork handler. */
		if (ours && a->madv == MADV_DOFORK)
			err = 0;
		else
			err = aspace_advise(p->as, at, to - at, a->madv);
		if (err == -ENOMEM && !ours) {
			hole = err; /* as the kernel: the rest still advised */
		} else if (err) {
			return err;
		} else if (ours && (err = region_flag_range(&p->tree, at, to, a->set, a->clear))) {
			log_error("advice 0x%lx-0x%lx: %s; the kernel has it, a forked child's "
				  "pager will not follow it", (unsigned long)at, (unsigned long)to,
				  strerror(-err));
			return err;
		}
		at = to;
	}
	return hole;
}

int pager_advise(struct upager *p, void *addr, size_t len, int advice)
{
	uintptr_t start = (uintptr_t)addr;
	struct advice a;
	size_t size;
	int err;

	if ((err = pager_check_live(p, "upager_advise")))
		return err;
	if ((err = advice_of(advice, &a)))
		return err;
	size = (len + p->page_size - 1) & ~(size_t)(p->page_size - 1);
	/* The kernel's checks, silently: a program's madvise answered
	 * EINVAL is not upager's error to report. */
	if ((start & (p->page_size - 1)) || (len && size < len) || start + size < start)
		return -EINVAL;
	if (!size)
		return 0;
	pager_write_lock(p);
	err = advise_locked(p, start, start + size, &a);
	pthread_rwlock_unlock(&p->lock);
	return err;
}

/* Give [to, to + len) the advice flags @flags (REGION_ADVICE). Lock held
 * for writing. */
static int advise_flags_locked(struct upager *p, uintptr_t to, uintptr_t len, unsigned int flags)
{
	struct advice a;
	int err = 0;

	if ((flags & REGION_DONTFORK) && !advice_of(UPAGER_ADVISE_DONTFORK, &a))
		err = advise_locked(p, to, to + len, &a);
	if (!err && (flags & REGION_WIPEONFORK) && !advice_of(UPAGER_ADVISE_WIPEONFORK, &a))
		err = advise_locked(p, to, to + len, &a);
	return err;
}

int pager_copy_advice(struct upager *p, const void *from, size_t from_len, void *to,
		      size_t to_len)
{
	uintptr_t start = (uintptr_t)from, end = start + from_len;
	intptr_t delta = (intptr_t)((uintptr_t)to - start);
	unsigned int last = 0;
	int err = 0;

	pager_write_lock(p);
	for (uintptr_t at = start; at < end && at - start < to_len && !err;) {
		const struct region *r = region_find_next(&p->tree, at);
		unsigned int flags;
		uintptr_t s, e;

		if (!r || r->start >= end)
			break;
		s = r->start > at ? r->start : at;
		e = r->end < end ? r->end : end;
		if (e - start > to_len)
			e = start + to_len;
		flags = r->flags & REGION_ADVICE;
		last = r->end >= end ? flags : 0;
		at = e;
		/* r is not used past here: advising the destination may
		 * merge regions next to it. */
		err = advise_flags_locked(p, s + (uintptr_t)delta, e - s, flags);
	}
	/* Grown: the kernel grows the last mapping, flags and all. */
	if (!err && to_len > from_len && last)
		err = advise_flags_locked(p, (uintptr_t)to + from_len, to_len - from_len, last);
	pthread_rwlock_unlock(&p->lock);
	if (err)
		log_error("remap 0x%lx-0x%lx: carrying its fork advice: %s", (unsigned long)start,
			  (unsigned long)end, strerror(-err));
	return err;
}
