/* SPDX-License-Identifier: MIT */
/*
 * faults-report.c - what a run of upager-bench faults prints, from the samples it
 * kept: rows of medians over runs and their ratios to the baselines, the
 * targets, the checks that each kind's faults were of the kind, and, on
 * request, histograms, JSON and an SVG of the latency CDFs. It measures
 * nothing and changes nothing in struct bench.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "faults.h"
#include "report.h"

static const char *const kind_title[NKIND] = {
	"zero-fill, in order: first write to anonymous memory",
	"zero-fill, random order: first write to anonymous memory",
	"swap-in: read of a page in the swap store (region 4x the budget), random order "
	"(in order with --pattern seq alone)",
	"file read-in: first read of a file page, page cache dropped, random order",
	"minor: first read through a second shared mapping of a page already in memory",
	"copy-on-write: first write to a page of a private file mapping, read before",
	"re-fault: touch of a page on the inactive list (soft fault, no I/O)",
	"handler designs on the raw baseline: random zero-fill, one page a fault, UFFDIO_COPY",
};
/* What the served column counts for upager, per kind. */
static const char *const kind_served[NKIND] = {
	"zero_fills", "zero_fills", "swap-in ops (swapins - readahead)",
	"file read ops (file_reads - readahead)", "faults_minor", "cow_breaks", "reactivations",
	"zero_fills",
};

/* One row of the report: medians over valid runs, max of max. */
struct row {
	unsigned int n;                   /* valid runs; 0: not measured */
	double pps, p50, p90, p99, p999, max, touches, faults, served, io, deferred;
};

/* ---- rows and ratios -------------------------------------------------------------------- */

static void row_get(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
		    struct row *r)
{
	double v[10][MAX_RUNS];
	double *out[10] = { &r->pps, &r->p50, &r->p90, &r->p99, &r->p999, &r->touches,
			    &r->faults, &r->served, &r->io, &r->deferred };
	unsigned int n = 0;

	memset(r, 0, sizeof(*r));
	if (!b->kind[kind] || !b->tc[tc] || !pass_exists(kind, impl, tc))
		return;
	for (unsigned int run = 0; run < b->runs; run++) {
		const struct sample *s = sample_at(b, kind, tc, impl, run);
		const double in[10] = { s->pps, s->p50, s->p90, s->p99, s->p999, s->touches,
					s->faults, s->served, s->io, s->deferred };

		if (!s->valid)
			continue;
		for (int i = 0; i < 10; i++)
			v[i][n] = in[i];
		if (s->max > r->max)
			r->max = s->max;
		n++;
	}
	r->n = n;
	for (int i = 0; n && i < 10; i++)
		*out[i] = bench_median(v[i], n);
}

/* Ratios against the baselines of the same kind and threads; 0 when the
 * baseline is missing or the row is its own baseline. */
struct ratios {
	double tput_kern, p50_kern, p50_raw, p99_raw, p50_io, tput_io;
	double tput_d1, p50_d1, p90_d1, p99_d1;  /* handlers: against design 1, raw-read */
};

static void ratios_get(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
		       const struct row *r, struct ratios *q)
{
	struct row ref;

	memset(q, 0, sizeof(*q));
	if (impl != IMPL_KERNEL && kind_has(kind, IMPL_KERNEL)) {
		row_get(b, kind, tc, IMPL_KERNEL, &ref);
		q->tput_kern = bench_ratio(r->pps, ref.pps);
		q->p50_kern = bench_ratio(r->p50, ref.p50);
	}
	if (impl == IMPL_UPAGER || impl == IMPL_NOFA || impl == IMPL_SIGSEGV) {
		/* Kinds without a raw handler of their own: the bare round trip. */
		row_get(b, kind_has(kind, IMPL_RAW) ? kind : K_ZERO_RAND, tc, IMPL_RAW, &ref);
		q->p50_raw = bench_ratio(r->p50, ref.p50);
		q->p99_raw = bench_ratio(r->p99, ref.p99);
	}
	if (impl != IMPL_IOURING && kind_has(kind, IMPL_IOURING)) {
		row_get(b, kind, tc, IMPL_IOURING, &ref);
		q->p50_io = bench_ratio(r->p50, ref.p50);
		q->tput_io = bench_ratio(r->pps, ref.pps);
	}
	if (kind == K_HANDLERS) {
		/* Spread has no design 1: one handler cannot be spread, so
		 * its rows compare with design 1 free on the same threads.
		 * Busy has none either, and nothing without its computing
		 * threads compares: its rows compare with upager's design. */
		if (tc == TC_BUSY2)
			row_get(b, kind, tc, IMPL_H_CPU_BATCH, &ref);
		else
			row_get(b, kind, tc == TC_TWO ? TC_FREE2 : tc, IMPL_H_READ, &ref);
		q->tput_d1 = bench_ratio(r->pps, ref.pps);
		q->p50_d1 = bench_ratio(r->p50, ref.p50);
		q->p90_d1 = bench_ratio(r->p90, ref.p90);
		q->p99_d1 = bench_ratio(r->p99, ref.p99);
	}
}

