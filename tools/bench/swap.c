/* SPDX-License-Identifier: MIT */
/*
 * swap.c - "upager-bench swap", the out-of-core benchmark: the same workloads on a
 * region larger than its memory, paged by upager (frame budget, io_uring
 * swap store) and by the kernel (a swapfile on the same disk, the process
 * in a memory cgroup, v1 or v2, limited to the same budget), with raw
 * io_uring 4 KiB O_DIRECT random reads of a file on that disk as the
 * device's floor.
 *
 * The kernel side (swap-kernel.c) runs in a child: this binary
 * re-executes itself ("swap --kernel-child FD") after writing its pid into the
 * cgroup's cgroup.procs, maps plain anonymous memory, runs the passes and
 * sends its samples back through a pipe. Everything the kernel side creates (the
 * swapfile, swapon, the cgroup) is undone at exit, on a fatal signal too.
 *
 * Passes, each timed on its own, on one fresh mapping per implementation,
 * thread count and run: seq-write (every page in order, a pattern derived
 * from page index and run in its first and last 8 bytes), seq-read,
 * rand-read (uniform) and zipf-read (Zipf over pages permuted so hot pages
 * are scattered), every read verified. Every access is timed: rand/zipf
 * keep all samples (exact percentiles), seq passes keep the maximum (a
 * stall shows there). Rows report medians over runs; p50/p99 come from the
 * run with the median throughput.
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
#include "swap.h"
#include "upager.h"

#define DEFAULT_REGION (2048 * MIB)
#define DEFAULT_BUDGET (512 * MIB)
#define DEFAULT_RUNS 3u
#define DEFAULT_ZIPF_S 0.99
#define QUICK_REGION (64 * MIB)
#define QUICK_BUDGET (16 * MIB)
#define QUICK_OPS 4096u
#define QUICK_RUNS 1u
/* Raw reads measure the device, not the workload: a bounded count keeps
 * them from dominating a run. */
#define RAW_OPS_MAX 65536u

/* ---- system knobs ------------------------------------------------------------- */

/* Start each implementation's passes from a cold page cache. */
void drop_caches(struct bench *b)
{
	sync();
	if (write_file("/proc/sys/vm/drop_caches", "3") < 0)
		b->drop_failed = true;
}

void knob_string(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	char line[128] = "";
	char *l, *r;

	snprintf(buf, len, "?");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		/* "always [madvise] never" style: the bracketed one. */
		if ((l = strchr(line, '[')) && (r = strchr(l, ']'))) {
			*r = '\0';
			snprintf(buf, len, "%s", l + 1);
		} else {
			snprintf(buf, len, "%s", line);
		}
	}
	fclose(f);
}

/* ---- the three implementations ------------------------------------------------- */

struct sample *swap_sample_at(struct bench *b, enum impl impl, unsigned int threads,
			      enum pass pass, unsigned int run)
{
	size_t i = (((size_t)impl * MAX_THREADS + threads - 1) * NPASS + pass) * b->runs + run;

	return &b->samples[i];
}

static void upager_delta(struct sample *s, const struct upager_stats *a,
			 const struct upager_stats *z)
{
	s->swapins = z->swapins - a->swapins;
	s->readahead = z->readahead_pages - a->readahead_pages;
	s->majflt = s->swapins - s->readahead;
	s->writebacks = z->writebacks - a->writebacks;
	s->clean_drops = z->clean_drops - a->clean_drops;
	s->zero_drops = z->zero_drops - a->zero_drops;
	s->reactivations = z->reactivations - a->reactivations;
	s->faults = z->faults - a->faults;
	s->sigbus = z->sigbus - a->sigbus;
	s->checksum_failures = z->checksum_failures - a->checksum_failures;
	s->swap_full = z->swap_full - a->swap_full;
	s->read_submits = z->swap_read_submits - a->swap_read_submits;
	s->read_sqes = z->swap_read_sqes - a->swap_read_sqes;
	s->write_submits = z->swap_write_submits - a->swap_write_submits;
	s->write_sqes = z->swap_write_sqes - a->swap_write_sqes;
}

