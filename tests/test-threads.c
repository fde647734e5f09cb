/* SPDX-License-Identifier: MIT */
/*
 * test-threads.c - many threads faulting at once: on distinct pages, on the
 * same pages (the EEXIST race), under a frame budget with and without
 * eviction, and while other threads map and unmap; and
 * pagers with several handler threads opened and closed repeatedly.
 * Every byte written is verified.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define THREADS 8
#define PAGES 4096

struct storm {
	unsigned char *mem;
	size_t pages;
	pthread_barrier_t start;
	int mode; /* 0: distinct pages, 1: every thread every page */
	uint64_t seed;
};

struct worker {
	struct storm *s;
	int id;
};

static unsigned char pattern(size_t page, int id)
{
	return (unsigned char)(page * 131 + (size_t)id * 17 + 1);
}

static void *storm_worker(void *arg)
{
	struct worker *w = arg;
	struct storm *s = w->s;
	uint64_t rng = s->seed + (uint64_t)w->id;

	pthread_barrier_wait(&s->start);
	for (size_t n = 0; n < s->pages; n++) {
		/* Random order makes threads collide on pages and defeats
		 * fault-around, so most touches are real faults. */
		size_t pg = (size_t)(rng_next(&rng) % s->pages);

		if (s->mode == 0 && pg % THREADS != (size_t)w->id)
			continue;
		s->mem[pg * PAGE + (size_t)w->id] = pattern(pg, w->id);
	}
	return NULL;
}

/* Replay each thread's sequence to know which bytes it wrote, then check
 * every byte of every page: written bytes hold their pattern, the rest
 * are zero. A lost write, or a page installed over a written one, shows. */
static void verify_storm(const struct storm *s)
{
	unsigned char *wrote = calloc(s->pages * THREADS, 1);

	cr_assert_not_null(wrote);
	for (int id = 0; id < THREADS; id++) {
		uint64_t rng = s->seed + (uint64_t)id;

		for (size_t n = 0; n < s->pages; n++) {
			size_t pg = (size_t)(rng_next(&rng) % s->pages);

			if (s->mode == 0 && pg % THREADS != (size_t)id)
				continue;
			wrote[pg * THREADS + (size_t)id] = 1;
		}
	}
	for (size_t pg = 0; pg < s->pages; pg++) {
		for (size_t i = 0; i < PAGE; i++) {
			unsigned char want = i < THREADS && wrote[pg * THREADS + i]
						     ? pattern(pg, (int)i) : 0;

			if (s->mem[pg * PAGE + i] != want)
				cr_assert_fail("page %zu byte %zu: 0x%02x, expected 0x%02x", pg, i,
					       s->mem[pg * PAGE + i], want);
		}
	}
	free(wrote);
}

