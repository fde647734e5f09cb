/* SPDX-License-Identifier: MIT */
/*
 * run-plot.c - upager-run --plot: a real program's fault-latency CDFs,
 * drawn as upager-bench draws its own (tools/plot/latency.h), from the
 * histograms the run's processes recorded (pooled by run-stats.c).
 */
#include <stdlib.h>

#include "latency.h"
#include "run-stats.h"

static const char *const titles[RUN_HISTS] = {
	"fault service", "swap read batch", "swap write batch",
};
static const char *const subtitles[RUN_HISTS] = {
	"a fault read to its page in place", "submission to completion",
	"submission to completion",
};

int run_stats_plot(const struct run_stats *rs, FILE *f, const char *command)
{
	static const struct bench_legend legend[] = { { "upager", 0, false } };
	struct bench_panel panels[RUN_HISTS];
	struct bench_series series[RUN_HISTS];
	struct bench_hist *h = calloc(RUN_HISTS, sizeof(*h));
	unsigned int n = 0;
	char title[256];
	int err;

	if (!h)
		return -1;
	for (int k = 0; k < RUN_HISTS; k++) {
		/* A histogram with no sample (no swap without a budget) has no
		 * line to draw; the fault panel is always there. */
		if (k && !rs->hist[k].count)
			continue;
		for (unsigned int i = 0; i < HIST_BUCKETS; i++)
			h[n].count[i] = rs->hist[k].bucket[i];
		h[n].n = rs->hist[k].count;
		h[n].max = rs->hist[k].max;
		series[n] = (struct bench_series){ .hist = &h[n], .colour = 0 };
		panels[n] = (struct bench_panel){ .title = titles[k], .subtitle = subtitles[k],
						  .series = &series[n], .nseries = 1 };
		n++;
	}
	snprintf(title, sizeof(title), "%s under upager-run: latency CDFs", command);
	err = bench_svg_cdf(f, title, "every process of the run, pooled", panels, n, n, legend, 1);
	free(h);
	return err;
}
