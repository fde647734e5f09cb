/* SPDX-License-Identifier: MIT */
/*
 * faults-touch.c - the faulting threads: one pass of touches over a region,
 * shared out among one or two threads, each pinned to its CPU (or free to
 * run anywhere, when the configuration says so), held at a
 * gate so they start together; each touch timed by the clock reads around
 * it, what it read checked against the pattern the kinds write, and the
 * threads' own minor and major faults counted. An io_uring touch is the
 * disk read a fault would need with nothing in front of it: the io_uring
 * baseline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "faults.h"

/* The one generation of the pages the kinds write: the file, the swap
 * and refault regions are written once. */
#define PATTERN_GEN 0x3f2bu

/* What the first and last 8 bytes of page @idx hold wherever a kind
 * writes data (the file, the swap and refault regions). */
uint64_t pattern_head(uint64_t idx)
{
	return pattern_gen_head(idx, PATTERN_GEN);
}

uint64_t pattern_tail(uint64_t idx)
{
	return pattern_gen_tail(idx, PATTERN_GEN);
}

void pattern_write(char *p, size_t page, uint64_t idx)
{
	*(volatile uint64_t *)p = pattern_head(idx);
	*(volatile uint64_t *)(p + page - 8) = pattern_tail(idx);
}

/* Fisher-Yates with a fixed seed; the modulo bias is immaterial here. */
void shuffle(uint32_t *v, size_t n, uint64_t seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(bench_splitmix64(&seed) % i);
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Holds the faulting threads until all are ready, so they start together. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;                 /* 0: wait, 1: go, -1: give up */
};

struct toucher {
	struct touch *t;
	struct gate *gate;
	pthread_t thread;
	unsigned int idx;
	size_t lo, hi, done;
	uint64_t bad, t0, t1;
	struct rusage ru0, ru1;
	struct io_uring ring;
	void *buf;
	int err;
};

static void touch_timed(struct toucher *k)
{
	const struct touch *t = k->t;
	size_t i;

	for (i = k->lo; i < k->hi; i++) {
		uint64_t idx = t->order[i], want = ~pattern_head(idx), t0, head = 0, tail = 0;
		volatile char *p = t->base + idx * t->page;

		t0 = now_ns();
		if (t->deadline && t0 >= t->deadline)
			break;
		/* The barriers keep the access between the two clock reads. */
		__asm__ volatile("" ::: "memory");
		switch (t->acc) {
		case ACC_WRITE_ONE:
			*p = 1;
			break;
		case ACC_WRITE_NEW:
			*(volatile uint64_t *)p = want;
			break;
		default:
			head = *(volatile uint64_t *)p;
			tail = *(volatile uint64_t *)(p + t->page - 8);
			break;
		}
		__asm__ volatile("" ::: "memory");
		t->lat[i] = now_ns() - t0;
		if (t->acc == ACC_READ && (head != pattern_head(idx) || tail != pattern_tail(idx)))
			k->bad++;
	}
	k->done = i - k->lo;
}

/* Zero-fill's throughput pass: no clock reads but the deadline's, every
 * 256 pages. */
static void touch_untimed(struct toucher *k)
{
	const struct touch *t = k->t;
	volatile char *mem = t->base;
	size_t i;

	for (i = k->lo; i < k->hi; i++) {
		if (t->deadline && !(i & 255) && now_ns() >= t->deadline)
			break;
		mem[(size_t)t->order[i] * t->page] = 1;
	}
	k->done = i - k->lo;
}

/* Raw device reads at queue depth 1 per thread: what a read costs
 * without anything in front of it. */
