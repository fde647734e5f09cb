/* SPDX-License-Identifier: MIT */
/*
 * test-store-batch.c - how the swap store submits a batch: every request
 * of a batch in one io_uring_enter() (one doorbell), slots consecutive on
 * disk merged into one (vectored) request whatever their buffers, every
 * byte right, and a short or failed transfer inside a batch failing
 * exactly the pages it covered. Counted with the store's submission
 * counters (write_submits, read_sqes, ...).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "store-helpers.h"
#include "store/store.h"

#define N 64u

/* Page i of a batch in buffer page perm(i) of N: consecutive slots,
 * never consecutive buffers. */
static unsigned int scattered(unsigned int i)
{
	return (i * 7 + 3) % N;
}

Test(store_batch, scattered_buffers_one_submit_one_request, .timeout = 30)
{
	struct store_env e = { 0 };
	char *src = pages_new(N), *dst = pages_new(N);
	uint64_t slots[N], odd[N / 2];
	void *sp[N], *dp[N], *osp[N / 2], *odp[N / 2];
	int res[N];
	struct store_stats st, now;

	store_env_open(&e, 4, 0);
	cr_assert_eq(store_alloc(e.s, N, slots), (int)N);
	pages_patterned(src, dst, sp, dp, N, 0xba7c);
	for (unsigned int i = 0; i < N; i++) {
		cr_assert_eq(slots[i], slots[0] + i, "a fresh store hands out slots in order");
		sp[i] = src + (size_t)scattered(i) * PAGE;
		dp[i] = dst + (size_t)scattered(N - 1 - i) * PAGE;
	}

	st = stats_of(e.s);
	cr_assert_eq(store_write(e.io, slots, sp, N), 0);
	now = stats_of(e.s);
	cr_assert_eq(now.write_submits - st.write_submits, 1, "%lu submits for %u pages",
		     (unsigned long)(now.write_submits - st.write_submits), N);
	cr_assert_eq(now.write_sqes - st.write_sqes, 1, "consecutive slots, one request: %lu",
		     (unsigned long)(now.write_sqes - st.write_sqes));
	cr_assert_eq(now.write_ios - st.write_ios, 1);
	cr_assert_eq(now.pages_written - st.pages_written, N);

	memset(dst, 0, (size_t)N * PAGE);
	memset(res, 0x55, sizeof(res));
	cr_assert_eq(store_read(e.io, slots, dp, N, res), 0);
	now = stats_of(e.s);
	cr_assert_eq(now.read_submits - st.read_submits, 1);
	cr_assert_eq(now.read_sqes - st.read_sqes, 1);
	cr_assert_eq(now.read_ios - st.read_ios, 1);
	for (unsigned int i = 0; i < N; i++) {
		cr_assert_eq(res[i], 0, "page %u: %d", i, res[i]);
		cr_assert_eq(memcmp(dp[i], sp[i], PAGE), 0, "page %u", i);
	}

	/* Every other slot (no two consecutive on disk): a request each,
	 * all submitted together. */
	for (unsigned int i = 0; i < N / 2; i++) {
		odd[i] = slots[2 * i + 1];
		osp[i] = src + (size_t)i * PAGE;
		odp[i] = dst + (size_t)i * PAGE;
		pattern_fill(osp[i], 1000 + i, 0xba7c);
	}
	st = stats_of(e.s);
	cr_assert_eq(store_write(e.io, odd, osp, N / 2), 0);
	memset(dst, 0, (size_t)N * PAGE);
	cr_assert_eq(store_read(e.io, odd, odp, N / 2, res), 0);
	now = stats_of(e.s);
	cr_assert_eq(now.write_submits - st.write_submits, 1);
	cr_assert_eq(now.write_sqes - st.write_sqes, N / 2);
	cr_assert_eq(now.read_submits - st.read_submits, 1);
	cr_assert_eq(now.read_sqes - st.read_sqes, N / 2);
	for (unsigned int i = 0; i < N / 2; i++) {
		cr_assert_eq(res[i], 0, "page %u: %d", i, res[i]);
		cr_assert_eq(memcmp(odp[i], osp[i], PAGE), 0, "page %u", i);
	}
	cr_assert_eq(stats_of(e.s).io_errors, 0);
	cr_assert_eq(stats_of(e.s).checksum_failures, 0);

	store_env_close(&e);
	pages_free(src, N);
	pages_free(dst, N);
}

/*
 * A vectored read cut short by the end of the file (cut behind the
 * store's back in the middle of the run's sixth page): the pages before
 * the cut are good and right, the rest of that request fail, and the
 * other request of the batch is unaffected.
 */
