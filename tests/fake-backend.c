/* SPDX-License-Identifier: MIT */
/*
 * fake-backend.c - the backend the engine tests run on (fake-backend.h).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake-backend.h"
#include "mm/fault.h"
#include "mm/pager.h"

struct injection {
	bool armed;
	unsigned int skip, count;
	enum fake_mode mode;
	long ret;
};

struct backend {
	pthread_mutex_t lock; /* the engine's threads may call at once */
	size_t ps;
	int mem_fd, pagemap_fd;
	char page[65536];     /* a move's bytes on their way */
	struct injection inj[FAKE_OPS];
	struct fake_call *calls;
	size_t ncalls;
	bool overflow;
	fake_pause_fn pause; /* fake_pause_fill()'s, until it is called */
	void *pause_arg;
};

struct backend *fake_of(struct upager *p)
{
	return p->be;
}

void fake_pause_fill(struct backend *be, fake_pause_fn fn, void *arg)
{
	pthread_mutex_lock(&be->lock);
	be->pause = fn;
	be->pause_arg = arg;
	pthread_mutex_unlock(&be->lock);
}

bool fake_present(struct backend *be, uintptr_t addr)
{
	uint64_t e = 0;

	if (pread(be->pagemap_fd, &e, sizeof(e), (off_t)(addr / be->ps * sizeof(e))) != sizeof(e))
		return false;
	return e >> 63;
}

void fake_expect_pages(struct upager *p, struct fault_ctx *ctx, unsigned char *m, size_t n,
		       unsigned char (*want)(size_t page, size_t byte))
{
	struct backend *be = fake_of(p);

	for (size_t i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)m + i * be->ps;

		if (!fake_present(be, a))
			cr_assert_eq(fault_handle(p, ctx, a, 0), FAULT_RESOLVED, "page %zu", i);
		cr_assert(fake_present(be, a), "page %zu not brought back", i);
		for (size_t b = 0; b < be->ps; b++)
			if (m[i * be->ps + b] != want(i, b))
				cr_assert_fail("page %zu byte %zu reads 0x%02x, not 0x%02x", i, b,
					       m[i * be->ps + b], want(i, b));
	}
}

/* Is this call of @op to be answered as injected? Takes be->lock, which
 * the call's record() lets go. */
static struct injection *injected(struct backend *be, enum fake_op op)
{
	struct injection *in = &be->inj[op];

	pthread_mutex_lock(&be->lock);
	if (!in->armed)
		return NULL;
	if (in->skip) {
		in->skip--;
		return NULL;
	}
	if (!--in->count)
		in->armed = false;
	return in;
}

static long record(struct backend *be, enum fake_op op, uintptr_t start, uintptr_t src,
		   size_t len, int flags, long ret)
{
	if (be->ncalls < FAKE_CALLS_MAX)
		be->calls[be->ncalls++] = (struct fake_call){ op, start, src, len, flags, ret };
	else
		be->overflow = true;
	pthread_mutex_unlock(&be->lock);
	return ret;
}

/* Bytes a call may do, and what it then answers, given its injection: a
 * failed call does nothing and answers the injected error. */
static size_t limit(const struct injection *in, size_t len)
{
	if (in && in->mode == FAKE_FAIL)
		return 0;
	if (in && in->mode == FAKE_SHORT && in->ret >= 0 && (size_t)in->ret < len)
		return (size_t)in->ret;
	return len;
}

static long answer(const struct injection *in, size_t done, long err)
{
	if (in && (in->mode == FAKE_UNDERCOUNT || in->mode == FAKE_FAIL))
		return in->ret;
	return done ? (long)done : err;
}

/* A call of @op that moves @len bytes: its injection, *@in, and the bytes
 * it may do. Takes be->lock, as injected() does. */
static size_t injected_len(struct backend *be, enum fake_op op, size_t len,
			   struct injection **in)
{
	*in = injected(be, op);
	return limit(*in, len);
}

/* Write @len bytes at @src (NULL: zeroes) to @dst, a page at a time while
 * no page is there yet. Returns the bytes written; *@err why it stopped. */