static int upager_measure(struct bench *b, unsigned int threads, unsigned int run)
{
	struct upager_options opts = UPAGER_OPTS(.max_resident = b->budget,
						 .swap_path = b->store_path,
						 .swap_size = 2 * b->region,
						 .handler_threads = b->co.handlers);
	struct upager *pager;
	struct workload w;
	void *base;
	int err;

	undo_file_arm(&cl.store, b->store_path);
	err = upager_open(&opts, &pager);
	if (err) {
		fprintf(stderr, "upager-bench swap: upager_open: %s\n", strerror(-err));
		cl.store.live = 0;
		return err;
	}
	err = upager_map(pager, NULL, b->region, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, &base);
	if (err) {
		fprintf(stderr, "upager-bench swap: upager_map: %s\n", strerror(-err));
		goto out_close;
	}
	workload_init(b, &w, base, threads, run);
	for (int pass = 0; pass < NPASS; pass++) {
		struct sample *s = swap_sample_at(b, IMPL_UPAGER, threads, pass, run);
		struct upager_stats before = UPAGER_STATS(), after = UPAGER_STATS();

		upager_stats_read(pager, &before);
		err = workload_run(&w, pass, s);
		upager_stats_read(pager, &after);
		upager_delta(s, &before, &after);
		if (s->bad || s->sigbus || s->checksum_failures) {
			fprintf(stderr, "upager-bench swap: upager %s %u thread(s) run %u: %" PRIu64
				" pages failed verification, %" PRIu64 " SIGBUS, %" PRIu64
				" checksum failures\n", pass_name[pass], threads, run + 1, s->bad,
				s->sigbus, s->checksum_failures);
			b->data_error = true;
		}
		if (err)
			break;
	}
out_close:
	upager_close(pager);
	cl.store.live = 0;
	return err;
}
/* The raw file: as large as the region, every block written (reads of
 * unwritten extents would never reach the device). */
