/* SPDX-License-Identifier: MIT */
/*
 * stress.c - a plain program (no Criterion) that storms a pager with
 * faulting threads while another thread maps, protects and unmaps, then
 * verifies every byte, every other round under a frame budget so that
 * eviction and swap-in race too; the storm's region is, round by round,
 * private anonymous memory, shared anonymous memory, a shared mapping of
 * a file and a private one. It exists so ThreadSanitizer, which
 * Criterion's runner does not survive, can watch upager's threads race.
 *
 * Usage: stress [ROUNDS [SEED]]; exits 0 when every byte was right.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "upager.h"

#define PAGE 4096ul
#define PAGES 2048
#define THREADS 4
#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)

struct shared {
	struct upager *pager;
	unsigned char *mem;
	uint64_t seed;
	atomic_bool stop;
	atomic_int failures;
};

struct worker {
	struct shared *s;
	int id;
};

static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned char pattern(size_t page, int id)
{
	return (unsigned char)(page * 131 + (size_t)id * 17 + 1);
}

/* Every thread writes its own byte of random pages: same-page collisions
 * exercise the EEXIST race, random order keeps fault-around out. */
static void *fault_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = w->s->seed + (uint64_t)w->id;

	for (size_t n = 0; n < PAGES; n++) {
		size_t pg = (size_t)(rng_next(&rng) % PAGES);

		w->s->mem[pg * PAGE + (size_t)w->id] = pattern(pg, w->id);
	}
	return NULL;
}

static void fail(struct shared *s, const char *what, int err)
{
	fprintf(stderr, "stress: %s: %s\n", what, strerror(-err));
	atomic_fetch_add(&s->failures, 1);
}

static void *churn_worker(void *arg)
{
	struct shared *s = arg;
	unsigned char *p;
	int err;

	while (!atomic_load(&s->stop)) {
		err = upager_map(s->pager, NULL, 16 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p);
		if (err) {
			fail(s, "map", err);
			break;
		}
		p[3 * PAGE] = 3;
		if ((err = upager_protect(s->pager, p, 4 * PAGE, UPAGER_PROT_READ)))
			fail(s, "protect", err);
		if (p[3 * PAGE] != 3)
			fail(s, "byte lost after protect", -EIO);
		if ((err = upager_unmap(s->pager, p + 8 * PAGE, 4 * PAGE)))
			fail(s, "unmap middle", err);
		/* Behind upager's back, as programs do: the events race the
		 * storm's faults. */
		p[13 * PAGE] = 13;
		if (madvise(p + 12 * PAGE, 4 * PAGE, MADV_DONTNEED))
			fail(s, "madvise", -errno);
		if (p[13 * PAGE] != 0)
			fail(s, "a discarded page is not zeros", -EIO);
		if (munmap(p + 14 * PAGE, 2 * PAGE))
			fail(s, "munmap", -errno);
		if ((err = upager_unmap(s->pager, p, 16 * PAGE)))
			fail(s, "unmap", err);
	}
	return NULL;
}

static int verify(const struct shared *s)
{
	static unsigned char wrote[PAGES][THREADS];
	int bad = 0;

	memset(wrote, 0, sizeof(wrote));
	for (int id = 0; id < THREADS; id++) {
		uint64_t rng = s->seed + (uint64_t)id;

		for (size_t n = 0; n < PAGES; n++)
			wrote[rng_next(&rng) % PAGES][id] = 1;
	}
	for (size_t pg = 0; pg < PAGES; pg++)
		for (size_t i = 0; i < PAGE; i++) {
			unsigned char want = i < THREADS && wrote[pg][i] ? pattern(pg, (int)i) : 0;

			if (s->mem[pg * PAGE + i] != want && bad++ < 5)
				fprintf(stderr, "stress: page %zu byte %zu is 0x%02x, want 0x%02x\n",
					pg, i, s->mem[pg * PAGE + i], want);
		}
	return bad;
}

enum kind { PRIVATE_ANON, SHARED_ANON, SHARED_FILE, PRIVATE_FILE, KINDS };

static const char *const kind_name[KINDS] = {
	"private anonymous", "shared anonymous", "shared file", "private file",
};

/* The storm's region, of @kind; a file is a fresh one of zeros. */
static int map_storm(struct shared *s, enum kind kind)
{
	char path[64];
	int fd, err;

	if (kind == PRIVATE_ANON || kind == SHARED_ANON)
		return upager_map(s->pager, NULL, PAGES * PAGE, RW,
				  kind == SHARED_ANON ? UPAGER_MAP_SHARED : UPAGER_MAP_PRIVATE,
				  (void **)&s->mem);
	snprintf(path, sizeof(path), "/var/tmp/upager-stress-%d-XXXXXX", (int)getpid());
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (ftruncate(fd, PAGES * PAGE)) {
		close(fd);
		return -errno;
	}
	err = upager_map_file(s->pager, NULL, PAGES * PAGE, RW,
			      kind == SHARED_FILE ? UPAGER_MAP_SHARED : UPAGER_MAP_PRIVATE, fd, 0,
			      (void **)&s->mem);
	close(fd); /* the pager keeps its own descriptor */
	return err;
}

static int round_once(uint64_t seed, unsigned int handlers, uint64_t budget, enum kind kind)
{
	struct upager_options o = UPAGER_OPTS(.handler_threads = handlers, .max_resident = budget);
	struct shared s = { .seed = seed };
	pthread_t churn, tid[THREADS];
	struct worker w[THREADS];
	int err, bad;

	if ((err = upager_open(&o, &s.pager))) {
		fprintf(stderr, "stress: upager_open: %s\n", strerror(-err));
		return 1;
	}
	if ((err = map_storm(&s, kind))) {
		fprintf(stderr, "stress: mapping %s memory: %s\n", kind_name[kind], strerror(-err));
		upager_close(s.pager);
		return 1;
	}
	pthread_create(&churn, NULL, churn_worker, &s);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ &s, i };
		pthread_create(&tid[i], NULL, fault_worker, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(tid[i], NULL);
	atomic_store(&s.stop, true);
	pthread_join(churn, NULL);
	bad = verify(&s) + atomic_load(&s.failures);
	upager_close(s.pager);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 10;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;

	for (int r = 0; r < rounds; r++) {
		/* Every other round under a budget of an eighth of the storm's
		 * region: the threads then race eviction and swap-in too. */
		uint64_t budget = r % 2 ? PAGES * PAGE / 8 : 0;
		enum kind kind = (enum kind)(r / 2 % KINDS);

		if (round_once(seed + (uint64_t)r * 1000, 1 + (unsigned int)r % 3, budget, kind)) {
			fprintf(stderr, "stress: round %d (%s, budget %llu) failed (seed %llu)\n", r,
				kind_name[kind], (unsigned long long)budget,
				(unsigned long long)(seed + (uint64_t)r * 1000));
			return 1;
		}
	}
	printf("stress: %d rounds, every byte right\n", rounds);
	return 0;
}
