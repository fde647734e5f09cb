/* SPDX-License-Identifier: MIT */
/*
 * staging.c - the staging-slot bitmap, its next-fit runs and the batch
 * of slots waiting for their discard.
 */
#include "core/staging.h"

void staging_init(struct staging_slots *s, uint32_t n, uint64_t *used)
{
	s->used = used;
	s->n = n;
	s->cursor = 0;
	s->ndiscard = 0;
}

uint32_t staging_alloc(struct staging_slots *s, uint32_t want, uint32_t *start)
{
	uint32_t n = s->n;

	for (uint32_t scanned = 0; scanned < n; scanned++) {
		uint32_t i = s->cursor < n ? s->cursor : 0, len = 1;

		if (staging_is_used(s, i)) {
			s->cursor = i + 1;
			continue;
		}
		while (len < want && i + len < n && !staging_is_used(s, i + len))
			len++;
		for (uint32_t k = i; k < i + len; k++)
			s->used[k / 64] |= 1ull << (k % 64);
		s->cursor = i + len;
		*start = i;
		return len;
	}
	return 0;
}

void staging_release(struct staging_slots *s, uint32_t start, uint32_t len)
{
	for (uint32_t k = start; k < start + len; k++)
		s->used[k / 64] &= ~(1ull << (k % 64));
}

/*
 * Not qsort(3): glibc's takes its scratch space from malloc once the
 * array reaches 1 KiB, and under upager-run malloc may map memory, which
 * takes the pager's lock for writing while this thread holds the page
 * lock (a deadlock, found with 256-slot batches). The arrays are short
 * (RECLAIM_BATCH, DISCARD_BATCH) and mostly in order already.
 */
void staging_sort(uint32_t *slots, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = slots[i], j = i;

		for (; j > 0 && slots[j - 1] > v; j--)
			slots[j] = slots[j - 1];
		slots[j] = v;
	}
}

void staging_release_many(struct staging_slots *s, uint32_t *slots, uint32_t n,
			  staging_discard_fn discard, void *arg)
{
	staging_sort(slots, n);
	for (uint32_t k = 0, run; k < n; k += run) {
		for (run = 1; k + run < n && slots[k + run] == slots[k] + run; run++)
			;
		discard(arg, slots[k], run);
		staging_release(s, slots[k], run);
	}
}

bool staging_defer_discard(struct staging_slots *s, uint32_t slot)
{
	s->discard[s->ndiscard++] = slot;
	return s->ndiscard == DISCARD_BATCH;
}

void staging_release_deferred(struct staging_slots *s, staging_discard_fn discard, void *arg)
{
	if (!s->ndiscard)
		return;
	staging_release_many(s, s->discard, s->ndiscard, discard, arg);
	s->ndiscard = 0;
}
