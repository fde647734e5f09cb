/* SPDX-License-Identifier: MIT */
/*
 * faults.c - "upager-bench faults": what one fault costs, kind by kind: served by the
 * kernel, by upager, and by the smallest alternatives there are (a raw
 * userfaultfd handler, an mprotect+SIGSEGV handler, raw io_uring reads of
 * the disk), all in one run so that the ratios between them hold.
 *
 * Kinds, each measured with 1 and 2 faulting threads: zero-seq and
 * zero-rand (zero-fill), swapin, fileread, minor, cow and refault;
 * faults-kinds.c says what each one is and what it is compared with. And
 * handlers: zero-rand on the raw handler in each of its designs (one
 * handler in read, poll or io_uring, one per CPU, none: SIGBUS), against
 * one another, with the threads pinned and not.
 *
 * Method. Faulting thread i runs on CPU i; handler threads on the faulting
 * CPU (same) or the other one (cross) with one faulting thread, and with
 * two, one handler on each CPU (spread); for handlers, also free: no
 * faulting thread pinned, and handlers pinned only where their design
 * pins them, as in a program. Implementations are interleaved within each
 * run, in an order rotated per run, so machine noise hits all alike. Every touch is bracketed by clock_gettime(CLOCK_MONOTONIC) and
 * every sample kept, so percentiles are exact per run; rows report their
 * median over runs (max: over runs), and a log-linear histogram pooled
 * over runs feeds --histogram and --plot. Zero-fill's pages/s come from a
 * separate untimed pass (two clock reads would cost a fault-around hit
 * more than the touch itself); the other kinds' from the timed pass (two
 * vDSO clock reads, tens of nanoseconds, against faults of a microsecond
 * and more). What is read is checked against what was written (each
 * page's first and last 8 bytes); a page read wrong fails the run.
 *
 * This file is the driver: the options, what is set up before any pass,
 * and the run loop that decides which measurement runs when. faults.h
 * lists the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "faults.h"
#include "upager-internal.h"

#define DEFAULT_PAGES 65536u
#define DEFAULT_RUNS 5u
#define DEFAULT_FAULTS 16384u
#define DEFAULT_BUDGET (64 * MIB)
#define QUICK_PAGES 512u
#define QUICK_RUNS 1u
#define QUICK_FAULTS 256u
/* Not less: at 4 MiB the inactive list (an eighth of the budget) is one
 * eviction batch, drained whole by every reclaim round, and refault would
 * find nothing staged. */
#define QUICK_BUDGET (8 * MIB)
/* 64 GiB of 4 KiB pages: far past any sane run, and page indices fit in
 * 32 bits. */
#define MAX_PAGES (1u << 24)
/* 2^7 = 128 pages: the library's largest swap-in (UPAGER_SWAP_READAHEAD). */
#define MAX_PAGE_CLUSTER 7u
_Static_assert(1u << MAX_PAGE_CLUSTER == UPAGER_INTERNAL_SWAP_READAHEAD_MAX, "--page-cluster's range");

/* ---- the run loop ---------------------------------------------------------------------- */

struct sample *sample_at(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
			 unsigned int run)
{
	return &b->samples[(((size_t)kind * NTC + tc) * NIMPL + impl) * b->runs + run];
}

/* A placement-free implementation's cross row is its same row. */
enum tcfg tc_measured(const struct bench *b, enum tcfg tc, enum impl impl)
{
	return tc == TC_CROSS && impl_ignores_placement(impl) && b->tc[TC_SAME] ? TC_SAME : tc;
}

struct bench_hist *hist_at(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl)
{
	return &b->hist[((size_t)kind * NTC + tc_measured(b, tc, impl)) * NIMPL + impl];
}

size_t kind_touches(const struct bench *b, enum kind kind)
{
	return kind == K_ZERO_SEQ || kind == K_ZERO_RAND || kind == K_HANDLERS ? b->zero_touches :
										   (size_t)b->faults;
}

