/* SPDX-License-Identifier: MIT */
/*
 * store-debug.c - the swap store's side of the debug build's invariant
 * checks (store-debug.h): reads of the reference tables, nothing else.
 * Built only with -Ddebug_checks=true. Only the file store has these
 * tables; another store behind the seam (a test's fake) is no holder, so
 * its references are not compared.
 */
#define _GNU_SOURCE
#include "store/store-debug.h"
#include "store/store-file.h"
#include "store/store-internal.h"

/* The file store behind @base, or NULL for any other store. */
static struct file_store *file_of(struct store *base)
{
	return store_is_file(base) ? (struct file_store *)base : NULL;
}

uint64_t store_debug_slots(const struct store *base)
{
	return store_is_file(base) ? ((const struct file_store *)base)->nslots : 0;
}

bool store_debug_is_holder(struct store *base)
{
	struct file_store *s = file_of(base);
	bool holder;

	if (!s)
		return false;

	shared_lock(s);
	holder = is_holder(s);
	shared_unlock(s);
	return holder;
}

uint32_t store_debug_own_refs(struct store *base, uint64_t slot)
{
	struct file_store *s = file_of(base);
	uint32_t n = 0;

	if (!s)
		return 0;

	shared_lock(s);
	if (slot < s->nslots && is_holder(s))
		n = s->count[slot];
	shared_unlock(s);
	return n;
}

int store_debug_check_refs(struct store *base, const uint32_t *held, uint64_t *bad,
			   uint32_t *refs, const char **why)
{
	struct file_store *s = file_of(base);

	*why = NULL;
	if (!s)
		return 0;
	shared_lock(s);
	if (!is_holder(s))
		goto out_unlock;
	for (uint64_t c = 0; c < s->nclusters && !*why; c++) {
		/* A wholly free cluster holds no reference of anyone's; the
		 * entries' side checks that none names a slot in it. */
		if (bit_test(s->whole, c))
			continue;
		for (uint64_t slot = c * STORE_CLUSTER_SLOTS;
		     slot < (c + 1) * STORE_CLUSTER_SLOTS; slot++) {
			bool ours = s->mask[slot] & own_bit(s);

			if (s->count[slot] != held[slot])
				*why = "this process's references to a slot differ from the "
				       "page entries that name it";
			else if (ours != (s->count[slot] != 0))
				*why = "a slot's holder mask disagrees with this process's "
				       "reference count";
			if (*why) {
				*bad = slot;
				*refs = s->count[slot];
				break;
			}
		}
	}
out_unlock:
	shared_unlock(s);
	return *why ? -EUCLEAN : 0;
}
