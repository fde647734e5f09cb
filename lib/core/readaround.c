/* SPDX-License-Identifier: MIT */
/*
 * readaround.c - the adaptive read-around window for swap-in faults near
 * recent ones (readaround.h).
 */
#include "core/readaround.h"

void readaround_init(struct readaround *ra, uint32_t max)
{
	*ra = (struct readaround){ .max = max ? max : 1 };
	ra->window = READAROUND_START < ra->max ? READAROUND_START : ra->max;
}

/* Judge the window by its pages once it has read a few windows' worth:
 * mostly used (half or more), it doubles; mostly not (under a quarter),
 * it halves. As the kernel's swapin_nr_pages() sizes by hits. */
static void adapt(struct readaround *ra)
{
	uint32_t enough = ra->window * 4 > 16 ? ra->window * 4 : 16;

	if (ra->ahead < enough)
		return;
	if (ra->hits * 2 >= ra->ahead && ra->window < ra->max)
		ra->window = ra->window * 2 < ra->max ? ra->window * 2 : ra->max;
	else if (ra->hits * 4 < ra->ahead && ra->window > 1)
		ra->window /= 2;
	ra->ahead = ra->hits = 0;
}

uint32_t readaround_window(struct readaround *ra, uint64_t page)
{
	uint32_t n = 1;
	uint64_t prev = ra->nrecent ? ra->recent[(ra->next + READAROUND_HISTORY - 1) %
						 READAROUND_HISTORY] : UINT64_MAX;

	for (uint32_t i = 0; i < ra->nrecent; i++) {
		uint64_t d = ra->recent[i] > page ? ra->recent[i] - page : page - ra->recent[i];

		if (d <= READAROUND_NEAR) {
			n = ra->window;
			break;
		}
	}
	/* Shrunk to nothing: a fault beside the one before probes again. */
	if (n == 1 && ra->max > 1 && prev != UINT64_MAX && (page == prev + 1 || page + 1 == prev))
		n = 2;
	ra->recent[ra->next] = page;
	ra->next = (ra->next + 1) % READAROUND_HISTORY;
	if (ra->nrecent < READAROUND_HISTORY)
		ra->nrecent++;
	return n;
}

void readaround_read(struct readaround *ra, uint32_t n)
{
	ra->ahead += n;
	adapt(ra);
}

void readaround_hit(struct readaround *ra)
{
	/* Hits come after their read, so some count towards the next
	 * judgement: a lag, not an error, for a moving judgement. */
	ra->hits++;
}
