/* SPDX-License-Identifier: MIT */
/*
 * events.c - the queue of address-space changes the kernel reported and
 * upager has not applied yet, and the changes upager expects because it
 * makes them itself.
 */
#include "mm/events.h"
#include "mm/debug.h"

#include <sched.h>
#include <string.h>

#include "backend/backend.h"
#include "core/log.h"
#include "mm/pager.h"
#include "core/pool.h"

/* Queue nodes come from a pool: readers never call malloc (pool.h). */
static struct pool event_pool = POOL_INIT(struct event);

void events_init(struct events *ev)
{
	void *first = pool_alloc(&event_pool);

	/* The pool's first chunk is mapped now, not by the handler that
	 * reads the first event: then it would take address space the
	 * program has just freed (a shrunk mremap's tail) and may mean to
	 * grow into again, as it could without upager. */
	if (first)
		pool_free(&event_pool, first);
	memset(ev, 0, sizeof(*ev));
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->expect_free, NULL);
}

void events_destroy(struct events *ev)
{
	while (ev->head) {
		struct event *e = ev->head;

		ev->head = e->next;
		pool_free(&event_pool, e);
	}
	pthread_cond_destroy(&ev->expect_free);
	pthread_mutex_destroy(&ev->lock);
}

void events_fork_child(struct events *ev)
{
	pool_fork_child(&event_pool);
	/* The parent's queue: its events are about its own address space
	 * as it changes after the fork, not the child's. */
	ev->head = ev->tail = NULL;
	atomic_store(&ev->queued, 0);
	atomic_store(&ev->applied, 0);
	/* A parent's handler may have been reading as it forked: no
	 * reader of the child's is. */
	atomic_store(&ev->reading, 0);
	memset(ev->expect, 0, sizeof(ev->expect));
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->expect_free, NULL);
}

int events_expect(struct events *ev, enum event_kind kind, uintptr_t start, uintptr_t end)
{
	int slot = -1;

	pthread_mutex_lock(&ev->lock);
	for (;;) {
		for (int i = 0; i < EVENTS_EXPECT_MAX; i++) {
			if (!ev->expect[i].end) {
				slot = i;
				break;
			}
		}
		if (slot >= 0)
			break;
		pthread_cond_wait(&ev->expect_free, &ev->lock);
	}
	ev->expect[slot].start = start;
	ev->expect[slot].end = end;
	ev->expect[slot].kind = (uint8_t)kind;
	pthread_mutex_unlock(&ev->lock);
	return slot;
}

void events_unexpect(struct upager *p, int handle)
{
	struct events *ev = &p->events;

	if (p->be)
		p->be_ops->fence(p->be);
	pthread_mutex_lock(&ev->lock);
	ev->expect[handle].end = 0;
	pthread_cond_signal(&ev->expect_free);
	pthread_mutex_unlock(&ev->lock);
}

bool events_push(struct events *ev, const struct event *e)
{
	struct event *n;

	pthread_mutex_lock(&ev->lock);
	/* One change of upager's own may be reported in pieces (one event
	 * per kernel mapping it spans): an expectation covers them all. */
	for (int i = 0; i < EVENTS_EXPECT_MAX; i++) {
		if (ev->expect[i].end && ev->expect[i].kind == e->kind &&
		    e->start >= ev->expect[i].start && e->end <= ev->expect[i].end) {
			pthread_mutex_unlock(&ev->lock);
			return false;
		}
	}
	n = pool_alloc(&event_pool);
	if (!n) {
		pthread_mutex_unlock(&ev->lock);
		log_error("events: out of memory: the %s of 0x%lx-0x%lx is lost; upager's view of "
			  "that range may now be wrong", e->kind == EVENT_UNMAP ? "munmap" :
			  e->kind == EVENT_REMAP ? "mremap" : "discard",
			  (unsigned long)e->start, (unsigned long)e->end);
		return false;
	}
	*n = *e;
	n->next = NULL;
	if (ev->tail)
		ev->tail->next = n;
	else
		ev->head = n;
	ev->tail = n;
	atomic_fetch_add_explicit(&ev->queued, 1, memory_order_release);
	pthread_mutex_unlock(&ev->lock);
	return true;
}

bool events_settle(struct events *ev)
{
	while (atomic_load(&ev->reading))
		sched_yield();
	return events_settled(ev);
}

void events_apply(struct upager *p)
{
	struct events *ev = &p->events;

	while (events_pending(ev)) {
		struct event *e;

		pthread_mutex_lock(&ev->lock);
		e = ev->head;
		if (e) {
			ev->head = e->next;
			if (!ev->head)
				ev->tail = NULL;
		}
		pthread_mutex_unlock(&ev->lock);
		if (!e)
			break;
		pager_apply_event(p, e);
		pool_free(&event_pool, e);
		atomic_fetch_add_explicit(&ev->applied, 1, memory_order_release);
	}
	debug_check_pager(p, "events applied");
}
