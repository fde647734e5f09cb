/* SPDX-License-Identifier: MIT */
/*
 * test-store.c - the swap store against a real file system: file creation
 * (unlinked at once unless kept), slot allocation (clusters, next-fit,
 * reuse), reference counts, byte-exact round trips through io_uring with
 * coalescing, checksums that catch data changed behind the store's back,
 * hole punching measured with fstat(2), the buffered fallback, several
 * threads sharing one store, and forked processes sharing one store:
 * inherited references, dead and exec'd holders reaped, concurrent
 * allocation, running out of holders.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "store.h"

#define CLUSTER STORE_CLUSTER_SLOTS
#define CLUSTER_BYTES ((uint64_t)CLUSTER * PAGE)

/* ---- helpers ------------------------------------------------------------ */

struct tmpdir {
	char path[64];
};

static void tmpdir_new(struct tmpdir *d, const char *under)
{
	snprintf(d->path, sizeof(d->path), "%s/upager-test-store-XXXXXX", under);
	cr_assert_not_null(mkdtemp(d->path), "mkdtemp under %s: %s", under, strerror(errno));
}

/* Remove the directory and the files left in it (it holds no subdirectories). */
static void tmpdir_remove(struct tmpdir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char p[512];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", d->path, e->d_name);
		unlink(p);
	}
	closedir(dir);
	rmdir(d->path);
}

static char *path_in(const struct tmpdir *d, const char *name)
{
	char *p;

	cr_assert_geq(asprintf(&p, "%s/%s", d->path, name), 0);
	return p;
}

static struct store *open_store(const char *path, uint64_t clusters)
{
	struct store_config cfg = { .path = path, .capacity = clusters * CLUSTER_BYTES };
	struct store *s = NULL;
	int err = store_open(&cfg, PAGE, &s);

	cr_assert_eq(err, 0, "store_open(%s): %s", path ? path : "(default)", strerror(-err));
	return s;
}

static struct store_stats stats_of(struct store *s)
{
	struct store_stats st;

	store_stats_read(s, &st);
	return st;
}

/* Page-aligned, as the store's callers (and O_DIRECT) need. */
static char *pages_new(size_t n)
{
	void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	return p;
}

static void pages_free(char *p, size_t n)
{
	munmap(p, n * PAGE);
}

/* A page no other (tag, seed) pair produces. */
static void pattern_fill(char *page, uint64_t tag, uint64_t seed)
{
	uint64_t st = tag * 0x9e3779b97f4a7c15ull ^ seed;

	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t v = rng_next(&st);

		memcpy(page + i, &v, 8);
	}
}

