/* SPDX-License-Identifier: MIT */
/*
 * test-store.c - the swap store against a real file system: file creation
 * (unlinked at once unless kept), slot allocation (clusters, next-fit,
 * reuse) and reference counts. Its I/O is tested in test-store-io.c, its
 * sharing between forked processes in test-store-fork.c.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "store-helpers.h"
#include "store/store.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t blocks_of_path(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_blocks;
}

/* ---- the file ------------------------------------------------------------- */

Test(store, open_creates_private_file, .timeout = 20)
{
	static const mode_t umasks[] = { 0, 022, 0277 };
	struct tmpdir d;

	tmpdir_new(&d, "/var/tmp");
	for (size_t i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
		char name[32];
		char *p;
		struct store *s;
		struct stat st;
		mode_t old = umask(umasks[i]);

		snprintf(name, sizeof(name), "swap-%zu", i);
		p = path_in(&d, name);
		s = open_store(p, 4);
		umask(old);
		cr_assert_str_eq(store_path(s), p);
		cr_assert_eq(access(p, F_OK), -1, "unlinked as soon as it is created");
		cr_assert_eq(errno, ENOENT);
		st = fstat_of(s);
		cr_assert(S_ISREG(st.st_mode));
		cr_assert_eq(st.st_nlink, 0);
		cr_assert_eq(st.st_mode & 07777, 0600, "umask %03o gave mode %03o",
			     (unsigned int)umasks[i], (unsigned int)(st.st_mode & 07777));
		cr_assert_eq((uint64_t)st.st_size, 4 * CLUSTER_BYTES);
		cr_assert_lt((uint64_t)st.st_blocks, 16, "sparse unless preallocated");
		cr_assert_eq(stats_of(s).capacity_slots, 4 * CLUSTER);
		cr_log_info("%s: direct_io %d", p, stats_of(s).direct_io);
		store_close(s);
		free(p);
	}
	tmpdir_remove(&d);
}

Test(store, default_path_is_unique_under_tmpdir, .timeout = 20)
{
	struct tmpdir d;
	struct store *a, *b;
	char prefix[128];
	struct stat st;

	tmpdir_new(&d, "/var/tmp");
	setenv("TMPDIR", d.path, 1);
	a = open_store(NULL, 1);
	b = open_store(NULL, 1);
	snprintf(prefix, sizeof(prefix), "%s/upager-swap-", d.path);
	cr_assert_eq(strncmp(store_path(a), prefix, strlen(prefix)), 0, "%s", store_path(a));
	cr_assert_str_neq(store_path(a), store_path(b));
	cr_assert_eq(access(store_path(a), F_OK), -1, "unlinked at open");
	cr_assert_eq(rmdir(d.path), 0, "nothing left in %s: %s", d.path, strerror(errno));
	st = fstat_of(a);
	cr_assert_eq(st.st_mode & 07777, 0600);
	/* /var/tmp is ext4 here; elsewhere it may legitimately be buffered. */
	cr_log_info("default store direct_io %d", stats_of(a).direct_io);
	store_close(a);
	store_close(b);
	unsetenv("TMPDIR");
	tmpdir_remove(&d);
}

Test(store, existing_path_is_refused, .timeout = 20)
{
	struct tmpdir d;
	char *p;
	struct store_config cfg = { .capacity = CLUSTER_BYTES };
	struct store *s = NULL;
	char buf[8] = { 0 };
	int fd;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "precious");
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "precious", 8), 8);
	close(fd);
	cfg.path = p;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), -EEXIST);
	cr_assert_null(s);
	/* Neither truncated nor removed. */
	fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read(fd, buf, sizeof(buf)), 8);
	cr_assert_eq(memcmp(buf, "precious", 8), 0);
	close(fd);
	free(p);
	tmpdir_remove(&d);
}

Test(store, capacity_is_whole_clusters, .timeout = 20)
{
	struct tmpdir d;
	char *p;
	struct store_config cfg = { 0 };
	struct store *s = NULL;
	struct stat st;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	cfg.path = p;
	cfg.capacity = CLUSTER_BYTES - 1;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), -EINVAL);
	cr_assert_eq(access(p, F_OK), -1, "a refused store leaves no file");
	cfg.capacity = 0;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), -EINVAL);
	cfg.capacity = 3 * CLUSTER_BYTES + 5 * PAGE + 17;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), 0);
	cr_assert_eq(stats_of(s).capacity_slots, 3 * CLUSTER);
	st = fstat_of(s);
	cr_assert_eq((uint64_t)st.st_size, 3 * CLUSTER_BYTES);
	close_store_in(s, p, &d);
}

