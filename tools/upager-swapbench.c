/* SPDX-License-Identifier: MIT */
/*
 * upager-swapbench.c - the out-of-core benchmark: the same workloads on a
 * region larger than its memory, paged by upager (frame budget, io_uring
 * swap store) and by the kernel (a swapfile on the same disk, the process
 * in a cgroup v1 memory cgroup limited to the same budget), with raw
 * io_uring 4 KiB O_DIRECT random reads of a file on that disk as the
 * device's floor.
 *
 * The kernel side (swapbench-kernel.c) runs in a child: this binary
 * re-executes itself ("--kernel-child FD") after writing its pid into the
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

#include "benchutil.h"
#include "core/options.h"
#include "upager.h"
#include "swapbench.h"

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
#define MAX_OPS (1ull << 30)
#define RAND_SEED 0x5eedbe7cull
/* The raw file's pattern generation: never a run's. */
#define RAW_GEN 0xfeedull
/* No progress for this long prints a warning while the pass goes on. */
#define STALL_WARN_NS (10ull * 1000000000u)

static const char *const impl_name[NIMPL] = { "upager", "kernel" };
const char *const pass_name[NPASS + 1] = { "seq-write", "seq-read", "rand-read",
						  "zipf-read", "raw-read" };

struct worker {
	struct workload *w;
	unsigned int idx;
	pthread_t thread;
	atomic_uint_fast64_t progress;
	uint64_t bad, t_end, max_ns;
	int err;
} __attribute__((aligned(64)));

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- patterns, random numbers, Zipf ------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}


/* What the first and last 8 bytes of page @idx hold in generation @gen.
 * The tail differs from the head, so a page is never all zeros (it must be
 * written out) and a page shifted or swapped with another fails. */
static uint64_t pattern_head(uint64_t idx, uint64_t gen)
{
	return mix64(idx * 0x9e3779b97f4a7c15ull + (gen << 1) + 1);
}

static uint64_t pattern_tail(uint64_t idx, uint64_t gen)
{
	return ~pattern_head(idx, gen) ^ (idx << 8) ^ 0xa5;
}

static double uniform01(uint64_t *state)
{
	return (double)(bench_splitmix64(state) >> 11) * 0x1p-53;
}

static double zipf_helper1(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

static double zipf_helper2(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

static double zipf_h(const struct zipf *z, double x)
{
	return exp(-z->s * log(x));
}

/* The integral of h, shifted so it is continuous at s = 1. */
static double zipf_hint(const struct zipf *z, double x)
{
	double lx = log(x);

	return zipf_helper2((1 - z->s) * lx) * lx;
}

static double zipf_hinv(const struct zipf *z, double x)
{
	double t = x * (1 - z->s);

	if (t < -1)
		t = -1;
	return exp(zipf_helper1(t) * x);
}

static void zipf_init(struct zipf *z, double s, uint64_t n)
{
	z->s = s;
	z->n = (double)n;
	z->h_x1 = zipf_hint(z, 1.5) - 1;
	z->h_n = zipf_hint(z, z->n + 0.5);
	z->shift = 2 - zipf_hinv(z, zipf_hint(z, 2.5) - zipf_h(z, 2));
}

/* A rank in [0, n): 0 is the most popular. */
static uint64_t zipf_draw(const struct zipf *z, uint64_t *state)
{
	for (;;) {
		double u = z->h_n + uniform01(state) * (z->h_x1 - z->h_n);
		double x = zipf_hinv(z, u);
		double k = floor(x + 0.5);

		if (k < 1)
			k = 1;
		else if (k > z->n)
			k = z->n;
		if (k - x <= z->shift || u >= zipf_hint(z, k + 0.5) - zipf_h(z, k))
			return (uint64_t)k - 1;
	}
}

static void perm_init(struct perm *p, uint64_t n, uint64_t seed)
{
	unsigned int bits = 1;

	while (bits < 63 && (1ull << bits) < n)
		bits++;
	p->n = n;
	p->half = (bits + 1) / 2;
	p->mask = (1ull << p->half) - 1;
	for (int i = 0; i < 4; i++)
		p->keys[i] = bench_splitmix64(&seed);
}

static uint64_t perm_apply(const struct perm *p, uint64_t x)
{
	do {
		uint64_t l = x >> p->half, r = x & p->mask;

		for (int i = 0; i < 4; i++) {
			uint64_t t = r;

			r = l ^ (mix64(r ^ p->keys[i]) & p->mask);
			l = t;
		}
		x = (l << p->half) | r;
	} while (x >= p->n);
	return x;
}

/* ---- workers ------------------------------------------------------------------- */

static int pin_cpu(unsigned int idx)
{
	cpu_set_t allowed, cpus;
	unsigned int n = 0, cpu, count;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -errno;
	/* The idx-th allowed CPU, wrapping around. */
	count = (unsigned int)CPU_COUNT(&allowed);
	if (!count)
		return -EINVAL;
	idx %= count;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &allowed) && n++ == idx)
			break;
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	return -pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
}