static void shuffle(unsigned int *a, unsigned int n, uint64_t *rng)
{
	for (unsigned int i = n - 1; i > 0; i--) {
		unsigned int j = (unsigned int)(rng_next(rng) % (i + 1));
		unsigned int t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* Log capture: the store reports its callers' bugs as errors, and reaped
 * holders at info level. */
static atomic_int log_errors, log_warnings;
static char last_error[512], last_info[512];

static void capture_log(enum upager_log_level level, const char *fmt, va_list args)
{
	if (level == UPAGER_LOG_ERROR) {
		vsnprintf(last_error, sizeof(last_error), fmt, args);
		atomic_fetch_add(&log_errors, 1);
	} else if (level == UPAGER_LOG_WARN) {
		atomic_fetch_add(&log_warnings, 1);
	} else if (level == UPAGER_LOG_INFO) {
		vsnprintf(last_info, sizeof(last_info), fmt, args);
	}
}

/* The store file, reached through its descriptor: unless kept, it has no
 * path any more. */
static struct stat fstat_of(struct store *s)
{
	struct stat st;

	cr_assert_eq(fstat(store_fd(s), &st), 0, "fstat: %s", strerror(errno));
	return st;
}

static uint64_t blocks_of(struct store *s)
{
	return (uint64_t)fstat_of(s).st_blocks;
}

static uint64_t blocks_of_path(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_blocks;
}

/* A descriptor of the store file of our own: buffered, whatever the
 * store's is (O_DIRECT refuses a one-byte write). */
static int reopen_file(struct store *s, int flags)
{
	char proc[64];
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", store_fd(s));
	fd = open(proc, flags | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", proc, strerror(errno));
	return fd;
}

/* Write then read back @n pages through @s and check every byte. */
static void round_trip(struct store *s, unsigned int n, uint64_t seed)
{
	char *src = pages_new(n), *dst = pages_new(n);
	uint64_t *slots = calloc(n, sizeof(*slots));
	void **sp = calloc(n, sizeof(*sp)), **dp = calloc(n, sizeof(*dp));
	int *res = calloc(n, sizeof(*res));
	struct store_io *io;

	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(store_alloc(s, n, slots), (int)n);
	for (unsigned int i = 0; i < n; i++) {
		pattern_fill(src + (size_t)i * PAGE, i, seed);
		sp[i] = src + (size_t)i * PAGE;
		dp[i] = dst + (size_t)i * PAGE;
	}
	cr_assert_eq(store_write(io, slots, sp, n), 0);
	cr_assert_eq(store_read(io, slots, dp, n, res), 0);
	for (unsigned int i = 0; i < n; i++)
		cr_assert_eq(res[i], 0);
	cr_assert_eq(memcmp(src, dst, (size_t)n * PAGE), 0);
	for (unsigned int i = 0; i < n; i++)
		store_put(s, slots[i]);
	store_io_free(io);
	free(res);
	free(dp);
	free(sp);
	free(slots);
	pages_free(dst, n);
	pages_free(src, n);
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
	cr_assert_eq(store_open(&cfg, PAGE, &s), -EEXIST);
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
	cr_assert_eq(store_open(&cfg, PAGE, &s), -EINVAL);
	cr_assert_eq(access(p, F_OK), -1, "a refused store leaves no file");
	cfg.capacity = 0;
	cr_assert_eq(store_open(&cfg, PAGE, &s), -EINVAL);
	cfg.capacity = 3 * CLUSTER_BYTES + 5 * PAGE + 17;
	cr_assert_eq(store_open(&cfg, PAGE, &s), 0);
	cr_assert_eq(stats_of(s).capacity_slots, 3 * CLUSTER);
	st = fstat_of(s);
	cr_assert_eq((uint64_t)st.st_size, 3 * CLUSTER_BYTES);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
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
	cr_assert_eq(store_open(&cfg, PAGE, &s), 0);
	cr_assert_geq(blocks_of(s) * 512, 8 * CLUSTER_BYTES);
	round_trip(s, 100, 7);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
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
	cr_assert_eq(store_open(&cfg, PAGE, &s), 0);
	cr_assert_eq(access(p, F_OK), 0, "keep=true leaves the file in place");
	cr_assert_eq(fstat_of(s).st_nlink, 1);
	round_trip(s, 10, 1);
	store_close(s);
	cr_assert_eq(access(p, F_OK), 0, "...also after close");
	cr_assert_eq(blocks_of_path(p) * 512, 0, "...with the freed space punched");
	cfg.path = q;
	cfg.keep = false;
	cr_assert_eq(store_open(&cfg, PAGE, &s), 0);
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
	struct tmpdir d;
	char *p;
	struct store *s;
	uint64_t got[CLUSTER * 2];

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 4);

	cr_assert_eq(store_alloc(s, 10, got), 10);
	for (unsigned int i = 0; i < 10; i++)
		cr_assert_eq(got[i], i);
	cr_assert_eq(store_alloc(s, 1, got), 1);
	cr_assert_eq(got[0], 10);
	/* A slot freed behind the cursor is not taken before the cluster's
	 * later slots... */
	store_put(s, 3);
	cr_assert_eq(store_alloc(s, 1, got), 1);
	cr_assert_eq(got[0], 11);
	cr_assert_eq(store_alloc(s, CLUSTER - 12, got), (int)(CLUSTER - 12));
	for (unsigned int i = 0; i < CLUSTER - 12; i++)
		cr_assert_eq(got[i], 12 + i);
	/* ...but before the cluster is left. */
	cr_assert_eq(store_alloc(s, 2, got), 2);
	cr_assert_eq(got[0], 3);
	cr_assert_eq(got[1], CLUSTER, "cluster 0 full: on to cluster 1");

	/* Fill cluster 1, free all of cluster 0: the next cluster is still
	 * the one after the last (next-fit), not the first free one. */
	cr_assert_eq(store_alloc(s, CLUSTER - 1, got), (int)(CLUSTER - 1));
	for (unsigned int i = 0; i < CLUSTER; i++)
		store_put(s, i);
	cr_assert_eq(store_alloc(s, 1, got), 1);
	cr_assert_eq(got[0], 2 * CLUSTER);

	/* Cluster 1 gets one hole; cluster 3 and 0 are wholly free: filling
	 * cluster 2 moves on to a wholly free one, not into the hole. */
	store_put(s, CLUSTER + 5);
	cr_assert_eq(store_alloc(s, CLUSTER, got), (int)CLUSTER);
	cr_assert_eq(got[CLUSTER - 2], 3 * CLUSTER - 1);
	cr_assert_eq(got[CLUSTER - 1], 3 * CLUSTER, "wholly free cluster 3, not the hole");
	cr_assert_eq(store_alloc(s, CLUSTER - 1, got), (int)(CLUSTER - 1));
	cr_assert_eq(store_alloc(s, 1, got), 1);
	cr_assert_eq(got[0], 0, "then cluster 0 (wrapping), still wholly free");
	cr_assert_eq(store_alloc(s, CLUSTER - 1, got), (int)(CLUSTER - 1));
	cr_assert_eq(store_alloc(s, 2, got), 1, "only the hole is left");
	cr_assert_eq(got[0], CLUSTER + 5);
	cr_assert_eq(store_alloc(s, 1, got), -ENOSPC);
	cr_assert_eq(stats_of(s).slots_in_use, 4 * CLUSTER);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}

Test(store, full_store_then_reuse, .timeout = 20)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	uint64_t got[2 * CLUSTER];
	struct store_stats st;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 1);
	cr_assert_eq(store_alloc(s, 2 * CLUSTER, got), (int)CLUSTER, "up to n: what is free");
	cr_assert_eq(store_alloc(s, 1, got), -ENOSPC);
	store_put(s, 7);
	store_put(s, 40);
	cr_assert_eq(store_alloc(s, 5, got), 2);
	cr_assert_eq(got[0], 7);
	cr_assert_eq(got[1], 40);
	cr_assert_eq(store_alloc(s, 1, got), -ENOSPC);
	st = stats_of(s);
	cr_assert_eq(st.slots_in_use, CLUSTER);
	cr_assert_eq(st.slots_peak, CLUSTER);
	for (uint64_t i = 0; i < CLUSTER; i++)
		store_put(s, i);
	st = stats_of(s);
	cr_assert_eq(st.slots_in_use, 0);
	cr_assert_eq(st.slots_peak, CLUSTER);
	cr_assert_eq(store_alloc(s, CLUSTER, got), (int)CLUSTER, "everything is free again");
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}

