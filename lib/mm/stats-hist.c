/* SPDX-License-Identifier: MIT */
/*
 * stats-hist.c - upager_stats_hist(): a pager's latency histograms copied
 * out bucket by bucket, in core/hist.h's buckets.
 */
#include <errno.h>
#include <stddef.h>

#include "core/log.h"
#include "mm/pager.h"
#include "store/store.h"

_Static_assert(UPAGER_HIST_MAX_BUCKETS == HIST_BUCKETS,
	       "the public bucket bound is the histogram's bucket count");

static struct hist *hist_for(struct upager *p, int which)
{
	switch (which) {
	case UPAGER_HIST_FAULT_SERVICE:
		return &p->stats.service_ns;
	case UPAGER_HIST_SWAP_READ:
		return reclaim_has_budget(&p->rc) ? store_read_hist(p->rc.store) : NULL;
	case UPAGER_HIST_SWAP_WRITE:
		return reclaim_has_budget(&p->rc) ? store_write_hist(p->rc.store) : NULL;
	}
	return NULL;
}

int pager_stats_hist(struct upager *p, int which, struct upager_hist *out)
{
	struct hist_snapshot snap; /* 8 KiB of stack, as hist_percentile() takes */
	struct hist *h;
	uint32_t n = 0;
	int err;

	if ((err = pager_check_live(p, "upager_stats_hist")))
		return err;
	if (!out || out->sz < offsetof(struct upager_hist, max_ns) + sizeof(out->max_ns) ||
	    (!out->buckets && out->capacity)) {
		log_error("upager_stats_hist: hist NULL, sz not set or no bucket array "
			  "(use UPAGER_HIST())");
		return -EINVAL;
	}
	if (which < UPAGER_HIST_FAULT_SERVICE || which > UPAGER_HIST_SWAP_WRITE) {
		log_error("upager_stats_hist: unknown histogram %d", which);
		return -EINVAL;
	}
	h = hist_for(p, which);
	out->nbuckets = 0;
	out->count = 0;
	out->max_ns = 0;
	if (!h)
		return 0;
	hist_read(h, &snap);
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		if (!snap.bucket[i])
			continue;
		if (n < out->capacity)
			out->buckets[n] = (struct upager_hist_bucket){
				.lower_ns = hist_bucket_lower(i),
				.upper_ns = hist_bucket_upper(i),
				.count = snap.bucket[i],
			};
		n++;
	}
	out->nbuckets = n;
	out->count = snap.count;
	out->max_ns = snap.max;
	return n > out->capacity ? -ERANGE : 0;
}
