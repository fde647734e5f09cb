/* SPDX-License-Identifier: MIT */
/*
 * test-events.c - the program changes upager's memory itself, behind the
 * API: munmap, mremap and madvise(MADV_DONTNEED) straight to the kernel,
 * also while other threads fault. upager must follow (the region tree,
 * frames, slots), serve what the kernel would serve (zeros after a
 * discard, the pages at their new address after a move), and lose
 * nothing. Modelled on the kernel's userfaultfd selftests ("events",
 * "stress"), and checked side by side with kernel memory.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (1ul << 20)     /* 256 pages */
#define NPAGES 2048ul          /* regions 8x the budget */

static struct upager *open_pager(uint64_t budget)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = budget,
					      .swap_path = test_swap_path("events"),
					      .compress = test_compress());

	return test_open(&o);
}

static uint64_t word(size_t pg, size_t w, uint64_t gen)
{
	uint64_t x = pg * 0x9e3779b97f4a7c15ull ^ (w + 1) * 0xbf58476d1ce4e5b9ull ^ gen;

	return x ^ (x >> 29);
}

static void fill(volatile uint64_t *p, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		p[w] = word(pg, w, gen);
}

static bool holds(const volatile uint64_t *p, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		if (p[w] != word(pg, w, gen))
			return false;
	return true;
}

static bool zeros(const volatile uint64_t *p)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		if (p[w])
			return false;
	return true;
}

#define PG(m, pg) ((m) + (pg) * PAGE / 8)

/* ---- munmap ------------------------------------------------------------------- */

Test(events, program_munmap_is_followed, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	volatile uint64_t *m, *again;
	struct upager_stats before, after;
	const size_t lo = NPAGES / 4, hi = NPAGES / 2;
	void *k;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&m), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill(PG(m, pg), pg, 1);
	before = stats_now(pager);
	cr_assert_gt(before.slots_in_use, NPAGES / 2);
	/* Straight to the kernel, not through upager_unmap(). */
	cr_assert_eq(munmap((void *)PG(m, lo), (hi - lo) * PAGE), 0);
	after = stats_now(pager);
	cr_assert_eq(after.events, before.events + 1, "one munmap event applied");
	cr_assert_eq(after.regions, before.regions + 1, "the region was split in two");
	cr_assert_leq(after.slots_in_use, before.slots_in_use - (hi - lo) + 256,
		      "the unmapped pages' slots are free: %llu -> %llu",
		      (unsigned long long)before.slots_in_use,
		      (unsigned long long)after.slots_in_use);
	cr_assert_eq(upager_query(pager, (void *)PG(m, lo), PAGE, NULL), UPAGER_QUERY_NONE);
	/* The hole is free for anyone: the kernel, and upager again. */
	k = mmap((void *)PG(m, lo), PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	cr_assert_eq(k, (void *)PG(m, lo));
	cr_assert_eq(*(volatile uint64_t *)k, 0);
	munmap(k, PAGE);
	cr_assert_eq(upager_map(pager, (void *)PG(m, lo), (hi - lo) * PAGE, RW,
				UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED_NOREPLACE, (void **)&again), 0);
	cr_assert(zeros(PG(again, 3)));
	/* The rest is intact, evicted pages included. */
	for (size_t pg = 0; pg < NPAGES; pg++)
		if (pg < lo || pg >= hi)
			cr_assert(holds(PG(m, pg), pg, 1), "page %zu", pg);
	cr_assert_eq(upager_unmap(pager, (void *)m, NPAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0);
	upager_close(pager);
}

/* ---- madvise(MADV_DONTNEED) -------------------------------------------------- */

/* Discarded pages read as zeros whether they were resident, on the
 * inactive list or in swap, as on kernel memory; their slots are free. */
Test(events, program_dontneed_reads_zeros_like_the_kernel, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	volatile uint64_t *m, *k;
	const size_t ranges[][2] = { { 10, 40 }, { 500, 900 }, { NPAGES - 100, NPAGES } };
	struct upager_stats before, after;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&m), 0);
	k = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(k, MAP_FAILED);
	for (size_t pg = 0; pg < NPAGES; pg++) {
		fill(PG(m, pg), pg, 2);
		fill(PG(k, pg), pg, 2);
	}
	before = stats_now(pager);
	/* The last pages are resident, some staged, the first ones in swap. */
	for (size_t i = 0; i < 3; i++) {
		size_t n = ranges[i][1] - ranges[i][0];

		cr_assert_eq(madvise((void *)PG(m, ranges[i][0]), n * PAGE, MADV_DONTNEED), 0);
		cr_assert_eq(madvise((void *)PG(k, ranges[i][0]), n * PAGE, MADV_DONTNEED), 0);
	}
	after = stats_now(pager);
	cr_assert_geq(after.events, before.events + 3);
	cr_assert_leq(after.slots_in_use, before.slots_in_use - (30 + 400) + 64,
		      "discarded pages' slots are free: %llu -> %llu",
		      (unsigned long long)before.slots_in_use,
		      (unsigned long long)after.slots_in_use);
	for (size_t pg = 0; pg < NPAGES; pg++)
		if (memcmp((const void *)PG(m, pg), (const void *)PG(k, pg), PAGE))
			cr_assert_fail("page %zu differs from the kernel's (%s)", pg,
				       zeros(PG(m, pg)) ? "upager's is zeros" : "upager's is not zeros");
	munmap((void *)k, NPAGES * PAGE);
	upager_close(pager);
}

