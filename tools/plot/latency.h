/* SPDX-License-Identifier: MIT */
/*
 * latency.h - latency histograms in the library's buckets and the two ways
 * of drawing them (bars on a terminal, CDFs in an SVG file), shared by
 * upager-bench and upager-run's --plot.
 */
#ifndef UPAGER_PLOT_LATENCY_H
#define UPAGER_PLOT_LATENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/hist.h"

/* ---- latency histograms -------------------------------------------------- */

/*
 * The library's buckets (lib/core/hist.h: one per value below 16 ns, then
 * 16 per power of two, none wider than 6.25 %), counted by one thread:
 * fine enough to draw a CDF, small enough (8 KiB) to keep one per row and
 * pool runs into, and comparable bucket by bucket with upager's own
 * (upager_stats_hist(), --stats-json). Exact percentiles come from raw
 * samples, not from here.
 */
#define BENCH_HIST_N HIST_BUCKETS

struct bench_hist {
	uint64_t n;                      /* samples added */
	uint64_t max;                    /* the largest */
	uint64_t count[BENCH_HIST_N];
};

void bench_hist_add(struct bench_hist *h, uint64_t ns);
/* Bucket @i holds [lower, upper) nanoseconds (hist_bucket_lower(i) to
 * hist_bucket_upper(i) + 1). */
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