/* The kernel's transparent-hugepage mode decides whether its zero-fill
 * rows are 4 KiB faults, like the others, or 2 MiB ones. */
static void thp_mode(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";
	char *l, *r;

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (l = strchr(line, '[')) && (r = strchr(l, ']'))) {
		*r = '\0';
		snprintf(buf, len, "%s", l + 1);
	}
	fclose(f);
}

static void print_ratio(double v)
{
	if (v > 0)
		printf(" %8.2fx", v);
	else
		printf(" %9s", "-");
}

static void print_table_row(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl)
{
	struct ratios q;
	struct row r;

	row_get(b, kind, tc, impl, &r);
	printf("%-9s %3u %-6s %-11s", kind_name[kind], tc_threads[tc], tc_place[tc], impl_name[impl]);
	if (!r.n) {
		printf("   (not measured)\n");
		return;
	}
	ratios_get(b, kind, tc, impl, &r, &q);
	printf(" %10.0f %8.2f %8.2f %8.2f %9.2f %9.1f %8.0f %8.0f %8.0f %7.0f", r.pps, r.p50 / 1e3,
	       r.p90 / 1e3, r.p99 / 1e3, r.p999 / 1e3, r.max / 1e3, r.touches, r.faults, r.served,
	       r.io);
	print_ratio(q.tput_kern);
	print_ratio(q.p50_kern);
	print_ratio(q.p50_raw);
	print_ratio(q.p99_raw);
	print_ratio(q.p50_io);
	printf("\n");
}

/* The issue's targets with more than one thread: how throughput scales
 * from 1 faulting thread (its handler beside it) to 2 (one per CPU), per
 * kind; the like-for-like scaling of upager's handler layout, where the
 * handlers kind ran; and swap-in against raw io_uring at 2 threads. */
static void print_thread_targets(struct bench *b, enum tcfg one)
{
	struct row r1, r2;

	if (!b->tc[TC_TWO] || !b->tc[one])
		return;
	printf("  2 threads / 1 thread (%s), upager throughput (target >= 1.6x):", tc_place[one]);
	for (int kind = 0; kind < NKIND; kind++) {
		row_get(b, kind, one, IMPL_UPAGER, &r1);
		row_get(b, kind, TC_TWO, IMPL_UPAGER, &r2);
		if (r1.n && r2.n)
			printf(" %s %.2fx", kind_name[kind], bench_ratio(r2.pps, r1.pps));
	}
	printf("\n");
	row_get(b, K_HANDLERS, one, IMPL_H_CPU_BATCH, &r1);
	row_get(b, K_HANDLERS, TC_TWO, IMPL_H_CPU_BATCH, &r2);
	if (r1.n && r2.n)
		printf("  2 threads / 1 thread, the same handlers (design 4b: one per CPU, upager's "
		       "layout), random zero-fill = %.2fx\n", bench_ratio(r2.pps, r1.pps));
	row_get(b, K_SWAPIN, TC_TWO, IMPL_UPAGER, &r1);
	row_get(b, K_SWAPIN, TC_TWO, IMPL_IOURING, &r2);
	if (r1.n && r2.n)
		printf("  swapin, 2 threads: upager / raw io_uring throughput = %.2fx "
		       "(target >= 0.8x)\n", bench_ratio(r1.pps, r2.pps));
}

static void print_targets(struct bench *b)
{
	struct row up, kernel, nofa, raw;

	if (!b->kind[K_ZERO_SEQ] && !b->kind[K_ZERO_RAND] && !b->tc[TC_TWO])
		return;
	printf("\ntargets (reported, not asserted):\n");
	for (int tc = TC_SAME; tc <= TC_CROSS; tc++) {
		if (!b->tc[tc])
			continue;
		if (b->kind[K_ZERO_SEQ]) {
			row_get(b, K_ZERO_SEQ, tc, IMPL_UPAGER, &up);
			row_get(b, K_ZERO_SEQ, tc, IMPL_KERNEL, &kernel);
			printf("  [%-5s] sequential first touch upager/kernel throughput = "
			       "%.2fx (target >= 3x)\n", tc_place[tc], bench_ratio(up.pps, kernel.pps));
		}
		for (int kind = K_ZERO_SEQ; kind <= K_ZERO_RAND; kind++) {
			if (!b->kind[kind])
				continue;
			row_get(b, kind, tc, IMPL_NOFA, &nofa);
			row_get(b, kind, tc, IMPL_RAW, &raw);
			printf("  [%-5s] %-4s upager-nofa p50 / raw-uffd p50 = %.2f (target <= 1.15), "
			       "p99 ratio = %.2f (target <= 1.5)\n", tc_place[tc], kind_name[kind] + 5,
			       bench_ratio(nofa.p50, raw.p50), bench_ratio(nofa.p99, raw.p99));
		}
	}
	print_thread_targets(b, b->tc[TC_SAME] ? TC_SAME : TC_CROSS);
}

