/* SPDX-License-Identifier: MIT */
/*
 * test-frames.c - the frame table's lists against a reference model.
 */
#include <criterion/criterion.h>
#include <inttypes.h>

#include "common.h"
#include "core/frames.h"

static void assert_valid(const struct frames *fr)
{
	const char *why;

	cr_assert_eq(frames_validate(fr, &why), 0, "%s", why);
}

Test(frames, take_move_release_keep_order)
{
	struct frames fr;
	uint32_t a, b, c;

	cr_assert_eq(frames_init(&fr, 3), 0);
	a = frames_take(&fr, NULL, 1, 0x1000, FRAME_ACTIVE);
	b = frames_take(&fr, NULL, 2, 0x2000, FRAME_ACTIVE);
	c = frames_take(&fr, NULL, 3, 0x3000, FRAME_ACTIVE);
	cr_assert_eq(frames_take(&fr, NULL, 4, 0x4000, FRAME_ACTIVE), FRAME_NONE, "budget of 3");
	assert_valid(&fr);
	cr_assert_eq(frames_oldest(&fr, FRAME_ACTIVE), a);
	frames_move(&fr, a, FRAME_STAGED);
	cr_assert_eq(frames_oldest(&fr, FRAME_ACTIVE), b);
	frames_move(&fr, a, FRAME_ACTIVE); /* second chance: newest again */
	cr_assert_eq(frames_next(&fr, c), a);
	frames_release(&fr, b);
	cr_assert_eq(frames_count(&fr, FRAME_FREE), 1);
	cr_assert_eq(frames_count(&fr, FRAME_ACTIVE), 2);
	assert_valid(&fr);
	frames_destroy(&fr);
}

Test(frames, random_operations_match_model)
{
	enum { N = 64 };
	uint64_t seed = test_seed(17), rng = seed;
	int model[N]; /* list of each frame, FRAME_FREE when free */
	struct frames fr;

	cr_assert_eq(frames_init(&fr, N), 0);
	for (int i = 0; i < N; i++)
		model[i] = FRAME_FREE;
	for (int step = 0; step < 20000; step++) {
		uint32_t i = (uint32_t)(rng_next(&rng) % N);
		int op = (int)(rng_next(&rng) % 3);

		if (op == 0) {
			uint32_t t = frames_take(&fr, NULL, step, 0, FRAME_ACTIVE);
			int expect_free = 0;

			for (int k = 0; k < N; k++)
				expect_free += model[k] == FRAME_FREE;
			if (t == FRAME_NONE) {
				if (expect_free)
					cr_assert_fail("seed %" PRIu64 " step %d: no frame, %d free", seed, step, expect_free);
			} else {
				if (model[t] != FRAME_FREE)
					cr_assert_fail("seed %" PRIu64 " step %d: took a used frame", seed, step);
				model[t] = FRAME_ACTIVE;
			}
		} else if (model[i] != FRAME_FREE) {
			if (op == 1) {
				int to = model[i] == FRAME_ACTIVE ? FRAME_STAGED : FRAME_ACTIVE;

				frames_move(&fr, i, (enum frame_list)to);
				model[i] = to;
			} else {
				frames_release(&fr, i);
				model[i] = FRAME_FREE;
			}
		}
		for (int k = 0; k < N; k++)
			if (fr.f[k].list != model[k])
				cr_assert_fail("seed %" PRIu64 " step %d: frame %d on list %d, model %d",
					       seed, step, k, fr.f[k].list, model[k]);
		if (step % 100 == 0)
			assert_valid(&fr);
	}
	assert_valid(&fr);
	frames_destroy(&fr);
}

Test(frames, limit_caps_frames_in_use)
{
	struct frames fr;
	uint32_t a, b;

	cr_assert_eq(frames_init(&fr, 8), 0);
	frames_set_limit(&fr, 2);
	cr_assert_eq(frames_count(&fr, FRAME_FREE), 2);
	a = frames_take(&fr, NULL, 1, 0x1000, FRAME_ACTIVE);
	b = frames_take(&fr, NULL, 2, 0x2000, FRAME_ACTIVE);
	cr_assert_neq(b, FRAME_NONE);
	cr_assert_eq(frames_take(&fr, NULL, 3, 0x3000, FRAME_ACTIVE), FRAME_NONE, "limit of 2");
	cr_assert_eq(frames_count(&fr, FRAME_FREE), 0);
	assert_valid(&fr);
	/* Lowered below the frames in use: none may be taken until the
	 * caller releases down to it. */
	frames_set_limit(&fr, 1);
	cr_assert_eq(frames_count(&fr, FRAME_FREE), 0);
	frames_release(&fr, a);
	cr_assert_eq(frames_count(&fr, FRAME_FREE), 0);
	cr_assert_eq(frames_in_use(&fr), 1);
	frames_set_limit(&fr, 0); /* clamped to 1 */
	cr_assert_eq(frames_limit(&fr), 1);
	frames_set_limit(&fr, 100); /* clamped to the budget */
	cr_assert_eq(frames_limit(&fr), 8);
	cr_assert_eq(frames_count(&fr, FRAME_FREE), 7);
	assert_valid(&fr);
	frames_destroy(&fr);
}
