/* SPDX-License-Identifier: MIT */
/*
 * budget.h - a cap on the process's resident set, turned into a frame
 * limit for the pager.
 *
 * A user's --max-resident means what a memory cgroup's limit means: the
 * whole process's resident set, as the kernel counts it (VmRSS, whose
 * peak is VmHWM and getrusage's ru_maxrss). The pager pages only some of
 * it; the rest (text, libraries, stacks, small mappings, memory mapped
 * before upager started, upager's own tables, staging and I/O buffers) is
 * "unpaged". The reclaim thread measures the resident set now and then
 * (reclaim.c); from it and the frames in use this module says how many
 * frames the pager may use: the cap minus the unpaged part and a little
 * headroom for what the unpaged part grows by between two measurements,
 * never fewer than a floor (a pager with no frames cannot run the
 * program). It also keeps how the peak divided, for --stats.
 *
 * Pure arithmetic on page counts: no system calls, no locking (the
 * reclaim thread owns it; readers take the page lock).
 */
#ifndef UPAGER_BUDGET_H
#define UPAGER_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct budget {
	uint64_t cap;         /* the process's resident cap, in pages */
	uint32_t frames;      /* the pager's frame budget (most frames) */
	uint32_t floor;       /* fewest frames the limit leaves the pager */
	uint32_t headroom;    /* pages kept free of the cap for unpaged growth */
	uint32_t limit;       /* the frame limit last answered */
	uint64_t measurements;
	/* At the measurement with the highest resident set: */
	uint64_t peak_rss;    /* pages resident */
	uint64_t peak_paged;  /* ... of them the pager's frames */
	uint64_t peak_unpaged;
	uint64_t peak_own;    /* ... of it upager's tables (budget_measure's @own) */
	/* Highest unpaged part seen, and whether it alone ever exceeded the
	 * cap less the floor (the cap cannot be held then). */
	uint64_t max_unpaged;
	bool over;
};

/* A cap of @cap pages for a pager of @frames frames (@frames <= @cap in
 * practice: the budget is the cap). */
void budget_init(struct budget *b, uint64_t cap, uint32_t frames);

/*
 * One measurement: @rss pages resident in the process, @paged of them
 * (at most) the pager's frames in use, @own of the rest upager's own
 * tables (for the peak's division only). Returns the frame limit to hold
 * from now on. *@first_over is set when the unpaged part alone left less
 * than the floor for the first time (the caller warns, once).
 */
uint32_t budget_measure(struct budget *b, uint64_t rss, uint64_t paged, uint64_t own,
			bool *first_over);

#endif /* UPAGER_BUDGET_H */
