/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the log-linear latency histogram behind every percentile
 * upager reports.
 */
#include "core/stats.h"

unsigned int hist_bucket_of(uint64_t value)
{
	unsigned int msb;

	if (value < HIST_SUB)
		return (unsigned int)value;
	msb = 63u - (unsigned int)__builtin_clzll(value);
	/* Bucket = (octave, top HIST_SUB_BITS bits below the leading one). */
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned int)((value >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

uint64_t hist_bucket_upper(unsigned int bucket)
{
	unsigned int octave = bucket / HIST_SUB, sub = bucket % HIST_SUB;
	unsigned int shift;

	if (octave == 0)
		return bucket;
	shift = octave - 1;
	/* Values with leading one at bit (shift + HIST_SUB_BITS). */
	if (shift + HIST_SUB_BITS >= 63 && sub == HIST_SUB - 1)
		return UINT64_MAX;
	return (((uint64_t)(HIST_SUB + sub + 1)) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t value)
{
	uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);

	atomic_fetch_add_explicit(&h->bucket[hist_bucket_of(value)], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	while (value > max &&
	       !atomic_compare_exchange_weak_explicit(&h->max, &max, value,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

uint64_t hist_percentile(struct hist *h, unsigned int permille)
{
	uint64_t total = 0, rank, seen = 0;
	uint64_t counts[HIST_BUCKETS];

	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		counts[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		total += counts[i];
	}
	if (!total)
		return 0;
	/* The smallest bucket whose cumulative count reaches the rank. */
	rank = (total * permille + 999) / 1000;
	if (!rank)
		rank = 1;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		seen += counts[i];
		if (seen >= rank) {
			uint64_t upper = hist_bucket_upper(i);
			uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);

			return upper < max ? upper : max;
		}
	}
	return atomic_load_explicit(&h->max, memory_order_relaxed);
}