Test(store_batch, short_read_in_a_batch_fails_exactly_its_pages, .timeout = 30)
{
	enum { RUN = 8 };
	struct store_env e = { .capture = true };
	char *src = pages_new(RUN + 1), *dst = pages_new(RUN + 1);
	uint64_t slots[RUN + 8], batch[RUN + 1];
	void *sp[RUN + 1], *dp[RUN + 1];
	int res[RUN + 1];
	struct store_stats st, now;

	store_env_open(&e, 1, 0);
	cr_assert_eq(store_alloc(e.s, RUN + 8, slots), RUN + 8);
	/* Page 0: a slot far from the others (written before the cut, so
	 * below it); pages 1..RUN: a run of consecutive slots. */
	batch[0] = slots[0];
	for (unsigned int i = 1; i <= RUN; i++)
		batch[i] = slots[7 + i];
	pages_patterned(src, dst, sp, dp, RUN + 1, 0x5407);
	for (unsigned int i = 1; i <= RUN; i++) {
		sp[i] = src + (size_t)(RUN + 1 - i) * PAGE;
		dp[i] = dst + (size_t)(RUN + 1 - i) * PAGE;
	}
	cr_assert_eq(store_write(e.io, batch, sp, RUN + 1), 0);

	cr_assert_eq(ftruncate(file_store_fd(e.s),
			       (off_t)file_store_slot_offset(e.s, batch[6]) + 100), 0);
	st = stats_of(e.s);
	memset(res, 0x55, sizeof(res));
	cr_assert_eq(store_read(e.io, batch, dp, RUN + 1, res), -EIO);
	now = stats_of(e.s);
	for (unsigned int i = 0; i <= RUN; i++)
		cr_assert_eq(res[i], i < 6 ? 0 : -EIO, "page %u: %d", i, res[i]);
	for (unsigned int i = 0; i < 6; i++)
		cr_assert_eq(memcmp(dp[i], sp[i], PAGE), 0, "page %u", i);
	cr_assert_eq(now.io_errors - st.io_errors, RUN + 1 - 6);
	cr_assert_eq(now.read_ios - st.read_ios, 2, "the far page and the run");
	cr_assert_geq(now.read_sqes - st.read_sqes, 3, "the run's remainder resubmitted");
	cr_assert_eq(now.pages_read - st.pages_read, 6);
	cr_assert_eq(now.checksum_failures, 0);
	cr_assert(strstr(last_error, "3 page(s) failed"), "log: %s", last_error);

	store_env_close(&e);
	pages_free(src, RUN + 1);
	pages_free(dst, RUN + 1);
}

/*
 * A write batch whose second run cannot be written (O_DIRECT refuses a
 * misaligned buffer): the pages of that request, and only those, are
 * left failed (their slots never match); the first run, vectored from
 * scattered buffers in the same submit, is written and reads back right.
 */
Test(store_batch, failed_write_in_a_batch_fails_exactly_its_pages, .timeout = 30)
{
	enum { HALF = 4, M = 2 * HALF };
	struct store_env e = { .capture = true };
	char *src = pages_new(M + 2), *dst = pages_new(M);
	uint64_t slots[M + 2], batch[M];
	void *sp[M], *dp[M];
	int res[M];
	struct store_stats st, now;

	store_env_open(&e, 1, -1);
	if (!stats_of(e.s).direct_io) {
		store_env_close(&e);
		cr_skip_test("the store is not on O_DIRECT here: no misaligned buffer to refuse");
	}
	cr_assert_eq(store_io_new(e.s, 0, &e.io), 0);
	cr_assert_eq(store_alloc(e.s, M + 2, slots), M + 2);
	pages_patterned(src, dst, sp, dp, M, 0xfa11);
	for (unsigned int i = 0; i < HALF; i++) {
		batch[i] = slots[i];
		sp[i] = src + (size_t)(HALF - 1 - i) * PAGE;
		batch[HALF + i] = slots[HALF + 2 + i];
	}
	/* The second run's last page from a buffer one byte off. */
	memmove(src + (size_t)M * PAGE + 1, sp[M - 1], PAGE - 1);
	sp[M - 1] = src + (size_t)M * PAGE + 1;
	st = stats_of(e.s);
	cr_assert_eq(store_write(e.io, batch, sp, M), -EIO);
	now = stats_of(e.s);
	cr_assert_eq(now.write_submits - st.write_submits, 1);
	cr_assert_eq(now.write_ios - st.write_ios, 2);
	cr_assert_eq(now.io_errors - st.io_errors, HALF);
	cr_assert_eq(now.pages_written - st.pages_written, HALF);
	for (unsigned int i = 0; i < M; i++)
		cr_assert_eq(store_slot_matches(e.s, batch[i], sp[i]), i < HALF, "page %u", i);
	cr_assert_eq(store_read(e.io, batch, dp, HALF, res), 0);
	for (unsigned int i = 0; i < HALF; i++)
		cr_assert_eq(memcmp(dp[i], sp[i], PAGE), 0, "page %u", i);

	store_env_close(&e);
	pages_free(src, M + 2);
	pages_free(dst, M);
}
