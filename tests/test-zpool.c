/* SPDX-License-Identifier: MIT */
/*
 * test-zpool.c - the compressed tier's allocator (core/zpool.h) against a
 * model: every live object keeps its bytes in a real area while others
 * come and go, no two overlap, chunks come back when emptied, and the
 * lists stay valid after every call.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/zpool.h"

#define MAX_OBJ 4096u

struct live {
	uint64_t h;
	size_t len;
	unsigned char fill;
};

static void check_valid(const struct zpool *z)
{
	const char *why = NULL;

	cr_assert_eq(zpool_validate(z, &why), 0, "zpool_validate: %s", why);
}

Test(zpool, classes_fit_and_chunks_come_back)
{
	struct zpool z;
	uint64_t h[8];

	cr_assert_eq(zpool_init(&z, 2, MAX_OBJ), 0);
	/* Four objects of the largest class fill one chunk. */
	for (int i = 0; i < 4; i++) {
		h[i] = zpool_alloc(&z, MAX_OBJ);
		cr_assert_neq(h[i], ZPOOL_NONE);
		cr_assert_eq(zpool_obj_bytes(&z, h[i]), MAX_OBJ);
	}
	cr_assert_eq(z.chunks_used, 1);
	cr_assert_eq(zpool_bytes(&z), 4 * MAX_OBJ);
	/* A small one needs a chunk of its own class: the second, the last. */
	h[4] = zpool_alloc(&z, 100);
	cr_assert_neq(h[4], ZPOOL_NONE);
	cr_assert_eq(zpool_obj_bytes(&z, h[4]), 128);
	cr_assert_eq(zpool_alloc(&z, MAX_OBJ), ZPOOL_NONE, "no chunk left for the large class");
	cr_assert_eq(zpool_alloc(&z, 0), ZPOOL_NONE);
	cr_assert_eq(zpool_alloc(&z, MAX_OBJ + 1), ZPOOL_NONE);
	check_valid(&z);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(zpool_free(&z, h[i]), UINT32_MAX);
	cr_assert_neq(zpool_free(&z, h[3]), UINT32_MAX, "the last object emptied its chunk");
	cr_assert_eq(z.chunks_used, 1);
	/* The emptied chunk serves another class now. */
	h[5] = zpool_alloc(&z, 1000);
	cr_assert_neq(h[5], ZPOOL_NONE);
	cr_assert_eq(z.chunks_used, 2);
	check_valid(&z);
	zpool_free(&z, h[4]);
	zpool_free(&z, h[5]);
	cr_assert_eq(z.chunks_used, 0);
	cr_assert_eq(z.objects, 0);
	check_valid(&z);
	zpool_destroy(&z);
}

Test(zpool, random_against_model, .timeout = 60)
{
	enum { NCHUNKS = 64, OPS = 40000, MAXLIVE = 1024 };
	unsigned int seed = 20;
	struct live *live = calloc(MAXLIVE, sizeof(*live));
	unsigned char *area;
	struct zpool z;
	size_t nlive = 0, refused = 0;

	cr_assert_eq(zpool_init(&z, NCHUNKS, MAX_OBJ), 0);
	area = calloc(NCHUNKS, z.chunk_bytes);
	cr_assert(live && area);
	srand(seed);
	for (int op = 0; op < OPS; op++) {
		bool grow = nlive < MAXLIVE && (nlive == 0 || rand() % 100 < 55);

		if (grow) {
			/* Sizes as compressed pages come: many small, some near a page. */
			size_t len = rand() % 4 ? 1 + (size_t)rand() % 2048 : 1 + (size_t)rand() % MAX_OBJ;
			uint64_t h = zpool_alloc(&z, len);
			size_t off;

			if (h == ZPOOL_NONE) {
				refused++;
				cr_assert_geq(z.chunks_used + 1, 1);
				continue;
			}
			off = zpool_offset(&z, h);
			cr_assert_geq(zpool_obj_bytes(&z, h), len, "seed %u op %d", seed, op);
			cr_assert_leq(off + len, (size_t)NCHUNKS * z.chunk_bytes);
			cr_assert_eq(off / z.chunk_bytes, (off + len - 1) / z.chunk_bytes,
				     "seed %u op %d: object crosses its chunk", seed, op);
			live[nlive] = (struct live){ h, len, (unsigned char)(1 + op % 251) };
			memset(area + off, live[nlive].fill, len);
			nlive++;
		} else {
			size_t k = (size_t)rand() % nlive;
			size_t off = zpool_offset(&z, live[k].h);

			for (size_t b = 0; b < live[k].len; b++)
				cr_assert_eq(area[off + b], live[k].fill,
					     "seed %u op %d: object %zu overwritten at byte %zu",
					     seed, op, k, b);
			zpool_free(&z, live[k].h);
			live[k] = live[--nlive];
		}
		if (op % 97 == 0)
			check_valid(&z);
		cr_assert_eq(z.objects, nlive);
	}
	cr_assert_gt(refused, 0, "the pool never filled: the test did not reach the full case");
	while (nlive)
		zpool_free(&z, live[--nlive].h);
	cr_assert_eq(z.chunks_used, 0, "every chunk came back");
	check_valid(&z);
	zpool_destroy(&z);
	free(area);
	free(live);
}