static void seq_write(struct worker *k, size_t lo, size_t hi)
{
	const struct workload *w = k->w;
	uint64_t prev = now_ns();

	for (size_t i = lo; i < hi; i++) {
		volatile uint64_t *head = (volatile uint64_t *)(w->base + i * w->page);
		volatile uint64_t *tail = (volatile uint64_t *)(w->base + (i + 1) * w->page - 8);
		uint64_t t;

		*head = pattern_head(i, w->gen);
		*tail = pattern_tail(i, w->gen);
		t = now_ns();
		if (t - prev > k->max_ns)
			k->max_ns = t - prev;
		prev = t;
		atomic_store_explicit(&k->progress, i - lo + 1, memory_order_relaxed);
	}
}

static bool page_check(const struct workload *w, size_t i, uint64_t head, uint64_t tail)
{
	return head == pattern_head(i, w->gen) && tail == pattern_tail(i, w->gen);
}

static void seq_read(struct worker *k, size_t lo, size_t hi)
{
	const struct workload *w = k->w;
	uint64_t prev = now_ns();

	for (size_t i = lo; i < hi; i++) {
		uint64_t head = *(volatile const uint64_t *)(w->base + i * w->page);
		uint64_t tail = *(volatile const uint64_t *)(w->base + (i + 1) * w->page - 8);
		uint64_t t = now_ns();

		if (t - prev > k->max_ns)
			k->max_ns = t - prev;
		prev = t;
		if (!page_check(w, i, head, tail))
			k->bad++;
		atomic_store_explicit(&k->progress, i - lo + 1, memory_order_relaxed);
	}
}

/* Uniform (rand) or Zipf (zipf) page reads, each timed. */
static void random_read(struct worker *k, uint64_t lo, uint64_t hi)
{
	const struct workload *w = k->w;
	uint64_t state = mix64(w->seed + k->idx + 1);

	for (uint64_t n = lo; n < hi; n++) {
		size_t i = w->pass == PASS_ZIPF_READ ?
			(size_t)perm_apply(w->perm, zipf_draw(w->zipf, &state)) :
			(size_t)(bench_splitmix64(&state) % w->pages);
		const char *p = w->base + i * w->page;
		uint64_t t0, head, tail;

		t0 = now_ns();
		__asm__ volatile("" ::: "memory");
		head = *(volatile const uint64_t *)p;
		tail = *(volatile const uint64_t *)(p + w->page - 8);
		__asm__ volatile("" ::: "memory");
		w->lat[n] = now_ns() - t0;
		if (w->lat[n] > k->max_ns)
			k->max_ns = w->lat[n];
		if (!page_check(w, i, head, tail))
			k->bad++;
		atomic_store_explicit(&k->progress, n - lo + 1, memory_order_relaxed);
	}
}

/* io_uring 4 KiB O_DIRECT reads at queue depth 1: the device's floor for
 * what a swap-in can cost. */
static int raw_read(struct worker *k, uint64_t lo, uint64_t hi, struct io_uring *ring,
		    int fd, void *buf)
{
	const struct workload *w = k->w;
	uint64_t state = mix64(w->seed + k->idx + 1);

	for (uint64_t n = lo; n < hi; n++) {
		size_t i = (size_t)(bench_splitmix64(&state) % w->pages);
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		struct io_uring_cqe *cqe;
		uint64_t t0;
		int err;

		if (!sqe)
			return -EBUSY;
		io_uring_prep_read(sqe, fd, buf, (unsigned int)w->page, (uint64_t)i * w->page);
		t0 = now_ns();
		err = io_uring_submit_and_wait(ring, 1);
		if (err >= 0)
			err = io_uring_wait_cqe(ring, &cqe);
		if (err < 0)
			return err;
		w->lat[n] = now_ns() - t0;
		err = cqe->res;
		io_uring_cqe_seen(ring, cqe);
		if (err != (int)w->page)
			return err < 0 ? err : -EIO;
		if (w->lat[n] > k->max_ns)
			k->max_ns = w->lat[n];
		if (*(const uint64_t *)buf != pattern_head(i, RAW_GEN))
			k->bad++;
		atomic_store_explicit(&k->progress, n - lo + 1, memory_order_relaxed);
	}
	return 0;
}