/* What the counters say each kind really was: the faults were of the kind
 * (served), and read the disk or not (io), as expected. */
static void print_checks(struct bench *b)
{
	static const char *const what[NKIND] = {
		NULL, NULL, "swap-in ops,", "file read ops,", "minor faults,", "copy-on-write breaks,",
		"reactivations,",
	};
	static const enum impl checked[] = { IMPL_KERNEL, IMPL_UPAGER };
	bool any = false;

	for (int kind = K_SWAPIN; kind <= K_REFAULT; kind++) {
		bool io_expected = kind == K_SWAPIN || kind == K_FILEREAD;

		for (int tc = 0; tc < NTC; tc++) {
			for (unsigned int i = 0; i < 2; i++) {
				enum impl impl = checked[i];
				double share = kind == K_SWAPIN ? 0.9 : 0.98;
				bool ok;
				struct row r;

				row_get(b, kind, tc, impl, &r);
				if (!r.n || (int)tc_measured(b, tc, impl) != tc)
					continue;
				/* In order, a swap-in reads ahead: fewer
				 * operations than touches, but every page read. */
				if (kind == K_SWAPIN && b->swapin_seq)
					ok = r.touches > 0 && r.served > 0 &&
					     r.io >= share * r.touches;
				else
					ok = r.touches > 0 && r.served >= share * r.touches &&
					     (io_expected ? r.io >= r.served : !r.io);
				if (!any)
					printf("\nchecks (medians over runs; kernel: its minor/major fault "
					       "counts; upager: its statistics):\n");
				any = true;
				printf("  %-9s %ut %-6s %-7s %6.0f touches, %6.0f %-21s %6.0f pages read",
				       kind_name[kind], tc_threads[tc], tc_place[tc], impl_name[impl],
				       r.touches, r.served,
				       impl == IMPL_KERNEL ? (kind == K_FILEREAD ? "major faults," :
							      "minor faults,") : what[kind], r.io);
				if (impl == IMPL_UPAGER)
					printf(", %.0f deferred to its worker", r.deferred);
				printf(": %s\n", !ok ? "NOT as expected" :
				       kind == K_REFAULT ? "confirmed, served without I/O" :
				       io_expected ? "confirmed" : "confirmed, no I/O");
			}
		}
	}
}

static void print_legend(struct bench *b)
{
	char thp[32];

	thp_mode(thp, sizeof(thp));
	printf("upager-bench faults: zero-fill %zu pages (%zu MiB); other kinds up to %zu touches; budget "
	       "%zu MiB (file and swap region %zu MiB in " FILE_DIR "); %u run%s; page %zu B; "
	       "THP %s\n", b->pages, b->pages * b->page >> 20, kind_touches(b, K_SWAPIN),
	       b->budget_pages * b->page >> 20, REGION_BUDGETS * b->budget_pages * b->page >> 20,
	       b->runs, b->runs > 1 ? "s" : "", b->page, thp);
	if (b->zero_budget && (b->kind[K_ZERO_SEQ] || b->kind[K_ZERO_RAND]))
		printf("zero-fill: upager's rows under a frame budget of %llu MiB (--zero-budget), "
		       "with a handler more, as the library's default\n",
		       (unsigned long long)(b->zero_budget >> 20));
	if (b->kind[K_SWAPIN] || b->kind[K_REFAULT]) {
		printf("swap: swapin touches %s; upager's read-ahead ", b->swapin_seq ? "in order" :
		       "at random");
		if (b->page_cluster >= 0)
			printf("at most %u pages (--page-cluster %d)\n", 1u << b->page_cluster,
			       b->page_cluster);
		else
			printf("the library's default\n");
	}
	printf("thr/place: 1 faulting thread on CPU %u, handlers on CPU %u (same) or %u (cross); 2 "
	       "threads on CPUs %u and %u, a handler on each (spread); with a budget (swapin, "
	       "refault) one handler more, on the next CPU, as the library's default\n",
	       FAULTING_CPU, FAULTING_CPU, CROSS_CPU, FAULTING_CPU, CROSS_CPU);
	printf("latency: each touch timed; exact percentiles per run, medians over runs; max = max "
	       "over runs\n");
	printf("pages/s: zero-fill from an untimed pass; the other kinds touches / wall time of the "
	       "timed pass\n");
	printf("faults: kernel = minor + major faults of the faulting threads; raw-uffd = faults "
	       "served; sigsegv = signals; upager = stats.faults\n");
	printf("served, the counter that confirms the kind: kernel = minor faults (major for "
	       "fileread); upager =");
	for (int kind = K_ZERO_RAND; kind <= K_REFAULT; kind++)
		printf(" %s%s", kind_served[kind], kind < K_REFAULT ? "," : "");
	printf("; io_uring = reads\n");
	printf("io: pages read from the disk: kernel = major faults; upager = swapins + file_reads; "
	       "io_uring = reads\n");
	printf("ratios: tput/kern, p50/kern against the kernel; p50/raw, p99/raw against raw-uffd "
	       "of the kind (zero-rand's for swapin, fileread, refault: the bare round trip); "
	       "p50/io against io_uring at the same concurrency\n");
}