/* ---- mremap ------------------------------------------------------------------- */

Test(events, program_mremap_moves_pages_with_it, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	volatile uint64_t *m, *to, *other;
	void *dst;
	struct access_result r;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&m), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill(PG(m, pg), pg, 3);
	/* A place held for it (mremap replaces the holding mapping; freed
	 * first, the place could go to another thread's mmap). */
	dst = mmap(NULL, NPAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(dst, MAP_FAILED);
	to = mremap((void *)m, NPAGES * PAGE, NPAGES * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	cr_assert_eq((void *)to, dst, "mremap: %s", strerror(errno));
	cr_assert_eq(upager_query(pager, dst, NPAGES * PAGE, NULL), UPAGER_QUERY_ALL);
	cr_assert_eq(upager_query(pager, (void *)m, PAGE, NULL), UPAGER_QUERY_NONE);
	r = probe_read((volatile unsigned char *)m);
	cr_assert_eq(r.sig, SIGSEGV, "the old address is gone");
	/* Every page at its new address, resident, staged or swapped. */
	for (size_t pg = 0; pg < NPAGES; pg++)
		cr_assert(holds(PG(to, pg), pg, 3), "moved page %zu", pg);
	/* Eviction goes on working on the moved pages: another region
	 * pushes them all out and they come back. */
	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)&other), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill(PG(other, pg), pg, 4);
	for (size_t pg = 0; pg < NPAGES; pg++)
		cr_assert(holds(PG(to, pg), pg, 3), "moved page %zu after eviction", pg);
	cr_assert_eq(stats_now(pager).sigbus, 0);
	upager_close(pager);
	cr_assert_eq(probe_read((volatile unsigned char *)to).sig, SIGSEGV);
}

/* ---- racing faults -------------------------------------------------------- */

struct race {
	volatile uint64_t *m;
	atomic_bool stop;
	uint64_t seed;
	unsigned int id;
};

/* Writes whole pages of its share, generation after generation. */
static void *race_writer(void *arg)
{
	struct race *r = arg;
	uint64_t rng = r->seed;

	for (uint64_t gen = 1; !atomic_load(&r->stop); gen++)
		for (size_t i = 0; i < 256; i++) {
			size_t pg = (size_t)(rng_next(&rng) % (NPAGES / 2)) * 2 + r->id;

			fill(PG(r->m, pg), pg, 1000 + gen % 7);
		}
	return NULL;
}