static void raw_worker(struct worker *k, uint64_t lo, uint64_t hi)
{
	struct io_uring ring;
	void *buf = NULL;
	int fd, err;

	/* Set up before the barrier would be fairer, but setup is
	 * microseconds against seconds of reads. */
	fd = dup(k->w->raw_fd);
	if (fd < 0) {
		k->err = -errno;
		return;
	}
	err = -posix_memalign(&buf, 4096, k->w->page);
	if (!err)
		err = io_uring_queue_init(4, &ring, 0);
	if (!err) {
		err = raw_read(k, lo, hi, &ring, fd, buf);
		io_uring_queue_exit(&ring);
	}
	free(buf);
	close(fd);
	k->err = err;
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	struct workload *w = k->w;
	uint64_t lo = w->ops * k->idx / w->threads, hi = w->ops * (k->idx + 1) / w->threads;
	size_t plo = w->pages * k->idx / w->threads, phi = w->pages * (k->idx + 1) / w->threads;

	k->err = pin_cpu(k->idx);
	pthread_barrier_wait(&w->start);
	switch (w->pass) {
	case PASS_SEQ_WRITE:
		seq_write(k, plo, phi);
		break;
	case PASS_SEQ_READ:
		seq_read(k, plo, phi);
		break;
	case PASS_RAND_READ:
	case PASS_ZIPF_READ:
		random_read(k, lo, hi);
		break;
	case PASS_RAW:
		raw_worker(k, lo, hi);
		break;
	default:
		break;
	}
	k->t_end = now_ns();
	atomic_fetch_add(&w->done, 1);
	return NULL;
}


/* Nearest-rank percentile of sorted @v. */

/* Run one pass on @w's threads and fill the timing part of @s. While it
 * runs, the calling thread watches progress and says so when none is made
 * for STALL_WARN_NS (a pager bug hangs rather than crashes). */
int workload_run(struct workload *w, enum pass pass, struct sample *s)
{
	struct worker k[MAX_THREADS];
	uint64_t t0, t_end = 0, last = 0, last_change, total = 0;
	bool warned = false;
	int err = 0;

	memset(k, 0, sizeof(k));
	memset(s, 0, sizeof(*s));
	w->pass = pass;
	atomic_store(&w->done, 0);
	cl.pass = pass_name[pass];
	pthread_barrier_init(&w->start, NULL, w->threads + 1);
	for (unsigned int i = 0; i < w->threads; i++) {
		k[i].w = w;
		k[i].idx = i;
		err = -pthread_create(&k[i].thread, NULL, worker_main, &k[i]);
		if (err) {
			/* Cannot happen short of no memory: the barrier would
			 * never open, so give up loudly. */
			fprintf(stderr, "upager-swapbench: pthread_create: %s\n", strerror(-err));
			exit(1);
		}
	}
	pthread_barrier_wait(&w->start);
	t0 = last_change = now_ns();
	while (atomic_load(&w->done) < w->threads) {
		uint64_t t;

		sleep_ms(100);
		t = now_ns();
		total = 0;
		for (unsigned int i = 0; i < w->threads; i++)
			total += atomic_load_explicit(&k[i].progress, memory_order_relaxed);
		if (total != last) {
			if (warned)
				fprintf(stderr, "upager-swapbench: %s: progress again after %.1f s\n",
					pass_name[pass], (double)(t - last_change) / 1e9);
			last = total;
			last_change = t;
			warned = false;
		} else if (!warned && t - last_change > STALL_WARN_NS) {
			fprintf(stderr, "upager-swapbench: %s: no progress for %.0f s (%" PRIu64
				" accesses done)\n", pass_name[pass],
				(double)(t - last_change) / 1e9, total);
			warned = true;
		}
	}
	for (unsigned int i = 0; i < w->threads; i++) {
		pthread_join(k[i].thread, NULL);
		if (k[i].t_end > t_end)
			t_end = k[i].t_end;
		if (k[i].max_ns > s->max)
			s->max = (double)k[i].max_ns;
		s->bad += k[i].bad;
		if (k[i].err && !err)
			err = k[i].err;
	}
	pthread_barrier_destroy(&w->start);
	cl.pass = NULL;
	s->accesses = pass == PASS_SEQ_WRITE || pass == PASS_SEQ_READ ? w->pages : w->ops;
	s->pps = (double)s->accesses * 1e9 / (double)(t_end > t0 ? t_end - t0 : 1);
	if (pass != PASS_SEQ_WRITE && pass != PASS_SEQ_READ) {
		qsort(w->lat, w->ops, sizeof(w->lat[0]), bench_cmp_u64);
		s->p50 = bench_percentile(w->lat, w->ops, 500);
		s->p99 = bench_percentile(w->lat, w->ops, 990);
	}
	s->valid = !err;
	return err;
}