/* ---- handler designs -------------------------------------------------------------------- */

/* The designs in the issue's numbering, and what each one is. */
static const struct {
	enum impl impl;
	const char *num, *what;
} designs[] = {
	{ IMPL_H_READ, "1", "one handler, blocking read(2) of one message (the raw baseline's loop)" },
	{ IMPL_H_POLL, "2", "one handler, poll(2) then read(2) of a non-blocking uffd" },
	{ IMPL_H_URING, "3", "one handler, io_uring: a poll of the non-blocking uffd linked to a "
			     "read of it, submitted and waited for in one io_uring_enter()" },
	{ IMPL_H_CPU_POLL, "4p", "a handler per CPU, pinned there, poll(2) + read(2)" },
	{ IMPL_H_CPU_READ, "4r", "a handler per CPU, pinned there, blocking read(2)" },
	{ IMPL_H_CPU_BATCH, "4b", "4p with handlers in SCHED_BATCH: woken, a handler does not "
				  "preempt the thread on its CPU (upager's default design)" },
	{ IMPL_H_CPU_IDLE, "4i", "4p with handlers in SCHED_IDLE: a handler runs only when its "
				 "CPU has nothing else to run" },
	{ IMPL_H_SIGBUS, "5", "no handler: UFFD_FEATURE_SIGBUS, the faulting thread does the "
			      "UFFDIO_COPY in its SIGBUS handler" },
};
#define NDESIGN (sizeof(designs) / sizeof(designs[0]))

/* The number of @impl's design ("4b"), or its name if it is none. */
static const char *design_num(enum impl impl)
{
	for (size_t d = 0; d < NDESIGN; d++)
		if (designs[d].impl == impl)
			return designs[d].num;
	return impl_name[impl];
}

/* The configurations in the order reported: a program's (free) first. */
static const enum tcfg handler_tcs[] = { TC_FREE1, TC_SAME, TC_CROSS, TC_FREE2, TC_TWO,
					 TC_BUSY2 };

/* The fastest design of a configuration at p50 and at throughput, and the
 * runner-up of each: a win inside run-to-run noise is no win. */
struct best {
	int p50[2], tput[2];  /* index into designs[], -1: none */
};

/* Rank design @d, whose figure is @v, into the best two of @best (figures
 * in @fig); @lower: the smaller figure wins. */
static void best_rank(int best[2], double fig[2], int d, double v, bool lower)
{
	bool beats0 = best[0] < 0 || (lower ? v < fig[0] : v > fig[0]);
	bool beats1 = best[1] < 0 || (lower ? v < fig[1] : v > fig[1]);

	if (beats0) {
		best[1] = best[0];
		fig[1] = fig[0];
		best[0] = d;
		fig[0] = v;
	} else if (beats1) {
		best[1] = d;
		fig[1] = v;
	}
}

static void best_get(struct bench *b, enum tcfg tc, struct best *w)
{
	double p50[2] = { 0, 0 }, tput[2] = { 0, 0 };

	w->p50[0] = w->p50[1] = w->tput[0] = w->tput[1] = -1;
	for (int d = 0; d < (int)NDESIGN; d++) {
		struct row r;

		row_get(b, K_HANDLERS, tc, designs[d].impl, &r);
		if (!r.n)
			continue;
		best_rank(w->p50, p50, d, r.p50, true);
		best_rank(w->tput, tput, d, r.pps, false);
	}
}