/*
 * Two threads write pages while the program discards random ranges of
 * the same region behind upager's back. Afterwards every word is either
 * zero or a value some generation wrote to that very word: nothing from
 * another page, nothing stale served from swap after a discard raced it.
 */
Test(events, dontneed_racing_faults_and_eviction, .timeout = 120)
{
	struct upager *pager = open_pager(BUDGET);
	struct race r[2];
	pthread_t tid[2];
	uint64_t rng = test_seed(21);
	volatile uint64_t *m;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&m), 0);
	for (unsigned int i = 0; i < 2; i++) {
		r[i] = (struct race){ .m = m, .seed = rng + i, .id = i };
		cr_assert_eq(pthread_create(&tid[i], NULL, race_writer, &r[i]), 0);
	}
	for (int i = 0; i < 400; i++) {
		size_t pg = (size_t)(rng_next(&rng) % NPAGES), n = 1 + rng_next(&rng) % 32;

		if (pg + n > NPAGES)
			n = NPAGES - pg;
		cr_assert_eq(madvise((void *)PG(m, pg), n * PAGE, MADV_DONTNEED), 0);
		usleep(200);
	}
	for (int i = 0; i < 2; i++) {
		atomic_store(&r[i].stop, true);
		pthread_join(tid[i], NULL);
	}
	for (size_t pg = 0; pg < NPAGES; pg++)
		for (size_t w = 0; w < PAGE / 8; w++) {
			uint64_t v = PG(m, pg)[w];
			bool ok = !v;

			for (uint64_t g = 0; !ok && g < 7; g++)
				ok = v == word(pg, w, 1000 + g);
			if (!ok)
				cr_assert_fail("page %zu word %zu holds %016llx: no generation wrote it",
					       pg, w, (unsigned long long)v);
		}
	cr_assert_gt(stats_now(pager).events, 0);
	cr_assert_eq(stats_now(pager).sigbus, 0);
	upager_close(pager);
}

/* ---- random sequences, side by side with kernel memory ---------------------- */

#define MAXMAPS 6
#define MAPPAGES 96

struct twin {
	volatile unsigned char *u, *k; /* upager's and the kernel's */
	size_t pages;                  /* 0: slot unused */
};

/* A file of @pages pages of the same bytes each call, unlinked. */
static int twin_file(size_t pages)
{
	char path[64];
	unsigned char *buf = malloc(pages * PAGE);
	int fd;

	cr_assert_not_null(buf);
	for (size_t i = 0; i < pages * PAGE; i++)
		buf[i] = (unsigned char)(i * 7 + i / PAGE);
	snprintf(path, sizeof(path), "/var/tmp/upager-test-twin-%d-XXXXXX", getpid());
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(pwrite(fd, buf, pages * PAGE, 0), (ssize_t)(pages * PAGE));
	free(buf);
	return fd;
}

static void twin_write(struct twin *t, uint64_t *rng)
{
	size_t pg = (size_t)(rng_next(rng) % t->pages), off = (size_t)(rng_next(rng) % PAGE);
	unsigned char v = (unsigned char)rng_next(rng);

	t->u[pg * PAGE + off] = v;
	t->k[pg * PAGE + off] = v;
	if (rng_next(rng) % 2) {
		/* A whole page now and then, so that there is much to evict. */
		memset((void *)(t->u + pg * PAGE), v, PAGE);
		memset((void *)(t->k + pg * PAGE), v, PAGE);
	}
}

static void twins_compare(struct twin *t, const char *who, int step, uint64_t seed)
{
	for (int i = 0; i < MAXMAPS; i++)
		if (t[i].pages && memcmp((const void *)t[i].u, (const void *)t[i].k,
					 t[i].pages * PAGE))
			cr_assert_fail("%s, step %d (seed %llu): mapping %d differs from kernel memory",
				       who, step, (unsigned long long)seed, i);
}

/*
 * Map, write, fork, unmap (through upager and behind its back), mremap
 * and discard, at random, on upager memory under a small budget and on
 * kernel memory, one twin each; every byte compared after each step. A
 * forked child compares its copies, writes to them and exits; the
 * parent's must not change.
 */
