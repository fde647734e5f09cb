/* SPDX-License-Identifier: MIT */
/*
 * test-store-io.c - the swap store's I/O against a real file system:
 * byte-exact round trips through io_uring with coalescing, checksums that
 * catch data changed behind the store's back, I/O errors that fail only
 * their pages, hole punching measured with fstat(2), tmpfs and the
 * buffered fallback, and several threads sharing one store.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "store-helpers.h"
#include "store/store.h"

/* ---- helpers ------------------------------------------------------------ */

static void shuffle(unsigned int *a, unsigned int n, uint64_t *rng)
{
	for (unsigned int i = n - 1; i > 0; i--) {
		unsigned int j = (unsigned int)(rng_next(rng) % (i + 1));
		unsigned int t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* A descriptor of the store file of our own: buffered, whatever the
 * store's is (O_DIRECT refuses a one-byte write). */
static int reopen_file(struct store *s, int flags)
{
	char proc[64];
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", file_store_fd(s));
	fd = open(proc, flags | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", proc, strerror(errno));
	return fd;
}

/* ---- I/O ------------------------------------------------------------------ */

#define MANY 1000u

Test(store, many_pages_round_trip_shuffled_and_consecutive, .timeout = 60)
{
	uint64_t rng = test_seed(0x5107e), seed = rng_next(&rng);
	struct tmpdir d;
	char *p, *src = pages_new(MANY), *dst = pages_new(MANY);
	struct store *s;
	struct store_io *io;
	uint64_t slots[MANY], order[MANY];
	unsigned int perm[MANY];
	void *sp[MANY], *dp[MANY];
	int res[MANY];
	struct store_stats st;

	s = open_store_in(&d, &p, 64);
	/* A small ring: most of a batch waits for a free request. */
	cr_assert_eq(store_io_new(s, 8, &io), 0);
	cr_assert_eq(store_alloc(s, MANY, slots), (int)MANY);
	for (unsigned int i = 0; i < MANY; i++) {
		cr_assert_eq(slots[i], i, "a fresh store hands out slots in order");
		pattern_fill(src + (size_t)i * PAGE, i, seed);
		perm[i] = i;
	}

	/* Shuffled: page perm[i] to slot perm[i], in random order. */
	shuffle(perm, MANY, &rng);
	for (unsigned int i = 0; i < MANY; i++) {
		order[i] = slots[perm[i]];
		sp[i] = src + (size_t)perm[i] * PAGE;
	}
	cr_assert_eq(store_write(io, order, sp, MANY), 0);
	st = stats_of(s);
	cr_assert_eq(st.pages_written, MANY);
	cr_assert_gt(st.write_ios, MANY * 9 / 10, "random order leaves little to coalesce");
	/* Read back in another random order. */
	shuffle(perm, MANY, &rng);
	for (unsigned int i = 0; i < MANY; i++) {
		order[i] = slots[perm[i]];
		dp[i] = dst + (size_t)perm[i] * PAGE;
	}
	memset(res, 0x55, sizeof(res));
	cr_assert_eq(store_read(io, order, dp, MANY, res), 0);
	for (unsigned int i = 0; i < MANY; i++)
		cr_assert_eq(res[i], 0, "page %u: %d", i, res[i]);
	cr_assert_eq(memcmp(src, dst, (size_t)MANY * PAGE), 0);

	/* Consecutive: new contents, one buffer, slots in order. */
	pages_patterned(src, dst, sp, dp, MANY, seed + 1);
	memset(dst, 0, (size_t)MANY * PAGE);
	st = stats_of(s);
	cr_assert_eq(store_write(io, slots, sp, MANY), 0);
	cr_assert_eq(stats_of(s).write_ios - st.write_ios, 1, "one run, one request");
	cr_assert_eq(store_read(io, slots, dp, MANY, res), 0);
	cr_assert_eq(stats_of(s).read_ios - st.read_ios, 1);
	cr_assert_eq(memcmp(src, dst, (size_t)MANY * PAGE), 0);

	/* Consecutive slots from scattered buffers coalesce too: one
	 * vectored request. */
	for (unsigned int i = 0; i < MANY; i++) {
		unsigned int b = (i / 4) * 4, buf = (MANY / 4 - 1 - i / 4) * 4 + (i - b);

		dp[i] = dst + (size_t)buf * PAGE;
	}
	memset(dst, 0, (size_t)MANY * PAGE);
	st = stats_of(s);
	cr_assert_eq(store_read(io, slots, dp, MANY, res), 0);
	cr_assert_eq(stats_of(s).read_ios - st.read_ios, 1);
	for (unsigned int i = 0; i < MANY; i++)
		cr_assert_eq(memcmp(dp[i], src + (size_t)i * PAGE, PAGE), 0, "page %u", i);

	st = stats_of(s);
	cr_assert_eq(st.pages_written, 2 * MANY);
	cr_assert_eq(st.pages_read, 3 * MANY);
	cr_assert_eq(st.checksum_failures, 0);
	cr_assert_eq(st.io_errors, 0);
	cr_assert_eq(stats_of(s).slots_in_use, MANY);
	cr_assert_eq(store_write_hist(s)->count, 2);
	cr_assert_eq(store_read_hist(s)->count, 3);
	cr_assert_gt(hist_percentile(store_read_hist(s), 500), 0);
	store_io_free(io);
	store_close(s);
	pages_free(src, MANY);
	pages_free(dst, MANY);
	free(p);
	tmpdir_remove(&d);
}

Test(store, batches_larger_than_a_chunk, .timeout = 60)
{
	struct tmpdir d;
	char *p;
	struct store *s;

	s = open_store_in(&d, &p, 64);
	round_trip(s, 3000, 11);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	close_store_in(s, p, &d);
}

Test(store, checksums_catch_changed_data, .timeout = 20)
{
	enum { N = 8, BAD = 3 };
	struct tmpdir d;
	char *p, *src = pages_new(N), *dst = pages_new(N);
	struct store *s;
	struct store_io *io;
	uint64_t slots[N], spare;
	void *sp[N], *dp[N];
	int res[N], fd;
	upager_log_fn old = upager_set_log(capture_log);

	s = open_store_in(&d, &p, 1);
	cr_assert_eq(store_io_new(s, 4, &io), 0);
	cr_assert_eq(store_alloc(s, N, slots), N);
	pages_patterned(src, dst, sp, dp, N, 3);
	/* Before any write a slot has no checksum: it matches nothing. */
	cr_assert_not(store_slot_matches(s, slots[0], src));
	cr_assert_eq(store_write(io, slots, sp, N), 0);
	for (unsigned int i = 0; i < N; i++)
		cr_assert(store_slot_matches(s, slots[i], sp[i]));
	cr_assert_not(store_slot_matches(s, slots[0], sp[1]));

	/* One byte of one slot changed on disk, behind the store's back.
	 * With O_DIRECT the store reads around the page cache, so the change
	 * must reach the disk and leave no cached copy. */
	fd = reopen_file(s, O_RDWR);
	cr_assert_eq(pwrite(fd, "\xff", 1, (off_t)file_store_slot_offset(s, slots[BAD]) + 100), 1);
	cr_assert_eq(fdatasync(fd), 0);
	cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);

	cr_assert_eq(store_read(io, slots, dp, N, res), -EBADMSG);
	for (unsigned int i = 0; i < N; i++) {
		cr_assert_eq(res[i], i == BAD ? -EBADMSG : 0, "slot %u: %d", i, res[i]);
		if (i != BAD)
			cr_assert_eq(memcmp(dp[i], sp[i], PAGE), 0);
	}
	cr_assert_eq(stats_of(s).checksum_failures, 1);
	cr_assert_eq(stats_of(s).io_errors, 0);
	cr_assert_geq(atomic_load(&log_errors), 1, "a checksum failure is reported");

	/* The in-memory page still matches; one changed byte does not. */
	cr_assert(store_slot_matches(s, slots[5], sp[5]));
	src[5 * PAGE + 4095] ^= 1;
	cr_assert_not(store_slot_matches(s, slots[5], sp[5]));

	/* Rewriting the slot heals it. */
	cr_assert_eq(store_write(io, &slots[BAD], &sp[BAD], 1), 0);
	cr_assert_eq(store_read(io, &slots[BAD], &dp[BAD], 1, res), 0);
	cr_assert_eq(memcmp(dp[BAD], sp[BAD], PAGE), 0);

	/* A slot never written, and a freed one, cannot be verified. */
	cr_assert_eq(store_alloc(s, 1, &spare), 1);
	cr_assert_eq(store_read(io, &spare, dp, 1, res), -EBADMSG);
	store_put(s, slots[0]);
	cr_assert_not(store_slot_matches(s, slots[0], sp[0]));
	cr_assert_eq(store_read(io, &slots[0], dp, 1, res), -EBADMSG);
	cr_assert_eq(stats_of(s).checksum_failures, 3);

	store_io_free(io);
	store_close(s);
	upager_set_log(old);
	pages_free(src, N);
	pages_free(dst, N);
	free(p);
	tmpdir_remove(&d);
}

/*
 * I/O errors fail only the pages they touch: a file cut short behind the
 * store's back answers a short read (the store goes on from there) and
 * then end of file; a misaligned buffer is refused by O_DIRECT.
 */
Test(store, io_errors_fail_only_their_pages, .timeout = 20)
{
	enum { N = 6 };
	struct tmpdir d;
	char *p, *src = pages_new(N + 1), *dst = pages_new(N + 1);
	struct store *s;
	struct store_io *io;
	uint64_t slots[N];
	void *sp[N], *dp[N];
	int res[N];
	struct store_stats st;
	upager_log_fn old = upager_set_log(capture_log);

	s = open_store_in(&d, &p, 1);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(store_alloc(s, N, slots), N);
	pages_patterned(src, dst, sp, dp, N, 9);
	cr_assert_eq(store_write(io, slots, sp, N), 0);

	if (stats_of(s).direct_io) {
		/* Page 4 from a buffer O_DIRECT cannot use: only its slot's
		 * checksum is left invalid. */
		void *moved = src + N * PAGE + 1;

		memcpy(moved, sp[4], PAGE - 1);
		cr_assert_eq(store_write(io, &slots[4], &moved, 1), -EIO);
		cr_assert_not(store_slot_matches(s, slots[4], sp[4]));
		cr_assert(store_slot_matches(s, slots[3], sp[3]));
		cr_assert_eq(stats_of(s).io_errors, 1);
		cr_assert(strstr(last_error, "slot 4"), "context in the log: %s", last_error);
		cr_assert_eq(store_write(io, &slots[4], &sp[4], 1), 0);
	}

	/* Cut the file in the middle of slot 2. */
	cr_assert_eq(ftruncate(file_store_fd(s), (off_t)file_store_slot_offset(s, slots[2]) + 100), 0);
	st = stats_of(s);
	cr_assert_eq(store_read(io, slots, dp, N, res), -EIO);
	for (unsigned int i = 0; i < N; i++)
		cr_assert_eq(res[i], i < 2 ? 0 : -EIO, "page %u: %d", i, res[i]);
	cr_assert_eq(memcmp(dst, src, 2 * PAGE), 0);
	cr_assert_eq(stats_of(s).io_errors - st.io_errors, N - 2);
	cr_assert_eq(stats_of(s).read_ios - st.read_ios, 1);
	cr_assert_eq(stats_of(s).checksum_failures, 0);

	store_io_free(io);
	store_close(s);
	upager_set_log(old);
	pages_free(src, N + 1);
	pages_free(dst, N + 1);
	free(p);
	tmpdir_remove(&d);
}

Test(store, freed_clusters_return_their_space, .timeout = 60)
{
	enum { CLUSTERS = 16, N = CLUSTERS * CLUSTER };
	struct tmpdir d;
	char *p, *src = pages_new(N);
	struct store *s;
	struct store_io *io;
	uint64_t *slots = calloc(N, sizeof(*slots));
	void **sp = calloc(N, sizeof(*sp));
	uint64_t full, partly, empty;
	struct store_stats st;

	s = open_store_in(&d, &p, CLUSTERS);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(store_alloc(s, N, slots), N);
	pages_patterned(src, NULL, sp, NULL, N, 5);
	cr_assert_eq(store_write(io, slots, sp, N), 0);
	if (!stats_of(s).direct_io)
		fdatasync(file_store_fd(s));
	full = blocks_of(s);
	cr_assert_geq(full * 512, (uint64_t)N * PAGE * 9 / 10, "%" PRIu64 " blocks", full);

	/* All but one slot per cluster: nothing can be punched. */
	for (unsigned int i = 0; i < N; i++)
		if (i % CLUSTER)
			store_put(s, slots[i]);
	partly = blocks_of(s);
	cr_assert_eq(stats_of(s).clusters_punched, 0);
	cr_assert_geq(partly, full * 9 / 10);
	/* The last slot of each cluster. */
	for (unsigned int i = 0; i < N; i += CLUSTER)
		store_put(s, slots[i]);
	empty = blocks_of(s);
	st = stats_of(s);
	cr_log_info("blocks: full %" PRIu64 ", partly %" PRIu64 ", empty %" PRIu64
		    "; %" PRIu64 " clusters punched",
		    full, partly, empty, st.clusters_punched);
	cr_assert_eq(st.slots_in_use, 0);
	cr_assert_geq(st.clusters_punched, CLUSTERS - 1);
	cr_assert_lt(empty * 512, 2 * CLUSTER_BYTES, "%" PRIu64 " blocks left", empty);

	/* Punched clusters are allocated and written again as usual. */
	round_trip(s, N, 6);
	store_io_free(io);
	store_close(s);
	pages_free(src, N);
	free(sp);
	free(slots);
	free(p);
	tmpdir_remove(&d);
}

Test(store, tmpfs_store_works, .timeout = 30)
{
	struct tmpdir d;
	char *p;
	struct store *s;

	if (access("/dev/shm", W_OK))
		cr_skip_test("/dev/shm is not writable here");
	tmpdir_new(&d, "/dev/shm");
	p = path_in(&d, "swap");
	s = open_store(p, 8);
	/* tmpfs accepts O_DIRECT since Linux 6.6; older kernels refuse it. */
	cr_log_info("tmpfs store: direct_io %d", stats_of(s).direct_io);
	round_trip(s, 300, 13);
	cr_assert_geq(stats_of(s).clusters_punched, 1, "tmpfs punches holes");
	close_store_in(s, p, &d);
}

/*
 * ramfs has neither O_DIRECT nor hole punching: the store falls back to
 * buffered I/O and keeps its freed space. The mount is made in a mount
 * namespace of this test's own process, so it vanishes with it.
 */
Test(store, buffered_fallback_without_o_direct, .timeout = 30)
{
	struct tmpdir d;
	char *p, *q;
	struct store_config cfg = { .capacity = 4 * CLUSTER_BYTES, .preallocate = true };
	struct store *s = NULL;
	struct stat st;
	upager_log_fn old;

	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		cr_skip_test("no private mount namespace: %s", strerror(errno));
	tmpdir_new(&d, "/var/tmp");
	if (mount("ramfs", d.path, "ramfs", 0, "mode=0700")) {
		int err = errno;

		tmpdir_remove(&d);
		cr_skip_test("cannot mount ramfs: %s", strerror(err));
	}
	p = path_in(&d, "swap");
	q = path_in(&d, "prealloc");

	old = upager_set_log(capture_log);
	cfg.path = q;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), -EOPNOTSUPP, "preallocation failure is an error");
	cr_assert_eq(access(q, F_OK), -1);

	s = open_store(p, 4);
	cr_assert_not(stats_of(s).direct_io, "ramfs has no O_DIRECT");
	st = fstat_of(s);
	cr_assert_eq(st.st_mode & 07777, 0600);
	round_trip(s, 4 * CLUSTER, 17);
	round_trip(s, 100, 18);
	cr_assert_eq(stats_of(s).clusters_punched, 0);
	cr_assert_eq(atomic_load(&log_warnings), 1, "punching unsupported: warned once");
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	store_close(s);
	upager_set_log(old);
	free(p);
	free(q);
	umount2(d.path, MNT_DETACH);
	tmpdir_remove(&d);
}