static void print_handler_row(struct bench *b, enum tcfg tc, int d, const struct best *w)
{
	enum impl impl = designs[d].impl;
	struct ratios q;
	struct row r;

	row_get(b, K_HANDLERS, tc, impl, &r);
	printf("%3u %-6s %-2s %-11s", tc_threads[tc], tc_place[tc], designs[d].num, impl_name[impl]);
	if (!r.n) {
		printf("   (not measured)\n");
		return;
	}
	ratios_get(b, K_HANDLERS, tc, impl, &r, &q);
	printf(" %9.0f %8.2f %8.2f %8.2f %9.2f %9.1f %8.0f", r.pps, r.p50 / 1e3, r.p90 / 1e3,
	       r.p99 / 1e3, r.p999 / 1e3, r.max / 1e3, r.faults);
	print_ratio(q.tput_d1);
	print_ratio(q.p50_d1);
	print_ratio(q.p90_d1);
	print_ratio(q.p99_d1);
	printf("%s%s%s\n", w->tput[0] == d ? "  <tput" : "", w->p50[0] == d ? "  <p50" : "",
	       tc_measured(b, tc, impl) != tc ? "  (= same row)" : "");
}

/* The winner of group @tc at p50 (@p50) or at throughput, and how far
 * ahead of the runner-up it is. */
static void print_winner(struct bench *b, enum tcfg tc, bool p50, const int best[2])
{
	struct row r[2];

	if (best[0] < 0)
		return;
	for (int i = 0; i < 2; i++)
		if (best[i] >= 0)
			row_get(b, K_HANDLERS, tc, designs[best[i]].impl, &r[i]);
	printf("  %u thread%s %-6s %-10s %-2s %-11s %9.2f %s", tc_threads[tc],
	       tc_threads[tc] > 1 ? "s" : " ", tc_place[tc], p50 ? "p50" : "throughput",
	       designs[best[0]].num, impl_name[designs[best[0]].impl],
	       p50 ? r[0].p50 / 1e3 : r[0].pps, p50 ? "us" : "/s");
	if (best[1] >= 0)
		printf("   next: %s %s, %.2fx", designs[best[1]].num, impl_name[designs[best[1]].impl],
		       p50 ? bench_ratio(r[1].p50, r[0].p50) : bench_ratio(r[0].pps, r[1].pps));
	printf("\n");
}

/* What the designs and placements are, and the table's header. */
static void print_handlers_legend(struct bench *b)
{
	char cpus[64];
	size_t off = 0;
	unsigned int n = 0;

	cpus[0] = '\0';
	for (unsigned int cpu = 0; cpu < CPU_SETSIZE && n < MAX_HANDLERS; cpu++)
		if (CPU_ISSET(cpu, &b->cpus) && off < sizeof(cpus))
			off += (size_t)snprintf(cpus + off, sizeof(cpus) - off, "%s%u", n++ ? "," : "",
						cpu);
	printf("\n%s: %s\n", kind_name[K_HANDLERS], kind_title[K_HANDLERS]);
	printf("designs (the same handler code, only how many handlers, where, and how each waits "
	       "differ):\n");
	for (size_t d = 0; d < NDESIGN; d++)
		printf("  %-2s %-11s %s\n", designs[d].num, impl_name[designs[d].impl], designs[d].what);
	printf("placement: free = faulting threads not pinned (any of CPUs %s, as a program's), "
	       "one-handler designs' handler not pinned either; same/cross = 1 faulting thread on "
	       "CPU %u, the one handler on CPU %u/%u; spread = 2 faulting threads on CPUs %u and %u "
	       "(no one-handler rows: one handler cannot be spread; ratios against design 1 free); "
	       "busy = spread, with a thread that only computes pinned beside each faulting thread, "
	       "as in a program with more runnable threads than CPUs (no one-handler rows; ratios "
	       "against design 4b busy; at most %u touches a pass). Per-CPU designs: %u handlers "
	       "on CPUs %s in every placement.\n", cpus, FAULTING_CPU, FAULTING_CPU, CROSS_CPU,
	       FAULTING_CPU, CROSS_CPU, BUSY_TOUCHES, n, cpus);
	printf("ratios: against design 1 with the same threads and placement (tput/1 > 1: faster; "
	       "p50/1 < 1: faster); <tput, <p50: the fastest of its group\n");
	printf("%3s %-6s %-2s %-11s %9s %8s %8s %8s %9s %9s %8s %9s %9s %9s %9s\n", "thr", "place",
	       "#", "design", "pages/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "faults",
	       "tput/1", "p50/1", "p90/1", "p99/1");
}

#define NHANDLER_TCS (sizeof(handler_tcs) / sizeof(handler_tcs[0]))