Test(events, random_sequences_match_kernel_memory, .timeout = 240)
{
	uint64_t seed = test_seed(77), rng = seed;
	struct upager *pager = open_pager(256 << 10);
	struct twin t[MAXMAPS] = { 0 };

	for (int step = 0; step < 600; step++) {
		int i = (int)(rng_next(&rng) % MAXMAPS), op = (int)(rng_next(&rng) % 16);
		struct twin *w = &t[i];

		if (!w->pages) {
			/* Mostly private anonymous memory; some shared
			 * anonymous memory and shared and private mappings
			 * of a file (each side its own copy of it), which a
			 * forked child shares or copies as the kernel's do. */
			int kind = (int)(rng_next(&rng) % 8);

			w->pages = 1 + rng_next(&rng) % MAPPAGES;
			if (kind < 5) {
				cr_assert_eq(upager_map(pager, NULL, w->pages * PAGE, RW,
							UPAGER_MAP_PRIVATE, (void **)&w->u), 0);
				w->k = mmap(NULL, w->pages * PAGE, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			} else if (kind == 5) {
				cr_assert_eq(upager_map(pager, NULL, w->pages * PAGE, RW,
							UPAGER_MAP_SHARED, (void **)&w->u), 0);
				w->k = mmap(NULL, w->pages * PAGE, PROT_READ | PROT_WRITE,
					    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
			} else {
				int uf = twin_file(w->pages), kf = twin_file(w->pages);
				bool shared = kind == 6;

				cr_assert_eq(upager_map_file(pager, NULL, w->pages * PAGE, RW,
							     shared ? UPAGER_MAP_SHARED
								    : UPAGER_MAP_PRIVATE,
							     uf, 0, (void **)&w->u), 0);
				w->k = mmap(NULL, w->pages * PAGE, PROT_READ | PROT_WRITE,
					    shared ? MAP_SHARED : MAP_PRIVATE, kf, 0);
				close(uf);
				close(kf);
			}
			cr_assert_neq(w->k, MAP_FAILED);
			continue;
		}
		if (op < 8) {
			for (int n = 0; n < 16; n++)
				twin_write(w, &rng);
		} else if (op == 8 || op == 9) {
			/* Discard a part, behind upager's back or not. */
			size_t pg = rng_next(&rng) % w->pages, n = 1 + rng_next(&rng) % 8;

			if (pg + n > w->pages)
				n = w->pages - pg;
			if (op == 8)
				cr_assert_eq(madvise((void *)(w->u + pg * PAGE), n * PAGE,
						     MADV_DONTNEED), 0);
			else
				cr_assert_eq(upager_discard(pager, (void *)(w->u + pg * PAGE),
							    n * PAGE), 0);
			cr_assert_eq(madvise((void *)(w->k + pg * PAGE), n * PAGE, MADV_DONTNEED), 0);
		} else if (op == 10 || op == 11) {
			/* Unmap the tail, behind upager's back or not. */
			size_t keep = rng_next(&rng) % w->pages;

			if (op == 10)
				cr_assert_eq(munmap((void *)(w->u + keep * PAGE),
						    (w->pages - keep) * PAGE), 0);
			else
				cr_assert_eq(upager_unmap(pager, (void *)(w->u + keep * PAGE),
							  (w->pages - keep) * PAGE), 0);
			munmap((void *)(w->k + keep * PAGE), (w->pages - keep) * PAGE);
			w->pages = keep;
		} else if (op == 12) {
			/* Move it elsewhere: over a place held for it. */
			void *hold = mmap(NULL, w->pages * PAGE, PROT_NONE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *to;

			cr_assert_neq(hold, MAP_FAILED);
			to = mremap((void *)w->u, w->pages * PAGE, w->pages * PAGE,
				    MREMAP_MAYMOVE | MREMAP_FIXED, hold);
			cr_assert_eq(to, hold, "mremap: %s", strerror(errno));
			w->u = to;
		} else if (op == 13) {
			pid_t child = fork();
			int status;

			cr_assert_geq(child, 0);
			if (!child) {
				/* The child's copies are the parent's at the
				 * fork; then they part. */
				for (int j = 0; j < MAXMAPS; j++)
					if (t[j].pages && memcmp((const void *)t[j].u,
								 (const void *)t[j].k,
								 t[j].pages * PAGE))
						_exit(10 + j);
				/* Both twins: a shared one's writes are seen
				 * by the parent, on either side. */
				for (int j = 0; j < MAXMAPS; j++)
					if (t[j].pages) {
						memset((void *)t[j].u, 0x5c, t[j].pages * PAGE);
						memset((void *)t[j].k, 0x5c, t[j].pages * PAGE);
					}
				_exit(0);
			}
			cr_assert_eq(waitpid(child, &status, 0), child);
			cr_assert(WIFEXITED(status) && !WEXITSTATUS(status),
				  "step %d (seed %llu): the child's memory was wrong (status 0x%x)",
				  step, (unsigned long long)seed, status);
		} else {
			for (int n = 0; n < 4; n++)
				twin_write(w, &rng);
		}
		if (!w->pages)
			w->u = w->k = NULL;
		twins_compare(t, "parent", step, seed);
	}
	cr_assert_gt(stats_now(pager).events, 0);
	for (int i = 0; i < MAXMAPS; i++)
		if (t[i].pages)
			cr_assert_eq(upager_unmap(pager, (void *)t[i].u, t[i].pages * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0, "every slot back");
	upager_close(pager);
}

/*
 * The program moves a private file mapping back and forth while upager
 * evicts its private copies in the background (a churn thread keeps
 * reclaim busy). A copy-out that races a move leaves the page mapped,
 * write-protected, at the new address: upager takes it back at the
 * write that follows, which must neither fault forever nor lose a byte.
 */
struct churner {
	volatile uint64_t *m;
	size_t pages;
};

static void churn_round(void *arg)
{
	struct churner *c = arg;

	for (size_t pg = 0; pg < c->pages; pg++)
		c->m[pg * PAGE / 8]++;
}

Test(events, private_copies_survive_mremap_racing_eviction, .timeout = 60)
{
	const size_t pages = 64;
	struct upager *pager = open_pager(128 * PAGE);
	struct churner c = { .pages = 4 * 128 };
	int fd = twin_file(pages);
	volatile uint64_t *m;
	struct loop_thread churn;

	cr_assert_eq(upager_map_file(pager, NULL, pages * PAGE, RW, UPAGER_MAP_PRIVATE, fd, 0,
				     (void **)&m), 0);
	close(fd);
	cr_assert_eq(upager_map(pager, NULL, c.pages * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)&c.m), 0);
	loop_start(&churn, churn_round, &c);
	for (uint64_t gen = 1; gen <= 200; gen++) {
		for (size_t pg = 0; pg < pages; pg++)
			fill(PG(m, pg), pg, gen);
		for (int move = 0; move < 10; move++) {
			/* A place of its own to move to (never MAP_FIXED
			 * over a range another thread may have been given
			 * meanwhile). */
			void *to = mmap(NULL, pages * PAGE, PROT_NONE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			cr_assert_neq(to, MAP_FAILED);
			cr_assert_eq(mremap((void *)m, pages * PAGE, pages * PAGE,
					    MREMAP_MAYMOVE | MREMAP_FIXED, to), to, "mremap: %s",
				     strerror(errno));
			m = to;
		}
		for (size_t pg = 0; pg < pages; pg++) {
			uint64_t had = 0;

			if (holds(PG(m, pg), pg, gen))
				continue;
			while (had < gen && !holds(PG(m, pg), pg, had))
				had++;
			cr_assert_fail("generation %llu, page %zu: holds %s %llu", (unsigned long long)gen,
				       pg, had < gen ? "generation" : "neither, word 0 is",
				       (unsigned long long)(had < gen ? had : PG(m, pg)[0]));
		}
	}
	loop_stop(&churn);
	cr_assert_gt(stats_now(pager).writebacks, 0, "private copies were evicted");
	cr_assert_eq(stats_now(pager).sigbus, 0);
	cr_assert_eq(upager_unmap(pager, (void *)m, pages * PAGE), 0);
	upager_close(pager);
}

/* mremap growing a region in place raises no event: upager finds out
 * at the first fault in the new part, from the kernel's own view. */
Test(events, program_mremap_grows_in_place, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	volatile uint64_t *m;
	void *grown, *hold;

	/* Room after it: hold it, then free it just before growing. */
	hold = mmap(NULL, 2 * NPAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(hold, MAP_FAILED);
	munmap((char *)hold + NPAGES * PAGE, NPAGES * PAGE);
	cr_assert_eq(upager_map(pager, hold, NPAGES * PAGE, RW,
				UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED, (void **)&m), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill(PG(m, pg), pg, 5);
	grown = mremap((void *)m, NPAGES * PAGE, 2 * NPAGES * PAGE, 0);
	cr_assert_eq(grown, (void *)m, "mremap in place: %s", strerror(errno));
	for (size_t pg = NPAGES; pg < 2 * NPAGES; pg++) {
		cr_assert(zeros(PG(m, pg)), "new page %zu is zeros", pg);
		fill(PG(m, pg), pg, 6);
	}
	cr_assert_eq(upager_query(pager, (void *)m, 2 * NPAGES * PAGE, NULL), UPAGER_QUERY_ALL);
	/* The new part is paged like the old: evicted and read back. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < 2 * NPAGES; pg++)
			cr_assert(holds(PG(m, pg), pg, pg < NPAGES ? 5 : 6), "page %zu", pg);
	cr_assert_gt(stats_now(pager).writebacks, NPAGES);
	cr_assert_eq(upager_unmap(pager, (void *)m, 2 * NPAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0);
	upager_close(pager);
}

struct unmap_race {
	volatile uint64_t *m;
	atomic_int segv, bad, reads;
	uint64_t seed;
};

/* Reads random pages (most of them in swap) until the region is gone
 * under it: every read is the page's contents or a SIGSEGV, never
 * anything else. */
static void *unmap_race_reader(void *arg)
{
	struct unmap_race *u = arg;
	uint64_t rng = u->seed;

	while (atomic_load(&u->segv) < 64) {
		size_t pg = (size_t)(rng_next(&rng) % NPAGES);
		struct access_result r = probe_read((volatile unsigned char *)PG(u->m, pg));

		if (r.sig == SIGSEGV)
			atomic_fetch_add(&u->segv, 1);
		else if (r.sig || r.value != (unsigned char)word(pg, 0, 7))
			atomic_fetch_add(&u->bad, 1);
		else
			atomic_fetch_add(&u->reads, 1);
	}
	return NULL;
}

/* The program unmaps a region while another thread faults in it, swap-ins
 * in flight: those faults end as the kernel would end them (SIGSEGV once
 * the range is gone), nothing is served wrong, no slot is left behind. */
Test(events, munmap_racing_faults_in_flight, .timeout = 60)
{
	struct upager *pager = open_pager(BUDGET);
	struct unmap_race u = { .seed = test_seed(31) };
	pthread_t tid;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)&u.m), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill(PG(u.m, pg), pg, 7);
	cr_assert_eq(pthread_create(&tid, NULL, unmap_race_reader, &u), 0);
	while (atomic_load(&u.reads) < 200)
		usleep(100);
	cr_assert_eq(munmap((void *)u.m, NPAGES * PAGE), 0);
	pthread_join(tid, NULL);
	cr_assert_eq(atomic_load(&u.bad), 0, "reads that were neither the page nor SIGSEGV");
	cr_assert_eq(stats_now(pager).slots_in_use, 0, "every slot back");
	cr_assert_eq(stats_now(pager).regions, 0);
	cr_assert_eq(stats_now(pager).sigbus, 0);
	upager_close(pager);
}