/* Calls @fn for every measurement of a run, in the run's order. */
static int for_each_measurement(struct bench *b, unsigned int run,
				int (*fn)(struct bench *, unsigned int, enum kind, enum tcfg, enum impl))
{
	for (int kind = 0; kind < NKIND; kind++) {
		for (int tc = 0; b->kind[kind] && tc < NTC; tc++) {
			for (unsigned int k = 0; b->tc[tc] && k < NIMPL; k++) {
				enum impl impl = (enum impl)((k + run) % NIMPL);
				int err;

				if (!pass_exists(kind, impl, tc))
					continue;
				err = fn(b, run, kind, tc, impl);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

static int count_step(struct bench *b, unsigned int run, enum kind kind, enum tcfg tc,
		      enum impl impl)
{
	(void)run;
	(void)kind;
	if (tc_measured(b, tc, impl) == tc)
		b->steps++;
	return 0;
}

static int run_step(struct bench *b, unsigned int run, enum kind kind, enum tcfg tc,
		    enum impl impl)
{
	struct sample *s = sample_at(b, kind, tc, impl, run);
	enum tcfg from = tc_measured(b, tc, impl);

	if (from != tc) {
		*s = *sample_at(b, kind, from, impl, run);
		return 0;
	}
	progress_step(&b->progress, "run %u/%u: %s, %u thread%s (%s), %s", run + 1, b->runs,
		      kind_name[kind], tc_threads[tc], tc_threads[tc] > 1 ? "s" : "", tc_place[tc],
		      impl_name[impl]);
	return measure(b, kind, impl, tc, s, hist_at(b, kind, tc, impl));
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void order_init(struct bench *b)
{
	for (size_t i = 0; i < b->pages; i++)
		b->order[0][i] = b->order[1][i] = (uint32_t)i;
	shuffle(b->order[1], b->pages, RAND_SEED);
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* Buffers are allocated and written before any pass, so none of their
 * own first touches lands inside a measurement. */
static int bench_alloc(struct bench *b)
{
	size_t nsamples = (size_t)NKIND * NTC * NIMPL * b->runs, bp = b->budget_pages;
	size_t block = bp + bp / 8, swap_pages = REGION_BUDGETS * bp, lat, scratch;
	bool file = b->kind[K_SWAPIN] || b->kind[K_FILEREAD] || b->kind[K_MINOR] || b->kind[K_COW];

	b->file_pages = file ? REGION_BUDGETS * bp : 0;
	b->region_pages = b->kind[K_SWAPIN] ? swap_pages : 0;
	if (b->kind[K_REFAULT]) {
		/* Blocks enough for the touches wanted, counting on half the
		 * inactive list (an eighth of the budget) a block. */
		size_t per = max_size(bp / 16, 1), blocks = kind_touches(b, K_REFAULT) / per + 2;

		b->region_pages = max_size(b->region_pages, min_size(blocks * block, MAX_PAGES));
	}
	lat = max_size(b->pages, kind_touches(b, K_SWAPIN));
	scratch = max_size(max_size(b->file_pages, swap_pages), block);
	b->order[0] = malloc(b->pages * sizeof(uint32_t));
	b->order[1] = malloc(b->pages * sizeof(uint32_t));
	b->scratch = malloc(scratch * sizeof(uint32_t));
	b->vec = malloc(scratch);
	b->lat = malloc(lat * sizeof(uint64_t));
	b->samples = calloc(nsamples, sizeof(struct sample));
	b->hist = calloc((size_t)NKIND * NTC * NIMPL, sizeof(struct bench_hist));
	if (!b->order[0] || !b->order[1] || !b->scratch || !b->vec || !b->lat || !b->samples ||
	    !b->hist)
		return -ENOMEM;
	memset(b->scratch, 0, scratch * sizeof(uint32_t));
	memset(b->vec, 0, scratch);
	memset(b->lat, 0, lat * sizeof(uint64_t));
	order_init(b);
	return file ? faults_file_create(b) : 0;
}

static void bench_free(struct bench *b)
{
	free(b->order[0]);
	free(b->order[1]);
	free(b->scratch);
	free(b->vec);
	free(b->lat);
	free(b->samples);
	free(b->hist);
	if (b->fd_direct >= 0)
		close(b->fd_direct);
	if (b->fd >= 0)
		close(b->fd);
}

/* Pin the main thread; the faulting threads and handler threads are
 * pinned on their own. */
static int pin_self(struct bench *b)
{
	cpu_set_t allowed;
	int err;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -errno;
	/* Threads not pinned get these back: they inherit this thread's one CPU. */
	b->cpus = allowed;
	if (!CPU_ISSET(FAULTING_CPU, &allowed)) {
		fprintf(stderr, "upager-bench faults: CPU %u is not available to this process\n",
			FAULTING_CPU);
		return -EINVAL;
	}
	if ((b->tc[TC_CROSS] || b->tc[TC_TWO] || b->tc[TC_BUSY2]) &&
	    !CPU_ISSET(CROSS_CPU, &allowed)) {
		fprintf(stderr, "upager-bench faults: cross placement and 2 threads need CPU %u, which is not "
			"available (use --placement same --threads 1)\n", CROSS_CPU);
		return -EINVAL;
	}
	err = pin_cpu(pthread_self(), FAULTING_CPU);
	if (err)
		fprintf(stderr, "upager-bench faults: pinning to CPU %u: %s\n", FAULTING_CPU,
			strerror(-err));
	return err;
}

/* Fail early, with the reason, when this process may not use userfaultfd. */
static int probe_userfaultfd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	int err = 0;

	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "upager-bench faults: userfaultfd: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)" :
			err == -ENOSYS ? " (kernel built without CONFIG_USERFAULTFD)" : "");
		return err;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		err = -errno;
		fprintf(stderr, "upager-bench faults: UFFDIO_API: %s\n", strerror(-err));
	}
	close(fd);
	return err;
}

/* ---- command line ------------------------------------------------------------------------------ */

static void usage(void)
{
	printf("usage: upager-bench faults [options]\n"
	       "Per-fault latency and throughput by kind of fault (zero-seq, zero-rand, swapin,\n"
	       "fileread, minor, cow, refault): upager against the kernel, a raw userfaultfd\n"
	       "handler, an mprotect+SIGSEGV handler and raw io_uring reads, in one run; and\n"
	       "handlers: the raw handler's designs (read, poll, io_uring, one per CPU in three\n"
	       "scheduling policies, SIGBUS self-paging) side by side on random zero-fill.\n\n"
	       "  --kinds LIST            kinds to run, comma-separated (default all; \"zero\" is\n"
	       "                          zero-seq and zero-rand)\n"
	       "  --threads LIST          faulting threads: 1, 2 or 1,2 (default 1,2)\n"
	       "  --placement LIST        same, cross, free, busy, both (same,cross) or all\n"
	       "                          (default): one pinned thread with its handler on its\n"
	       "                          CPU %u or on CPU %u; free (handlers kind): faulting\n"
	       "                          threads not pinned; busy (handlers kind): 2 pinned\n"
	       "                          faulting threads, each beside a thread that computes\n"
	       "  --pattern seq|rand|both zero-fill touch order (default both); seq alone also\n"
	       "                          touches swapin's pages in order (read-ahead applies)\n"
	       "  --pages N               zero-fill region, pages (default %u = %u MiB)\n"
	       "  --faults N              touches per measurement (default: the zero-fill region,\n"
	       "                          %u for the other kinds)\n"
	       "  --duration SECS         stop each measurement's touches after SECS\n"
	       "  --budget SIZE           frame budget of swapin and refault; the file and the swap\n"
	       "                          region are %ux it (default %llu MiB)\n"
	       "  --zero-budget SIZE      zero-fill's upager rows under a frame budget this\n"
	       "                          large (at least the region: nothing is evicted;\n"
	       "                          default none)\n"
	       "  --page-cluster N        upager's swap read-ahead: at most 2^N pages a\n"
	       "                          swap-in, as the kernel's vm.page-cluster (0..%u;\n"
	       "                          default the library's, %u pages)\n"
	       "  --runs N                runs, medians reported (default %u)\n"
	       "  --quick                 %u zero-fill pages, %u touches, %llu MiB budget, %u run\n",
	       FAULTING_CPU, CROSS_CPU, DEFAULT_PAGES, DEFAULT_PAGES / 256, DEFAULT_FAULTS,
	       REGION_BUDGETS, (unsigned long long)(DEFAULT_BUDGET >> 20), MAX_PAGE_CLUSTER,
	       1u << MAX_PAGE_CLUSTER, DEFAULT_RUNS, QUICK_PAGES, QUICK_FAULTS,
	       (unsigned long long)(QUICK_BUDGET >> 20), QUICK_RUNS);
	opt_help_common(26, "a page read back wrong");
}

/* A comma-separated list of same, cross, free, busy, both (same and
 * cross) and all into four selection flags. */
static int parse_placement(const char *s, bool sel[4])
{
	static const char *const names[] = { "same", "cross", "free", "busy", "both", "all" };
	static const unsigned int sets[] = { 1, 2, 4, 8, 3, 15 };
	char buf[64], *save = NULL;
	unsigned int set = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]) && strcmp(tok, names[i]); i++)
			;
		if (i == sizeof(names) / sizeof(names[0]))
			return -EINVAL;
		set |= sets[i];
	}
	for (unsigned int i = 0; i < 4; i++)
		sel[i] = set & (1u << i);
	return set ? 0 : -EINVAL;
}

