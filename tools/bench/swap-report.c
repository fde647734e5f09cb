/* SPDX-License-Identifier: MIT */
/*
 * swap-report.c - what a run of upager-bench swap prints: rows of medians
 * over runs, the ratios to the kernel, the targets, and the JSON.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <liburing.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "report.h"
#include "swap.h"

static const char *const impl_name[NIMPL] = { "upager", "kernel" };

/* ---- report ------------------------------------------------------------------------ */

/* One row: medians over the valid runs; p50/p99 from the run with the
 * median throughput; max over runs. */
struct row {
	struct bench_row h;
	double max;
	double majflt, swapins, readahead, writebacks, clean, react, bad;
	double rsub, rsqe, wsub, wsqe;  /* upager's submissions */
};



static void row_from(const struct sample *runs, unsigned int nruns, struct row *r)
{
	/* Zeroed: the compiler cannot see that only [0, n) is read. */
	double pps[MAX_RUNS] = { 0 }, p50[MAX_RUNS] = { 0 }, p99[MAX_RUNS] = { 0 }, v[11][MAX_RUNS];
	unsigned int n = 0;

	memset(r, 0, sizeof(*r));
	for (unsigned int i = 0; i < nruns; i++) {
		const struct sample *s = &runs[i];

		if (!s->valid)
			continue;
		pps[n] = s->pps;
		p50[n] = s->p50;
		p99[n] = s->p99;
		v[0][n] = (double)s->majflt;
		v[1][n] = (double)s->swapins;
		v[2][n] = (double)s->readahead;
		v[3][n] = (double)s->writebacks;
		v[4][n] = (double)s->clean_drops;
		v[5][n] = (double)s->reactivations;
		v[6][n] = (double)s->bad;
		v[7][n] = (double)s->read_submits;
		v[8][n] = (double)s->read_sqes;
		v[9][n] = (double)s->write_submits;
		v[10][n] = (double)s->write_sqes;
		if (s->max > r->max)
			r->max = s->max;
		n++;
	}
	bench_row_from(&r->h, pps, p50, p99, n);
	if (!n)
		return;
	r->majflt = bench_median(v[0], n);
	r->swapins = bench_median(v[1], n);
	r->readahead = bench_median(v[2], n);
	r->writebacks = bench_median(v[3], n);
	r->clean = bench_median(v[4], n);
	r->react = bench_median(v[5], n);
	r->bad = bench_median(v[6], n);
	r->rsub = bench_median(v[7], n);
	r->rsqe = bench_median(v[8], n);
	r->wsub = bench_median(v[9], n);
	r->wsqe = bench_median(v[10], n);
}

static void row_get(struct bench *b, enum impl impl, unsigned int threads, enum pass pass,
		    struct row *r)
{
	row_from(swap_sample_at(b, impl, threads, pass, 0), b->runs, r);
}

static void raw_row(struct bench *b, unsigned int threads, struct row *r)
{
	row_from(&b->raw[(threads - 1) * b->runs], b->runs, r);
}


static bool is_random(enum pass pass)
{
	return pass == PASS_RAND_READ || pass == PASS_ZIPF_READ;
}

static double median_u64(const uint64_t *v, unsigned int n)
{
	double d[MAX_RUNS];
	unsigned int m = 0;

	for (unsigned int i = 0; i < n; i++)
		if (v[i])
			d[m++] = (double)v[i];
	return m ? bench_median(d, m) : 0;
}

