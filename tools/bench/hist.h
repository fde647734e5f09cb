/* SPDX-License-Identifier: MIT */
/*
 * hist.h - what upager-bench's subcommands share: order statistics over
 * repeated runs and a seeded generator, so every subcommand computes
 * medians, percentiles and ratios the same way; and (latency.h) latency
 * histograms with their drawings.
 */
#ifndef UPAGER_BENCH_HIST_H
#define UPAGER_BENCH_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* qsort comparators. */
int bench_cmp_double(const void *a, const void *b);
int bench_cmp_u64(const void *a, const void *b);

/* Median of @n values (sorts @v in place). */
double bench_median(double *v, unsigned int n);

/* What every report row has: the runs it is made of, the median
 * throughput over them, and p50/p99 from the median-throughput run. */
struct bench_row {
	bool valid;            /* n > 0 */
	unsigned int n;        /* valid runs */
	double pps, p50, p99;
};

/* @h from @n valid runs' throughput @pps (sorted here) and percentiles. */
void bench_row_from(struct bench_row *h, double *pps, const double *p50, const double *p99,
		    unsigned int n);

/* Which of @n runs has the median of @v (the lower middle for an even
 * count): the run the percentiles of a row come from. @v is left as is. */
unsigned int bench_median_run(const double *v, unsigned int n);

/* The value below which @permille of the sorted @v[0..n) lie; 0 if n is 0. */
double bench_percentile(const uint64_t *v, size_t n, unsigned int permille);

/* @num / @den, or 0 when @den is not positive (a missing baseline). */
double bench_ratio(double num, double den);

/* A table's count column: @v, or "-" when it does not apply (!@show). */
void bench_print_count(double v, bool show);

/* splitmix64: a fast, well-mixed generator for reproducible workloads. */
uint64_t bench_splitmix64(uint64_t *state);

/* Latency histograms and their drawings: tools/plot/latency.h. */
#include "latency.h"

#endif