Test(store, preallocate_reserves_the_space, .timeout = 20)
{
	struct tmpdir d;
	char *p;
	struct store_config cfg = { .capacity = 8 * CLUSTER_BYTES, .preallocate = true };
	struct store *s = NULL;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	cfg.path = p;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), 0);
	cr_assert_geq(blocks_of(s) * 512, 8 * CLUSTER_BYTES);
	round_trip(s, 100, 7);
	close_store_in(s, p, &d);
}

Test(store, keep_leaves_the_file, .timeout = 20)
{
	struct tmpdir d;
	char *p, *q;
	struct store_config cfg = { .capacity = CLUSTER_BYTES, .keep = true };
	struct store *s = NULL;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "kept");
	q = path_in(&d, "removed");
	cfg.path = p;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), 0);
	cr_assert_eq(access(p, F_OK), 0, "keep=true leaves the file in place");
	cr_assert_eq(fstat_of(s).st_nlink, 1);
	round_trip(s, 10, 1);
	store_close(s);
	cr_assert_eq(access(p, F_OK), 0, "...also after close");
	cr_assert_eq(blocks_of_path(p) * 512, 0, "...with the freed space punched");
	cfg.path = q;
	cfg.keep = false;
	cr_assert_eq(file_store_open(&cfg, PAGE, &s), 0);
	cr_assert_eq(access(q, F_OK), -1, "keep=false: gone at once");
	cr_assert_eq(fstat_of(s).st_nlink, 0);
	round_trip(s, 10, 2);
	store_close(s);
	cr_assert_eq(access(q, F_OK), -1);
	store_close(NULL);
	free(p);
	free(q);
	tmpdir_remove(&d);
}

/* ---- slots ---------------------------------------------------------------- */

Test(store, allocation_is_consecutive_then_next_fit, .timeout = 20)
{
	struct store_env e = { 0 };
	uint64_t got[CLUSTER * 2];

	store_env_open(&e, 4, -1);

	cr_assert_eq(store_alloc(e.s, 10, got), 10);
	for (unsigned int i = 0; i < 10; i++)
		cr_assert_eq(got[i], i);
	cr_assert_eq(store_alloc(e.s, 1, got), 1);
	cr_assert_eq(got[0], 10);
	/* A slot freed behind the cursor is not taken before the cluster's
	 * later slots... */
	store_put(e.s, 3);
	cr_assert_eq(store_alloc(e.s, 1, got), 1);
	cr_assert_eq(got[0], 11);
	cr_assert_eq(store_alloc(e.s, CLUSTER - 12, got), (int)(CLUSTER - 12));
	for (unsigned int i = 0; i < CLUSTER - 12; i++)
		cr_assert_eq(got[i], 12 + i);
	/* ...but before the cluster is left. */
	cr_assert_eq(store_alloc(e.s, 2, got), 2);
	cr_assert_eq(got[0], 3);
	cr_assert_eq(got[1], CLUSTER, "cluster 0 full: on to cluster 1");

	/* Fill cluster 1, free all of cluster 0: the next cluster is still
	 * the one after the last (next-fit), not the first free one. */
	cr_assert_eq(store_alloc(e.s, CLUSTER - 1, got), (int)(CLUSTER - 1));
	for (unsigned int i = 0; i < CLUSTER; i++)
		store_put(e.s, i);
	cr_assert_eq(store_alloc(e.s, 1, got), 1);
	cr_assert_eq(got[0], 2 * CLUSTER);

	/* Cluster 1 gets one hole; cluster 3 and 0 are wholly free: filling
	 * cluster 2 moves on to a wholly free one, not into the hole. */
	store_put(e.s, CLUSTER + 5);
	cr_assert_eq(store_alloc(e.s, CLUSTER, got), (int)CLUSTER);
	cr_assert_eq(got[CLUSTER - 2], 3 * CLUSTER - 1);
	cr_assert_eq(got[CLUSTER - 1], 3 * CLUSTER, "wholly free cluster 3, not the hole");
	cr_assert_eq(store_alloc(e.s, CLUSTER - 1, got), (int)(CLUSTER - 1));
	cr_assert_eq(store_alloc(e.s, 1, got), 1);
	cr_assert_eq(got[0], 0, "then cluster 0 (wrapping), still wholly free");
	cr_assert_eq(store_alloc(e.s, CLUSTER - 1, got), (int)(CLUSTER - 1));
	cr_assert_eq(store_alloc(e.s, 2, got), 1, "only the hole is left");
	cr_assert_eq(got[0], CLUSTER + 5);
	cr_assert_eq(store_alloc(e.s, 1, got), -ENOSPC);
	cr_assert_eq(stats_of(e.s).slots_in_use, 4 * CLUSTER);
	store_env_close(&e);
}