Test(store, reference_counts, .timeout = 20)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	uint64_t slot, other;
	upager_log_fn old = upager_set_log(capture_log);

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 2);
	cr_assert_eq(store_alloc(s, 1, &slot), 1);
	cr_assert_eq(store_refcount(s, slot), 1);
	store_get(s, slot);
	store_get(s, slot);
	cr_assert_eq(store_refcount(s, slot), 3);
	store_put(s, slot);
	store_put(s, slot);
	cr_assert_eq(store_refcount(s, slot), 1);
	cr_assert_eq(stats_of(s).slots_in_use, 1, "still held");
	cr_assert_eq(store_alloc(s, 1, &other), 1);
	cr_assert_neq(other, slot);
	store_put(s, slot);
	cr_assert_eq(store_refcount(s, slot), 0);
	cr_assert_eq(stats_of(s).slots_in_use, 1);
	cr_assert_eq(atomic_load(&log_errors), 0);

	/* Callers' bugs: logged, and nothing changes. */
	store_put(s, slot);
	cr_assert_eq(atomic_load(&log_errors), 1);
	cr_assert(strstr(last_error, "free slot"), "%s", last_error);
	store_get(s, slot);
	cr_assert_eq(atomic_load(&log_errors), 2);
	cr_assert_eq(store_refcount(s, slot), 0);
	store_get(s, 2 * CLUSTER);
	store_put(s, UINT64_MAX);
	cr_assert_eq(atomic_load(&log_errors), 4);
	cr_assert(strstr(last_error, "out of range"), "%s", last_error);
	cr_assert_eq(stats_of(s).slots_in_use, 1);
	cr_assert_eq(store_refcount(s, other), 1);
	store_put(s, other);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	store_close(s);
	upager_set_log(old);
	free(p);
	tmpdir_remove(&d);
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

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 64);
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
	for (unsigned int i = 0; i < MANY; i++) {
		pattern_fill(src + (size_t)i * PAGE, i, seed + 1);
		sp[i] = src + (size_t)i * PAGE;
		dp[i] = dst + (size_t)i * PAGE;
	}
	memset(dst, 0, (size_t)MANY * PAGE);
	st = stats_of(s);
	cr_assert_eq(store_write(io, slots, sp, MANY), 0);
	cr_assert_eq(stats_of(s).write_ios - st.write_ios, 1, "one run, one request");
	cr_assert_eq(store_read(io, slots, dp, MANY, res), 0);
	cr_assert_eq(stats_of(s).read_ios - st.read_ios, 1);
	cr_assert_eq(memcmp(src, dst, (size_t)MANY * PAGE), 0);

	/* Consecutive slots from scattered buffers do not coalesce; runs of
	 * four (slots and buffers both consecutive) do. */
	for (unsigned int i = 0; i < MANY; i++) {
		unsigned int b = (i / 4) * 4, buf = (MANY / 4 - 1 - i / 4) * 4 + (i - b);

		dp[i] = dst + (size_t)buf * PAGE;
	}
	memset(dst, 0, (size_t)MANY * PAGE);
	st = stats_of(s);
	cr_assert_eq(store_read(io, slots, dp, MANY, res), 0);
	cr_assert_eq(stats_of(s).read_ios - st.read_ios, MANY / 4);
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

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 64);
	round_trip(s, 3000, 11);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
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

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 1);
	cr_assert_eq(store_io_new(s, 4, &io), 0);
	cr_assert_eq(store_alloc(s, N, slots), N);
	for (unsigned int i = 0; i < N; i++) {
		pattern_fill(src + i * PAGE, i, 3);
		sp[i] = src + i * PAGE;
		dp[i] = dst + i * PAGE;
	}
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
	cr_assert_eq(pwrite(fd, "\xff", 1, (off_t)store_slot_offset(s, slots[BAD]) + 100), 1);
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

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 1);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(store_alloc(s, N, slots), N);
	for (unsigned int i = 0; i < N; i++) {
		pattern_fill(src + i * PAGE, i, 9);
		sp[i] = src + i * PAGE;
		dp[i] = dst + i * PAGE;
	}
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
	cr_assert_eq(ftruncate(store_fd(s), (off_t)store_slot_offset(s, slots[2]) + 100), 0);
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

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, CLUSTERS);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(store_alloc(s, N, slots), N);
	for (unsigned int i = 0; i < N; i++) {
		pattern_fill(src + (size_t)i * PAGE, i, 5);
		sp[i] = src + (size_t)i * PAGE;
	}
	cr_assert_eq(store_write(io, slots, sp, N), 0);
	if (!stats_of(s).direct_io)
		fdatasync(store_fd(s));
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
	store_close(s);
	free(p);
	tmpdir_remove(&d);
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
	cr_assert_eq(store_open(&cfg, PAGE, &s), -EOPNOTSUPP, "preallocation failure is an error");
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
#define MAX_BATCH 24

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
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}