static void print_header(struct bench *b)
{
	char thp[32], ra[16], cluster[16], handlers[16];

	knob_string("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	knob_string("/sys/kernel/mm/swap/vma_ra_enabled", ra, sizeof(ra));
	knob_string("/proc/sys/vm/page-cluster", cluster, sizeof(cluster));
	snprintf(handlers, sizeof(handlers), "%u", b->co.handlers);
	printf("upager-bench swap: region %" PRIu64 " MiB (%zu pages), budget %" PRIu64
	       " MiB, ops %" PRIu64 ", raw ops %" PRIu64 ", zipf s=%.3g, runs %u, upager handlers %s\n",
	       b->region / MIB, b->pages, b->budget / MIB, b->ops, b->raw_ops, b->zipf_s, b->runs,
	       b->co.handlers ? handlers : "library default");
	printf("upager: swap store %s (io_uring), max_resident = budget (counts upager's pages only)\n",
	       b->store_path);
	if (b->kernel_skip[0]) {
		printf("kernel: skipped: %s\n", b->kernel_skip);
	} else {
		printf("kernel: swapfile %s (%" PRIu64 " MiB), cgroup v1 memory.limit_in_bytes = budget, "
		       "swappiness %ld, page-cluster %s, vma_ra %s, THP %s (region MADV_NOHUGEPAGE)\n",
		       b->kswap_path, b->kswap_bytes / MIB, b->swappiness, cluster, ra, thp);
		printf("note: the cgroup limit counts the whole child (its heap, stacks, latency buffer, "
		       "binary): %.1f MiB in use before the first pass (bench_median), so the kernel has that "
		       "much less for region pages than upager; peak cgroup usage %.1f MiB (bench_median)\n",
		       median_u64(b->k_overhead, MAX_THREADS * b->runs) / MIB,
		       median_u64(b->k_peak, MAX_THREADS * b->runs) / MIB);
	}
	if (b->other_swap[0])
		printf("warning: other swap active during the run: %s\n", b->other_swap);
	if (b->drop_failed)
		printf("warning: could not drop caches (/proc/sys/vm/drop_caches)\n");
}

static void print_legend(void)
{
	printf("pages/s: accesses / pass wall time, median over runs; p50/p99: every access timed, "
	       "from the median-throughput run; max: slowest access over runs\n");
	printf("majflt: upager = swap-in operations (swapins - readahead), kernel = ru_majflt; "
	       "swapin: pages read from swap (upager swapins, kernel pswpin);\n"
	       "ra: upager readahead_pages; wb: pages written to swap (upager writebacks, kernel "
	       "pswpout); clean/react: upager clean_drops/reactivations\n\n");
}

static void print_table_row(struct bench *b, enum impl impl, unsigned int threads, enum pass pass)
{
	struct row r, up, kern;
	bool up_impl = impl == IMPL_UPAGER;

	row_get(b, impl, threads, pass, &r);
	if (!r.h.valid)
		return;
	row_get(b, IMPL_UPAGER, threads, pass, &up);
	row_get(b, IMPL_KERNEL, threads, pass, &kern);
	printf("%-9s %3u %-6s %10.0f", pass_name[pass], threads, impl_name[impl], r.h.pps);
	if (is_random(pass))
		printf(" %8.1f %8.1f", r.h.p50 / 1e3, r.h.p99 / 1e3);
	else
		printf(" %8s %8s", "-", "-");
	printf(" %8.1f", r.max / 1e6);
	bench_print_count(r.majflt, true);
	bench_print_count(r.swapins, true);
	bench_print_count(r.readahead, up_impl);
	bench_print_count(r.writebacks, true);
	bench_print_count(r.clean, up_impl);
	bench_print_count(r.react, up_impl);
	printf(" %5.0f", r.bad);
	if (up_impl && kern.h.valid)
		printf(" %7.2fx\n", bench_ratio(up.h.pps, kern.h.pps));
	else
		printf(" %8s\n", "-");
}

static void print_raw_row(struct bench *b, unsigned int threads)
{
	struct row r;

	raw_row(b, threads, &r);
	if (!r.h.valid)
		return;
	printf("%-9s %3u %-6s %10.0f %8.1f %8.1f %8.1f   (io_uring 4 KiB O_DIRECT, QD1 per thread "
	       "= depth %u)\n", "raw-read", threads, "device", r.h.pps, r.h.p50 / 1e3, r.h.p99 / 1e3,
	       r.max / 1e6, threads);
}

/* A target: the measured value, the bound, whether it is met. */
struct target {
	const char *what;
	double value, bound;
	bool at_most;   /* value <= bound, else value >= bound */
	bool measured;
	char detail[160];
};

#define NTARGETS 6

static unsigned int targets_get(struct bench *b, struct target *t)
{
	struct row up, kern;
	unsigned int n = 0;

	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		if (!b->threads_sel[threads - 1])
			continue;
		row_get(b, IMPL_UPAGER, threads, PASS_SEQ_READ, &up);
		row_get(b, IMPL_KERNEL, threads, PASS_SEQ_READ, &kern);
		t[n] = (struct target){ .what = threads == 1 ? "seq-read 1t upager/kernel pages/s" :
					"seq-read 2t upager/kernel pages/s",
					.value = bench_ratio(up.h.pps, kern.h.pps), .bound = 3,
					.measured = up.h.valid && kern.h.valid };
		n++;
	}
	if (b->threads_sel[0]) {
		row_get(b, IMPL_UPAGER, 1, PASS_RAND_READ, &up);
		row_get(b, IMPL_KERNEL, 1, PASS_RAND_READ, &kern);
		t[n++] = (struct target){ .what = "rand-read 1t upager/kernel pages/s",
					  .value = bench_ratio(up.h.pps, kern.h.pps), .bound = 0.9,
					  .measured = up.h.valid && kern.h.valid };
	}
	if (b->threads_sel[0] && b->threads_sel[1]) {
		row_get(b, IMPL_UPAGER, 2, PASS_RAND_READ, &up);
		row_get(b, IMPL_KERNEL, 1, PASS_RAND_READ, &kern);
		t[n++] = (struct target){ .what = "rand-read upager 2t / kernel 1t pages/s",
					  .value = bench_ratio(up.h.pps, kern.h.pps), .bound = 1.6,
					  .measured = up.h.valid && kern.h.valid };
	}
	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		if (!b->threads_sel[threads - 1])
			continue;
		row_get(b, IMPL_UPAGER, threads, PASS_ZIPF_READ, &up);
		row_get(b, IMPL_KERNEL, threads, PASS_ZIPF_READ, &kern);
		t[n] = (struct target){ .what = threads == 1 ?
					"zipf-read 1t upager swapins / kernel majflt" :
					"zipf-read 2t upager swapins / kernel majflt",
					.value = up.swapins, .bound = kern.majflt, .at_most = true,
					.measured = up.h.valid && kern.h.valid };
		snprintf(t[n].detail, sizeof(t[n].detail),
			 "upager %.0f pages (%.0f read ahead, %.0f swap-in ops) vs kernel %.0f majflt "
			 "(%.0f pswpin)", up.swapins, up.readahead, up.majflt, kern.majflt,
			 kern.swapins);
		n++;
	}
	return n;
}