static size_t install(struct backend *be, uintptr_t dst, const char *src, size_t len, long *err)
{
	static const char zeroes[65536];
	size_t done = 0;

	*err = 0;
	while (done < len) {
		const char *from = src ? src + done : zeroes;

		if (fake_present(be, dst + done)) {
			*err = -EEXIST;
			break;
		}
		if (pwrite(be->mem_fd, from, be->ps, (off_t)(dst + done)) != (ssize_t)be->ps) {
			*err = -ENOENT; /* EIO: nothing mapped there */
			break;
		}
		done += be->ps;
	}
	return done;
}

static int fake_open(struct upager *pager, struct backend **out)
{
	struct backend *be = calloc(1, sizeof(*be));

	(void)pager;
	if (!be)
		return -ENOMEM;
	be->calls = calloc(FAKE_CALLS_MAX, sizeof(*be->calls));
	be->ps = (size_t)sysconf(_SC_PAGESIZE);
	be->mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	be->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (!be->calls || be->mem_fd < 0 || be->pagemap_fd < 0 || be->ps > sizeof(be->page)) {
		free(be->calls);
		free(be);
		return -ENOMEM;
	}
	pthread_mutex_init(&be->lock, NULL);
	*out = be;
	return 0;
}

static int fake_start(struct backend *be)
{
	(void)be;
	return 0;
}

static int fake_attach(struct backend *be, uintptr_t start, uintptr_t end, int how)
{
	struct injection *in;
	int ret = 0;

	in = injected(be, FAKE_ATTACH);
	if (in)
		ret = (int)in->ret;
	else if (how == BACKEND_SHARED || how == BACKEND_PRIVATE)
		ret = -EOPNOTSUPP;
	return (int)record(be, FAKE_ATTACH, start, 0, end - start, how, ret);
}

static int fake_detach(struct backend *be, uintptr_t start, uintptr_t end)
{
	struct injection *in;

	in = injected(be, FAKE_DETACH);
	return (int)record(be, FAKE_DETACH, start, 0, end - start, 0, in ? in->ret : 0);
}

static long fake_fill_zero(struct backend *be, uintptr_t start, size_t len, bool writable)
{
	struct injection *in;
	size_t done = 0, todo;
	long err = 0;

	todo = injected_len(be, FAKE_FILL_ZERO, len, &in);
	if (writable && be->pause && todo > be->ps) {
		/* The first page in, then a pause with the lock let go, as
		 * the kernel may be preempted between pages of one install. */
		fake_pause_fn fn = be->pause;

		be->pause = NULL;
		done = install(be, start, NULL, be->ps, &err);
		if (done == be->ps) {
			pthread_mutex_unlock(&be->lock);
			fn(be->pause_arg, start, todo);
			pthread_mutex_lock(&be->lock);
			done += install(be, start + be->ps, NULL, todo - be->ps, &err);
		}
	} else if (writable) {
		done = install(be, start, NULL, todo, &err);
	} else {
		/* A read maps the shared zero page, as UFFDIO_ZEROPAGE does. */
		char c;

		while (done < todo && !fake_present(be, start + done) &&
		       pread(be->mem_fd, &c, 1, (off_t)(start + done)) == 1)
			done += be->ps;
		if (done < todo)
			err = fake_present(be, start + done) ? -EEXIST : -ENOENT;
	}
	return record(be, FAKE_FILL_ZERO, start, 0, len, writable, answer(in, done, err));
}

static int fake_wake(struct backend *be, uintptr_t start, size_t len)
{
	struct injection *in;

	in = injected(be, FAKE_WAKE);
	return (int)record(be, FAKE_WAKE, start, 0, len, 0, in ? in->ret : 0);
}

static long fake_copy(struct backend *be, uintptr_t dst, const void *src, size_t len)
{
	struct injection *in;
	size_t done;
	long err;

	done = install(be, dst, src, injected_len(be, FAKE_COPY, len, &in), &err);
	return record(be, FAKE_COPY, dst, (uintptr_t)src, len, 0, answer(in, done, err));
}