static void touch_io(struct toucher *k)
{
	const struct touch *t = k->t;
	size_t i;

	for (i = k->lo; i < k->hi && !k->err; i++) {
		uint64_t idx = t->order[i], t0;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&k->ring);
		struct io_uring_cqe *cqe;
		int ret;

		if (!sqe) {
			k->err = -EBUSY;
			break;
		}
		io_uring_prep_read(sqe, t->io_fd, k->buf, (unsigned int)t->page, idx * t->page);
		t0 = now_ns();
		if (t->deadline && t0 >= t->deadline)
			break;
		ret = io_uring_submit_and_wait(&k->ring, 1);
		if (ret >= 0)
			ret = io_uring_wait_cqe(&k->ring, &cqe);
		if (ret < 0) {
			k->err = ret;
			break;
		}
		t->lat[i] = now_ns() - t0;
		ret = cqe->res;
		io_uring_cqe_seen(&k->ring, cqe);
		if (ret != (int)t->page) {
			k->err = ret < 0 ? ret : -EIO;
			break;
		}
		if (*(const uint64_t *)k->buf != pattern_head(idx) ||
		    *(const uint64_t *)((const char *)k->buf + t->page - 8) != pattern_tail(idx))
			k->bad++;
	}
	k->done = i - k->lo;
}

static void *toucher_main(void *arg)
{
	struct toucher *k = arg;
	struct touch *t = k->t;
	bool ring = false;

	k->err = t->cpus ? unpin(pthread_self(), t->cpus) :
			   pin_cpu(pthread_self(), FAULTING_CPU + k->idx);
	if (!k->err && t->acc == ACC_IO) {
		k->err = -posix_memalign(&k->buf, 4096, t->page);
		if (!k->err)
			k->err = io_uring_queue_init(4, &k->ring, 0);
		ring = !k->err;
	}
	pthread_mutex_lock(&k->gate->lock);
	while (!k->gate->state)
		pthread_cond_wait(&k->gate->cond, &k->gate->lock);
	if (k->gate->state < 0 && !k->err)
		k->err = -ECANCELED;
	pthread_mutex_unlock(&k->gate->lock);
	getrusage(RUSAGE_THREAD, &k->ru0);
	k->t0 = now_ns();
	if (!k->err) {
		if (t->acc == ACC_IO)
			touch_io(k);
		else if (t->timed)
			touch_timed(k);
		else
			touch_untimed(k);
	}
	k->t1 = now_ns();
	getrusage(RUSAGE_THREAD, &k->ru1);
	if (ring)
		io_uring_queue_exit(&k->ring);
	free(k->buf);
	return NULL;
}

int touch_run(struct touch *t)
{
	struct toucher k[MAX_THREADS];
	struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	uint64_t t0 = UINT64_MAX, t1 = 0;
	unsigned int i, started;
	int err = 0;

	memset(k, 0, sizeof(k));
	for (started = 0; started < t->threads; started++) {
		struct toucher *kk = &k[started];

		kk->t = t;
		kk->gate = &gate;
		kk->idx = started;
		kk->lo = t->n * started / t->threads;
		kk->hi = t->n * (started + 1) / t->threads;
		err = -pthread_create(&kk->thread, NULL, toucher_main, kk);
		if (err)
			break;
	}
	pthread_mutex_lock(&gate.lock);
	gate.state = err ? -1 : 1;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	for (i = 0; i < started; i++)
		pthread_join(k[i].thread, NULL);
	t->total = 0;
	t->bad = 0;
	t->minflt = t->majflt = 0;
	t->err = err;
	for (i = 0; i < started; i++) {
		if (k[i].err && !t->err)
			t->err = k[i].err;
		if (t->timed && t->lat && k[i].done)
			memmove(t->lat + t->total, t->lat + k[i].lo, k[i].done * sizeof(*t->lat));
		t->lo[i] = k[i].lo;
		t->done[i] = k[i].done;
		t->total += k[i].done;
		t->bad += k[i].bad;
		t->minflt += (uint64_t)(k[i].ru1.ru_minflt - k[i].ru0.ru_minflt);
		t->majflt += (uint64_t)(k[i].ru1.ru_majflt - k[i].ru0.ru_majflt);
		if (k[i].t0 < t0)
			t0 = k[i].t0;
		if (k[i].t1 > t1)
			t1 = k[i].t1;
	}
	t->ns = t1 > t0 ? t1 - t0 : 1;
	return t->err;
}
