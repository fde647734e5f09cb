/* SPDX-License-Identifier: MIT */
/* pattern.c - see pattern.h. */
#include <criterion/criterion.h>

#include "common.h"
#include "pattern.h"

/* The store tests' names for common.c's words: one derivation for all. */
void fill_page(uint64_t *p, size_t pg, uint64_t gen)
{
	gen_fill(p, pg, gen);
}

bool page_ok(const uint64_t *p, size_t pg, uint64_t gen)
{
	return gen_holds(p, pg, gen);
}

uint64_t *page_at(uint64_t *mem, size_t pg)
{
	return mem + pg * PAGE / 8;
}

void pattern_evict_and_verify(uint64_t *mem, size_t npages, uint64_t gen, uint64_t seed)
{
	uint64_t rng = seed;

	for (size_t pg = 0; pg < npages; pg++)
		fill_page(page_at(mem, pg), pg, gen);
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < npages; pg++)
			if (!page_ok(page_at(mem, pg), pg, gen))
				cr_assert_fail("pass %d: page %zu wrong", pass, pg);
	for (size_t i = 0; i < 4 * npages; i++) {
		size_t pg = rng_next(&rng) % npages;

		if (!page_ok(page_at(mem, pg), pg, gen))
			cr_assert_fail("random pass (seed %llu): page %zu wrong at step %zu",
				       (unsigned long long)seed, pg, i);
	}
}