static bool target_met(const struct target *t)
{
	return t->at_most ? t->value <= t->bound : t->value >= t->bound;
}

static void print_targets(struct bench *b)
{
	struct target t[NTARGETS];
	unsigned int n = targets_get(b, t);
	struct row up, raw;

	printf("\ntargets (reported, not asserted):\n");
	for (unsigned int i = 0; i < n; i++) {
		if (!t[i].measured) {
			printf("  %-44s n/a (%s)\n", t[i].what,
			       b->kernel_skip[0] ? "kernel part skipped" : "no valid run");
			continue;
		}
		if (t[i].at_most)
			printf("  %-44s %.0f <= %.0f  %s  %s\n", t[i].what, t[i].value, t[i].bound,
			       target_met(&t[i]) ? "MET" : "MISSED", t[i].detail);
		else
			printf("  %-44s %.2fx (target >= %.1fx)  %s\n", t[i].what, t[i].value,
			       t[i].bound, target_met(&t[i]) ? "MET" : "MISSED");
	}
	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		if (!b->threads_sel[threads - 1])
			continue;
		row_get(b, IMPL_UPAGER, threads, PASS_RAND_READ, &up);
		raw_row(b, threads, &raw);
		if (up.h.valid && raw.h.valid)
			printf("  (info) rand-read %ut upager = %.0f%% of raw depth-%u IOPS\n", threads,
			       100 * bench_ratio(up.h.pps, raw.h.pps), threads);
	}
}

static double per(double n, double d)
{
	return d > 0 ? n / d : 0;
}

/* How upager's swap I/O reached the kernel: each submit is at least one
 * doorbell to the device (a VM exit on a virtual disk). */
static void print_submits(struct bench *b)
{
	printf("\nupager swap submissions (medians over runs): rsub/wsub = io_uring_enter calls "
	       "that submitted reads/writes; sqe/sub = requests per call; pg/sub = pages per call\n");
	printf("%-9s %3s %9s %7s %7s %9s %7s %7s\n", "pass", "thr", "rsub", "sqe/sub", "pg/sub",
	       "wsub", "sqe/sub", "pg/sub");
	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		if (!b->threads_sel[threads - 1])
			continue;
		for (int pass = 0; pass < NPASS; pass++) {
			struct row r;

			row_get(b, IMPL_UPAGER, threads, pass, &r);
			if (!r.h.valid)
				continue;
			printf("%-9s %3u %9.0f %7.2f %7.2f %9.0f %7.2f %7.2f\n", pass_name[pass],
			       threads, r.rsub, per(r.rsqe, r.rsub), per(r.swapins, r.rsub), r.wsub,
			       per(r.wsqe, r.wsub), per(r.writebacks, r.wsub));
		}
	}
}