/* A comma-separated list of kind names ("zero", "all" too). */
static int parse_kinds(const char *s, bool sel[NKIND])
{
	char buf[256], *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	memset(sel, 0, NKIND * sizeof(sel[0]));
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int kind;

		if (!strcmp(tok, "all") || !strcmp(tok, "zero")) {
			for (kind = 0; kind < NKIND; kind++)
				sel[kind] |= tok[0] == 'a' || kind <= K_ZERO_RAND;
			continue;
		}
		for (kind = 0; kind < NKIND && strcmp(tok, kind_name[kind]); kind++)
			;
		if (kind == NKIND)
			return -EINVAL;
		sel[kind] = true;
	}
	return 0;
}

static int parse_kinds_opt(const char *s, bool sel[NKIND])
{
	char range[160];
	size_t off;

	if (!parse_kinds(s, sel))
		return 0;
	off = (size_t)snprintf(range, sizeof(range), "a comma-separated list of all, zero");
	for (int kind = 0; kind < NKIND && off < sizeof(range); kind++)
		off += (size_t)snprintf(range + off, sizeof(range) - off, ", %s", kind_name[kind]);
	return opt_bad("kinds", s, range);
}

/* "1", "2", "1,2" (or "2,1", "both") into two selection flags. */
static int parse_threads(const char *s, bool sel[2])
{
	if (!strcmp(s, "1") || !strcmp(s, "2")) {
		sel[0] = s[0] == '1';
		sel[1] = s[0] == '2';
		return 0;
	}
	if (!strcmp(s, "1,2") || !strcmp(s, "2,1") || !strcmp(s, "both")) {
		sel[0] = sel[1] = true;
		return 0;
	}
	return opt_bad("threads", s, "1, 2 or 1,2");
}

