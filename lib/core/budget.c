/* SPDX-License-Identifier: MIT */
/*
 * budget.c - the frame limit that keeps a process's resident set within
 * its cap (budget.h).
 */
#include "core/budget.h"

void budget_init(struct budget *b, uint64_t cap, uint32_t frames)
{
	*b = (struct budget){ .cap = cap, .frames = frames, .limit = frames };
	/* A sixteenth of the budget, as the reclaim batch and the inactive
	 * list need room: a pager squeezed below it only thrashes, and the
	 * cap is lost anyway when the unpaged part is that large. */
	b->floor = frames / 16;
	if (b->floor < 64)
		b->floor = frames < 64 ? frames : 64;
	/* The unpaged part grows between two measurements (a stack, a
	 * small mapping, a library loaded) and the peak is what counts:
	 * keep a fiftieth of the cap for it. */
	b->headroom = (uint32_t)(cap / 50);
}

uint32_t budget_measure(struct budget *b, uint64_t rss, uint64_t paged, uint64_t own,
			bool *first_over)
{
	/* Frames in use that are not resident (held for a read in flight,
	 * cache pages staged in their file) make paged exceed what they
	 * add to rss: the unpaged part is then at least 0. */
	uint64_t unpaged = rss > paged ? rss - paged : 0;
	uint64_t room = b->cap > unpaged + b->headroom ? b->cap - unpaged - b->headroom : 0;

	*first_over = false;
	b->measurements++;
	if (rss > b->peak_rss) {
		b->peak_rss = rss;
		b->peak_paged = rss - unpaged;
		b->peak_unpaged = unpaged;
		b->peak_own = own < unpaged ? own : unpaged;
	}
	if (unpaged > b->max_unpaged)
		b->max_unpaged = unpaged;
	if (room < b->floor) {
		room = b->floor;
		if (!b->over)
			*first_over = true;
		b->over = true;
	}
	if (room > b->frames)
		room = b->frames;
	b->limit = (uint32_t)room;
	return b->limit;
}