void swap_print_table(struct bench *b)
{
	print_header(b);
	print_legend();
	printf("%-9s %3s %-6s %10s %8s %8s %8s %8s %8s %8s %8s %8s %8s %5s %8s\n", "pass", "thr",
	       "impl", "pages/s", "p50 us", "p99 us", "max ms", "majflt", "swapin", "ra", "wb",
	       "clean", "react", "bad", "up/kern");
	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		if (!b->threads_sel[threads - 1])
			continue;
		for (int pass = 0; pass < NPASS; pass++)
			for (int impl = 0; impl < NIMPL; impl++)
				print_table_row(b, impl, threads, pass);
		print_raw_row(b, threads);
	}
	print_submits(b);
	print_targets(b);
}

static void json_row(struct json_object *root, const char *impl, unsigned int threads,
		     const char *pass, const struct row *r, double vs_kernel)
{
	struct json_object *o = report_row(root, impl);

	report_u64(o, "threads", threads);
	report_str(o, "pass", pass);
	report_u64(o, "runs_valid", r->h.n);
	report_num(o, "pages_per_s", r->h.pps, true);
	report_num(o, "p50_us", r->h.p50 / 1e3, r->h.p50 > 0);
	report_num(o, "p99_us", r->h.p99 / 1e3, r->h.p99 > 0);
	report_num(o, "max_us", r->max / 1e3, true);
	report_num(o, "majflt", r->majflt, true);
	report_num(o, "swapins", r->swapins, true);
	report_num(o, "readahead", r->readahead, true);
	report_num(o, "writebacks", r->writebacks, true);
	report_num(o, "clean_drops", r->clean, true);
	report_num(o, "reactivations", r->react, true);
	report_num(o, "bad", r->bad, true);
	/* upager's only: the kernel's submissions are not counted. */
	report_num(o, "read_submits", r->rsub, !strcmp(impl, "upager"));
	report_num(o, "read_sqes", r->rsqe, !strcmp(impl, "upager"));
	report_num(o, "write_submits", r->wsub, !strcmp(impl, "upager"));
	report_num(o, "write_sqes", r->wsqe, !strcmp(impl, "upager"));
	report_ratio(o, "vs_kernel", vs_kernel);
}

int swap_print_json(struct bench *b)
{
	struct json_object *config, *root;
	struct target t[NTARGETS];
	unsigned int n;

	config = report_config(b->page, b->runs, RAND_SEED, "median over valid runs; p50/p99 "
			       "from the median-throughput run; max over runs");
	report_config_paged(config, b->budget, b->co.handlers, b->pages, b->ops);
	report_u64(config, "region_bytes", b->region);
	report_u64(config, "raw_ops", b->raw_ops);
	report_num(config, "zipf_s", b->zipf_s, true);
	report_str(config, "kernel_skipped", b->kernel_skip[0] ? b->kernel_skip : NULL);
	report_str(config, "kernel_cgroup", b->kernel_skip[0] ? NULL : cgroup_kind(b));
	report_num(config, "kernel_overhead_bytes", median_u64(b->k_overhead, MAX_THREADS * b->runs),
		   !b->kernel_skip[0]);
	report_num(config, "kernel_peak_bytes", median_u64(b->k_peak, MAX_THREADS * b->runs),
		   !b->kernel_skip[0]);
	root = report_new("swap", config);
	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		struct row r, k;

		if (!b->threads_sel[threads - 1])
			continue;
		for (int pass = 0; pass < NPASS; pass++) {
			for (int impl = 0; impl < NIMPL; impl++) {
				row_get(b, impl, threads, pass, &r);
				row_get(b, IMPL_KERNEL, threads, pass, &k);
				if (r.h.valid)
					json_row(root, impl_name[impl], threads, pass_name[pass], &r,
						 impl == IMPL_UPAGER && k.h.valid ?
						 bench_ratio(r.h.pps, k.h.pps) : 0);
			}
		}
		raw_row(b, threads, &r);
		if (r.h.valid)
			json_row(root, "raw", threads, "raw-read", &r, 0);
	}
	n = targets_get(b, t);
	for (unsigned int i = 0; i < n; i++)
		report_target(root, t[i].what, t[i].measured, t[i].value, t[i].bound, t[i].at_most);
	if (b->drop_failed)
		report_note(root, "drop_caches failed: passes may not start from a cold page cache");
	return report_print(root, !b->data_error);
}