/* ---- threads -------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS 150

struct worker {
	struct store *s;
	unsigned int id;
	uint64_t seed;
	unsigned int pages_moved;
	char failure[160];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	char *src = pages_new(MAX_BATCH), *dst = pages_new(MAX_BATCH);
	struct store_io *io;
	uint64_t rng = w->seed, slots[MAX_BATCH];
	void *sp[MAX_BATCH], *dp[MAX_BATCH];
	int res[MAX_BATCH], err;

	err = store_io_new(w->s, 16, &io);
	if (err) {
		snprintf(w->failure, sizeof(w->failure), "store_io_new: %d", err);
		return NULL;
	}
	for (unsigned int r = 0; r < ROUNDS && !w->failure[0]; r++) {
		unsigned int want = 1 + (unsigned int)(rng_next(&rng) % MAX_BATCH);
		int n = store_alloc(w->s, want, slots);

		if (n < 0) {
			sched_yield(); /* the others hold everything for a moment */
			continue;
		}
		for (int i = 0; i < n; i++) {
			/* Alternate between one buffer (coalescing) and scattered ones. */
			unsigned int b = r % 2 ? (unsigned int)i : (unsigned int)(n - 1 - i);

			sp[i] = src + (size_t)b * PAGE;
			dp[i] = dst + (size_t)b * PAGE;
			pattern_fill(sp[i], ((uint64_t)w->id << 32) | r << 8 | (unsigned int)i, w->seed);
		}
		memset(dst, 0, MAX_BATCH * PAGE);
		if ((err = store_write(io, slots, sp, (unsigned int)n)) != 0) {
			snprintf(w->failure, sizeof(w->failure), "round %u: write: %d", r, err);
		} else if ((err = store_read(io, slots, dp, (unsigned int)n, res)) != 0) {
			snprintf(w->failure, sizeof(w->failure), "round %u: read: %d", r, err);
		} else {
			for (int i = 0; i < n; i++) {
				if (memcmp(sp[i], dp[i], PAGE) || !store_slot_matches(w->s, slots[i], sp[i]))
					snprintf(w->failure, sizeof(w->failure),
						 "round %u: slot %" PRIu64 " differs", r, slots[i]);
			}
		}
		w->pages_moved += (unsigned int)n;
		for (int i = 0; i < n; i++)
			store_put(w->s, slots[i]);
	}
	store_io_free(io);
	pages_free(src, MAX_BATCH);
	pages_free(dst, MAX_BATCH);
	return NULL;
}