/* "seq", "rand" or "both" into two selection flags. */
static int parse_pattern(const char *s, bool sel[2])
{
	bool both = !strcmp(s, "both");

	if (!both && strcmp(s, "seq") && strcmp(s, "rand"))
		return opt_bad("pattern", s, "seq, rand or both");
	sel[0] = both || !strcmp(s, "seq");
	sel[1] = both || !strcmp(s, "rand");
	return 0;
}

enum { OPT_PAGES = 256, OPT_PATTERN, OPT_PLACEMENT, OPT_KINDS, OPT_THREADS, OPT_BUDGET,
       OPT_FAULTS, OPT_DURATION, OPT_HISTOGRAM, OPT_PLOT, OPT_PAGE_CLUSTER, OPT_ZERO_BUDGET };

/* The command line's own values, for faults_option(). */
struct faults_args {
	struct bench *b;
	uint64_t pages, faults, cluster, budget;
	bool pattern[2], place[4], threads[2];
};

static int faults_option(int c, const char *arg, void *ctx)
{
	struct faults_args *a = ctx;
	struct bench *b = a->b;
	int err = 0;

	switch (c) {
	case OPT_PAGES:
		err = opt_u64("pages", arg, 1, MAX_PAGES, &a->pages);
		break;
	case OPT_PATTERN:
		err = parse_pattern(arg, a->pattern);
		break;
	case OPT_PLACEMENT:
		if (parse_placement(arg, a->place))
			err = opt_bad("placement", arg, "a comma-separated list of same, "
				      "cross, free, busy, both, all");
		break;
	case OPT_KINDS:
		err = parse_kinds_opt(arg, b->kind);
		break;
	case OPT_THREADS:
		err = parse_threads(arg, a->threads);
		break;
	case OPT_BUDGET:
		err = opt_size("budget", arg, MIB, 64ull << 30, &a->budget);
		break;
	case OPT_FAULTS:
		err = opt_u64("faults", arg, 1, MAX_PAGES, &a->faults);
		break;
	case OPT_DURATION:
		err = opt_double("duration", arg, 0, 86400, &b->duration);
		break;
	case OPT_HISTOGRAM:
		b->histogram = true;
		break;
	case OPT_PLOT:
		b->plot = arg;
		break;
	case OPT_PAGE_CLUSTER:
		err = opt_u64("page-cluster", arg, 0, MAX_PAGE_CLUSTER, &a->cluster);
		b->page_cluster = (int)a->cluster;
		break;
	case OPT_ZERO_BUDGET:
		err = opt_size("zero-budget", arg, MIB, 64ull << 30, &b->zero_budget);
		break;
	default:
		return -ENOENT;
	}
	return err;
}