static int raw_file_create(struct bench *b)
{
	size_t chunk = 4 * MIB;
	char *buf = NULL;
	int fd, err;

	fd = open(b->raw_path, O_CREAT | O_EXCL | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	undo_file_arm(&cl.raw_file, b->raw_path);
	err = -posix_memalign((void **)&buf, 4096, chunk);
	for (uint64_t off = 0; !err && off < b->region; off += chunk) {
		size_t len = b->region - off < chunk ? (size_t)(b->region - off) : chunk;

		memset(buf, 0x5a, len);
		for (size_t p = 0; p < len; p += b->page) {
			uint64_t head = pattern_gen_head((off + p) / b->page, RAW_GEN);

			memcpy(buf + p, &head, sizeof(head));
		}
		if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
			err = -EIO;
	}
	free(buf);
	if (!err && fsync(fd) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int raw_measure(struct bench *b, unsigned int threads, unsigned int run)
{
	struct sample *s = &b->raw[(threads - 1) * b->runs + run];
	struct workload w;
	int err;

	drop_caches(b);
	workload_init(b, &w, NULL, threads, run);
	w.ops = b->raw_ops;
	w.raw_fd = open(b->raw_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (w.raw_fd < 0)
		return -errno;
	err = workload_run(&w, PASS_RAW, s);
	close(w.raw_fd);
	if (err)
		fprintf(stderr, "upager-bench swap: raw io_uring reads: %s\n", strerror(-err));
	if (s->bad) {
		fprintf(stderr, "upager-bench swap: raw reads: %" PRIu64 " blocks read wrong\n",
			s->bad);
		b->data_error = true;
	}
	return err;
}

/* ---- the run loop --------------------------------------------------------------- */

static void progress(struct bench *b, const char *what, unsigned int threads, unsigned int run)
{
	progress_step(&b->progress, "run %u/%u, %u thread%s: %s", run + 1, b->runs, threads,
		      threads > 1 ? "s" : "", what);
}

/* The measurements of the whole run, for the estimate of the time left. */
static unsigned int steps_total(const struct bench *b)
{
	unsigned int per = b->kernel_skip[0] ? 2 : 3;

	return b->runs * per * (b->threads_sel[0] + b->threads_sel[1]);
}

/* One run: raw, upager and kernel for each thread count, their order
 * rotated per run so drift in the machine hits all alike. */
static int run_once(struct bench *b, unsigned int run)
{
	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		if (!b->threads_sel[threads - 1])
			continue;
		for (unsigned int k = 0; k < 3; k++) {
			int err;

			switch ((k + run) % 3) {
			case 0:
				progress(b, "raw io_uring", threads, run);
				raw_measure(b, threads, run);
				break;
			case 1:
				progress(b, "upager", threads, run);
				drop_caches(b);
				err = upager_measure(b, threads, run);
				if (err) {
					b->upager_error = true;
					return err;
				}
				break;
			default:
				if (b->kernel_skip[0])
					break;
				progress(b, "kernel", threads, run);
				err = kernel_measure(b, threads, run);
				if (err == -ENOENT || err == -EACCES || err == -EPERM ||
				    err == -EROFS) {
					snprintf(b->kernel_skip, sizeof(b->kernel_skip),
						 "cgroup setup: %s", strerror(-err));
				}
				break;
			}
		}
	}
	return 0;
}

/* ---- command line -------------------------------------------------------------------- */

enum { OPT_REGION = 256, OPT_RAW_OPS, OPT_ZIPF_S, OPT_THREADS,
       OPT_SWAPFILE, OPT_CGROUP, OPT_NO_KERNEL, OPT_KERNEL_CHILD, OPT_RUN };

/* The command line's own values, for swap_option(). */
struct swap_args {
	struct bench *b;
	uint64_t region, raw_ops;
};

static int swap_option(int c, const char *arg, void *ctx)
{
	struct swap_args *a = ctx;
	struct bench *b = a->b;
	uint64_t v;
	int err = 0;

	switch (c) {
	case OPT_REGION:
		err = opt_size("region", arg, 1, 1ull << 44, &a->region);
		break;
	case OPT_RAW_OPS:
		err = opt_u64("raw-ops", arg, 1, BENCH_MAX_OPS, &a->raw_ops);
		break;
	case OPT_ZIPF_S:
		err = opt_double("zipf-s", arg, 0, 10, &b->zipf_s);
		break;
	case OPT_THREADS:
		if (!strcmp(arg, "both") || !strcmp(arg, "1,2")) {
			b->threads_sel[0] = b->threads_sel[1] = true;
		} else if (!strcmp(arg, "1") || !strcmp(arg, "2")) {
			b->threads_sel[0] = arg[0] == '1';
			b->threads_sel[1] = arg[0] == '2';
		} else {
			err = opt_bad("threads", arg, "1, 2 or both");
		}
		break;
	case OPT_SWAPFILE:
		if (arg[0] != '/')
			err = opt_bad("swapfile", arg, "an absolute path");
		b->kswap_path = arg;
		break;
	case OPT_CGROUP:
		if (arg[0] != '/')
			err = opt_bad("cgroup", arg, "an absolute path");
		b->cgroup_dir = arg;
		break;
	case OPT_NO_KERNEL:
		b->no_kernel = true;
		break;
	case OPT_KERNEL_CHILD:
		err = opt_u64("kernel-child", arg, 0, INT_MAX, &v);
		b->child_fd = (int)v;
		break;
	case OPT_RUN:
		err = opt_u64("run", arg, 0, MAX_RUNS, &v);
		b->child_run = (unsigned int)v;
		break;
	default:
		return -ENOENT;
	}
	return err;
}

static void usage(void)
{
	printf("usage: upager-bench swap [options]\n"
	       "Out-of-core paging: upager (frame budget, io_uring swap store) against the kernel\n"
	       "(swapfile + memory cgroup: v1 memory.limit_in_bytes, or v2 memory.max with\n"
	       "memory.swap.max), with raw io_uring 4 KiB reads as the floor. Needs root for\n"
	       "the kernel part (swapon, cgroups); without it, that part is skipped.\n\n"
	       "  --region SIZE      region size (default 2G)\n"
	       "  --budget SIZE      frame budget = cgroup memory limit (default 512M)\n"
	       "  --ops N            rand/zipf reads per pass, over all threads (default pages/2)\n"
	       "  --raw-ops N        raw device reads per measurement (default min(ops, %u))\n"
	       "  --zipf-s S         Zipf exponent, above 0, at most 10 (default %.2f)\n"
	       "  --threads 1|2|both worker threads (default both)\n"
	       "  --runs N           runs, medians reported (default %u)\n"
	       "  --handlers N       upager handler threads (default: the library's)\n"
	       "  --dir DIR          upager swap store and raw file (default /var/tmp)\n"
	       "  --swapfile PATH    the kernel's swapfile (default " KSWAP_PATH ")\n"
	       "  --cgroup DIR       the cgroup the kernel child's cgroups are made in: a v1\n"
	       "                     memory cgroup, or a delegated cgroup v2 subtree (default\n"
	       "                     " CGROUP_MEM " if mounted, else the cgroup v2 mount)\n"
	       "  --no-kernel        skip the kernel part\n"
	       "  --quick            region 64M, budget 16M, ops %u, runs %u (a smoke test)\n",
	       RAW_OPS_MAX, DEFAULT_ZIPF_S, DEFAULT_RUNS, QUICK_OPS, QUICK_RUNS);
	opt_help_common(21, "a page read back wrong or upager failed");
}

/* Returns 0 to run, 1 after --help or --version, or -EINVAL (said). */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		{ "region", required_argument, NULL, OPT_REGION },
		{ "raw-ops", required_argument, NULL, OPT_RAW_OPS },
		{ "zipf-s", required_argument, NULL, OPT_ZIPF_S },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "swapfile", required_argument, NULL, OPT_SWAPFILE },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
		BENCH_LONGOPTS_COMMON,
		BENCH_LONGOPTS_PAGER,
		/* Internal: the kernel child. */
		{ "kernel-child", required_argument, NULL, OPT_KERNEL_CHILD },
		{ "run", required_argument, NULL, OPT_RUN },
		{ NULL, 0, NULL, 0 },
	};
	struct swap_args a = { .b = b };
	int err;

	b->zipf_s = DEFAULT_ZIPF_S;
	b->threads_sel[0] = b->threads_sel[1] = true;
	b->co.dir = "/var/tmp";
	b->kswap_path = KSWAP_PATH;
	b->child_fd = -1;
	err = opt_parse(argc, argv, longopts, swap_option, &a, MAX_RUNS, usage, &b->co);
	if (err)
		return err;
	/* The kernel child is told the sizes: it warns of nothing. */
	err = opt_sizes(&b->co, "region", (const uint64_t[]){ a.region, QUICK_REGION,
			DEFAULT_REGION }, (const uint64_t[]){ QUICK_BUDGET, DEFAULT_BUDGET },
			b->page, b->child_fd < 0, &b->region, &b->budget);
	b->pages = b->region / b->page;
	b->ops = opt_pick(&b->co, b->co.ops, QUICK_OPS, b->pages / 2);
	b->raw_ops = a.raw_ops ? a.raw_ops : b->ops < RAW_OPS_MAX ? b->ops : RAW_OPS_MAX;
	b->runs = (unsigned int)opt_pick(&b->co, b->co.runs, QUICK_RUNS, DEFAULT_RUNS);
	return err;
}

