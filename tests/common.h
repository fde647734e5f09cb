/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the tests share: the two memory kinds a differential test
 * runs the same scenario on (the kernel's own mappings and upager's), a
 * probe that performs one access and reports the signal it raised, and a
 * transcript that records observations so the two runs can be compared
 * line by line.
 */
#ifndef UPAGER_TESTS_COMMON_H
#define UPAGER_TESTS_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upager.h"

#define PAGE 4096ul

/* A memory kind: kernel mmap (pager NULL) or an upager pager. */
struct mem {
	const char *name;
	struct upager *pager;
};

/* Open the kind: "kernel" or "upager" (with @opts, NULL for defaults). */
void mem_open(struct mem *m, const char *name, const struct upager_options *opts);
void mem_close(struct mem *m);
bool mem_is_upager(const struct mem *m);

/* mmap/munmap/mprotect equivalents; all return 0 or -errno. Flags are
 * UPAGER_MAP_*, mapped onto MAP_* for the kernel kind. */
int mem_map(struct mem *m, void *hint, size_t len, int prot, unsigned int flags, void **out);
/* mmap of a file (UPAGER_MAP_SHARED or _PRIVATE) and msync(MS_SYNC). */
int mem_map_file(struct mem *m, void *hint, size_t len, int prot, unsigned int flags, int fd,
		 uint64_t off, void **out);
int mem_sync(struct mem *m, void *addr, size_t len);
/* madvise(MADV_DONTNEED). */
int mem_discard(struct mem *m, void *addr, size_t len);
int mem_unmap(struct mem *m, void *addr, size_t len);
int mem_protect(struct mem *m, void *addr, size_t len, int prot);

/* The outcome of one access. */
struct access_result {
	int sig;       /* 0, SIGSEGV or SIGBUS */
	int code;      /* si_code */
	void *addr;    /* si_addr */
	unsigned char value; /* the byte read (read accesses without a signal) */
};

/* Read (or write @value to) the byte at @p, catching SIGSEGV/SIGBUS. */
struct access_result probe_read(volatile unsigned char *p);
struct access_result probe_write(volatile unsigned char *p, unsigned char value);

/* A transcript of observations, compared between kinds. */
struct transcript {
	char *text;
	size_t len, cap;
};

void transcript_printf(struct transcript *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void transcript_free(struct transcript *t);
/* Make room for @bytes of text now, so recording allocates no more. */
void transcript_reserve(struct transcript *t, size_t bytes);
/* Record an access result with addresses relative to @base. */
void transcript_access(struct transcript *t, const char *what, const void *base,
		       struct access_result r);

/* Run @fn on the kernel kind and on upager (default options); the two
 * transcripts must match line for line, or the test fails showing both. */
typedef void (*scenario_fn)(struct mem *m, struct transcript *t);
void differential(scenario_fn fn);
/* The same, with upager opened with @opts. */
void differential_with(scenario_fn fn, const struct upager_options *opts);

/* The process's @field ("Rss", "Anonymous") of /proc/self/smaps_rollup,
 * in bytes: its resident memory as the kernel counts it. */
size_t rollup_bytes(const char *field);

/* "/var/tmp/upager-test-@tag-PID", no file there: a fresh swap store's
 * name (one static buffer: the last call's). */
const char *test_swap_path(const char *tag);
/* upager_open(@opts), asserting it worked. */
struct upager *test_open(const struct upager_options *opts);


/* A pager opened with @opts and @pages pages of private anonymous memory
 * mapped read-write in it, at *@mem (asserts). */
struct upager *open_mapped(const struct upager_options *opts, size_t pages, void **mem);
/* @pager's statistics now (asserts the read). */
struct upager_stats stats_now(struct upager *pager);
/* @pages of private read-write memory mapped through @pager (asserts). */
uint64_t *map_rw(struct upager *pager, size_t pages);

/* A thread doing @round(@arg) over and over, from loop_start() until
 * loop_stop() (which waits for the round under way): the background
 * activity a test races its own accesses against. */
struct loop_thread {
	pthread_t tid;
	atomic_bool stop;
	void (*round)(void *arg);
	void *arg;
};

void loop_start(struct loop_thread *l, void (*round)(void *arg), void *arg);
void loop_stop(struct loop_thread *l);

/* Pages of [p, p + len) resident according to mincore(2): the kernel's view. */
size_t resident_pages(const void *p, size_t len);

/* Fill the PAGE bytes at @p with words derived from (@pg, word index,
 * @gen), none of them zero, so a page from the wrong place or time, or a
 * zero page, shows; gen_holds() checks every word. */
void gen_fill(uint64_t *p, size_t pg, uint64_t gen);
bool gen_holds(const uint64_t *p, size_t pg, uint64_t gen);

/* Deterministic PRNG for randomized tests (splitmix64). */
uint64_t rng_next(uint64_t *state);

/* Seed for randomized tests: UPAGER_TEST_SEED or @fallback; printed. */
uint64_t test_seed(uint64_t fallback);

/* The store the eviction and swap-in suites page to, as
 * upager_options.compress: UPAGER_TEST_COMPRESS=lz4|zstd pages through
 * the compressed tier (tests/meson.build registers those suites once
 * more with it), unset the file store alone (0, the default). */
unsigned int test_compress(void);

#endif
