/* SPDX-License-Identifier: MIT */
/*
 * readaround.h - how many pages to read around a swap-in fault that
 * follows no sequential stream: the kernel's swap read-ahead
 * (swap_vma_readahead(), its window sized by swapin_nr_pages() from the
 * read-ahead hits since the last fault), for faults near recent ones.
 *
 * A fault within READAROUND_NEAR pages of one of the last
 * READAROUND_HISTORY faults reads a window of pages around it (aligned,
 * starting at READAROUND_START); one far from them all reads itself only,
 * so random access over a large set pays nothing. The window adapts to
 * what the pages read around were worth: the caller reports each one the
 * program touched (readaround_hit()) and each window read
 * (readaround_read()); a window whose pages were mostly used doubles, one
 * whose pages were mostly not halves, down to 1 (then a fault next to the
 * one before probes with 2 again).
 *
 * Pure: no system calls, no locking (the caller holds the page lock).
 */
#ifndef UPAGER_READAROUND_H
#define UPAGER_READAROUND_H

#include <stdint.h>

#define READAROUND_HISTORY 16u
#define READAROUND_NEAR 32u
#define READAROUND_START 8u

struct readaround {
	uint64_t recent[READAROUND_HISTORY]; /* page numbers of the last faults */
	uint32_t nrecent, next;
	uint32_t window;     /* pages read around a near fault, 1..max */
	uint32_t max;        /* the most pages a window may have */
	uint32_t ahead;      /* pages read around since the window last changed */
	uint32_t hits;       /* ... of them touched since */
};

/* @max: the most pages one swap-in reads (at least 1). */
void readaround_init(struct readaround *ra, uint32_t max);

/* A swap-in fault on page number @page (address / page size), off any
 * stream: how many pages the aligned window around it should have (1:
 * the page alone). Records the fault. */
uint32_t readaround_window(struct readaround *ra, uint64_t page);

/* @n pages were read around a fault (besides the faulting page). */
void readaround_read(struct readaround *ra, uint32_t n);

/* A page read around a fault was touched by the program. */
void readaround_hit(struct readaround *ra);

#endif /* UPAGER_READAROUND_H */