/* ---- processes ------------------------------------------------------------ */

/*
 * fork() bracketed by the store's protocol, as the pager's atfork handlers
 * bracket it. Returns the child's pid in the parent (with prepare's result
 * in *prepare_err) and 0 in the child, which has become a holder or not
 * (store_fork_child()'s result in *child_err). A child reports only
 * through its exit code, and dies with the test: a store bug must not
 * leave it blocked forever, holding the runner's output open.
 */
static pid_t fork_store(struct store *s, int *prepare_err, int *child_err)
{
	pid_t parent = getpid();
	int err = store_fork_prepare(s);
	pid_t pid = fork();

	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(99);
		*child_err = store_fork_child(s);
		return 0;
	}
	store_fork_parent(s);
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (prepare_err)
		*prepare_err = err;
	else
		cr_assert_eq(err, 0, "store_fork_prepare: %s", strerror(-err));
	return pid;
}

/* The exit code of @pid, which must exit rather than die. */
static int wait_exit(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid: %s", strerror(errno));
	cr_assert(WIFEXITED(status), "child %d died of signal %d", (int)pid,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static void child_ok(pid_t pid)
{
	int code = wait_exit(pid);

	cr_assert_eq(code, 0, "the child failed its check %d", code);
}

/* In a child: leave with code @code unless @ok. */
#define CHILD_CHECK(ok, code)      \
	do {                       \
		if (!(ok))         \
			_exit(code); \
	} while (0)

static void pipe_new(int fds[2])
{
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
}

/* One byte through a pipe: a step of a two-process protocol. */
static bool pipe_send(int fd)
{
	return write(fd, "x", 1) == 1;
}

static bool pipe_wait(int fd)
{
	char c;

	return read(fd, &c, 1) == 1;
}

/* Allocate @n slots and write page (tag = slot, seed) to each, in batches
 * as reclaim does. Returns 0 or the first error. */
static int alloc_and_write(struct store *s, struct store_io *io, unsigned int n,
			   uint64_t seed, uint64_t *slots)
{
	char *buf = pages_new(MAX_BATCH);
	void *bp[MAX_BATCH];
	int err = 0;

	for (unsigned int done = 0; done < n && !err;) {
		unsigned int want = n - done < MAX_BATCH ? n - done : MAX_BATCH;
		int got = store_alloc(s, want, slots + done);

		if (got < 0) {
			err = got;
			break;
		}
		for (int i = 0; i < got; i++) {
			bp[i] = buf + (size_t)i * PAGE;
			pattern_fill(bp[i], slots[done + (unsigned int)i], seed);
		}
		err = store_write(io, slots + done, bp, (unsigned int)got);
		done += (unsigned int)got;
	}
	pages_free(buf, MAX_BATCH);
	return err;
}

/* Read back @n slots written by alloc_and_write(): 0 when all are intact
 * and verified, else a nonzero count of the pages that are not. */
static unsigned int read_and_check(struct store *s, struct store_io *io, unsigned int n,
				   uint64_t seed, const uint64_t *slots)
{
	char *buf = pages_new(MAX_BATCH), *want = pages_new(1);
	void *bp[MAX_BATCH];
	int res[MAX_BATCH];
	unsigned int bad = 0;

	for (unsigned int done = 0; done < n; done += MAX_BATCH) {
		unsigned int m = n - done < MAX_BATCH ? n - done : MAX_BATCH;

		for (unsigned int i = 0; i < m; i++)
			bp[i] = buf + (size_t)i * PAGE;
		store_read(io, slots + done, bp, m, res);
		for (unsigned int i = 0; i < m; i++) {
			pattern_fill(want, slots[done + i], seed);
			if (res[i] || memcmp(bp[i], want, PAGE))
				bad++;
		}
	}
	pages_free(buf, MAX_BATCH);
	pages_free(want, 1);
	(void)s;
	return bad;
}

static void put_all(struct store *s, const uint64_t *slots, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		store_put(s, slots[i]);
}

Test(store, child_keeps_a_slot_its_parent_put, .timeout = 30)
{
	enum { N = 8 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t slots[N];
	int ready[2], go[2], child_err = 0;
	pid_t pid;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 4);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, N, 21, slots), 0);
	pipe_new(ready);
	pipe_new(go);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		struct store_io *cio;
		struct store_stats st;

		CHILD_CHECK(child_err == 0, 10);
		/* The parent's ring is the parent's. */
		store_io_forget(io);
		CHILD_CHECK(store_refcount(s, slots[0]) == 2, 11);
		CHILD_CHECK(pipe_send(ready[1]) && pipe_wait(go[0]), 12);
		/* The parent has put every slot: ours keep them. */
		CHILD_CHECK(store_refcount(s, slots[0]) == 1, 13);
		store_stats_read(s, &st);
		CHILD_CHECK(st.slots_in_use == N && st.holders == 2, 14);
		CHILD_CHECK(st.pages_written == 0, 15); /* the parent's, not ours */
		CHILD_CHECK(store_io_new(s, 0, &cio) == 0, 16);
		CHILD_CHECK(read_and_check(s, cio, N, 21, slots) == 0, 17);
		store_stats_read(s, &st);
		CHILD_CHECK(st.pages_read == N && st.checksum_failures == 0, 19);
		put_all(s, slots, N);
		store_stats_read(s, &st);
		CHILD_CHECK(st.slots_in_use == 0, 20);
		store_io_free(cio);
		store_close(s);
		_exit(0);
	}
	cr_assert(pipe_wait(ready[0]));
	cr_assert_eq(store_refcount(s, slots[0]), 2, "the child holds it too");
	put_all(s, slots, N);
	cr_assert_eq(store_refcount(s, slots[0]), 1, "the child's reference");
	cr_assert_eq(stats_of(s).slots_in_use, N, "still in use: the child holds them");
	cr_assert_eq(stats_of(s).holders, 2);
	cr_assert(pipe_send(go[1]));
	child_ok(pid);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_eq(stats_of(s).holders, 1);
	cr_assert_eq(store_reap(s), 0, "the child closed: nothing to reap");
	store_io_free(io);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}

