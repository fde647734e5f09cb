/* SPDX-License-Identifier: MIT */
/*
 * fault.c - the fault path: classify the faulting access against the
 * region tree the way the kernel's do_user_addr_fault() does, decide how
 * many pages to bring in, and have the backend install them.
 */
#include "fault.h"

#include <errno.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "pager.h"

void fault_streams_init(struct fault_streams *fs, unsigned int max_pages)
{
	memset(fs->s, 0, sizeof(fs->s));
	fs->clock = 0;
	fs->max = max_pages ? max_pages : 1;
	pthread_mutex_init(&fs->lock, NULL);
}

void fault_streams_destroy(struct fault_streams *fs)
{
	pthread_mutex_destroy(&fs->lock);
}

unsigned int fault_streams_window(struct fault_streams *fs, uintptr_t page)
{
	unsigned int window = 1;

	if (fs->max == 1)
		return 1;
	pthread_mutex_lock(&fs->lock);
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
	 * in sequence doubles it. A fresh stream starts at one page. */
	pages_done = victim->next == page && victim->window ? victim->window * 2 : 1;
	victim->window = pages_done > fs->max ? fs->max : pages_done;
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

enum fault_result fault_handle(struct upager *pager, uintptr_t addr,
			       unsigned int access)
{
	uintptr_t page = addr & ~(uintptr_t)(pager->page_size - 1);
	enum fault_result result = FAULT_RESOLVED;
	struct region *r;
	unsigned int window;
	uintptr_t end;
	uint64_t want, installed;
	long done;

	stat_add(&pager->stats.faults, 1);
	stat_add(access & FAULT_WRITE ? &pager->stats.faults_write
				      : &pager->stats.faults_read, 1);

	pthread_rwlock_rdlock(&pager->lock);
	r = region_find(&pager->tree, addr);
	if (!r) {
		result = FAULT_MAPERR;
		goto out_unlock;
	}
	if (!access_allowed(r, access)) {
		result = FAULT_ACCERR;
		goto out_unlock;
	}

	window = fault_streams_window(&pager->streams, page);
	end = page + (uintptr_t)window * pager->page_size;
	if (end > r->end || end < page)
		end = r->end;

	/* Count the pages before installing them: the ioctl wakes the
	 * faulting thread, which may read the statistics before this thread
	 * runs again. A short or failed install takes the excess back. */
	want = (end - page) / pager->page_size;
	count_installed(pager, 0, want);
	done = pager->be_ops->fill_zero(pager->be, page, end - page,
					access & FAULT_WRITE);
	installed = done > 0 ? (uint64_t)done / pager->page_size : 0;
	if (installed < want)
		count_installed(pager, want, installed);
	if (done == -EEXIST) {
		/* Another thread's fault (or fault-around) got there first:
		 * the page is in place, the waiter only needs waking. */
		stat_add(&pager->stats.faults_raced, 1);
		pager->be_ops->wake(pager->be, page, pager->page_size);
		goto out_unlock;
	}
	if (done == -ENOENT) {
		/* The range was unmapped behind the tree's back (munmap by the
		 * program); the thread retries and the kernel decides. */
		stat_add(&pager->stats.faults_dropped, 1);
		pager->be_ops->wake(pager->be, page, pager->page_size);
		goto out_unlock;
	}
	if (done < 0) {
		log_error("fault at 0x%lx: installing zero page: %s",
			  (unsigned long)addr, strerror((int)-done));
		result = FAULT_FAILED;
		goto out_unlock;
	}
	fault_streams_advance(&pager->streams, page, page + (uintptr_t)done);

out_unlock:
	pthread_rwlock_unlock(&pager->lock);
	return result;
}
