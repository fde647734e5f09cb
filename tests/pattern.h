/* SPDX-License-Identifier: MIT */
/*
 * pattern.h - the paging workload the store tests share: pages filled with
 * words derived from (page, word, generation), so a page from the wrong
 * slot or an older write shows, and the evict-and-swap-in pass every store
 * is run through (the real engine under a small budget).
 */
#ifndef UPAGER_TESTS_PATTERN_H
#define UPAGER_TESTS_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void fill_page(uint64_t *p, size_t pg, uint64_t gen);
bool page_ok(const uint64_t *p, size_t pg, uint64_t gen);
uint64_t *page_at(uint64_t *mem, size_t pg);

/*
 * Write @npages pages of @mem (generation @gen), then read them back in
 * order twice and at random (@seed) 4 * @npages times, failing the test at
 * the first wrong page. Under a budget well below @npages, every page goes
 * out to the store and comes back at least once.
 */
void pattern_evict_and_verify(uint64_t *mem, size_t npages, uint64_t gen, uint64_t seed);

#endif