/* @budget: 0, or the frame budget in pages (a swap store goes with it). */
static void run_storm(int mode, unsigned int handlers, size_t budget)
{
	struct upager_options o = UPAGER_OPTS(.handler_threads = handlers,
					      .max_resident = budget * PAGE);
	struct upager_stats st = UPAGER_STATS();
	pthread_t tid[THREADS];
	struct worker w[THREADS];
	struct storm s = { .pages = PAGES, .mode = mode, .seed = test_seed(11) };
	bool evicts = budget && budget < PAGES;
	struct upager *pager;

	pager = open_mapped(&o, PAGES, (void **)&s.mem);
	pthread_barrier_init(&s.start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ &s, i };
		cr_assert_eq(pthread_create(&tid[i], NULL, storm_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);

	verify_storm(&s);
	/* A thread woken by another's fault-around may finish while a
	 * handler still serves its own, now stale, fault message, whose run
	 * is counted before the install finds the pages there and takes the
	 * count back: let those drain before comparing with the kernel. */
	for (int tries = 0; tries < 400; tries++) {
		cr_assert_eq(upager_stats_read(pager, &st), 0);
		if (evicts || st.pages_resident == resident_pages(s.mem, PAGES * PAGE))
			break;
		usleep(5000);
	}
	cr_assert_eq(st.faults_dropped, 0);
	if (!evicts) {
		/* Nothing evicted: under a budget every frame taken holds a
		 * mapped page, so a frame lost or counted twice in a race
		 * shows here. */
		cr_assert_eq(st.pages_resident, resident_pages(s.mem, PAGES * PAGE));
		cr_assert_eq(st.writebacks + st.zero_drops + st.clean_drops, 0);
	} else {
		cr_assert_leq(st.pages_resident, budget);
		cr_assert_gt(st.writebacks, 0);
		cr_assert_gt(st.swapins, 0);
	}
	cr_log_info("mode %d, %u handlers: %lu faults, %lu raced", mode, handlers,
		    (unsigned long)st.faults, (unsigned long)st.faults_raced);
	pthread_barrier_destroy(&s.start);
	upager_close(pager);
}

Test(threads, storm_on_distinct_pages, .timeout = 60)
{
	run_storm(0, 1, 0);
}

Test(threads, storm_on_the_same_pages, .timeout = 60)
{
	run_storm(1, 1, 0);
}

Test(threads, storm_with_several_handlers, .timeout = 60)
{
	run_storm(1, 4, 0);
}

/* Under a budget, zero fills take frames and install their pages without
 * the page lock (fault.c, fault_absent()): several handlers install over
 * one another's pages and race for the same frames. */
Test(threads, storm_under_a_roomy_budget, .timeout = 60)
{
	run_storm(1, 4, 2 * PAGES);
}

/* And with eviction going on as they do: pages written, swapped out and
 * read back while other threads' zero fills run. */
Test(threads, storm_under_a_tight_budget, .timeout = 90)
{
	run_storm(1, 4, PAGES / 4);
}

struct churn {
	struct upager *pager;
	atomic_ulong rounds;
};

static void churn_round(void *arg)
{
	struct churn *c = arg;
	unsigned char *p;

	cr_assert_eq(upager_map(c->pager, NULL, 32 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	p[5 * PAGE] = 5;
	cr_assert_eq(upager_protect(c->pager, p, 8 * PAGE, UPAGER_PROT_READ), 0);
	cr_assert_eq(p[5 * PAGE], 5);
	cr_assert_eq(upager_unmap(c->pager, p + 4 * PAGE, 4 * PAGE), 0);
	cr_assert_eq(upager_unmap(c->pager, p, 32 * PAGE), 0);
	atomic_fetch_add(&c->rounds, 1);
}

static void wait_for_rounds(struct churn *c, unsigned long rounds)
{
	while (atomic_load(&c->rounds) < rounds)
		sched_yield();
}

Test(threads, faults_while_mapping_changes, .timeout = 60)
{
	struct churn c = { 0 };
	struct storm s = { .pages = PAGES, .mode = 0, .seed = test_seed(12) };
	struct loop_thread churner;
	pthread_t tid[THREADS];
	struct worker w[THREADS];

	cr_assert_eq(upager_open(NULL, &c.pager), 0);
	cr_assert_eq(upager_map(c.pager, NULL, PAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&s.mem), 0);
	pthread_barrier_init(&s.start, NULL, THREADS);
	loop_start(&churner, churn_round, &c);
	/* The storm is short: start it only once the churner is going, so
	 * the two overlap however the threads happen to be scheduled. */
	wait_for_rounds(&c, 1);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ &s, i };
		cr_assert_eq(pthread_create(&tid[i], NULL, storm_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	/* The churner still maps, protects and unmaps correctly after it. */
	wait_for_rounds(&c, atomic_load(&c.rounds) + 2);
	loop_stop(&churner);
	verify_storm(&s);
	pthread_barrier_destroy(&s.start);
	upager_close(c.pager);
}

Test(threads, open_and_close_with_many_handlers, .timeout = 60)
{
	for (unsigned int round = 0; round < 50; round++) {
		struct upager_options o = UPAGER_OPTS(.handler_threads = 1 + round % 8);
		struct upager *pager;
		unsigned char *p;

		pager = open_mapped(&o, 16, (void **)&p);
		p[round % 16 * PAGE] = 1;
		upager_close(pager);
	}
}

Test(threads, two_pagers_at_once, .timeout = 30)
{
	struct upager *a, *b;
	unsigned char *pa, *pb;

	cr_assert_eq(upager_open(NULL, &a), 0);
	cr_assert_eq(upager_open(NULL, &b), 0);
	cr_assert_eq(upager_map(a, NULL, 64 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&pa), 0);
	cr_assert_eq(upager_map(b, NULL, 64 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&pb), 0);
	memset(pa, 1, 64 * PAGE);
	memset(pb, 2, 64 * PAGE);
	cr_assert_eq(upager_unmap(a, pb, 64 * PAGE), 0, "unmapping another pager's range is a no-op");
	cr_assert_eq(pb[100], 2);
	upager_close(a);
	cr_assert_eq(pb[64 * PAGE - 1], 2);
	upager_close(b);
}

/* Scheduling policy of each of this process's threads named @comm:
 * counts them, and fails on one whose policy is not @policy. */
static unsigned int threads_with_policy(const char *comm, int policy)
{
	DIR *d = opendir("/proc/self/task");
	unsigned int n = 0;
	struct dirent *de;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char path[64], name[32] = "";
		pid_t tid = (pid_t)atoi(de->d_name);
		FILE *f;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
		f = fopen(path, "r");
		if (!f)
			continue; /* exited meanwhile */
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, comm))
			continue;
		cr_assert_eq(sched_getscheduler(tid), policy, "%s thread %d has policy %d", comm,
			     (int)tid, sched_getscheduler(tid));
		n++;
	}
	closedir(d);
	return n;
}

/* Handlers woken by a fault of another CPU's thread must not preempt the
 * program thread running there (uffd.c: batch_scheduled()); the program's
 * own threads keep their policy. */
Test(threads, handlers_do_not_preempt_program_threads, .timeout = 30)
{
	struct upager_options o = UPAGER_OPTS(.handler_threads = 3);
	struct upager *pager;
	unsigned char *p;

	pager = open_mapped(&o, 16, (void **)&p);
	p[3 * PAGE] = 7; /* served by a running handler */
	cr_assert_eq(threads_with_policy("upager-fault", SCHED_BATCH), 3);
	cr_assert_eq(sched_getscheduler(0), SCHED_OTHER);
	cr_assert_eq(p[3 * PAGE], 7);
	upager_close(pager);
}
