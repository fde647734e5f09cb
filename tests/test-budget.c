/* SPDX-License-Identifier: MIT */
/*
 * test-budget.c - the process cap's frame limit (core/budget.h).
 */
#include <criterion/criterion.h>

#include "core/budget.h"

Test(budget, limit_is_cap_less_unpaged_and_headroom)
{
	struct budget b;
	bool over;

	budget_init(&b, 32768, 32768); /* 128 MiB */
	/* 10,000 pages resident, 4,000 of them paged: 6,000 unpaged. */
	cr_assert_eq(budget_measure(&b, 10000, 4000, 0, &over), 32768 - 6000 - 32768 / 50);
	cr_assert_not(over);
	/* The unpaged part shrinks: the limit grows back, never past the budget. */
	cr_assert_eq(budget_measure(&b, 4000, 4000, 0, &over), 32768 - 32768 / 50);
	budget_init(&b, 32768, 1000);
	cr_assert_eq(budget_measure(&b, 100, 0, 0, &over), 1000);
}

Test(budget, unpaged_past_the_cap_leaves_the_floor_and_says_so_once)
{
	struct budget b;
	bool over;

	budget_init(&b, 32768, 32768);
	cr_assert_eq(budget_measure(&b, 40000, 1000, 0, &over), 32768 / 16);
	cr_assert(over, "the first time");
	cr_assert_eq(budget_measure(&b, 41000, 1000, 0, &over), 32768 / 16);
	cr_assert_not(over, "only once");
	cr_assert(b.over);
	cr_assert_eq(b.max_unpaged, 40000);
}

Test(budget, peak_divides_at_the_highest_measurement)
{
	struct budget b;
	bool over;

	budget_init(&b, 32768, 32768);
	budget_measure(&b, 20000, 15000, 0, &over);
	budget_measure(&b, 30000, 22000, 300, &over);
	budget_measure(&b, 25000, 5000, 0, &over);
	cr_assert_eq(b.peak_rss, 30000);
	cr_assert_eq(b.peak_paged, 22000);
	cr_assert_eq(b.peak_unpaged, 8000);
	cr_assert_eq(b.peak_own, 300);
	/* Frames in use not resident (a read in flight): unpaged is 0. */
	budget_init(&b, 32768, 32768);
	budget_measure(&b, 100, 200, 0, &over);
	cr_assert_eq(b.peak_unpaged, 0);
	cr_assert_eq(b.peak_paged, 100);
}