Test(store, threads_share_one_store, .timeout = 90)
{
	uint64_t seed = test_seed(0x7e4d);
	struct tmpdir d;
	char *p;
	struct store *s;
	pthread_t tid[THREADS];
	struct worker w[THREADS];
	struct store_stats st;
	unsigned int moved = 0;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	/* One cluster: the threads meet in it, and at -ENOSPC. */
	s = open_store(p, 1);
	for (unsigned int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .s = s, .id = i, .seed = seed + i };
		cr_assert_eq(pthread_create(&tid[i], NULL, worker_run, &w[i]), 0);
	}
	for (unsigned int i = 0; i < THREADS; i++) {
		pthread_join(tid[i], NULL);
		cr_expect_eq(w[i].failure[0], 0, "thread %u: %s", i, w[i].failure);
		moved += w[i].pages_moved;
	}
	st = stats_of(s);
	cr_assert_eq(st.slots_in_use, 0);
	cr_assert_eq(st.pages_written, moved);
	cr_assert_eq(st.pages_read, moved);
	cr_assert_eq(st.checksum_failures, 0);
	cr_assert_eq(st.io_errors, 0);
	cr_assert_leq(st.slots_peak, CLUSTER);
	cr_log_info("%u pages moved, peak %" PRIu64 " slots, %" PRIu64 " clusters punched",
		    moved, st.slots_peak, st.clusters_punched);
	close_store_in(s, p, &d);
}
