/* SPDX-License-Identifier: MIT */
/*
 * hist.c - log-linear histogram buckets, the concurrent recorder and
 * percentiles read from a snapshot.
 */
#include "core/hist.h"

unsigned int hist_bucket_of(uint64_t value)
{
	unsigned int msb;

	if (value < HIST_SUB)
		return (unsigned int)value;
	msb = 63u - (unsigned int)__builtin_clzll(value);
	/* (octave, the HIST_SUB_BITS bits below the leading one). */
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned int)((value >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

uint64_t hist_bucket_lower(unsigned int b)
{
	unsigned int octave = b / HIST_SUB, sub = b % HIST_SUB;

	if (octave == 0)
		return b;
	return ((uint64_t)(HIST_SUB + sub)) << (octave - 1);
}

uint64_t hist_bucket_upper(unsigned int b)
{
	if (b + 1 >= HIST_BUCKETS)
		return UINT64_MAX;
	return hist_bucket_lower(b + 1) - 1;
}

void hist_record(struct hist *h, uint64_t value)
{
	uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);

	atomic_fetch_add_explicit(&h->bucket[hist_bucket_of(value)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	while (value > max &&
	       !atomic_compare_exchange_weak_explicit(&h->max, &max, value, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void hist_read(struct hist *h, struct hist_snapshot *out)
{
	/* count is the sum of what was read, not h->count, so a snapshot is
	 * consistent with itself while writers run. */
	out->count = 0;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		out->bucket[i] = atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		out->count += out->bucket[i];
	}
	out->max = atomic_load_explicit(&h->max, memory_order_relaxed);
}

uint64_t hist_snapshot_percentile(const struct hist_snapshot *s, unsigned int permille)
{
	uint64_t rank, seen = 0;

	if (!s->count)
		return 0;
	rank = (s->count * permille + 999) / 1000;
	if (!rank)
		rank = 1;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		seen += s->bucket[i];
		if (seen >= rank) {
			uint64_t upper = hist_bucket_upper(i);

			return upper < s->max ? upper : s->max;
		}
	}
	return s->max;
}

void hist_octaves(const uint64_t *bucket, struct hist_octaves *out)
{
	*out = (struct hist_octaves){ .first = HIST_OCTAVES };
	for (unsigned int i = 0; i < HIST_BUCKETS; i++)
		out->n[i / HIST_SUB] += bucket[i];
	for (unsigned int o = 0; o < HIST_OCTAVES; o++) {
		if (!out->n[o])
			continue;
		if (out->first == HIST_OCTAVES)
			out->first = o;
		out->last = o;
		if (out->n[o] > out->top)
			out->top = out->n[o];
	}
}

uint64_t hist_percentile(struct hist *h, unsigned int permille)
{
	struct hist_snapshot s;

	hist_read(h, &s);
	return hist_snapshot_percentile(&s, permille);
}
