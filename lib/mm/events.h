/* SPDX-License-Identifier: MIT */
/*
 * events.h - changes a program makes to upager's memory behind upager's
 * back (munmap, mremap, madvise(MADV_DONTNEED/MADV_FREE/MADV_REMOVE)),
 * reported by the kernel as userfaultfd events, and applied to the
 * region tree and the objects in the order they happened.
 *
 * The kernel holds the thread that made the change until a handler has
 * *read* the event, so readers must never wait for anything that thread
 * may hold: they only queue events here (events_push()). Whoever next
 * holds the pager's lock for writing applies the queue (events_apply()):
 * a writer of the API at the start of its call, or a worker thread. A
 * fault read after an event must not be served before that event is
 * applied (a page discarded with MADV_DONTNEED reads as zeros, not as its
 * old swapped-out contents): readers hand such faults to a worker, which
 * applies the events first (events_pending()).
 *
 * upager's own munmap and madvise calls on its regions raise the same
 * events. They are *expected* (events_expect() before the call,
 * events_unexpect() after it) and a reader drops an event an expectation
 * covers. An expectation must outlive the reading of its events: the
 * backend's fence (backend.h) waits until everything read so far has
 * been queued or dropped.
 *
 * Locking: events.lock guards the queue and the expectations and is never
 * held across a blocking call; events_apply() needs the pager's lock for
 * writing.
 */
#ifndef UPAGER_EVENTS_H
#define UPAGER_EVENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct upager;

enum event_kind {
	EVENT_REMOVE = 1, /* [start, end) was discarded (MADV_DONTNEED and friends) */
	EVENT_UNMAP,      /* [start, end) was unmapped */
	EVENT_REMAP,      /* [start, end) moved to [to, to + (end - start)) */
};

struct event {
	uint8_t kind;        /* enum event_kind */
	uintptr_t start, end;
	uintptr_t to;        /* EVENT_REMAP */
	struct event *next;  /* queue link */
};

#define EVENTS_EXPECT_MAX 64

struct events {
	pthread_mutex_t lock;
	struct event *head, *tail;  /* read, not yet applied, oldest first */
	_Atomic uint64_t queued;    /* events queued so far */
	_Atomic uint64_t applied;   /* ... and applied */
	_Atomic uint32_t reading;   /* a reader is between read() and queuing */
	struct {
		uintptr_t start, end;   /* [start, end); end 0: free */
		uint8_t kind;
	} expect[EVENTS_EXPECT_MAX];
	pthread_cond_t expect_free; /* an expectation slot was freed */
};

void events_init(struct events *ev);
void events_destroy(struct events *ev);
/* In a forked child: the queue held the parent's events. */
void events_fork_child(struct events *ev);

/*
 * upager is about to change [start, end) itself (munmap: EVENT_UNMAP;
 * madvise: EVENT_REMOVE): events of that kind inside the range are its
 * own, not the program's. Returns a handle for events_unexpect().
 * Waits for a free slot when EVENTS_EXPECT_MAX changes are under way.
 */
int events_expect(struct events *ev, enum event_kind kind, uintptr_t start, uintptr_t end);
/* The change is done: once the events it raised are queued (or dropped)
 * the expectation goes (the kernel lets the changing thread go when the
 * event is read, before the reader has looked at it: the backend's
 * fence waits for that). */
void events_unexpect(struct upager *p, int handle);

/*
 * A reader read @e from the kernel: queue it for events_apply(), unless
 * upager expects it. Never blocks for long (no allocation from malloc:
 * events come from a pool). Returns true when queued.
 */
bool events_push(struct events *ev, const struct event *e);

/*
 * Reclaim addresses pages by their place in the tree. The program may move
 * or unmap them at any moment; the kernel then holds the thread that did
 * it until its event is read, so a range cannot come back, nor its place
 * be reused by that thread, without an event being read. A reclaimer
 * takes events_mark() after events_settle() (refusing when it is false:
 * the tree is behind the kernel), acts, and trusts what it saw only if
 * events_quiet_since() its mark.
 */
static inline bool events_settled(struct events *ev)
{
	return !atomic_load(&ev->reading) && atomic_load(&ev->queued) == atomic_load(&ev->applied);
}

/* Wait out a read in progress (a reader never blocks while reading);
 * then events_settled(). */
bool events_settle(struct events *ev);

static inline uint64_t events_mark(struct events *ev)
{
	return atomic_load(&ev->queued);
}

static inline bool events_quiet_since(struct events *ev, uint64_t mark)
{
	/* In this order: a reader queues before it stops reading. */
	return !atomic_load(&ev->reading) && atomic_load(&ev->queued) == mark;
}

/* Events read and not yet applied. */
static inline bool events_pending(struct events *ev)
{
	return atomic_load_explicit(&ev->queued, memory_order_acquire) !=
	       atomic_load_explicit(&ev->applied, memory_order_acquire);
}

/* Apply every queued event, oldest first. The pager's lock held for
 * writing (pager.c does the work per kind: pager_apply_event()). */
void events_apply(struct upager *p);

#endif /* UPAGER_EVENTS_H */