static long fake_move(struct backend *be, uintptr_t dst, uintptr_t src, size_t len)
{
	struct injection *in;
	size_t done = 0, todo;
	long err = 0;

	todo = injected_len(be, FAKE_MOVE, len, &in);
	while (done < todo) {
		if (fake_present(be, dst + done)) {
			err = -EEXIST;
			break;
		}
		if (!fake_present(be, src + done)) {
			err = -ENOENT;
			break;
		}
		if (pread(be->mem_fd, be->page, be->ps, (off_t)(src + done)) != (ssize_t)be->ps ||
		    pwrite(be->mem_fd, be->page, be->ps, (off_t)(dst + done)) != (ssize_t)be->ps) {
			err = -ENOENT;
			break;
		}
		/* The source is left with no page, as after UFFDIO_MOVE. */
		madvise((void *)(src + done), be->ps, MADV_DONTNEED);
		done += be->ps;
	}
	return record(be, FAKE_MOVE, dst, src, len, 0, answer(in, done, err));
}

static long fake_cont(struct backend *be, uintptr_t start, size_t len, bool wp)
{
	struct injection *in;

	in = injected(be, FAKE_CONT);
	return record(be, FAKE_CONT, start, 0, len, wp, in ? in->ret : -EOPNOTSUPP);
}

static int fake_protect(struct backend *be, uintptr_t start, size_t len, bool on)
{
	struct injection *in;

	in = injected(be, FAKE_PROTECT);
	return (int)record(be, FAKE_PROTECT, start, 0, len, on, in ? in->ret : 0);
}

static int fake_poison(struct backend *be, uintptr_t addr)
{
	struct injection *in;

	in = injected(be, FAKE_POISON);
	return (int)record(be, FAKE_POISON, addr, 0, be->ps, 0, in ? in->ret : 0);
}

static void fake_fence(struct backend *be)
{
	pthread_mutex_lock(&be->lock);
	record(be, FAKE_FENCE, 0, 0, 0, 0, 0);
}

static void fake_close(struct backend *be)
{
	if (!be)
		return;
	close(be->mem_fd);
	close(be->pagemap_fd);
	pthread_mutex_destroy(&be->lock);
	free(be->calls);
	free(be);
}

const struct backend_ops fake_backend_ops = {
	.name = "fake",
	.open = fake_open,
	.start = fake_start,
	.attach = fake_attach,
	.detach = fake_detach,
	.fill_zero = fake_fill_zero,
	.wake = fake_wake,
	.copy = fake_copy,
	.move = fake_move,
	.cont = fake_cont,
	.protect = fake_protect,
	.poison = fake_poison,
	.fence = fake_fence,
	.close = fake_close,
	.forget = fake_close,
};

void fake_inject(struct backend *be, enum fake_op op, unsigned int skip, unsigned int count,
		 enum fake_mode mode, long ret)
{
	pthread_mutex_lock(&be->lock);
	be->inj[op] = (struct injection){ .armed = count > 0, .skip = skip, .count = count,
					  .mode = mode, .ret = ret };
	pthread_mutex_unlock(&be->lock);
}

const struct fake_call *fake_calls(struct backend *be, size_t *n)
{
	cr_assert(!be->overflow, "the fake kept only the first %d calls", FAKE_CALLS_MAX);
	*n = be->ncalls;
	return be->calls;
}

void fake_calls_reset(struct backend *be)
{
	pthread_mutex_lock(&be->lock);
	be->ncalls = 0;
	be->overflow = false;
	pthread_mutex_unlock(&be->lock);
}

size_t fake_count(struct backend *be, enum fake_op op)
{
	size_t n = 0;

	pthread_mutex_lock(&be->lock);
	for (size_t i = 0; i < be->ncalls; i++)
		n += be->calls[i].op == op;
	pthread_mutex_unlock(&be->lock);
	return n;
}

size_t fake_count_at(struct backend *be, enum fake_op op, uintptr_t addr)
{
	size_t n = 0;

	pthread_mutex_lock(&be->lock);
	for (size_t i = 0; i < be->ncalls; i++)
		n += be->calls[i].op == op && addr >= be->calls[i].start &&
		     addr - be->calls[i].start < be->calls[i].len;
	pthread_mutex_unlock(&be->lock);
	return n;
}