/*
 * A child that exits without closing the store: reaping drops its
 * references and frees exactly the slots only it held (those it inherited
 * and the parent has put since, and its own), and their clusters are
 * returned to the file system.
 */
Test(store, dead_child_is_reaped, .timeout = 30)
{
	enum { A = 100, B = 100, C = 150 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t a[A], b[B];
	int done[2], child_err = 0;
	upager_log_fn old = upager_set_log(capture_log);
	char want[128];
	pid_t pid;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 16);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, A, 1, a), 0);
	cr_assert_eq(alloc_and_write(s, io, B, 2, b), 0);
	pipe_new(done);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		uint64_t c[C];
		struct store_io *cio;

		CHILD_CHECK(child_err == 0, 10);
		store_io_forget(io);
		CHILD_CHECK(store_io_new(s, 0, &cio) == 0, 11);
		CHILD_CHECK(alloc_and_write(s, cio, C, 3, c) == 0, 12);
		/* Half of A put: the parent still holds those. */
		put_all(s, a, A / 2);
		CHILD_CHECK(pipe_send(done[1]), 13);
		_exit(0); /* no store_close() */
	}
	put_all(s, b, B); /* B: now the child's alone */
	cr_assert(pipe_wait(done[0]));
	child_ok(pid);
	cr_assert_eq(store_reap(s), B + C, "B and the child's own C, nothing of A");
	snprintf(want, sizeof(want), "store: reaped holder 1 (pid %d): %u slots", (int)pid,
		 B + C);
	cr_assert_str_eq(last_info, want);
	cr_assert_eq(stats_of(s).slots_in_use, A);
	cr_assert_eq(stats_of(s).holders, 1);
	cr_assert_eq(store_refcount(s, a[0]), 1);
	cr_assert_eq(read_and_check(s, io, A, 1, a), 0, "A intact");
	cr_assert_eq(store_reap(s), 0, "reaped once");

	put_all(s, a, A);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_lt(blocks_of(s) * 512, CLUSTER_BYTES, "%" PRIu64 " blocks left", blocks_of(s));
	cr_assert_eq(atomic_load(&log_errors), 0, "%s", last_error);
	store_io_free(io);
	store_close(s);
	upager_set_log(old);
	free(p);
	tmpdir_remove(&d);
}