Test(store, full_store_then_reuse, .timeout = 20)
{
	struct store_env e = { 0 };
	uint64_t got[2 * CLUSTER];
	struct store_stats st;

	store_env_open(&e, 1, -1);
	cr_assert_eq(store_alloc(e.s, 2 * CLUSTER, got), (int)CLUSTER, "up to n: what is free");
	cr_assert_eq(store_alloc(e.s, 1, got), -ENOSPC);
	store_put(e.s, 7);
	store_put(e.s, 40);
	cr_assert_eq(store_alloc(e.s, 5, got), 2);
	cr_assert_eq(got[0], 7);
	cr_assert_eq(got[1], 40);
	cr_assert_eq(store_alloc(e.s, 1, got), -ENOSPC);
	st = stats_of(e.s);
	cr_assert_eq(st.slots_in_use, CLUSTER);
	cr_assert_eq(st.slots_peak, CLUSTER);
	for (uint64_t i = 0; i < CLUSTER; i++)
		store_put(e.s, i);
	st = stats_of(e.s);
	cr_assert_eq(st.slots_in_use, 0);
	cr_assert_eq(st.slots_peak, CLUSTER);
	cr_assert_eq(store_alloc(e.s, CLUSTER, got), (int)CLUSTER, "everything is free again");
	store_env_close(&e);
}

Test(store, reference_counts, .timeout = 20)
{
	struct store_env e = { .capture = true };
	uint64_t slot, other;

	store_env_open(&e, 2, -1);
	cr_assert_eq(store_alloc(e.s, 1, &slot), 1);
	cr_assert_eq(store_refcount(e.s, slot), 1);
	store_get(e.s, slot);
	store_get(e.s, slot);
	cr_assert_eq(store_refcount(e.s, slot), 3);
	store_put(e.s, slot);
	store_put(e.s, slot);
	cr_assert_eq(store_refcount(e.s, slot), 1);
	cr_assert_eq(stats_of(e.s).slots_in_use, 1, "still held");
	cr_assert_eq(store_alloc(e.s, 1, &other), 1);
	cr_assert_neq(other, slot);
	store_put(e.s, slot);
	cr_assert_eq(store_refcount(e.s, slot), 0);
	cr_assert_eq(stats_of(e.s).slots_in_use, 1);
	cr_assert_eq(atomic_load(&log_errors), 0);

	/* Callers' bugs: logged, and nothing changes. */
	store_put(e.s, slot);
	cr_assert_eq(atomic_load(&log_errors), 1);
	cr_assert(strstr(last_error, "free slot"), "%s", last_error);
	store_get(e.s, slot);
	cr_assert_eq(atomic_load(&log_errors), 2);
	cr_assert_eq(store_refcount(e.s, slot), 0);
	store_get(e.s, 2 * CLUSTER);
	store_put(e.s, UINT64_MAX);
	cr_assert_eq(atomic_load(&log_errors), 4);
	cr_assert(strstr(last_error, "out of range"), "%s", last_error);
	cr_assert_eq(stats_of(e.s).slots_in_use, 1);
	cr_assert_eq(store_refcount(e.s, other), 1);
	store_put(e.s, other);
	cr_assert_eq(stats_of(e.s).slots_in_use, 0);
	store_env_close(&e);
}

/* The allocation cursor cycles over a window about twice the slots in
 * use, not the whole store: pages rewritten again and again (each
 * rewrite takes a fresh slot, the old one freed) keep to the store's
 * first clusters, and the per-slot tables, this process's memory, stay
 * as small as the slots in use make them. */
Test(store, rewrites_keep_to_a_window_of_the_slots_in_use, .timeout = 60)
{
	const uint64_t clusters = 4096, rounds = 3000;
	uint64_t got[CLUSTER], highest = 0;
	size_t shmem_before, shmem_after;
	struct store_env e = { 0 };

	store_env_open(&e, clusters, -1);
	shmem_before = rollup_bytes("Shared_Dirty") + rollup_bytes("Private_Dirty");
	for (uint64_t r = 0; r < rounds; r++) {
		cr_assert_eq(store_alloc(e.s, CLUSTER, got), (int)CLUSTER);
		for (unsigned int i = 0; i < CLUSTER; i++) {
			if (got[i] > highest)
				highest = got[i];
			store_put(e.s, got[i]);
		}
	}
	shmem_after = rollup_bytes("Shared_Dirty") + rollup_bytes("Private_Dirty");
	/* At most one cluster in use: a window of 2 + STORE_WINDOW_MIN_CLUSTERS. */
	cr_assert_lt(highest, (uint64_t)(2 + STORE_WINDOW_MIN_CLUSTERS + 1) * CLUSTER,
		     "slot %llu taken with one cluster in use at a time",
		     (unsigned long long)highest);
	/* Tables of 24+ bytes a slot over 3,000 clusters would be 4.4 MiB. */
	cr_assert_lt(shmem_after, shmem_before + (1u << 20),
		     "dirty memory grew by %zu KiB", (shmem_after - shmem_before) >> 10);
	store_env_close(&e);
}