static void print_handlers(struct bench *b)
{
	struct best w;

	print_handlers_legend(b);
	for (size_t i = 0; i < NHANDLER_TCS; i++) {
		if (!b->tc[handler_tcs[i]])
			continue;
		best_get(b, handler_tcs[i], &w);
		for (int d = 0; d < (int)NDESIGN; d++)
			if (pass_exists(K_HANDLERS, designs[d].impl, handler_tcs[i]))
				print_handler_row(b, handler_tcs[i], d, &w);
	}
	printf("\nfastest design per group (medians over runs; next: the runner-up, and how far "
	       "behind):\n");
	for (size_t i = 0; i < NHANDLER_TCS; i++) {
		if (!b->tc[handler_tcs[i]])
			continue;
		best_get(b, handler_tcs[i], &w);
		print_winner(b, handler_tcs[i], true, w.p50);
		print_winner(b, handler_tcs[i], false, w.tput);
	}
	/* Why the fastest row may not be the answer: what design 5 cannot do. */
	printf("caveat: raw-sigbus serves only faults of user-space accesses: with "
	       "UFFD_FEATURE_SIGBUS a fault inside a system call (read(2) or recv(2) into an "
	       "untouched page, ...) is not signalled, the call fails with EFAULT (not exercised "
	       "here). It also takes SIGBUS for the whole process (a thread blocking SIGBUS is "
	       "killed by its own fault).\n");
}

void print_table(struct bench *b)
{
	print_legend(b);
	for (int kind = 0; kind < NKIND; kind++) {
		if (!b->kind[kind] || kind == K_HANDLERS)
			continue;
		printf("\n%s: %s\n", kind_name[kind], kind_title[kind]);
		printf("%-9s %3s %-6s %-11s %10s %8s %8s %8s %9s %9s %8s %8s %8s %7s %9s %9s %9s %9s %9s\n",
		       "kind", "thr", "place", "impl", "pages/s", "p50 us", "p90 us", "p99 us",
		       "p99.9 us", "max us", "touches", "faults", "served", "io", "tput/kern",
		       "p50/kern", "p50/raw", "p99/raw", "p50/io");
		for (int tc = 0; tc < NTC; tc++)
			for (int impl = 0; b->tc[tc] && impl < NIMPL; impl++)
				if (pass_exists(kind, impl, tc))
					print_table_row(b, kind, tc, impl);
	}
	if (b->kind[K_HANDLERS])
		print_handlers(b);
	print_targets(b);
	print_checks(b);
	if (b->cached_max)
		printf("\nnote: up to %" PRIu64 " pages of the file stayed in the page cache after a "
		       "drop\n", b->cached_max);
	for (unsigned int i = 0; i < b->nnotes; i++)
		printf("note: %s\n", b->notes[i]);
}

void print_histograms(struct bench *b)
{
	for (int kind = 0; kind < NKIND; kind++) {
		for (int tc = 0; b->kind[kind] && tc < NTC; tc++) {
			for (int impl = 0; b->tc[tc] && impl < NIMPL; impl++) {
				const struct bench_hist *h;
				struct row r;

				if (!pass_exists(kind, impl, tc) || (int)tc_measured(b, tc, impl) != tc)
					continue;
				h = hist_at(b, kind, tc, impl);
				row_get(b, kind, tc, impl, &r);
				printf("\n%s, %u thread%s (%s), %s: %" PRIu64 " touches over %u run%s, "
				       "p50 %.2f us, p99 %.2f us\n", kind_name[kind], tc_threads[tc],
				       tc_threads[tc] > 1 ? "s" : "", tc_place[tc], impl_name[impl], h->n,
				       r.n, r.n == 1 ? "" : "s", r.p50 / 1e3, r.p99 / 1e3);
				bench_hist_print(stdout, h, "  ", 50);
			}
		}
	}
}

/* The figures of a row and of one run's sample, under one set of names. */
static void json_figures(struct json_object *o, double pps, double p50, double p90, double p99,
			 double p999, double max, double touches, double faults, double served,
			 double io)
{
	report_num(o, "pages_per_s", pps, true);
	report_num(o, "p50_us", p50 / 1e3, true);
	report_num(o, "p90_us", p90 / 1e3, true);
	report_num(o, "p99_us", p99 / 1e3, true);
	report_num(o, "p999_us", p999 / 1e3, true);
	report_num(o, "max_us", max / 1e3, true);
	report_num(o, "touches", touches, true);
	report_num(o, "faults", faults, true);
	report_num(o, "served", served, true);
	report_num(o, "io_pages", io, true);
}

static void json_row(struct bench *b, struct json_object *root, enum kind kind, enum tcfg tc,
		     enum impl impl)
{
	struct json_object *o = report_row(root, impl_name[impl]), *runs;
	struct ratios q;
	struct row r;