/*
 * exec drops the child's hold even though the process lives on: the new
 * program (cat, waiting on a pipe) knows nothing of the store.
 */
Test(store, exec_child_is_reaped, .timeout = 30)
{
	enum { A = 40, C = 70 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t a[A];
	int in[2], execd[2], child_err = 0;
	char c;
	pid_t pid;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 8);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, A, 4, a), 0);
	cr_assert_eq(pipe(in), 0); /* cat's stdin: not close-on-exec */
	pipe_new(execd);           /* closed by the exec */

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		uint64_t cs[C];
		struct store_io *cio;
		int null = open("/dev/null", O_WRONLY);

		CHILD_CHECK(child_err == 0 && null >= 0, 10);
		store_io_forget(io);
		CHILD_CHECK(store_io_new(s, 0, &cio) == 0, 11);
		CHILD_CHECK(alloc_and_write(s, cio, C, 5, cs) == 0, 12);
		CHILD_CHECK(dup2(in[0], 0) == 0 && dup2(null, 1) == 1, 13);
		close(in[1]);
		execl("/bin/cat", "cat", (char *)NULL);
		_exit(14);
	}
	close(in[0]);
	close(execd[1]);
	cr_assert_eq(read(execd[0], &c, 1), 0, "EOF: the child has exec'd");
	put_all(s, a, A);
	/* cat is alive, and the store does not know it. */
	cr_assert_eq(kill(pid, 0), 0);
	cr_assert_eq(store_reap(s), A + C);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_eq(stats_of(s).holders, 1);
	cr_assert_lt(blocks_of(s) * 512, CLUSTER_BYTES, "%" PRIu64 " blocks left", blocks_of(s));
	close(in[1]); /* cat ends */
	child_ok(pid);
	store_io_free(io);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}

/*
 * Parent and child allocate and write at the same time, each pages
 * stamped with its own pid and the slot: no slot is handed to both, and
 * once both are done each reads its own pages back intact.
 */
#define EACH 2000u

Test(store, parent_and_child_allocate_concurrently, .timeout = 60)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t *mine = calloc(EACH, sizeof(*mine)), *theirs;
	uint8_t *owner;
	unsigned int mixed = 0;
	int go[2], done[2], check[2], child_err = 0;
	pid_t pid;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 2 * EACH / CLUSTER + 4);
	cr_assert_eq(store_io_new(s, 16, &io), 0);
	/* Where the child tells its slots. */
	theirs = mmap(NULL, EACH * sizeof(*theirs), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(theirs, MAP_FAILED);
	pipe_new(go);
	pipe_new(done);
	pipe_new(check);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		struct store_io *cio;
		uint64_t seed = (uint64_t)getpid();

		CHILD_CHECK(child_err == 0, 10);
		store_io_forget(io);
		CHILD_CHECK(store_io_new(s, 16, &cio) == 0, 11);
		CHILD_CHECK(pipe_wait(go[0]), 12);
		CHILD_CHECK(alloc_and_write(s, cio, EACH, seed, theirs) == 0, 13);
		CHILD_CHECK(pipe_send(done[1]) && pipe_wait(check[0]), 14);
		CHILD_CHECK(read_and_check(s, cio, EACH, seed, theirs) == 0, 15);
		store_io_free(cio);
		store_close(s);
		_exit(0);
	}
	cr_assert(pipe_send(go[1]));
	cr_assert_eq(alloc_and_write(s, io, EACH, (uint64_t)getpid(), mine), 0);
	cr_assert(pipe_wait(done[0]));
	cr_assert_eq(stats_of(s).slots_in_use, 2 * EACH);
	cr_assert_eq(stats_of(s).slots_peak, 2 * EACH);

	owner = calloc(stats_of(s).capacity_slots, 1);
	for (unsigned int i = 0; i < EACH; i++) {
		cr_assert_eq(owner[mine[i]], 0, "slot %" PRIu64 " twice", mine[i]);
		owner[mine[i]] = 1;
	}
	for (unsigned int i = 0; i < EACH; i++) {
		cr_assert_eq(owner[theirs[i]], 0, "slot %" PRIu64 " given to both (or twice)",
			     theirs[i]);
		owner[theirs[i]] = 2;
	}
	/* How much they met: clusters holding slots of both. */
	for (uint64_t c = 0; c < stats_of(s).capacity_slots / CLUSTER; c++) {
		unsigned int seen = 0;

		for (uint64_t i = c * CLUSTER; i < (c + 1) * CLUSTER; i++)
			seen |= owner[i];
		mixed += seen == 3;
	}
	cr_log_info("%u clusters hold slots of both processes", mixed);

	cr_assert(pipe_send(check[1]));
	cr_assert_eq(read_and_check(s, io, EACH, (uint64_t)getpid(), mine), 0);
	child_ok(pid);
	cr_assert_eq(stats_of(s).slots_in_use, EACH, "the child closed: ours are left");
	put_all(s, mine, EACH);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	free(owner);
	munmap(theirs, EACH * sizeof(*theirs));
	free(mine);
	store_io_free(io);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}

