/* SPDX-License-Identifier: MIT */
/*
 * swap-work.c - the workloads of upager-bench swap: the page patterns, the
 * Zipf draw and the permutation that scatters hot pages, and the worker
 * threads that run a pass over a region (upager's, the kernel child's) or
 * read the raw file, timing every access.
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

/* ---- patterns, random numbers, Zipf ------------------------------------------ */

const char *const pass_name[NPASS + 1] = { "seq-write", "seq-read", "rand-read", "zipf-read",
					   "raw-read" };

/* No progress for this long prints a warning while the pass goes on. */
#define STALL_WARN_NS (10ull * 1000000000u)

struct worker {
	struct workload *w;
	unsigned int idx;
	pthread_t thread;
	atomic_uint_fast64_t progress;
	uint64_t bad, t_end, max_ns;
	int err;
} __attribute__((aligned(64)));

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

void zipf_init(struct zipf *z, double s, uint64_t n)
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

void perm_init(struct perm *p, uint64_t n, uint64_t seed)
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

			r = l ^ (bench_mix64(r ^ p->keys[i]) & p->mask);
			l = t;
		}
		x = (l << p->half) | r;
	} while (x >= p->n);
	return x;
}

/* ---- workers ------------------------------------------------------------------- */

/* Worker @idx on the @idx-th CPU the process may use. */
static int pin_worker(unsigned int idx)
{
	int cpu = nth_allowed_cpu(idx);

	return cpu < 0 ? cpu : pin_cpu(pthread_self(), (unsigned int)cpu);
}

static void seq_write(struct worker *k, size_t lo, size_t hi)
{
	const struct workload *w = k->w;
	uint64_t prev = now_ns();

	for (size_t i = lo; i < hi; i++) {
		volatile uint64_t *head = (volatile uint64_t *)(w->base + i * w->page);
		volatile uint64_t *tail = (volatile uint64_t *)(w->base + (i + 1) * w->page - 8);
		uint64_t t;

		*head = pattern_gen_head(i, w->gen);
		*tail = pattern_gen_tail(i, w->gen);
		t = now_ns();
		if (t - prev > k->max_ns)
			k->max_ns = t - prev;
		prev = t;
		atomic_store_explicit(&k->progress, i - lo + 1, memory_order_relaxed);
	}
}

static bool page_check(const struct workload *w, size_t i, uint64_t head, uint64_t tail)
{
	return head == pattern_gen_head(i, w->gen) && tail == pattern_gen_tail(i, w->gen);
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
	uint64_t state = bench_mix64(w->seed + k->idx + 1);

	for (uint64_t n = lo; n < hi; n++) {
		size_t i = w->pass == PASS_ZIPF_READ ?
			(size_t)perm_apply(w->perm, zipf_draw(w->zipf, &state)) :
			(size_t)(bench_splitmix64(&state) % w->pages);
		uint64_t head, tail;

		w->lat[n] = read_page_timed(w->base + i * w->page, w->page, &head, &tail);
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
	uint64_t state = bench_mix64(w->seed + k->idx + 1);

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
		if (*(const uint64_t *)buf != pattern_gen_head(i, RAW_GEN))
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

	k->err = pin_worker(k->idx);
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
	cleanup_pass = pass_name[pass];
	pthread_barrier_init(&w->start, NULL, w->threads + 1);
	for (unsigned int i = 0; i < w->threads; i++) {
		k[i].w = w;
		k[i].idx = i;
		err = -pthread_create(&k[i].thread, NULL, worker_main, &k[i]);
		if (err) {
			/* Cannot happen short of no memory: the barrier would
			 * never open, so give up loudly. */
			fprintf(stderr, "upager-bench swap: pthread_create: %s\n", strerror(-err));
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
				fprintf(stderr, "upager-bench swap: %s: progress again after %.1f s\n",
					pass_name[pass], (double)(t - last_change) / 1e9);
			last = total;
			last_change = t;
			warned = false;
		} else if (!warned && t - last_change > STALL_WARN_NS) {
			fprintf(stderr, "upager-bench swap: %s: no progress for %.0f s (%" PRIu64
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
	cleanup_pass = NULL;
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
	w->seed = bench_mix64(RAND_SEED + run);
	w->zipf = &b->zipf;
	w->perm = &b->perm;
	w->raw_fd = -1;
	w->lat = b->lat;
}
