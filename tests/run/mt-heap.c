/* SPDX-License-Identifier: MIT */
/*
 * mt-heap - a multi-threaded program that knows nothing of upager, for
 * running under upager-run: THREADS threads malloc SIZE bytes between
 * them in 1 MiB blocks, write every byte, work a while on a hot subset
 * (an eighth of each thread's blocks, read-modify-write), then verify
 * every byte. Prints a checksum of everything; exits 0 when every byte
 * was right, 1 with a message otherwise.
 *
 * usage: mt-heap SIZE THREADS [HOT_ROUNDS]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (1u << 20)
#define WORDS (BLOCK / 8)

struct worker {
	int id;
	size_t nblocks;
	unsigned rounds;
	uint64_t **blocks;
	uint64_t sum;
	size_t bad;
};

static uint64_t value(int id, size_t b, size_t w, unsigned gen)
{
	uint64_t x = ((uint64_t)id << 56) ^ ((uint64_t)b << 24) ^ w ^ ((uint64_t)gen << 40);

	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static void *work(void *arg)
{
	struct worker *wk = arg;
	size_t hot = wk->nblocks / 8 ? wk->nblocks / 8 : 1;

	wk->blocks = malloc(wk->nblocks * sizeof(*wk->blocks));
	if (!wk->blocks)
		return "malloc of the block table failed";
	for (size_t b = 0; b < wk->nblocks; b++) {
		wk->blocks[b] = malloc(BLOCK);
		if (!wk->blocks[b])
			return "malloc failed";
		for (size_t w = 0; w < WORDS; w++)
			wk->blocks[b][w] = value(wk->id, b, w, 0);
	}
	/* The hot subset: the same blocks again and again, each round
	 * moving them to the next generation of values. */
	for (unsigned r = 1; r <= wk->rounds; r++)
		for (size_t b = 0; b < hot; b++)
			for (size_t w = 0; w < WORDS; w++) {
				if (wk->blocks[b][w] != value(wk->id, b, w, r - 1))
					wk->bad++;
				wk->blocks[b][w] = value(wk->id, b, w, r);
			}
	for (size_t b = 0; b < wk->nblocks; b++) {
		unsigned gen = b < hot ? wk->rounds : 0;

		for (size_t w = 0; w < WORDS; w++) {
			uint64_t v = wk->blocks[b][w];

			wk->bad += v != value(wk->id, b, w, gen);
			wk->sum += v;
		}
		free(wk->blocks[b]);
	}
	free(wk->blocks);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long long size, threads;
	unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 4;
	struct worker *wk;
	pthread_t *th;
	uint64_t sum = 0;
	size_t bad = 0;
	char *end;

	if (argc < 3) {
		fprintf(stderr, "usage: mt-heap SIZE_MIB THREADS [HOT_ROUNDS]\n");
		return 2;
	}
	size = strtoull(argv[1], &end, 10) << 20;
	threads = strtoull(argv[2], NULL, 10);
	if (*end || !size || !threads || threads > 64) {
		fprintf(stderr, "mt-heap: bad arguments\n");
		return 2;
	}
	wk = calloc(threads, sizeof(*wk));
	th = calloc(threads, sizeof(*th));
	for (unsigned long long t = 0; t < threads; t++) {
		wk[t] = (struct worker){ .id = (int)t, .nblocks = size / BLOCK / threads,
					 .rounds = rounds };
		if (pthread_create(&th[t], NULL, work, &wk[t])) {
			fprintf(stderr, "mt-heap: pthread_create failed\n");
			return 1;
		}
	}
	for (unsigned long long t = 0; t < threads; t++) {
		void *err;

		pthread_join(th[t], &err);
		if (err) {
			fprintf(stderr, "mt-heap: thread %llu: %s\n", t, (const char *)err);
			return 1;
		}
		sum += wk[t].sum;
		bad += wk[t].bad;
	}
	printf("mt-heap: %llu MiB in %llu threads, checksum %016llx\n", size >> 20, threads,
	       (unsigned long long)sum);
	if (bad) {
		fprintf(stderr, "mt-heap: %zu words wrong\n", bad);
		return 1;
	}
	return 0;
}