/*
 * STORE_HOLDERS processes (this one and 63 children kept alive) use every
 * holder: the next fork gets -EAGAIN, and its child, no holder, fails
 * every call cleanly and changes nothing of anybody's slots.
 */
Test(store, holders_run_out, .timeout = 60)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	uint64_t slot, spare;
	pid_t kids[STORE_HOLDERS - 1], pid;
	int ready[2], release[2], prep_err = 0, child_err = 0;
	upager_log_fn old = upager_set_log(capture_log);

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 2);
	cr_assert_eq(store_alloc(s, 1, &slot), 1);
	pipe_new(ready);
	pipe_new(release);
	for (unsigned int i = 0; i < STORE_HOLDERS - 1; i++) {
		kids[i] = fork_store(s, NULL, &child_err);
		if (kids[i] == 0) {
			CHILD_CHECK(child_err == 0, 10);
			CHILD_CHECK(pipe_send(ready[1]), 11);
			close(release[1]);
			pipe_wait(release[0]); /* EOF when released */
			_exit(0);
		}
		cr_assert(pipe_wait(ready[0]), "child %u", i);
	}
	cr_assert_eq(stats_of(s).holders, STORE_HOLDERS);
	cr_assert_eq(store_refcount(s, slot), STORE_HOLDERS, "every child holds it");

	pid = fork_store(s, &prep_err, &child_err);
	if (pid == 0) {
		struct store_io *cio = NULL;
		uint64_t got;

		CHILD_CHECK(child_err == -EAGAIN, 20);
		CHILD_CHECK(store_alloc(s, 1, &got) == -EAGAIN, 21);
		CHILD_CHECK(store_io_new(s, 0, &cio) == -EAGAIN && !cio, 22);
		store_put(s, slot);
		store_get(s, slot);
		CHILD_CHECK(store_refcount(s, slot) == STORE_HOLDERS, 23);
		CHILD_CHECK(!store_slot_matches(s, slot, pages_new(1)), 24);
		CHILD_CHECK(store_reap(s) == 0, 25);
		CHILD_CHECK(store_fork_prepare(s) == -EAGAIN, 26);
		store_fork_parent(s);
		store_close(s);
		_exit(0);
	}
	cr_assert_eq(prep_err, -EAGAIN);
	child_ok(pid);
	cr_assert_eq(store_refcount(s, slot), STORE_HOLDERS, "the holderless child changed nothing");
	cr_assert_eq(stats_of(s).holders, STORE_HOLDERS);
	cr_assert_eq(atomic_load(&log_errors), 0, "%s", last_error);

	/* The children end without closing: every holder is reaped. */
	close(release[1]);
	for (unsigned int i = 0; i < STORE_HOLDERS - 1; i++)
		child_ok(kids[i]);
	cr_assert_eq(store_reap(s), 0, "the slot is still ours");
	cr_assert_eq(stats_of(s).holders, 1);
	cr_assert_eq(store_refcount(s, slot), 1);
	/* And holders are there again for the next fork. */
	pid = fork_store(s, NULL, &child_err);
	if (pid == 0)
		_exit(child_err == 0 ? 0 : 30);
	child_ok(pid);
	cr_assert_eq(store_alloc(s, 1, &spare), 1);
	store_put(s, spare);
	store_put(s, slot);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	store_close(s);
	upager_set_log(old);
	free(p);
	tmpdir_remove(&d);
}