	row_get(b, kind, tc, impl, &r);
	ratios_get(b, kind, tc, impl, &r, &q);
	report_str(o, "kind", kind_name[kind]);
	report_u64(o, "threads", tc_threads[tc]);
	report_str(o, "placement", tc_place[tc]);
	report_u64(o, "runs_valid", r.n);
	if (!r.n)
		return;
	json_figures(o, r.pps, r.p50, r.p90, r.p99, r.p999, r.max, r.touches, r.faults, r.served,
		     r.io);
	report_num(o, "deferred", r.deferred, true);
	report_ratio(o, "tput_vs_kernel", q.tput_kern);
	report_ratio(o, "p50_vs_kernel", q.p50_kern);
	report_ratio(o, "p50_vs_raw", q.p50_raw);
	report_ratio(o, "p99_vs_raw", q.p99_raw);
	report_ratio(o, "p50_vs_io", q.p50_io);
	report_ratio(o, "tput_vs_io", q.tput_io);
	if (kind == K_HANDLERS) {
		report_ratio(o, "tput_vs_design1", q.tput_d1);
		report_ratio(o, "p50_vs_design1", q.p50_d1);
		report_ratio(o, "p90_vs_design1", q.p90_d1);
		report_ratio(o, "p99_vs_design1", q.p99_d1);
	}
	runs = json_object_new_array();
	for (unsigned int run = 0; run < b->runs; run++) {
		const struct sample *s = sample_at(b, kind, tc, impl, run);
		struct json_object *one;

		if (!s->valid)
			continue;
		one = json_object_new_object();
		json_figures(one, s->pps, s->p50, s->p90, s->p99, s->p999, s->max, s->touches,
			     s->faults, s->served, s->io);
		json_object_array_add(runs, one);
	}
	json_object_object_add(o, "per_run", runs);
	report_hist(o, "histogram", hist_at(b, kind, tc, impl));
}

int print_json(struct bench *b)
{
	struct json_object *config, *root;
	char thp[32], what[96];

	thp_mode(thp, sizeof(thp));
	config = report_config(b->page, b->runs, RAND_SEED, "median over valid runs, max of "
			       "max; histogram pooled over runs");
	report_u64(config, "zero_pages", b->pages);
	report_u64(config, "touches", kind_touches(b, K_SWAPIN));
	report_u64(config, "budget_bytes", b->budget_pages * b->page);
	report_u64(config, "zero_budget_bytes", b->zero_budget);
	report_num(config, "duration_s", b->duration, b->duration > 0);
	report_str(config, "thp", thp);
	report_u64(config, "faulting_cpu", FAULTING_CPU);
	report_u64(config, "cross_cpu", CROSS_CPU);
	report_u64(config, "file_pages", b->file_pages);
	report_u64(config, "minor_stride", MINOR_STRIDE);
	report_u64(config, "page_cache_left_max", b->cached_max);
	root = report_new("faults", config);
	for (int kind = 0; kind < NKIND; kind++)
		for (int tc = 0; b->kind[kind] && tc < NTC; tc++)
			for (int impl = 0; b->tc[tc] && impl < NIMPL; impl++)
				if (pass_exists(kind, impl, tc))
					json_row(b, root, kind, tc, impl);
	for (int tc = TC_SAME; tc <= TC_CROSS; tc++) {
		for (int kind = K_ZERO_SEQ; kind <= K_ZERO_RAND; kind++) {
			struct row up, kernel, nofa, raw;
			double p50 = 0, p99 = 0;

			if (!b->tc[tc] || !b->kind[kind])
				continue;
			row_get(b, kind, tc, IMPL_UPAGER, &up);
			row_get(b, kind, tc, IMPL_KERNEL, &kernel);
			row_get(b, kind, tc, IMPL_NOFA, &nofa);
			row_get(b, kind, tc, IMPL_RAW, &raw);
			if (kind == K_ZERO_SEQ) {
				double t = bench_ratio(up.pps, kernel.pps);

				snprintf(what, sizeof(what), "%s %s: upager/kernel pages/s", tc_place[tc],
					 kind_name[kind]);
				report_target(root, what, t > 0, t, 3, false);
			}
			p50 = bench_ratio(nofa.p50, raw.p50);
			p99 = bench_ratio(nofa.p99, raw.p99);
			snprintf(what, sizeof(what), "%s %s: upager-nofa/raw-uffd p50", tc_place[tc],
				 kind_name[kind]);
			report_target(root, what, p50 > 0, p50, 1.15, true);
			snprintf(what, sizeof(what), "%s %s: upager-nofa/raw-uffd p99", tc_place[tc],
				 kind_name[kind]);
			report_target(root, what, p99 > 0, p99, 1.5, true);
		}
	}
	for (unsigned int i = 0; i < b->nnotes; i++)
		report_note(root, b->notes[i]);
	return report_print(root, !b->data_error);
}

/* ---- the plot ------------------------------------------------------------------------------ */

