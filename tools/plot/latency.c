/* SPDX-License-Identifier: MIT */
/*
 * latency.c - latency histograms in the library's buckets, as terminal
 * bars and as SVG CDFs.
 */
#include "latency.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- latency histograms -------------------------------------------------- */

void bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	h->count[hist_bucket_of(ns)]++;
	h->n++;
	if (ns > h->max)
		h->max = ns;
}

double bench_hist_lower(unsigned int i)
{
	return (double)hist_bucket_lower(i);
}

double bench_hist_upper(unsigned int i)
{
	return (double)hist_bucket_upper(i) + 1;
}

double bench_hist_quantile(const struct bench_hist *h, double q)
{
	double want = q * (double)h->n, seen = 0;

	if (!h->n)
		return 0;
	for (unsigned int i = 0; i < BENCH_HIST_N; i++) {
		double c = (double)h->count[i];

		if (c > 0 && seen + c >= want) {
			double lo = bench_hist_lower(i), hi = bench_hist_upper(i);

			return lo + (hi - lo) * (want - seen) / c;
		}
		seen += c;
	}
	return bench_hist_upper(BENCH_HIST_N - 1);
}

/* Microseconds, three significant digits but never exponent notation. */
static void fmt_us(char *buf, size_t len, double us)
{
	if (us >= 1000)
		snprintf(buf, len, "%.0f", us);
	else
		snprintf(buf, len, "%.3g", us);
}

void bench_hist_print(FILE *f, const struct bench_hist *h, const char *indent,
		      unsigned int width)
{
	/* Octave o: bucket 0 is [0, 16) ns, octave o >= 1 is [2^(o+3), 2^(o+4)). */
	struct hist_octaves oc;
	uint64_t cum = 0;

	hist_octaves(h->count, &oc);
	if (!h->n) {
		fprintf(f, "%s(no samples)\n", indent);
		return;
	}
	fprintf(f, "%s%22s %10s %6s %7s\n", indent, "range (us)     ", "count", "share", "cumul.");
	for (unsigned int o = oc.first; o <= oc.last; o++) {
		double lo = o ? ldexp(1, (int)o + 3) : 0, hi = ldexp(1, (int)o + 4);
		unsigned int bar = (unsigned int)((double)oc.n[o] * width / (double)oc.top + 0.5);
		char l[16], r[16];

		cum += oc.n[o];
		fmt_us(l, sizeof(l), lo / 1e3);
		fmt_us(r, sizeof(r), hi / 1e3);
		fprintf(f, "%s%8s - %-8s us %10llu %5.1f%% %6.2f%% |", indent, l, r,
			(unsigned long long)oc.n[o], 100.0 * (double)oc.n[o] / (double)h->n,
			100.0 * (double)cum / (double)h->n);
		for (unsigned int k = 0; k < bar; k++)
			fputc('#', f);
		if (!bar && oc.n[o])
			fputc('.', f);
		fputc('\n', f);
	}
}

/* ---- CDF plots ------------------------------------------------------------- */

/* Tableau 10, then the lighter Tableau 20 shades: distinct on white, one
 * for each of upager-bench's implementations; grey (the last) is kept for
 * line styles. */
static const char *const palette[BENCH_PALETTE_N] = {
	"#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#d62728", "#2ca02c", "#e377c2", "#bcbd22",
	"#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#7f7f7f",
};

#define PANEL_W 420
#define PANEL_H 320
/* The plot area inside a panel. */
#define PLOT_L 58
#define PLOT_R 16
#define PLOT_T 46
#define PLOT_B 48
#define LEGEND_ROW_H 20

/* A legend entry's width: its line, its label, a gap. */
static double legend_width(const char *label)
{
	return 36 + 7.0 * (double)strlen(label) + 28;
}

static void svg_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* A decade's label in microseconds: 0.01 ... 1, 10, 100, 1 ms ... */
static void decade_label(char *buf, size_t len, int d)
{
	if (d >= 6)
		snprintf(buf, len, "%.0f s", pow(10, d - 6));
	else if (d >= 3)
		snprintf(buf, len, "%.0f ms", pow(10, d - 3));
	else if (d >= 0)
		snprintf(buf, len, "%.0f", pow(10, d));
	else
		snprintf(buf, len, "%.*f", -d, pow(10, d));
}

/* The decades [*lo, *hi] the series fit in, in log10 microseconds: from
 * the fastest sample to the 99.95th percentile of the slowest series. A
 * lone outlier further out would squeeze every line into a corner; lines
 * run on past the edge instead. */