void workload_init(struct bench *b, struct workload *w, char *base, unsigned int threads,
			  unsigned int run)
{
	memset(w, 0, sizeof(*w));
	w->base = base;
	w->pages = b->pages;
	w->page = b->page;
	w->threads = threads;
	w->ops = b->ops;
	w->gen = run + 1;
	/* The same streams for both implementations in a run. */
	w->seed = mix64(RAND_SEED + run);
	w->zipf = &b->zipf;
	w->perm = &b->perm;
	w->raw_fd = -1;
	w->lat = b->lat;
}

/* ---- system knobs ------------------------------------------------------------- */

int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		err = -errno;
	else if ((size_t)n != strlen(text))
		err = -EIO;
	close(fd);
	return err;
}

int read_u64_file(const char *path, uint64_t *out)
{
	FILE *f = fopen(path, "re");
	unsigned long long v;
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Start each implementation's passes from a cold page cache. */
void drop_caches(struct bench *b)
{
	sync();
	if (write_file("/proc/sys/vm/drop_caches", "3") < 0)
		b->drop_failed = true;
}

static void knob_string(const char *path, char *buf, size_t len)
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

struct sample *sample_at(struct bench *b, enum impl impl, unsigned int threads,
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
}

static int upager_measure(struct bench *b, unsigned int threads, unsigned int run)
{
	struct upager_options opts = UPAGER_OPTS(.max_resident = b->budget,
						 .swap_path = b->store_path,
						 .swap_size = 2 * b->region,
						 .handler_threads = b->handlers);
	struct upager *pager;
	struct workload w;
	void *base;
	int err;

	snprintf(cl.store_path, sizeof(cl.store_path), "%s", b->store_path);
	cl.store = 1;
	err = upager_open(&opts, &pager);
	if (err) {
		fprintf(stderr, "upager-swapbench: upager_open: %s\n", strerror(-err));
		cl.store = 0;
		return err;
	}
	err = upager_map(pager, NULL, b->region, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, &base);
	if (err) {
		fprintf(stderr, "upager-swapbench: upager_map: %s\n", strerror(-err));
		goto out_close;
	}
	workload_init(b, &w, base, threads, run);
	for (int pass = 0; pass < NPASS; pass++) {
		struct sample *s = sample_at(b, IMPL_UPAGER, threads, pass, run);
		struct upager_stats before = UPAGER_STATS(), after = UPAGER_STATS();

		upager_stats_read(pager, &before);
		err = workload_run(&w, pass, s);
		upager_stats_read(pager, &after);
		upager_delta(s, &before, &after);
		if (s->bad || s->sigbus || s->checksum_failures) {
			fprintf(stderr, "upager-swapbench: upager %s %u thread(s) run %u: %" PRIu64
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
	cl.store = 0;
	return err;
}
/* The raw file: as large as the region, every block written (reads of
 * unwritten extents would never reach the device). */
static int raw_file_create(struct bench *b)
{
	size_t chunk = 4 * MIB;
	char *buf = NULL;
	int fd, err;

	snprintf(cl.raw_path, sizeof(cl.raw_path), "%s", b->raw_path);
	fd = open(b->raw_path, O_CREAT | O_EXCL | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	cl.raw_file = 1;
	err = -posix_memalign((void **)&buf, 4096, chunk);
	for (uint64_t off = 0; !err && off < b->region; off += chunk) {
		size_t len = b->region - off < chunk ? (size_t)(b->region - off) : chunk;

		memset(buf, 0x5a, len);
		for (size_t p = 0; p < len; p += b->page) {
			uint64_t head = pattern_head((off + p) / b->page, RAW_GEN);

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
		fprintf(stderr, "upager-swapbench: raw io_uring reads: %s\n", strerror(-err));
	if (s->bad) {
		fprintf(stderr, "upager-swapbench: raw reads: %" PRIu64 " blocks read wrong\n",
			s->bad);
		b->data_error = true;
	}
	return err;
}

/* ---- the run loop --------------------------------------------------------------- */

static void progress(const struct bench *b, const char *what, unsigned int threads,
		     unsigned int run)
{
	if (b->progress)
		fprintf(stderr, "upager-swapbench: run %u/%u, %u thread(s): %s\n", run + 1, b->runs,
			threads, what);
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

/* ---- report ------------------------------------------------------------------------ */

/* One row: medians over the valid runs; p50/p99 from the run with the
 * median throughput; max over runs. */
struct row {
	bool valid;
	unsigned int n;
	double pps, p50, p99, max;
	double majflt, swapins, readahead, writebacks, clean, react, bad;
};



static void row_from(const struct sample *runs, unsigned int nruns, struct row *r)
{
	double pps[MAX_RUNS], v[7][MAX_RUNS];
	const struct sample *valid[MAX_RUNS];
	unsigned int n = 0;

	memset(r, 0, sizeof(*r));
	for (unsigned int i = 0; i < nruns; i++) {
		const struct sample *s = &runs[i];

		if (!s->valid)
			continue;
		valid[n] = s;
		pps[n] = s->pps;
		v[0][n] = (double)s->majflt;
		v[1][n] = (double)s->swapins;
		v[2][n] = (double)s->readahead;
		v[3][n] = (double)s->writebacks;
		v[4][n] = (double)s->clean_drops;
		v[5][n] = (double)s->reactivations;
		v[6][n] = (double)s->bad;
		if (s->max > r->max)
			r->max = s->max;
		n++;
	}
	if (!n)
		return;
	r->valid = true;
	r->n = n;
	r->pps = bench_median(pps, n);
	/* The median-throughput run: lower middle for even counts. */
	for (unsigned int i = 0; i < n; i++) {
		if (valid[i]->pps == pps[(n - 1) / 2]) {
			r->p50 = valid[i]->p50;
			r->p99 = valid[i]->p99;
			break;
		}
	}
	r->majflt = bench_median(v[0], n);
	r->swapins = bench_median(v[1], n);
	r->readahead = bench_median(v[2], n);
	r->writebacks = bench_median(v[3], n);
	r->clean = bench_median(v[4], n);
	r->react = bench_median(v[5], n);
	r->bad = bench_median(v[6], n);
}

static void row_get(struct bench *b, enum impl impl, unsigned int threads, enum pass pass,
		    struct row *r)
{
	row_from(sample_at(b, impl, threads, pass, 0), b->runs, r);
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
	snprintf(handlers, sizeof(handlers), "%u", b->handlers);
	printf("upager-swapbench: region %" PRIu64 " MiB (%zu pages), budget %" PRIu64
	       " MiB, ops %" PRIu64 ", raw ops %" PRIu64 ", zipf s=%.3g, runs %u, upager handlers %s\n",
	       b->region / MIB, b->pages, b->budget / MIB, b->ops, b->raw_ops, b->zipf_s, b->runs,
	       b->handlers ? handlers : "library default");
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

static void print_count(double v, bool show)
{
	if (show)
		printf(" %8.0f", v);
	else
		printf(" %8s", "-");
}

static void print_table_row(struct bench *b, enum impl impl, unsigned int threads, enum pass pass)
{
	struct row r, up, kern;
	bool up_impl = impl == IMPL_UPAGER;

	row_get(b, impl, threads, pass, &r);
	if (!r.valid)
		return;
	row_get(b, IMPL_UPAGER, threads, pass, &up);
	row_get(b, IMPL_KERNEL, threads, pass, &kern);
	printf("%-9s %3u %-6s %10.0f", pass_name[pass], threads, impl_name[impl], r.pps);
	if (is_random(pass))
		printf(" %8.1f %8.1f", r.p50 / 1e3, r.p99 / 1e3);
	else
		printf(" %8s %8s", "-", "-");
	printf(" %8.1f", r.max / 1e6);
	print_count(r.majflt, true);
	print_count(r.swapins, true);
	print_count(r.readahead, up_impl);
	print_count(r.writebacks, true);
	print_count(r.clean, up_impl);
	print_count(r.react, up_impl);
	printf(" %5.0f", r.bad);
	if (up_impl && kern.valid)
		printf(" %7.2fx\n", bench_ratio(up.pps, kern.pps));
	else
		printf(" %8s\n", "-");
}

static void print_raw_row(struct bench *b, unsigned int threads)
{
	struct row r;

	raw_row(b, threads, &r);
	if (!r.valid)
		return;
	printf("%-9s %3u %-6s %10.0f %8.1f %8.1f %8.1f   (io_uring 4 KiB O_DIRECT, QD1 per thread "
	       "= depth %u)\n", "raw-read", threads, "device", r.pps, r.p50 / 1e3, r.p99 / 1e3,
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
					.value = bench_ratio(up.pps, kern.pps), .bound = 3,
					.measured = up.valid && kern.valid };
		n++;
	}
	if (b->threads_sel[0]) {
		row_get(b, IMPL_UPAGER, 1, PASS_RAND_READ, &up);
		row_get(b, IMPL_KERNEL, 1, PASS_RAND_READ, &kern);
		t[n++] = (struct target){ .what = "rand-read 1t upager/kernel pages/s",
					  .value = bench_ratio(up.pps, kern.pps), .bound = 0.9,
					  .measured = up.valid && kern.valid };
	}
	if (b->threads_sel[0] && b->threads_sel[1]) {
		row_get(b, IMPL_UPAGER, 2, PASS_RAND_READ, &up);
		row_get(b, IMPL_KERNEL, 1, PASS_RAND_READ, &kern);
		t[n++] = (struct target){ .what = "rand-read upager 2t / kernel 1t pages/s",
					  .value = bench_ratio(up.pps, kern.pps), .bound = 1.6,
					  .measured = up.valid && kern.valid };
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
					.measured = up.valid && kern.valid };
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
		if (up.valid && raw.valid)
			printf("  (info) rand-read %ut upager = %.0f%% of raw depth-%u IOPS\n", threads,
			       100 * bench_ratio(up.pps, raw.pps), threads);
	}
}

static void print_table(struct bench *b)
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
	print_targets(b);
}

static void print_json_row(struct bench *b, const char *impl, unsigned int threads,
			   const char *pass, const struct row *r, double vs_kernel, bool *first)
{
	printf("%s\n    {\"impl\": \"%s\", \"threads\": %u, \"pass\": \"%s\", \"runs\": %u, "
	       "\"pages_per_s\": %.1f, \"p50_us\": %.3f, \"p99_us\": %.3f, \"max_ms\": %.3f, "
	       "\"majflt\": %.0f, \"swapins\": %.0f, \"readahead\": %.0f, \"writebacks\": %.0f, "
	       "\"clean_drops\": %.0f, \"reactivations\": %.0f, \"bad\": %.0f, ",
	       *first ? "" : ",", impl, threads, pass, r->n, r->pps, r->p50 / 1e3, r->p99 / 1e3,
	       r->max / 1e6, r->majflt, r->swapins, r->readahead, r->writebacks, r->clean,
	       r->react, r->bad);
	if (vs_kernel > 0)
		printf("\"vs_kernel\": %.4f}", vs_kernel);
	else
		printf("\"vs_kernel\": null}");
	*first = false;
}

static void print_json(struct bench *b)
{
	struct target t[NTARGETS];
	unsigned int n;
	bool first = true;

	printf("{\n  \"region_bytes\": %" PRIu64 ", \"budget_bytes\": %" PRIu64 ", \"pages\": %zu, "
	       "\"page_size\": %zu, \"ops\": %" PRIu64 ", \"raw_ops\": %" PRIu64 ", \"zipf_s\": %.4f, "
	       "\"runs\": %u, \"handlers\": %u, \"seed\": %llu,\n",
	       b->region, b->budget, b->pages, b->page, b->ops, b->raw_ops, b->zipf_s, b->runs,
	       b->handlers, (unsigned long long)RAND_SEED);
	printf("  \"aggregate\": \"median over valid runs; p50/p99 from the median-throughput run; "
	       "max over runs\",\n");
	if (b->kernel_skip[0])
		printf("  \"kernel_skipped\": \"%s\",\n", b->kernel_skip);
	else
		printf("  \"kernel_skipped\": null, \"kernel_overhead_bytes\": %.0f, "
		       "\"kernel_peak_bytes\": %.0f,\n",
		       median_u64(b->k_overhead, MAX_THREADS * b->runs),
		       median_u64(b->k_peak, MAX_THREADS * b->runs));
	printf("  \"data_error\": %s,\n  \"rows\": [", b->data_error ? "true" : "false");
	for (unsigned int threads = 1; threads <= MAX_THREADS; threads++) {
		struct row r, k;

		if (!b->threads_sel[threads - 1])
			continue;
		for (int pass = 0; pass < NPASS; pass++) {
			for (int impl = 0; impl < NIMPL; impl++) {
				row_get(b, impl, threads, pass, &r);
				row_get(b, IMPL_KERNEL, threads, pass, &k);
				if (r.valid)
					print_json_row(b, impl_name[impl], threads, pass_name[pass], &r,
						       impl == IMPL_UPAGER && k.valid ?
						       bench_ratio(r.pps, k.pps) : 0, &first);
			}
		}
		raw_row(b, threads, &r);
		if (r.valid)
			print_json_row(b, "raw", threads, "raw-read", &r, 0, &first);
	}
	printf("\n  ],\n  \"targets\": [");
	n = targets_get(b, t);
	for (unsigned int i = 0; i < n; i++) {
		printf("%s\n    {\"what\": \"%s\", ", i ? "," : "", t[i].what);
		if (t[i].measured)
			printf("\"value\": %.4f, \"bound\": %.4f, \"at_most\": %s, \"met\": %s}",
			       t[i].value, t[i].bound, t[i].at_most ? "true" : "false",
			       target_met(&t[i]) ? "true" : "false");
		else
			printf("\"value\": null, \"bound\": null, \"at_most\": %s, \"met\": null}",
			       t[i].at_most ? "true" : "false");
	}
	printf("\n  ]\n}\n");
}

/* ---- command line -------------------------------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
		"Out-of-core paging: upager (frame budget, io_uring swap store) against the kernel\n"
		"(swapfile + cgroup v1 memory limit), with raw io_uring 4 KiB reads as the floor.\n"
		"Needs root for the kernel part (swapon, cgroups); without it, that part is skipped.\n\n"
		"  --region SIZE      region size (default 2G)\n"
		"  --budget SIZE      frame budget = cgroup memory limit (default 512M)\n"
		"  --ops N            rand/zipf reads per pass, over all threads (default pages/2)\n"
		"  --raw-ops N        raw device reads per measurement (default min(ops, %u))\n"
		"  --zipf-s S         Zipf exponent (default %.2f)\n"
		"  --threads 1|2|both worker threads (default both)\n"
		"  --runs N           runs, medians reported (default %u)\n"
		"  --handlers N       upager handler threads (default: the library's)\n"
		"  --dir DIR          upager swap store and raw file (default /var/tmp)\n"
		"  --swapfile PATH    the kernel's swapfile (default " KSWAP_PATH ")\n"
		"  --no-kernel        skip the kernel part\n"
		"  --quick            region 64M, budget 16M, ops %u, runs %u (a smoke test)\n"
		"  --json             one JSON object on stdout\n"
		"  -v, --progress     say what runs, on stderr\n"
		"  -h, --help         this text\n",
		prog, RAW_OPS_MAX, DEFAULT_ZIPF_S, DEFAULT_RUNS, QUICK_OPS, QUICK_RUNS);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Bytes, or a number with K, M, G or T (optionally followed by iB or B):
 * binary multiples. */

enum { OPT_REGION = 256, OPT_BUDGET, OPT_OPS, OPT_RAW_OPS, OPT_ZIPF_S, OPT_THREADS, OPT_RUNS,
       OPT_HANDLERS, OPT_DIR, OPT_SWAPFILE, OPT_NO_KERNEL, OPT_QUICK, OPT_JSON,
       OPT_KERNEL_CHILD, OPT_RUN };

/* Returns 0 to run, 1 after --help, or -EINVAL (already explained). */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		{ "region", required_argument, NULL, OPT_REGION },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "ops", required_argument, NULL, OPT_OPS },
		{ "raw-ops", required_argument, NULL, OPT_RAW_OPS },
		{ "zipf-s", required_argument, NULL, OPT_ZIPF_S },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "handlers", required_argument, NULL, OPT_HANDLERS },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "swapfile", required_argument, NULL, OPT_SWAPFILE },
		{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "progress", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		/* Internal: the kernel child. */
		{ "kernel-child", required_argument, NULL, OPT_KERNEL_CHILD },
		{ "run", required_argument, NULL, OPT_RUN },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t region = 0, budget = 0, ops = 0, raw_ops = 0, runs = 0, v;
	bool quick = false;
	char *end;
	int c;

	b->zipf_s = DEFAULT_ZIPF_S;
	b->threads_sel[0] = b->threads_sel[1] = true;
	b->dir = "/var/tmp";
	b->kswap_path = KSWAP_PATH;
	b->child_fd = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_REGION:
			if (options_parse_size(optarg, &region) || !region)
				goto bad_value;
			break;
		case OPT_BUDGET:
			if (options_parse_size(optarg, &budget) || !budget)
				goto bad_value;
			break;
		case OPT_OPS:
			if (parse_u64(optarg, 1, MAX_OPS, &ops))
				goto bad_value;
			break;
		case OPT_RAW_OPS:
			if (parse_u64(optarg, 1, MAX_OPS, &raw_ops))
				goto bad_value;
			break;
		case OPT_ZIPF_S:
			errno = 0;
			b->zipf_s = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(b->zipf_s > 0 && b->zipf_s <= 10))
				goto bad_value;
			break;
		case OPT_THREADS:
			if (!strcmp(optarg, "both")) {
				b->threads_sel[0] = b->threads_sel[1] = true;
			} else if (!parse_u64(optarg, 1, MAX_THREADS, &v)) {
				b->threads_sel[0] = v == 1;
				b->threads_sel[1] = v == 2;
			} else {
				goto bad_value;
			}
			break;
		case OPT_RUNS:
			if (parse_u64(optarg, 1, MAX_RUNS, &runs))
				goto bad_value;
			break;
		case OPT_HANDLERS:
			if (parse_u64(optarg, 1, 64, &v))
				goto bad_value;
			b->handlers = (unsigned int)v;
			break;
		case OPT_DIR:
			b->dir = optarg;
			break;
		case OPT_SWAPFILE:
			if (optarg[0] != '/')
				goto bad_value;
			b->kswap_path = optarg;
			break;
		case OPT_NO_KERNEL:
			b->no_kernel = true;
			break;
		case OPT_QUICK:
			quick = true;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'v':
			b->progress = true;
			break;
		case OPT_KERNEL_CHILD:
			if (parse_u64(optarg, 0, INT_MAX, &v))
				goto bad_value;
			b->child_fd = (int)v;
			break;
		case OPT_RUN:
			if (parse_u64(optarg, 0, MAX_RUNS, &v))
				goto bad_value;
			b->child_run = (unsigned int)v;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			fprintf(stderr, "upager-swapbench: unknown option or missing value: %s\n",
				argv[optind - 1]);
			goto bad;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "upager-swapbench: unexpected argument: %s\n", argv[optind]);
		goto bad;
	}
	/* Explicit values win over --quick, whatever their order. */
	b->region = (region ? region : quick ? QUICK_REGION : DEFAULT_REGION) / b->page * b->page;
	b->budget = (budget ? budget : quick ? QUICK_BUDGET : DEFAULT_BUDGET) / b->page * b->page;
	b->pages = b->region / b->page;
	if (b->pages < 64 || b->pages > UINT32_MAX) {
		fprintf(stderr, "upager-swapbench: the region must hold 64 pages at least\n");
		goto bad;
	}
	if (b->budget < (256u << 10)) {
		fprintf(stderr, "upager-swapbench: the budget must be 256 KiB at least\n");
		goto bad;
	}
	if (b->budget >= b->region && b->child_fd < 0)
		fprintf(stderr, "upager-swapbench: warning: budget >= region: nothing will swap\n");
	b->ops = ops ? ops : quick ? QUICK_OPS : b->pages / 2;
	b->raw_ops = raw_ops ? raw_ops : b->ops < RAW_OPS_MAX ? b->ops : RAW_OPS_MAX;
	b->runs = (unsigned int)(runs ? runs : quick ? QUICK_RUNS : DEFAULT_RUNS);
	return 0;

bad_value:
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == c)
			fprintf(stderr, "upager-swapbench: invalid value for --%s: \"%s\"\n",
				o->name, optarg);
