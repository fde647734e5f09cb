/* SPDX-License-Identifier: MIT */
/*
 * hist.h - what upager-bench's subcommands share: order statistics over
 * repeated runs, a seeded generator, latency histograms and the two ways
 * of drawing them (bars on a terminal, CDFs in an SVG file), so every
 * tool computes medians, percentiles and ratios the same way.
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

/* ---- latency histograms -------------------------------------------------- */

/*
 * Log-linear buckets of nanoseconds: values below BENCH_HIST_SUB exactly,
 * above that BENCH_HIST_SUB buckets per power of two (each ~4.4% wide), up
 * to 2^42 ns (73 minutes; larger values land in the last bucket). Fine
 * enough to draw a CDF, small enough (5 KiB) to keep one per row and pool
 * runs into. Exact percentiles come from raw samples, not from here.
 */
#define BENCH_HIST_SUB 16u
#define BENCH_HIST_N (BENCH_HIST_SUB * 40u)

struct bench_hist {
	uint64_t n;                      /* samples added */
	uint64_t count[BENCH_HIST_N];
};

void bench_hist_add(struct bench_hist *h, uint64_t ns);
/* Bucket @i holds [lower, upper) nanoseconds. */
double bench_hist_lower(unsigned int i);
double bench_hist_upper(unsigned int i);
/* The value below which a fraction @q of the samples lie, interpolated
 * within its bucket; 0 when empty. */
double bench_hist_quantile(const struct bench_hist *h, double q);

/* One bar per power of two (log scale) between the first and last
 * non-empty bucket: range in microseconds, count, share, cumulative share
 * and a bar of up to @width characters, each line led by @indent. */
void bench_hist_print(FILE *f, const struct bench_hist *h, const char *indent,
		      unsigned int width);

/* ---- CDF plots ------------------------------------------------------------- */

/* A line of a panel: one implementation's latency distribution. */
struct bench_series {
	const struct bench_hist *hist;
	unsigned int colour;  /* index into the palette, as in the legend */
	bool dashed;
};

/* One panel: a kind of fault, its implementations side by side. */
struct bench_panel {
	const char *title;
	const char *subtitle;  /* may be NULL */
	const struct bench_series *series;
	unsigned int nseries;
};

/* A legend entry: a colour and a dash style, and what they stand for. */
struct bench_legend {
	const char *label;
	unsigned int colour;
	bool dashed;
};

/* The palette's size; colours beyond it wrap around. */
#define BENCH_PALETTE_N 15u

/*
 * Write an SVG drawing of the latency CDFs of @panels, @columns to a row:
 * x is microseconds on a log scale shared by every panel (so kinds can be
 * compared across panels), y the fraction of faults at or below x, with a
 * grid, axis labels and reference lines at p50/p90/p99, and one legend
 * for the whole figure. Returns 0, or -errno when writing fails.
 */
int bench_svg_cdf(FILE *f, const char *title, const char *subtitle,
		  const struct bench_panel *panels, unsigned int npanels, unsigned int columns,
		  const struct bench_legend *legend, unsigned int nlegend);

#endif