static int bench_alloc(struct bench *b)
{
	size_t nsamples = (size_t)NIMPL * MAX_THREADS * NPASS * b->runs;
	size_t nlat = b->ops > b->raw_ops ? b->ops : b->raw_ops;

	b->lat = malloc(nlat * sizeof(uint64_t));
	b->samples = calloc(nsamples, sizeof(struct sample));
	b->raw = calloc((size_t)MAX_THREADS * b->runs, sizeof(struct sample));
	b->k_overhead = calloc((size_t)MAX_THREADS * b->runs, sizeof(uint64_t));
	b->k_peak = calloc((size_t)MAX_THREADS * b->runs, sizeof(uint64_t));
	b->k_failcnt = calloc((size_t)MAX_THREADS * b->runs, sizeof(uint64_t));
	if (!b->lat || !b->samples || !b->raw || !b->k_overhead || !b->k_peak || !b->k_failcnt) {
		fprintf(stderr, "upager-bench swap: allocating buffers: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	/* Touched now, so none of its first touches lands in a pass. */
	memset(b->lat, 0, nlat * sizeof(uint64_t));
	zipf_init(&b->zipf, b->zipf_s, b->pages);
	perm_init(&b->perm, b->pages, RAND_SEED ^ 0x9e3779b97f4a7c15ull);
	return 0;
}

static void bench_free(struct bench *b)
{
	void *const bufs[] = { b->lat, b->samples, b->raw, b->k_overhead, b->k_peak, b->k_failcnt };

	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		free(bufs[i]);
}

int swap_main(int argc, char **argv)
{
	struct bench b = { .page = (size_t)sysconf(_SC_PAGESIZE) };
	int err;

	err = parse_args(argc, argv, &b);
	if (err)
		return err > 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
	if (b.child_fd >= 0) {
		/* The kernel child: one thread count, one run. */
		b.runs = 1;
		err = bench_alloc(&b);
		if (!err)
			err = kernel_child_main(&b);
		bench_free(&b);
		return err ? BENCH_EXIT_FAIL : BENCH_EXIT_OK;
	}
	cleanup_install(cleanup_run, true);
	if (bench_alloc(&b))
		goto out_free;
	bench_file_name(b.store_path, sizeof(b.store_path), b.co.dir, "store");
	bench_file_name(b.raw_path, sizeof(b.raw_path), b.co.dir, "raw");
	kernel_setup(&b);
	if (b.kernel_skip[0])
		fprintf(stderr, "upager-bench swap: kernel part skipped: %s\n", b.kernel_skip);
	else if (b.co.verbose)
		fprintf(stderr, "upager-bench swap: kernel part in %s (%s)\n", b.cgroup_parent,
			cgroup_kind(&b));
	err = raw_file_create(&b);
	if (err) {
		fprintf(stderr, "upager-bench swap: creating %s: %s\n", b.raw_path, strerror(-err));
		goto out_free;
	}
	progress_start(&b.progress, steps_total(&b), b.co.progress_forced, b.co.verbose);
	for (unsigned int run = 0; run < b.runs; run++) {
		err = run_once(&b, run);
		if (err)
			break;
	}
	progress_end(&b.progress);
	kswap_teardown();
	if (b.co.json) {
		int werr = swap_print_json(&b);

		if (!err && werr) {
			cleanup_run();
			bench_free(&b);
			return BENCH_EXIT_FAIL;
		}
	} else {
		swap_print_table(&b);
	}
	if (b.data_error)
		fprintf(stderr, "upager-bench swap: DATA VERIFICATION FAILED (see above)\n");
	cleanup_run();
	bench_free(&b);
	/* A run that ended early ended on upager's failure (run_once()). */
	return err || b.data_error ? BENCH_EXIT_BAD : BENCH_EXIT_OK;

out_free:
	cleanup_run();
	bench_free(&b);
	return BENCH_EXIT_FAIL;
}