int write_plot(struct bench *b)
{
	static const char *const panel_title[NKIND] = {
		"zero-fill, in order", "zero-fill, random order", "swap-in (random)",
		"file read-in (page cache dropped)", "minor (second shared mapping)",
		"copy-on-write (private file mapping)", "re-fault (inactive list, no I/O)",
		"handler designs (threads not pinned)",
	};
	static const char *const short_name[NIMPL] = { "kernel", "raw", "segv", "uring", "upager",
						       "nofa", "read", "poll", "uring", "cpupoll",
						       "cpuread", "cpubatch", "cpuidle", "sigbus" };
	struct bench_series series[NKIND][2 * NIMPL];
	struct bench_panel panels[NKIND];
	struct bench_legend legend[NIMPL + 2];
	char titles[NKIND][64], subs[NKIND][160], sub[200], thp[32], solid[96], dashed[96];
	bool handlers_only;
	enum tcfg one = b->tc[TC_SAME] ? TC_SAME : TC_CROSS;
	bool used[NIMPL] = { false };
	unsigned int np = 0, nl = 0;
	FILE *f;
	int err;

	for (int kind = 0; kind < NKIND; kind++) {
		unsigned int ns = 0;
		size_t off;

		if (!b->kind[kind])
			continue;
		snprintf(titles[np], sizeof(titles[np]), "%s: %s", kind_name[kind], panel_title[kind]);
		off = (size_t)snprintf(subs[np], sizeof(subs[np]), "p50 \u00b5s (1 thread):");
		for (int impl = 0; impl < NIMPL; impl++) {
			/* handlers: the free rows, 1 thread solid, 2 dashed. */
			const enum tcfg lines[2] = { kind == K_HANDLERS ? TC_FREE1 : one,
						     kind == K_HANDLERS ? TC_FREE2 : TC_TWO };

			for (unsigned int l = 0; kind_has(kind, impl) && l < 2; l++) {
				enum tcfg tc = lines[l];
				const struct bench_hist *h = hist_at(b, kind, tc, impl);
				struct row r;

				if (!b->tc[tc] || !pass_exists(kind, impl, tc) || !h->n)
					continue;
				series[np][ns++] = (struct bench_series){ h, (unsigned int)impl, l == 1 };
				used[impl] = true;
				row_get(b, kind, tc, impl, &r);
				if (!l && off < sizeof(subs[np]))
					off += (size_t)snprintf(subs[np] + off, sizeof(subs[np]) - off,
								kind == K_HANDLERS ? " %s %.2g" : " %s %.3g",
								kind == K_HANDLERS ? design_num(impl) :
								short_name[impl], r.p50 / 1e3);
			}
		}
		panels[np] = (struct bench_panel){ titles[np],
						   b->tc[kind == K_HANDLERS ? TC_FREE1 : one] ?
						   subs[np] : NULL, series[np],
						   ns };
		np++;
	}
	for (int impl = 0; impl < NIMPL; impl++)
		if (used[impl])
			legend[nl++] = (struct bench_legend){ impl_name[impl], (unsigned int)impl, false };
	/* Solid: one thread, dashed: two; pinned, but not in the handlers
	 * panel, which draws its free rows. */
	handlers_only = np == 1 && b->kind[K_HANDLERS];
	if (handlers_only ? b->tc[TC_FREE1] : b->tc[one] || b->tc[TC_FREE1]) {
		snprintf(solid, sizeof(solid), "1 faulting thread%s%s",
			 handlers_only ? "" : one == TC_SAME ? ", handler same CPU" :
			 ", handler other CPU",
			 !b->kind[K_HANDLERS] ? "" : handlers_only ? ", not pinned" :
			 " (handlers: not pinned)");
		legend[nl++] = (struct bench_legend){ solid, BENCH_PALETTE_N - 1, false };
	}
	if (handlers_only ? b->tc[TC_FREE2] : b->tc[TC_TWO] || b->tc[TC_FREE2]) {
		snprintf(dashed, sizeof(dashed), "2 faulting threads, 2 CPUs%s",
			 !b->kind[K_HANDLERS] ? "" : handlers_only ? ", not pinned" :
			 " (handlers: not pinned)");
		legend[nl++] = (struct bench_legend){ dashed, BENCH_PALETTE_N - 1, true };
	}
	thp_mode(thp, sizeof(thp));
	snprintf(sub, sizeof(sub), "Latency of each touch (one fault of the kind), %u run%s pooled; "
		 "x: log scale, shared by all panels; page %zu B, THP %s, budget %zu MiB.",
		 b->runs, b->runs > 1 ? "s" : "", b->page, thp, b->budget_pages * b->page >> 20);
	f = fopen(b->plot, "w");
	if (!f) {
		err = -errno;
		fprintf(stderr, "upager-bench faults: %s: %s\n", b->plot, strerror(-err));
		return err;
	}
	err = bench_svg_cdf(f, "upager-bench faults: per-fault latency CDFs by kind", sub, panels, np,
			    np > 4 ? (np + 1) / 2 : np, legend, nl);
	if (fclose(f) && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "upager-bench faults: writing %s: %s\n", b->plot, strerror(-err));
	return err;
}