static void svg_x_range(const struct bench_panel *panels, unsigned int npanels, int *lo, int *hi)
{
	double vmin = INFINITY, vmax = 0;

	for (unsigned int p = 0; p < npanels; p++) {
		for (unsigned int s = 0; s < panels[p].nseries; s++) {
			const struct bench_hist *h = panels[p].series[s].hist;
			unsigned int i;
			double q;

			if (!h || !h->n)
				continue;
			for (i = 0; i < BENCH_HIST_N && !h->count[i]; i++)
				;
			if (bench_hist_upper(i) < vmin)
				vmin = bench_hist_upper(i);
			q = bench_hist_quantile(h, 0.9995);
			if (q > vmax)
				vmax = q;
		}
	}
	if (vmax <= 0) {
		*lo = -1;
		*hi = 3;
		return;
	}
	*lo = (int)floor(log10(vmin / 1e3));
	*hi = (int)ceil(log10(vmax / 1e3));
	if (*lo < -3)
		*lo = -3;
	if (*hi > 7)
		*hi = 7;
	if (*hi <= *lo)
		*hi = *lo + 1;
}

static void svg_panel(FILE *f, const struct bench_panel *pn, unsigned int idx, double ox,
		      double oy, int dlo, int dhi)
{
	double pw = PANEL_W - PLOT_L - PLOT_R, ph = PANEL_H - PLOT_T - PLOT_B;
	double x0 = ox + PLOT_L, y0 = oy + PLOT_T;
	static const double refs[] = { 0.5, 0.9, 0.99 };
	static const char *const ref_names[] = { "p50", "p90", "p99" };
	char label[32];

#define X_OF(us) (x0 + pw * (log10(us) - dlo) / (dhi - dlo))
#define Y_OF(q) (y0 + ph * (1 - (q)))
	fprintf(f, "<g>\n<clipPath id=\"clip%u\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		"height=\"%.1f\"/></clipPath>\n", idx, x0, y0, pw, ph);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"pt\">", x0 + pw / 2, oy + 18);
	svg_text(f, pn->title);
	fputs("</text>\n", f);
	if (pn->subtitle) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"ps\">", x0 + pw / 2, oy + 34);
		svg_text(f, pn->subtitle);
		fputs("</text>\n", f);
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"bg\"/>\n",
		x0, y0, pw, ph);
	/* Grid: decades and their 2..9 multiples; tenths of the fraction. */
	for (int d = dlo; d <= dhi; d++) {
		double x = X_OF(pow(10, d));

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"g1\"/>\n",
			x, y0, x, y0 + ph);
		decade_label(label, sizeof(label), d);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"tx\">%s</text>\n", x, y0 + ph + 16,
			label);
		for (int m = 2; d < dhi && m < 10; m++) {
			x = X_OF(m * pow(10, d));
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"g2\"/>\n",
				x, y0, x, y0 + ph);
		}
	}
	for (int t = 0; t <= 10; t++) {
		double y = Y_OF(t / 10.0);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"g%d\"/>\n",
			x0, y, x0 + pw, y, t % 5 ? 2 : 1);
		if (t % 2 == 0)
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"ty\">%.1f</text>\n", x0 - 6,
				y + 4, t / 10.0);
	}
	for (unsigned int r = 0; r < 3; r++) {
		double y = Y_OF(refs[r]);

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"ref\"/>\n"
			"<text x=\"%.1f\" y=\"%.1f\" class=\"tr\">%s</text>\n", x0, y, x0 + pw, y,
			x0 + pw - 4, y + 11, ref_names[r]);
	}
	/* The CDFs: flat across empty buckets, linear within a bucket. */
	for (unsigned int s = 0; s < pn->nseries; s++) {
		const struct bench_series *se = &pn->series[s];
		const struct bench_hist *h = se->hist;
		double xmin = pow(10, dlo), cum = 0;
		bool first = true;

		if (!h || !h->n)
			continue;
		fprintf(f, "<polyline clip-path=\"url(#clip%u)\" class=\"ln\" stroke=\"%s\"%s points=\"",
			idx, palette[se->colour % BENCH_PALETTE_N],
			se->dashed ? " stroke-dasharray=\"7,4\"" : "");
		for (unsigned int i = 0; i < BENCH_HIST_N; i++) {
			double lo, hi;

			if (!h->count[i])
				continue;
			lo = bench_hist_lower(i) / 1e3;
			hi = bench_hist_upper(i) / 1e3;
			if (lo < xmin)
				lo = xmin;
			if (hi < xmin)
				hi = xmin;
			if (first)
				fprintf(f, "%.1f,%.1f ", X_OF(lo) - (lo <= xmin ? 2 : 0), Y_OF(0.0));
			else
				fprintf(f, "%.1f,%.2f ", X_OF(lo), Y_OF(cum / (double)h->n));
			cum += (double)h->count[i];
			fprintf(f, "%.1f,%.2f ", X_OF(hi), Y_OF(cum / (double)h->n));
			first = false;
		}
		fputs("\"/>\n", f);
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"fr\"/>\n",
		x0, y0, pw, ph);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"al\">fault latency (\u00b5s, log scale)</text>\n",
		x0 + pw / 2, y0 + ph + 36);
	fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" class=\"al\">fraction of "
		"faults \u2264 x</text>\n</g>\n", ox + 16, y0 + ph / 2);