/* Returns 0 to run, 1 after --help or --version, or -EINVAL (said). */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		BENCH_LONGOPTS_COMMON,
		{ "pages", required_argument, NULL, OPT_PAGES },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "placement", required_argument, NULL, OPT_PLACEMENT },
		{ "kinds", required_argument, NULL, OPT_KINDS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "faults", required_argument, NULL, OPT_FAULTS },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "histogram", no_argument, NULL, OPT_HISTOGRAM },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "page-cluster", required_argument, NULL, OPT_PAGE_CLUSTER },
		{ "zero-budget", required_argument, NULL, OPT_ZERO_BUDGET },
		{ NULL, 0, NULL, 0 },
	};
	struct faults_args a = { .b = b, .pattern = { true, true },
				 .place = { true, true, true, true }, .threads = { true, true } };
	const bool *pattern = a.pattern, *place = a.place, *threads = a.threads;
	int err;

	for (int kind = 0; kind < NKIND; kind++)
		b->kind[kind] = true;
	err = opt_parse(argc, argv, longopts, faults_option, &a, MAX_RUNS, usage, &b->co);
	if (err)
		return err;
	b->kind[K_ZERO_SEQ] &= pattern[0];
	b->kind[K_ZERO_RAND] &= pattern[1];
	b->swapin_seq = pattern[0] && !pattern[1];
	b->tc[TC_SAME] = threads[0] && place[0];
	b->tc[TC_CROSS] = threads[0] && place[1];
	b->tc[TC_TWO] = threads[1] && (place[0] || place[1]);
	b->tc[TC_FREE1] = threads[0] && place[2];
	b->tc[TC_FREE2] = threads[1] && place[2];
	b->tc[TC_BUSY2] = threads[1] && place[3];
	/* The steps of one run, counted here so that a selection that
	 * measures nothing is refused before anything is set up. */
	for_each_measurement(b, 0, count_step);
	if (!b->steps) {
		fprintf(stderr, "upager-bench faults: nothing to measure: the free and busy "
			"placements apply to --kinds handlers only, and busy needs 2 threads\n");
		return opt_try();
	}
	b->pages = opt_pick(&b->co, a.pages, QUICK_PAGES, DEFAULT_PAGES);
	b->runs = (unsigned int)opt_pick(&b->co, b->co.runs, QUICK_RUNS, DEFAULT_RUNS);
	b->faults = opt_pick(&b->co, a.faults, QUICK_FAULTS, DEFAULT_FAULTS);
	/* zero-fill: the whole region unless --faults says fewer. */
	b->zero_touches = a.faults && a.faults < b->pages ? a.faults : b->pages;
	b->budget = opt_pick(&b->co, a.budget, QUICK_BUDGET, DEFAULT_BUDGET);
	b->budget_pages = (size_t)(b->budget / b->page);
	if (b->zero_budget && b->zero_budget < b->pages * b->page) {
		/* Smaller, it would evict: the rows would measure reclaim. */
		fprintf(stderr, "upager-bench faults: --zero-budget %llu MiB is smaller than the "
			"zero-fill region (%zu MiB)\n", (unsigned long long)(b->zero_budget >> 20),
			b->pages * b->page >> 20);
		return opt_try();
	}
	return 0;
}

int faults_main(int argc, char **argv)
{
	struct bench b = { .page = (size_t)sysconf(_SC_PAGESIZE), .fd = -1, .fd_direct = -1,
			   .page_cluster = -1 };
	int err;

	err = parse_args(argc, argv, &b);
	if (err)
		return err > 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
	err = pin_self(&b);
	if (!err)
		err = probe_userfaultfd();
	if (err)
		return BENCH_EXIT_FAIL;
	cleanup_install(faults_undo, false);
	err = bench_alloc(&b);
	if (err) {
		fprintf(stderr, "upager-bench faults: setting up: %s\n", strerror(-err));
		goto out_free;
	}
	b.steps *= b.runs; /* parse_args() counted one run's */
	progress_start(&b.progress, b.steps, b.co.progress_forced, b.co.verbose);
	/* Messages during the run start on a fresh line. */
	b.tty = b.progress.tty && !b.co.progress_forced && !b.co.verbose;
	for (unsigned int run = 0; run < b.runs && !err; run++)
		err = for_each_measurement(&b, run, run_step);
	progress_end(&b.progress);
	if (err) {
		/* A measurement failed, said already: what was measured failed. */
		bench_free(&b);
		return BENCH_EXIT_BAD;
	}
	if (b.co.json) {
		err = print_json(&b);
	} else {
		print_table(&b);
		if (b.histogram)
			print_histograms(&b);
	}
	if (b.plot && !err)
		err = write_plot(&b);
	if (err)
		goto out_free;
	if (b.data_error) {
		fprintf(stderr, "upager-bench faults: some pages read back wrong (see above)\n");
		bench_free(&b);
		return BENCH_EXIT_BAD;
	}
out_free:
	bench_free(&b);
	return err ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
}
