/* SPDX-License-Identifier: MIT */
/*
 * streams.h - the fault-around policy: how many pages a fault brings in.
 *
 * Fault-around detects sequential streams of faults: a fault landing
 * exactly where the previous run of one stream ended continues that
 * stream and doubles its window (up to the maximum); any other fault
 * starts a new stream with a window of one page. Random access therefore
 * installs only the page touched, while a sequential first touch needs
 * about log2(max) + n / max faults for n pages. Several streams are
 * tracked (one per thread walking memory, typically); the least recently
 * used is replaced.
 *
 * Pure policy over page addresses: no system calls; the table's own mutex
 * lets handler threads share it. Unit-tested in-process (test-streams.c).
 */
#ifndef UPAGER_STREAMS_H
#define UPAGER_STREAMS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FAULT_STREAMS 8

struct fault_stream {
	uintptr_t next;       /* where this stream's next fault would land */
	uintptr_t low;        /* where its last run started: a fault just
	                       * below it continues the stream downwards */
	unsigned int window;  /* pages to install there; 0: slot unused */
	uint64_t last_use;    /* for LRU replacement */
};

struct fault_streams {
	pthread_mutex_t lock; /* handler threads share the table */
	struct fault_stream s[FAULT_STREAMS];
	uint64_t clock;
	unsigned int max;     /* largest window, pages */
	/* A fresh stream's window: doubles each time the latest fresh
	 * stream goes on (sequential work, a new buffer after another, as
	 * an allocator's arenas are), halves each time one does not
	 * (random access), between 1 and max / 2. */
	unsigned int start;
	uintptr_t fresh_next; /* where the latest fresh stream would go on */
	bool fresh_open;      /* ... and it has not yet */
	unsigned long page_size;
};

/* @max_pages: the largest window (0 counts as 1: no fault-around);
 * @page_size: the size of the pages the addresses name. */
void fault_streams_init(struct fault_streams *fs, unsigned int max_pages,
			unsigned long page_size);
void fault_streams_destroy(struct fault_streams *fs);

/* Pages to install for a fault on @page (page aligned). */
unsigned int fault_streams_window(struct fault_streams *fs, uintptr_t page);

/* Record that [@page, @end) was installed for a fault on @page. */
void fault_streams_advance(struct fault_streams *fs, uintptr_t page, uintptr_t end);

/* A run recorded as [@page, @planned) turned out to end at @end. */
void fault_streams_trim(struct fault_streams *fs, uintptr_t page, uintptr_t planned,
			uintptr_t end);

/*
 * Streams that walk down: a fault on the page just below where a
 * stream's last run started continues it downwards. Only swap-in reads
 * ahead downwards (a list freed from its end); first touches of fresh
 * memory go up. Returns the window for such a fault on @page, 0 when it
 * continues no stream downwards.
 */
unsigned int fault_streams_window_down(struct fault_streams *fs, uintptr_t page);
/* Record that [@low, @page] was installed for a fault on @page. */
void fault_streams_advance_down(struct fault_streams *fs, uintptr_t low, uintptr_t page);

#endif /* UPAGER_STREAMS_H */