#undef X_OF
#undef Y_OF
}

int bench_svg_cdf(FILE *f, const char *title, const char *subtitle,
		  const struct bench_panel *panels, unsigned int npanels, unsigned int columns,
		  const struct bench_legend *legend, unsigned int nlegend)
{
	unsigned int rows, legend_rows = 1;
	double width, top, height, lx = 20;
	int dlo, dhi;

	if (!columns)
		columns = 1;
	if (columns > npanels && npanels)
		columns = npanels;
	rows = npanels ? (npanels + columns - 1) / columns : 0;
	width = 20.0 + columns * PANEL_W;
	/* Wide enough for the title and subtitle too (about 11 and 6.5 px a
	 * character): a one-panel figure would cut them off. */
	if (width < 40 + 11.0 * (double)strlen(title))
		width = 40 + 11.0 * (double)strlen(title);
	if (subtitle && width < 40 + 6.5 * (double)strlen(subtitle))
		width = 40 + 6.5 * (double)strlen(subtitle);
	/* Entries flow left to right, as wide as their labels (about 7 px a
	 * character at 12 px), wrapping at the figure's width. */
	for (unsigned int i = 0; i < nlegend; i++) {
		double w = legend_width(legend[i].label);

		if (lx > 20 && lx + w > width - 10) {
			legend_rows++;
			lx = 20;
		}
		lx += w;
	}
	top = 58 + legend_rows * LEGEND_ROW_H + 10;
	height = top + rows * PANEL_H + 10;
	svg_x_range(panels, npanels, &dlo, &dhi);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		"viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
		width, height, width, height);
	fputs("<style>\n"
	      "text { fill: #222; font-size: 12px; }\n"
	      ".t { font-size: 18px; font-weight: bold; }\n"
	      ".st { font-size: 12px; fill: #555; }\n"
	      ".pt { font-size: 14px; font-weight: bold; text-anchor: middle; }\n"
	      ".ps { font-size: 10px; fill: #555; text-anchor: middle; }\n"
	      ".tx { font-size: 11px; text-anchor: middle; }\n"
	      ".ty { font-size: 11px; text-anchor: end; }\n"
	      ".tr { font-size: 10px; fill: #888; text-anchor: end; }\n"
	      ".al { font-size: 12px; text-anchor: middle; fill: #444; }\n"
	      ".bg { fill: #fff; }\n"
	      ".fr { fill: none; stroke: #444; stroke-width: 1; }\n"
	      ".g1 { stroke: #ccc; stroke-width: 1; }\n"
	      ".g2 { stroke: #eee; stroke-width: 1; }\n"
	      ".ref { stroke: #999; stroke-width: 1; stroke-dasharray: 2,3; }\n"
	      ".ln { fill: none; stroke-width: 2; stroke-linejoin: round; }\n"
	      "</style>\n"
	      "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n", f);
	fputs("<text x=\"20\" y=\"28\" class=\"t\">", f);
	svg_text(f, title);
	fputs("</text>\n", f);
	if (subtitle) {
		fputs("<text x=\"20\" y=\"47\" class=\"st\">", f);
		svg_text(f, subtitle);
		fputs("</text>\n", f);
	}
	lx = 20;
	legend_rows = 0;
	for (unsigned int i = 0; i < nlegend; i++) {
		double w = legend_width(legend[i].label), y;

		if (lx > 20 && lx + w > width - 10) {
			legend_rows++;
			lx = 20;
		}
		y = 68 + legend_rows * LEGEND_ROW_H;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"ln\" "
			"stroke=\"%s\"%s/>\n<text x=\"%.1f\" y=\"%.1f\">", lx, y, lx + 30, y,
			palette[legend[i].colour % BENCH_PALETTE_N],
			legend[i].dashed ? " stroke-dasharray=\"7,4\"" : "", lx + 36, y + 4);
		svg_text(f, legend[i].label);
		fputs("</text>\n", f);
		lx += w;
	}
	for (unsigned int p = 0; p < npanels; p++)
		svg_panel(f, &panels[p], p, 10.0 + (p % columns) * PANEL_W,
			  top + (p / columns) * PANEL_H, dlo, dhi);
	fputs("</svg>\n", f);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
