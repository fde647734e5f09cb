/* SPDX-License-Identifier: MIT */
/*
 * store-helpers.c - the swap store tests' shared helpers (see
 * store-helpers.h).
 */
#define _GNU_SOURCE
#include "store-helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void tmpdir_new(struct tmpdir *d, const char *under)
{
	snprintf(d->path, sizeof(d->path), "%s/upager-test-store-XXXXXX", under);
	cr_assert_not_null(mkdtemp(d->path), "mkdtemp under %s: %s", under, strerror(errno));
}

/* Remove the directory and the files left in it (it holds no subdirectories). */
void tmpdir_remove(struct tmpdir *d)
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

char *path_in(const struct tmpdir *d, const char *name)
{
	char *p;

	cr_assert_geq(asprintf(&p, "%s/%s", d->path, name), 0);
	return p;
}

struct store *open_store(const char *path, uint64_t clusters)
{
	struct store_config cfg = { .path = path, .capacity = clusters * CLUSTER_BYTES };
	struct store *s = NULL;
	int err = file_store_open(&cfg, PAGE, &s);

	cr_assert_eq(err, 0, "file_store_open(%s): %s", path ? path : "(default)", strerror(-err));
	return s;
}

struct store *open_store_in(struct tmpdir *d, char **path, uint64_t clusters)
{
	tmpdir_new(d, "/var/tmp");
	*path = path_in(d, "swap");
	return open_store(*path, clusters);
}

void close_store_in(struct store *s, char *path, struct tmpdir *d)
{
	store_close(s);
	free(path);
	tmpdir_remove(d);
}

void store_env_open(struct store_env *e, uint64_t clusters, int depth)
{
	if (e->capture)
		e->old_log = upager_set_log(capture_log);
	e->s = open_store_in(&e->d, &e->path, clusters);
	e->io = NULL;
	if (depth >= 0)
		cr_assert_eq(store_io_new(e->s, (unsigned int)depth, &e->io), 0);
}

void store_env_close(struct store_env *e)
{
	if (e->io)
		store_io_free(e->io);
	close_store_in(e->s, e->path, &e->d);
	if (e->capture)
		upager_set_log(e->old_log);
}

struct store_stats stats_of(struct store *s)
{
	struct store_stats st;

	store_stats_read(s, &st);
	return st;
}

/* Page-aligned, as the store's callers (and O_DIRECT) need. */
char *pages_new(size_t n)
{
	void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	return p;
}

void pages_free(char *p, size_t n)
{
	munmap(p, n * PAGE);
}

/* A page no other (tag, seed) pair produces. */
void pattern_fill(char *page, uint64_t tag, uint64_t seed)
{
	uint64_t st = tag * 0x9e3779b97f4a7c15ull ^ seed;

	for (size_t i = 0; i < PAGE; i += 8) {
		uint64_t v = rng_next(&st);

		memcpy(page + i, &v, 8);
	}
}

/* Log capture: the store reports its callers' bugs as errors, and reaped
 * holders at info level. */
atomic_int log_errors, log_warnings;
char last_error[512], last_info[512];

void capture_log(enum upager_log_level level, const char *fmt, va_list args)
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
struct stat fstat_of(struct store *s)
{
	struct stat st;

	cr_assert_eq(fstat(file_store_fd(s), &st), 0, "fstat: %s", strerror(errno));
	return st;
}

uint64_t blocks_of(struct store *s)
{
	return (uint64_t)fstat_of(s).st_blocks;
}

/* Write then read back @n pages through @s and check every byte. */
void pages_patterned(char *src, char *dst, void **sp, void **dp, unsigned int n, uint64_t seed)
{
	for (unsigned int i = 0; i < n; i++) {
		pattern_fill(src + (size_t)i * PAGE, i, seed);
		sp[i] = src + (size_t)i * PAGE;
		if (dp)
			dp[i] = dst + (size_t)i * PAGE;
	}
}

void round_trip(struct store *s, unsigned int n, uint64_t seed)
{
	char *src = pages_new(n), *dst = pages_new(n);
	uint64_t *slots = calloc(n, sizeof(*slots));
	void **sp = calloc(n, sizeof(*sp)), **dp = calloc(n, sizeof(*dp));
	int *res = calloc(n, sizeof(*res));
	struct store_io *io;

	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(store_alloc(s, n, slots), (int)n);
	pages_patterned(src, dst, sp, dp, n, seed);
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
