/* SPDX-License-Identifier: MIT */
/*
 * store-helpers.h - what the swap store's tests (test-store.c,
 * test-store-io.c, test-store-fork.c) share: a scratch directory, a store
 * opened in it, page buffers and patterns, the store file's disk use, a
 * write-and-read-back round trip, and log capture.
 */
#ifndef UPAGER_TESTS_STORE_HELPERS_H
#define UPAGER_TESTS_STORE_HELPERS_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common.h"
#include "store/store-file.h"
#include "store/store.h"

#define CLUSTER STORE_CLUSTER_SLOTS
#define CLUSTER_BYTES ((uint64_t)CLUSTER * PAGE)
/* The largest batch the threads and processes tests move at once. */
#define MAX_BATCH 24

struct tmpdir {
	char path[64];
};

/* A fresh directory under @under (asserts). */
void tmpdir_new(struct tmpdir *d, const char *under);
/* Remove the directory and the files left in it (it holds no subdirectories). */
void tmpdir_remove(struct tmpdir *d);
/* @name in @d, malloc'd. */
char *path_in(const struct tmpdir *d, const char *name);

/* A store of @clusters clusters at @path (NULL: the default place); asserts. */
struct store *open_store(const char *path, uint64_t clusters);
/* A fresh directory @d under /var/tmp and a store of @clusters clusters
 * in it, at *@path (malloc'd); asserts. */
struct store *open_store_in(struct tmpdir *d, char **path, uint64_t clusters);
/* Close @s (NULL: closed already), free @path, remove @d. */
void close_store_in(struct store *s, char *path, struct tmpdir *d);
/* What most store tests start from: a store in a fresh directory, an I/O
 * context on it, and (set .capture) its log captured from open to close. */
struct store_env {
	bool capture;        /* capture_log() from store_env_open() on */
	upager_log_fn old_log;
	struct tmpdir d;
	char *path;
	struct store *s;
	struct store_io *io; /* NULL until opened */
};

/* open_store_in() @clusters clusters into @e and, unless @depth is
 * negative, store_io_new() of @depth; asserts. */
void store_env_open(struct store_env *e, uint64_t clusters, int depth);
/* Free the I/O context (if any), close_store_in() the rest, and give the
 * log back. */
void store_env_close(struct store_env *e);
struct store_stats stats_of(struct store *s);

/* Page-aligned, as the store's callers (and O_DIRECT) need. */
char *pages_new(size_t n);
void pages_free(char *p, size_t n);
/* A page no other (tag, seed) pair produces. */
void pattern_fill(char *page, uint64_t tag, uint64_t seed);
/* Fill the @n pages of @src with patterns (tag: the page's index), and
 * point sp[i] at page i of @src and, unless @dp is NULL, dp[i] at page i
 * of @dst: the buffers of a store_write() and its store_read(). */
void pages_patterned(char *src, char *dst, void **sp, void **dp, unsigned int n, uint64_t seed);

/* Log capture: the store reports its callers' bugs as errors, and reaped
 * holders at info level. */
extern atomic_int log_errors, log_warnings;
extern char last_error[512], last_info[512];
void capture_log(enum upager_log_level level, const char *fmt, va_list args);

/* The store file, reached through its descriptor: unless kept, it has no
 * path any more. */
struct stat fstat_of(struct store *s);
uint64_t blocks_of(struct store *s);

/* Write then read back @n pages through @s and check every byte. */
void round_trip(struct store *s, unsigned int n, uint64_t seed);

#endif
