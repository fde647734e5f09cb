/* SPDX-License-Identifier: MIT */
/*
 * benchutil.h - what upager's benchmarks share: order statistics over
 * repeated runs and a seeded generator, so every tool computes medians,
 * percentiles and ratios the same way.
 */
#ifndef UPAGER_BENCHUTIL_H
#define UPAGER_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>

/* qsort comparators. */
int bench_cmp_double(const void *a, const void *b);
int bench_cmp_u64(const void *a, const void *b);

/* Median of @n values (sorts @v in place). */
double bench_median(double *v, unsigned int n);

/* The value below which @permille of the sorted @v[0..n) lie; 0 if n is 0. */
double bench_percentile(const uint64_t *v, size_t n, unsigned int permille);

/* @num / @den, or 0 when @den is not positive (a missing baseline). */
double bench_ratio(double num, double den);

/* splitmix64: a fast, well-mixed generator for reproducible workloads. */
uint64_t bench_splitmix64(uint64_t *state);

#endif