bad:
	fprintf(stderr, "Try '%s --help'.\n", argv[0]);
	return -EINVAL;
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
	if (!b->lat || !b->samples || !b->raw || !b->k_overhead || !b->k_peak || !b->k_failcnt)
		return -ENOMEM;
	/* Touched now, so none of its first touches lands in a pass. */
	memset(b->lat, 0, nlat * sizeof(uint64_t));
	zipf_init(&b->zipf, b->zipf_s, b->pages);
	perm_init(&b->perm, b->pages, RAND_SEED ^ 0x9e3779b97f4a7c15ull);
	return 0;
}

static void bench_free(struct bench *b)
{
	free(b->lat);
	free(b->samples);
	free(b->raw);
	free(b->k_overhead);
	free(b->k_peak);
	free(b->k_failcnt);
}

int main(int argc, char **argv)
{
	struct bench b = { .page = (size_t)sysconf(_SC_PAGESIZE) };
	int err;

	err = parse_args(argc, argv, &b);
	if (err)
		return err > 0 ? 0 : 2;
	if (b.child_fd >= 0) {
		/* The kernel child: one thread count, one run. */
		b.runs = 1;
		err = bench_alloc(&b);
		if (!err)
			err = kernel_child_main(&b);
		bench_free(&b);
		return err ? 1 : 0;
	}
	cleanup_install();
	err = bench_alloc(&b);
	if (err) {
		fprintf(stderr, "upager-swapbench: allocating buffers: %s\n", strerror(-err));
		goto out_free;
	}
	snprintf(b.store_path, sizeof(b.store_path), "%s/upager-swapbench-%d.store", b.dir,
		 (int)getpid());
	snprintf(b.raw_path, sizeof(b.raw_path), "%s/upager-swapbench-%d.raw", b.dir,
		 (int)getpid());
	kernel_setup(&b);
	if (b.kernel_skip[0])
		fprintf(stderr, "upager-swapbench: kernel part skipped: %s\n", b.kernel_skip);
	err = raw_file_create(&b);
	if (err) {
		fprintf(stderr, "upager-swapbench: creating %s: %s\n", b.raw_path, strerror(-err));
		goto out_free;
	}
	for (unsigned int run = 0; run < b.runs; run++) {
		err = run_once(&b, run);
		if (err)
			break;
	}
	kswap_teardown();
	if (b.json)
		print_json(&b);
	else
		print_table(&b);
	if (b.data_error)
		fprintf(stderr, "upager-swapbench: DATA VERIFICATION FAILED (see above)\n");
out_free:
	cleanup_run();
	bench_free(&b);
	return err || b.data_error ? 1 : 0;
}
