/* SPDX-License-Identifier: MIT */
/*
 * budget.c - the frame budget as the store's own memory leaves it: a
 * compressed pool holds evicted pages in this process's memory, so each
 * page of it costs a frame of the cap (reclaim.h: reclaim_budget_follow).
 */
#include "mm/pager.h"
#include "mm/reclaim.h"
#include "store/store.h"

uint32_t reclaim_budget_follow(struct upager *p)
{
	struct frames *fr = &p->rc.frames;
	size_t bytes = store_resident_bytes(p->rc.store);
	uint64_t want = (bytes + p->page_size - 1) / p->page_size;
	uint32_t have = frames_count(fr, FRAME_WITHHELD);

	/* Paging keeps some frames whatever the pool holds (its share is
	 * at most OPT_MAX_COMPRESS_POOL_PCT of the cap, checked at open). */
	if (want > fr->n - fr->n / 10)
		want = fr->n - fr->n / 10;
	while (have > want) {
		frames_release(fr, frames_oldest(fr, FRAME_WITHHELD));
		have--;
	}
	/* Only free frames: a frame in use is given up once reclaim
	 * frees it, at the next call. */
	while (have < want && frames_take(fr, NULL, 0, 0, FRAME_WITHHELD) != FRAME_NONE)
		have++;
	return have;
}