/* A child's store_close() gives its references back at once: no reaping. */
Test(store, child_close_gives_back, .timeout = 30)
{
	enum { A = 100, C = 50 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t a[A];
	int closed[2], leave[2], child_err = 0;
	upager_log_fn old = upager_set_log(capture_log);
	pid_t pid;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 8);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, A, 6, a), 0);
	pipe_new(closed);
	pipe_new(leave);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		uint64_t c[C];
		struct store_io *cio;

		CHILD_CHECK(child_err == 0, 10);
		close(leave[1]);
		store_io_forget(io);
		CHILD_CHECK(store_io_new(s, 0, &cio) == 0, 11);
		CHILD_CHECK(alloc_and_write(s, cio, C, 7, c) == 0, 12);
		store_io_free(cio);
		store_close(s);
		CHILD_CHECK(pipe_send(closed[1]), 13);
		pipe_wait(leave[0]); /* alive while the parent looks */
		_exit(0);
	}
	put_all(s, a, A); /* the child's, until it closes */
	cr_assert(pipe_wait(closed[0]));
	cr_assert_eq(store_reap(s), 0, "nothing left to reap");
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_eq(stats_of(s).holders, 1);
	cr_assert_eq(last_info[0], 0, "no holder was reaped: %s", last_info);
	cr_assert_lt(blocks_of(s) * 512, CLUSTER_BYTES, "%" PRIu64 " blocks left", blocks_of(s));
	close(leave[1]);
	child_ok(pid);
	store_io_free(io);
	store_close(s);
	upager_set_log(old);
	free(p);
	tmpdir_remove(&d);
}

/*
 * A child that never became a holder: fork() failed after the prepare
 * (the parent handler runs all the same), or the child died before
 * store_fork_child(). Its holder is reaped, and the slots it would have
 * inherited are freed once the parent puts them.
 */
Test(store, unborn_children_are_reaped, .timeout = 30)
{
	enum { A = 30 };
	struct tmpdir d;
	char *p;
	struct store *s;
	uint64_t a[A];
	pid_t pid;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 2);
	cr_assert_eq(store_alloc(s, A, a), A);

	/* As when fork() fails: prepare, then the parent's handler. */
	cr_assert_eq(store_fork_prepare(s), 0);
	store_fork_parent(s);
	put_all(s, a, A);
	cr_assert_eq(store_refcount(s, a[0]), 1, "the embryo's reference");
	cr_assert_eq(store_reap(s), A);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_eq(stats_of(s).holders, 1);

	/* A child killed before it could become a holder. */
	cr_assert_eq(store_alloc(s, A, a), A);
	cr_assert_eq(store_fork_prepare(s), 0);
	pid = fork();
	if (pid == 0)
		_exit(0);
	store_fork_parent(s);
	child_ok(pid);
	put_all(s, a, A);
	cr_assert_eq(store_reap(s), A);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_eq(stats_of(s).holders, 1);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}

/* A child's child inherits the child's references, as the child did the
 * parent's: the slot outlives both of them putting it. */
Test(store, grandchild_inherits, .timeout = 30)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t slot;
	int forked[2], put[2], child_err = 0;
	pid_t pid;

	tmpdir_new(&d, "/var/tmp");
	p = path_in(&d, "swap");
	s = open_store(p, 2);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, 1, 8, &slot), 0);
	pipe_new(forked);
	pipe_new(put);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		pid_t gpid;
		int gerr = 0, code;

		CHILD_CHECK(child_err == 0, 10);
		store_io_forget(io);
		gpid = fork_store(s, NULL, &gerr);
		if (gpid == 0) {
			struct store_io *gio;

			CHILD_CHECK(gerr == 0, 20);
			/* Both elders put it; ours keeps it. */
			CHILD_CHECK(pipe_wait(put[0]), 21);
			CHILD_CHECK(store_refcount(s, slot) == 1, 22);
			CHILD_CHECK(store_io_new(s, 0, &gio) == 0, 23);
			CHILD_CHECK(read_and_check(s, gio, 1, 8, &slot) == 0, 24);
			store_put(s, slot);
			store_io_free(gio);
			store_close(s);
			_exit(0);
		}
		CHILD_CHECK(store_refcount(s, slot) == 3, 11);
		store_put(s, slot);
		store_close(s);
		CHILD_CHECK(pipe_send(forked[1]), 14);
		CHILD_CHECK(waitpid(gpid, &code, 0) == gpid, 12);
		_exit(WIFEXITED(code) ? WEXITSTATUS(code) : 13);
	}
	cr_assert(pipe_wait(forked[0]));
	cr_assert_eq(store_refcount(s, slot), 2, "ours and the grandchild's; the child closed");
	store_put(s, slot);
	cr_assert_eq(stats_of(s).slots_in_use, 1, "held by the grandchild");
	cr_assert(pipe_send(put[1]));
	child_ok(pid);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_eq(stats_of(s).holders, 1);
	store_io_free(io);
	store_close(s);
	free(p);
	tmpdir_remove(&d);
}
