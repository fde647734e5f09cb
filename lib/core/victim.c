/* SPDX-License-Identifier: MIT */
/*
 * victim.c - second chance over the active list, and the run a victim
 * takes with it.
 */
#include "core/victim.h"

enum victim_choice victim_choose(struct frames *fr, uint32_t *victim)
{
	uint32_t i = frames_oldest(fr, FRAME_ACTIVE);

	if (i == FRAME_NONE)
		return VICTIM_NONE;
	if (fr->f[i].referenced) {
		fr->f[i].referenced = 0;
		frames_move(fr, i, FRAME_ACTIVE);
		return VICTIM_SPARED;
	}
	*victim = i;
	return VICTIM_TAKE;
}

uint32_t victim_run(const struct frames *fr, uint32_t first, size_t page_size, uintptr_t end,
		    uint32_t *run, uint32_t max)
{
	uintptr_t addr = fr->f[first].addr;
	uint32_t k = 1;

	run[0] = first;
	for (uint32_t j = frames_next(fr, first); j != FRAME_NONE && k < max;
	     j = frames_next(fr, j), k++) {
		if (fr->f[j].addr != addr + k * page_size || fr->f[j].addr >= end ||
		    fr->f[j].referenced)
			break;
		run[k] = j;
	}
	return k;
}
