/* SPDX-License-Identifier: MIT */
/*
 * victim.h - victim choice: which active pages reclaim stages next, and
 * which get a second chance instead.
 *
 * Second chance (CLOCK) over the active list (frames.h): the oldest
 * active frame is the candidate. One brought back from the staged list
 * by a soft fault (its own, or beside the touched page) since it was
 * last staged (frame.referenced) is hot: it loses its mark and goes
 * round once more, to the newest end. Otherwise it is the victim, with
 * the active frames after it that continue it in memory, so that one
 * move takes the run; a referenced frame ends the run (it gets its own
 * chance when its turn comes).
 *
 * The kernel has the accessed bit to tell a hot page; upager has only
 * the soft fault, and spares the page one round for it.
 *
 * Pure policy: no system calls, no locking (the caller holds the page
 * lock). The moves are reclaim's (mm/reclaim.c). Unit-tested in-process
 * against a reference CLOCK model (test-victim.c).
 */
#ifndef UPAGER_VICTIM_H
#define UPAGER_VICTIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/frames.h"

enum victim_choice {
	VICTIM_NONE,    /* the active list is empty */
	VICTIM_SPARED,  /* the oldest was referenced: unmarked, moved to the newest end */
	VICTIM_TAKE,    /* the oldest is the victim (*@victim) */
};

/* Decide about the oldest active frame of @fr: spare it (done here) or
 * name it the victim in *@victim, still on the active list. */
enum victim_choice victim_choose(struct frames *fr, uint32_t *victim);

/*
 * The run that starts at victim @first: @first, then the frames after it
 * on its list while each maps the next page (@page_size on) below @end
 * and is not referenced; at most @max frames (>= 1), into @run. Returns
 * its length. An @end at or below @first's next page: @first alone.
 */
uint32_t victim_run(const struct frames *fr, uint32_t first, size_t page_size, uintptr_t end,
		    uint32_t *run, uint32_t max);

#endif /* UPAGER_VICTIM_H */
