/* SPDX-License-Identifier: MIT */
/*
 * fake-backend.h - a backend without a kernel, for driving the engine in
 * tests: it records every call (op, range, flags, what it answered) and
 * answers as userfaultfd would, on the real anonymous memory of the
 * pager's regions: an install writes the bytes through /proc/self/mem
 * (past the mapping's protection, as UFFDIO_COPY does) and answers
 * -EEXIST where a page is present already; a move copies and discards
 * the source (-ENOENT: no page there). Presence is what pagemap says, as
 * the engine itself checks it. Results can be injected per op.
 *
 * It serves no faults of its own (no threads): a test calls fault_handle()
 * as a serving model would, then reads the bytes. Shared objects' ranges
 * are refused (-EOPNOTSUPP), as by a kernel without shmem faults.
 */
#ifndef UPAGER_TESTS_FAKE_BACKEND_H
#define UPAGER_TESTS_FAKE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

enum fake_op {
	FAKE_ATTACH,
	FAKE_DETACH,
	FAKE_FILL_ZERO,
	FAKE_WAKE,
	FAKE_COPY,
	FAKE_MOVE,
	FAKE_CONT,
	FAKE_PROTECT,
	FAKE_POISON,
	FAKE_FENCE,
	FAKE_OPS,
};

struct fake_call {
	enum fake_op op;
	uintptr_t start;  /* dst for copy and move */
	uintptr_t src;    /* move's source (copy: the buffer) */
	size_t len;
	int flags;        /* attach: how; fill_zero: writable; cont: wp; protect: on */
	long ret;         /* what the fake answered */
};

/* How an injected answer is given. */
enum fake_mode {
	FAKE_FAIL,       /* do nothing, answer @ret (-errno) */
	FAKE_SHORT,      /* do only the first @ret bytes, and say so */
	FAKE_UNDERCOUNT, /* do it all, answer @ret bytes: a count cut short
	                  * by an error after the work (UFFDIO_MOVE's) */
};

extern const struct backend_ops fake_backend_ops;

/* The pager's fake (opened on fake_backend_ops). */
struct backend *fake_of(struct upager *p);

/* The @skip + 1-th call of @op from now, and the @count - 1 after it,
 * are answered @ret as @mode says. One injection per op at a time. */
void fake_inject(struct backend *be, enum fake_op op, unsigned int skip, unsigned int count,
		 enum fake_mode mode, long ret);

/* The calls recorded so far (oldest first) and their number; at most
 * FAKE_CALLS_MAX are kept, and fake_calls() fails the test past that. */
#define FAKE_CALLS_MAX 65536
const struct fake_call *fake_calls(struct backend *be, size_t *n);
/* Forget the calls recorded so far. */
void fake_calls_reset(struct backend *be);
/* Calls of @op recorded so far. */
size_t fake_count(struct backend *be, enum fake_op op);
/* Calls of @op whose range holds @addr. */
size_t fake_count_at(struct backend *be, enum fake_op op, uintptr_t addr);

/* The next writable fill_zero of more than one page installs its first
 * page, calls @fn(@arg, start, len) with the fake's lock let go, then
 * installs the rest (where no page is by then), as the kernel may stop
 * between the pages of one install. Once. */
typedef void (*fake_pause_fn)(void *arg, uintptr_t start, size_t len);
void fake_pause_fill(struct backend *be, fake_pause_fn fn, void *arg);

/* Is the page at @addr present (pagemap)? */
bool fake_present(struct backend *be, uintptr_t addr);

/* Every byte of [m, m + n pages) reads @want(page, byte), a fault through
 * @ctx bringing back each page the fake has not mapped (asserts). */
struct fault_ctx;
void fake_expect_pages(struct upager *p, struct fault_ctx *ctx, unsigned char *m, size_t n,
		       unsigned char (*want)(size_t page, size_t byte));

#endif /* UPAGER_TESTS_FAKE_BACKEND_H */
