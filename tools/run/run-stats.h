/* SPDX-License-Identifier: MIT */
/*
 * run-stats.h - upager-run's --stats-json: where the run's JSON goes.
 */
#ifndef UPAGER_RUN_STATS_H
#define UPAGER_RUN_STATS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/hist.h"
#include "stats-fields.h"

/* The histograms of docs/stats-json.md, in the order of their names. */
#define RUN_HISTS 3
extern const char *const run_hist_names[RUN_HISTS];

struct run_stats {
	int out_fd;           /* the destination, opened before the program runs */
	int collect_fd;       /* the processes' records, appended to collect_path */
	char collect_path[PATH_MAX];
	FILE *in;             /* collect_path read up to here */
	unsigned int processes, malformed;
	int err;              /* the first write error, -errno */
	struct {
#define TOTAL(f) uint64_t f;
		UPAGER_STATS_SUMMED(TOTAL)
#undef TOTAL
	} total;
	/* The processes' histograms pooled (at exit), for the run record and
	 * --plot: same buckets everywhere, so counts add bucket by bucket. */
	struct hist_snapshot hist[RUN_HISTS];
};

/*
 * Open @dest ("-": standard output; NULL: none, the records only
 * collected, for --plot) for the run's JSON, and a private
 * file the processes of the run append their records to (exported as
 * UPAGER_STATS_JSON). Says why and returns -1 when @dest cannot be
 * written: before the program runs, not after its statistics are lost.
 */
int run_stats_open(struct run_stats *rs, const char *dest);

/* Copy the records appended since the last call to the destination
 * (UPAGER_STATS_INTERVAL: while the program runs). */
void run_stats_pump(struct run_stats *rs);

/* Write every process's record to the destination, then the run's own
 * (docs/stats-json.md); remove the private file. */
void run_stats_finish(struct run_stats *rs, const char *command, int exit_code, int signal,
		      bool paged, long maxrss_kib, double secs);

/* --plot: the run's pooled latency CDFs (fault service, swap reads and
 * writes) as an SVG drawing into @f (opened before the run). Returns 0 or
 * -errno. run-plot.c. */
int run_stats_plot(const struct run_stats *rs, FILE *f, const char *command);

#endif /* UPAGER_RUN_STATS_H */
