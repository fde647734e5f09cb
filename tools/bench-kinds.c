/* SPDX-License-Identifier: MIT */
/*
 * bench-kinds.c - the kinds of fault upager-bench measures: for each kind
 * and implementation, the region faulted on and how it is prepared, the
 * pass that makes the faults, and the counters that confirm each touch
 * was a fault of the kind (the kernel's fault counts, upager's stats).
 *
 * Kinds, each measured with 1 and 2 faulting threads:
 *   zero-seq    first write to anonymous memory, in order / in a fixed
 *   zero-rand   random permutation. kernel; raw-uffd (MISSING, UFFDIO_COPY
 *               of a zero page); sigsegv (a PROT_NONE region whose SIGSEGV
 *               handler mprotects the page RW, then the kernel zero-fills
 *               it); upager (fault-around) and upager-nofa (one page a
 *               fault, the like-for-like comparison with raw-uffd).
 *   swapin      a region 4x the frame budget written whole, so most of it
 *               is in the swap store; pages still there are read in random
 *               order, each touch one swap-in. Baseline: io_uring.
 *   fileread    first read of pages of a file whose page cache was dropped
 *               (fdatasync + POSIX_FADV_DONTNEED), through a shared
 *               read-only mapping, random order. kernel (mmap with
 *               MADV_RANDOM: no read-around, one page a fault, as upager
 *               does for random faults); upager (upager_map_file); io_uring.
 *   minor       first read, through a second shared mapping of the file,
 *               of pages the first mapping brought in: no I/O. kernel (page
 *               cache); raw-uffd (MINOR on a memfd, UFFDIO_CONTINUE);
 *               upager. One page in 16 is touched, 64 KiB apart, and the
 *               kernel's page cache holds them in single pages, so its
 *               fault-around never maps a page touched later.
 *   cow         first write to a page of a private file mapping that was
 *               read first (so it maps the file's page write-protected):
 *               kernel (MAP_PRIVATE); raw-uffd (WP on populated anonymous
 *               memory, the handler clears the protection: the round trip
 *               without the copy); upager.
 *   refault     under the budget, pages pushed to the inactive list by a
 *               block of fresh writes larger than the budget, touched
 *               again: a soft fault without I/O. upager only; its
 *               reactivations and swap-ins confirm what each touch was.
 *               One page per aligned REACTIVATE_AROUND (16) is touched:
 *               a soft fault brings back the pages staged beside it.
 *   handlers    zero-rand's faults (one page a fault, UFFDIO_COPY of a zero
 *               page) served by each design of the raw handler (enum
 *               raw_design): one handler in read(2), poll(2) or io_uring;
 *               a handler per CPU in poll(2) or read(2), or in poll(2) as
 *               SCHED_BATCH or SCHED_IDLE; the faulting thread itself
 *               (UFFD_FEATURE_SIGBUS). Also with threads not pinned
 *               (free), as a program's are: there a one-handler design's
 *               handler goes where the scheduler puts it; and spread with
 *               a computing thread pinned beside each faulting one
 *               (busy), at most BUSY_TOUCHES touches. A one-handler
 *               design has no spread or busy row: one handler cannot be
 *               on both CPUs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mm/reclaim.h"
#include "upager.h"

const char *const kind_name[NKIND] = {
	"zero-seq", "zero-rand", "swapin", "fileread", "minor", "cow", "refault", "handlers",
};
const char *const impl_name[NIMPL] = {
	"kernel", "raw-uffd", "sigsegv", "io_uring", "upager", "upager-nofa",
	"raw-read", "raw-poll", "raw-uring", "raw-cpupoll", "raw-cpuread", "raw-cpubatch",
	"raw-cpuidle", "raw-sigbus",
};
const char *const tc_place[NTC] = { "same", "cross", "spread", "free", "free", "busy" };
const unsigned int tc_threads[NTC] = { 1, 1, 2, 1, 2, 2 };

#define IMPLS(...) impl_mask((const enum impl[]){ __VA_ARGS__, NIMPL })

static unsigned int impl_mask(const enum impl *list)
{
	unsigned int m = 0;

	for (; *list != NIMPL; list++)
		m |= 1u << *list;
	return m;
}

/* The implementations each kind compares. */
static unsigned int kind_impls(enum kind kind)
{
	switch (kind) {
	case K_ZERO_SEQ:
	case K_ZERO_RAND:
		return IMPLS(IMPL_KERNEL, IMPL_RAW, IMPL_SIGSEGV, IMPL_UPAGER, IMPL_NOFA);
	case K_SWAPIN:
		return IMPLS(IMPL_IOURING, IMPL_UPAGER);
	case K_FILEREAD:
		return IMPLS(IMPL_KERNEL, IMPL_IOURING, IMPL_UPAGER);
	case K_MINOR:
	case K_COW:
		return IMPLS(IMPL_KERNEL, IMPL_RAW, IMPL_UPAGER);
	case K_HANDLERS:
		return IMPLS(IMPL_H_READ, IMPL_H_POLL, IMPL_H_URING, IMPL_H_CPU_POLL, IMPL_H_CPU_READ,
			     IMPL_H_CPU_BATCH, IMPL_H_CPU_IDLE, IMPL_H_SIGBUS);
	default:
		return IMPLS(IMPL_UPAGER);
	}
}

bool kind_has(enum kind kind, enum impl impl)
{
	return kind_impls(kind) & (1u << impl);
}

/* The design of each IMPL_H_ implementation. */
static enum raw_design impl_design(enum impl impl)
{
	switch (impl) {
	case IMPL_H_READ:
		return RAW_READ;
	case IMPL_H_POLL:
		return RAW_POLL;
	case IMPL_H_URING:
		return RAW_URING;
	case IMPL_H_CPU_POLL:
		return RAW_CPU_POLL;
	case IMPL_H_CPU_READ:
		return RAW_CPU_READ;
	case IMPL_H_CPU_BATCH:
		return RAW_CPU_BATCH;
	case IMPL_H_CPU_IDLE:
		return RAW_CPU_IDLE;
	case IMPL_H_SIGBUS:
		return RAW_SIGBUS;
	default:
		return RAW_PER_THREAD;
	}
}

static bool impl_is_per_cpu(enum impl impl)
{
	return raw_design_is_per_cpu(impl_design(impl));
}

bool pass_exists(enum kind kind, enum impl impl, enum tcfg tc)
{
	if (!kind_has(kind, impl))
		return false;
	if (kind != K_HANDLERS)
		return tc == TC_SAME || tc == TC_CROSS || tc == TC_TWO;
	/* One handler cannot be spread over two CPUs. */
	return (tc != TC_TWO && tc != TC_BUSY2) || impl_is_per_cpu(impl) || impl == IMPL_H_SIGBUS;
}

/* No handler thread, or handlers pinned one per CPU whatever the
 * placement says: one thread's same and cross rows are one measurement. */
bool impl_ignores_placement(enum impl impl)
{
	return impl == IMPL_KERNEL || impl == IMPL_SIGSEGV || impl == IMPL_IOURING ||
	       impl_is_per_cpu(impl) || impl == IMPL_H_SIGBUS;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void note(struct bench *b, const char *what, int err)
{
	for (unsigned int i = 0; i < b->nnotes; i++)
		if (!strncmp(b->notes[i], what, strlen(what)))
			return;
	if (b->nnotes < sizeof(b->notes) / sizeof(b->notes[0]))
		snprintf(b->notes[b->nnotes++], sizeof(b->notes[0]), "%s: not measured: %s", what,
			 strerror(-err));
}

/* ---- measurements ------------------------------------------------------------------ */

/* One measurement: a kind, an implementation, a thread configuration. */
struct ctx {
	struct bench *b;
	enum kind kind;
	enum impl impl;
	enum tcfg tc;
	struct sample *s;
	struct bench_hist *h;  /* pooled over runs */
};

static uint64_t deadline_of(const struct bench *b)
{
	return b->duration > 0 ? now_ns() + (uint64_t)(b->duration * 1e9) : 0;
}

static void touch_init(struct bench *b, struct touch *t, char *base, const uint32_t *order,
		       size_t n, enum access acc, enum tcfg tc)
{
	memset(t, 0, sizeof(*t));
	t->base = base;
	t->page = b->page;
	t->order = order;
	t->n = n;
	t->acc = acc;
	t->timed = true;
	t->lat = b->lat;
	t->io_fd = b->fd_direct;
	t->threads = tc_threads[tc];
	t->cpus = tc_is_pinned(tc) ? NULL : &b->cpus;
}

/* The sample of @n touches whose latencies are @lat (sorted here), made
 * in @ns. */
static void sample_from(struct ctx *c, uint64_t *lat, size_t n, uint64_t ns)
{
	struct sample *s = c->s;

	s->valid = true;
	s->touches = (double)n;
	s->pps = (double)n * 1e9 / (double)(ns ? ns : 1);
	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		bench_hist_add(c->h, lat[i]);
	qsort(lat, n, sizeof(lat[0]), bench_cmp_u64);
	s->p50 = bench_percentile(lat, n, 500);
	s->p90 = bench_percentile(lat, n, 900);
	s->p99 = bench_percentile(lat, n, 990);
	s->p999 = bench_percentile(lat, n, 999);
	s->max = (double)lat[n - 1];
}

static void report_bad(struct ctx *c, uint64_t bad, const char *what)
{
	if (!bad)
		return;
	fprintf(stderr, "%supager-bench: %s %s %ut %s: %" PRIu64 " %s\n", c->b->tty ? "\n" : "",
		kind_name[c->kind], impl_name[c->impl], tc_threads[c->tc], tc_place[c->tc], bad, what);
	c->b->data_error = true;
}

static void kernel_counts(struct ctx *c, const struct touch *t)
{
	c->s->faults += (double)(t->minflt + t->majflt);
	c->s->served += (double)(c->kind == K_FILEREAD ? t->majflt : t->minflt);
	c->s->io += (double)t->majflt;
}

/* Add upager's counters over [@a, @z] to the sample. */
static void upager_counts(struct ctx *c, const struct upager_stats *a, const struct upager_stats *z)
{
	static const size_t served[NKIND] = {
		offsetof(struct upager_stats, zero_fills), offsetof(struct upager_stats, zero_fills),
		offsetof(struct upager_stats, swapins), offsetof(struct upager_stats, file_reads),
		offsetof(struct upager_stats, faults_minor), offsetof(struct upager_stats, cow_breaks),
		offsetof(struct upager_stats, reactivations), offsetof(struct upager_stats, zero_fills),
	};
	uint64_t sa, sz;
	struct sample *s = c->s;

	memcpy(&sa, (const char *)a + served[c->kind], sizeof(sa));
	memcpy(&sz, (const char *)z + served[c->kind], sizeof(sz));
	s->faults += (double)(z->faults - a->faults);
	s->served += (double)(sz - sa);
	/* Swap-ins and file reads: operations, what was read ahead aside. */
	if (c->kind == K_SWAPIN || c->kind == K_FILEREAD)
		s->served -= (double)(z->readahead_pages - a->readahead_pages);
	s->io += (double)(z->swapins - a->swapins + z->file_reads - a->file_reads);
	s->deferred += (double)(z->faults_deferred - a->faults_deferred);
	report_bad(c, z->sigbus - a->sigbus, "accesses answered with SIGBUS");
	report_bad(c, z->checksum_failures - a->checksum_failures, "swap checksum failures");
}

/*
 * The swap store of the pager open, to remove when a signal ends the run
 * before upager_close() does: process-wide, because a signal handler
 * reaches nothing else.
 */
static struct {
	char path[PATH_MAX];
	volatile sig_atomic_t live;
} swap_file;

/* A signal ending the run leaves no swap store behind. */
static void on_signal(int sig)
{
	if (swap_file.live)
		unlink(swap_file.path);
	signal(sig, SIG_DFL);
	raise(sig);
}

void cleanup_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
}

static int pager_open(struct ctx *c, unsigned int fault_around, uint64_t budget,
		      struct upager **out)
{
	/* As the library's default: with swap, one handler more than the
	 * CPUs in use, so every faulting thread's handler may wait for its
	 * read while one stays free. */
	unsigned int handlers = tc_threads[c->tc] + (budget ? 1 : 0);
	struct upager_options o = UPAGER_OPTS(.handler_threads = handlers,
					      .fault_around_max = fault_around,
					      .flags = UPAGER_OPEN_PIN_HANDLERS,
					      .handler_cpu = handler_cpu(c->tc, 0),
					      .max_resident = budget);
	int err;

	if (budget) {
		snprintf(swap_file.path, sizeof(swap_file.path), FILE_DIR "/upager-bench-swap.%d",
			 (int)getpid());
		o.swap_path = swap_file.path;
		o.swap_size = (uint64_t)(c->b->region_pages + c->b->budget_pages) * c->b->page;
		if (c->b->page_cluster >= 0)
			o.swap_readahead_max = 1u << c->b->page_cluster;
		swap_file.live = 1;
	}
	err = upager_open(&o, out);
	if (err) {
		swap_file.live = 0;
		fprintf(stderr, "upager-bench: upager_open: %s\n", strerror(-err));
	}
	return err;
}

static void pager_close(struct upager *p)
{
	upager_close(p);
	swap_file.live = 0;
}

/* Wait until background reclaim has stopped moving pages (at most 3 s),
 * so what mincore() sees stays true while a pass runs. */
static void pager_settle(struct upager *p)
{
	uint64_t last = UINT64_MAX;

	for (int i = 0; i < 150; i++) {
		struct upager_stats st = UPAGER_STATS();
		uint64_t v;

		upager_stats_read(p, &st);
		v = st.staged + st.writebacks + st.clean_drops + st.zero_drops + st.swapins +
		    st.pages_resident;
		if (v == last)
			return;
		last = v;
		sleep_ms(20);
	}
}

static void read_all(const char *base, size_t pages, size_t page)
{
	for (size_t i = 0; i < pages; i++)
		(void)*(volatile const uint64_t *)(base + i * page);
}

static void read_pages(const char *base, const uint32_t *order, size_t n, size_t page)
{
	for (size_t i = 0; i < n; i++)
		(void)*(volatile const uint64_t *)(base + (size_t)order[i] * page);
}

/* The touched pages of zero-fill hold the written byte and zeros after it:
 * a benchmark of a pager that loses data would measure nothing. */
static uint64_t check_zero(const struct touch *t)
{
	uint64_t bad = 0;

	for (unsigned int k = 0; k < t->threads; k++) {
		for (size_t i = t->lo[k]; i < t->lo[k] + t->done[k]; i++) {
			const char *p = t->base + (size_t)t->order[i] * t->page;

			bad += p[0] != 1 || p[1] != 0 || p[t->page - 1] != 0;
		}
	}
	return bad;
}

/* A written page of a copy-on-write pass: the new head, the old tail. */
static uint64_t check_cow(const struct touch *t)
{
	uint64_t bad = 0;

	for (unsigned int k = 0; k < t->threads; k++) {
		for (size_t i = t->lo[k]; i < t->lo[k] + t->done[k]; i++) {
			uint64_t idx = t->order[i];
			const char *p = t->base + idx * t->page;

			bad += *(const uint64_t *)p != ~pattern_head(idx) ||
			       *(const uint64_t *)(p + t->page - 8) != pattern_tail(idx);
		}
	}
	return bad;
}

/* ---- zero-fill ---------------------------------------------------------------------- */

struct zarena {
	char *base;
	size_t len;
	struct upager *pager;
	struct upager_stats st;
	struct raw_uffd raw;
};

static int zarena_open(struct ctx *c, struct zarena *a)
{
	void *addr;
	int err;

	memset(a, 0, sizeof(*a));
	a->len = c->b->pages * c->b->page;
	switch (c->impl) {
	case IMPL_KERNEL:
	case IMPL_RAW:
	case IMPL_H_READ:
	case IMPL_H_POLL:
	case IMPL_H_URING:
	case IMPL_H_CPU_POLL:
	case IMPL_H_CPU_READ:
	case IMPL_H_CPU_BATCH:
	case IMPL_H_CPU_IDLE:
	case IMPL_H_SIGBUS:
		a->base = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (a->base == MAP_FAILED)
			return -errno;
		if (c->impl == IMPL_KERNEL)
			return 0;
		err = raw_open(&a->raw, RAW_MISSING, impl_design(c->impl), a->base, a->len,
			       c->b->page, c->tc, &c->b->cpus);
		if (err)
			munmap(a->base, a->len);
		return err;
	case IMPL_SIGSEGV:
		return segv_open(&a->base, a->len, c->b->page);
	default:
		err = pager_open(c, c->impl == IMPL_NOFA ? 1 : 0, c->b->zero_budget, &a->pager);
		if (err)
			return err;
		err = upager_map(a->pager, NULL, a->len, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
				 UPAGER_MAP_PRIVATE, &addr);
		if (err) {
			pager_close(a->pager);
			return err;
		}
		a->base = addr;
		a->st = UPAGER_STATS();
		return upager_stats_read(a->pager, &a->st);
	}
}

/* Unmap, and count the pass's faults into the sample (the timed pass,
 * last, is the one that stays). */
static int zarena_close(struct ctx *c, struct zarena *a, const struct touch *t)
{
	struct upager_stats z = UPAGER_STATS();
	uint64_t faults;
	int err = 0;

	c->s->faults = c->s->served = c->s->io = 0;
	switch (c->impl) {
	case IMPL_KERNEL:
		kernel_counts(c, t);
		munmap(a->base, a->len);
		break;
	case IMPL_SIGSEGV:
		c->s->faults = c->s->served = (double)segv_close(a->base, a->len);
		break;
	case IMPL_UPAGER:
	case IMPL_NOFA:
		err = upager_stats_read(a->pager, &z);
		upager_counts(c, &a->st, &z);
		pager_close(a->pager);
		break;
	default:
		/* raw-uffd and the handler designs */
		err = raw_close(&a->raw, &faults);
		munmap(a->base, a->len);
		c->s->faults = c->s->served = (double)faults;
		break;
	}
	return err;
}

/* The busy placement's computing threads: one pinned beside each faulting
 * thread, spinning while a pass runs, at the default policy. */
struct busy {
	pthread_t thread[2];
	unsigned int n;
	atomic_bool stop;
};

static void *busy_spin(void *arg)
{
	struct busy *y = arg;

	while (!atomic_load_explicit(&y->stop, memory_order_relaxed))
		;
	return NULL;
}

static void busy_stop(struct busy *y)
{
	atomic_store(&y->stop, true);
	for (unsigned int i = 0; i < y->n; i++)
		pthread_join(y->thread[i], NULL);
	y->n = 0;
}

/* Start @tc's computing threads, if it has any. */
static int busy_start(struct busy *y, enum tcfg tc)
{
	int err = 0;

	y->n = 0;
	atomic_init(&y->stop, false);
	for (unsigned int i = 0; tc == TC_BUSY2 && i < tc_threads[tc] && !err; i++) {
		err = -pthread_create(&y->thread[i], NULL, busy_spin, y);
		if (err)
			break;
		y->n++;
		err = pin_cpu(y->thread[i], handler_cpu(tc, i));
	}
	if (err)
		busy_stop(y);
	return err;
}

static int measure_zero(struct ctx *c)
{
	struct bench *b = c->b;
	size_t touches = kind_touches(b, c->kind);
	struct touch t;
	double pps = 0;
	int err = 0;

	if (c->tc == TC_BUSY2)
		touches = min_size(touches, BUSY_TOUCHES);
	for (int pass = 0; pass < 2 && !err; pass++) {
		struct zarena a;
		struct busy y;
		int close_err;

		err = zarena_open(c, &a);
		if (err)
			return err;
		touch_init(b, &t, a.base, b->order[c->kind != K_ZERO_SEQ], touches, ACC_WRITE_ONE,
			   c->tc);
		t.timed = pass == 1;
		t.deadline = deadline_of(b);
		err = busy_start(&y, c->tc);
		if (!err) {
			err = touch_run(&t);
			busy_stop(&y);
		}
		report_bad(c, check_zero(&t), "pages read back wrong");
		close_err = zarena_close(c, &a, &t);
		if (!err)
			err = close_err;
		if (!pass)
			pps = (double)t.total * 1e9 / (double)t.ns;
	}
	if (err)
		return err;
	sample_from(c, b->lat, t.total, t.ns);
	c->s->pps = pps;
	return 0;
}

/* ---- the file ------------------------------------------------------------------------- */

int file_create(struct bench *b)
{
	char path[] = FILE_DIR "/upager-bench-XXXXXX", self[64];
	size_t chunk = 4 * MIB, len = b->file_pages * b->page;
	char *buf;
	int err = 0;

	b->fd = mkostemp(path, O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	/* Unlinked at once: nothing to clean up however the run ends. */
	unlink(path);
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0x5a, chunk);
	for (size_t off = 0; off < len && !err; off += chunk) {
		size_t n = min_size(chunk, len - off);

		for (size_t p = 0; p < n; p += b->page)
			pattern_write(buf + p, b->page, (off + p) / b->page);
		if (pwrite(b->fd, buf, n, (off_t)off) != (ssize_t)n)
			err = errno ? -errno : -EIO;
	}
	free(buf);
	if (!err && fdatasync(b->fd))
		err = -errno;
	if (err)
		return err;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", b->fd);
	b->fd_direct = open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
	return b->fd_direct < 0 ? -errno : 0;
}

/* Make the next pass read the file from the disk. */
static void cache_drop(struct bench *b)
{
	size_t len = b->file_pages * b->page;
	uint64_t cached = 0;
	void *m;

	fdatasync(b->fd);
	posix_fadvise(b->fd, 0, 0, POSIX_FADV_DONTNEED);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
	if (m == MAP_FAILED)
		return;
	if (!mincore(m, len, b->vec))
		for (size_t i = 0; i < b->file_pages; i++)
			cached += b->vec[i] & 1;
	munmap(m, len);
	if (cached > b->cached_max)
		b->cached_max = cached;
}

/* The first @n pages of a fixed permutation of the file's pages. */
static size_t file_order(struct bench *b, enum kind kind, size_t n)
{
	for (size_t i = 0; i < b->file_pages; i++)
		b->scratch[i] = (uint32_t)i;
	shuffle(b->scratch, b->file_pages, RAND_SEED + kind);
	return min_size(n, b->file_pages);
}

static int measure_iouring(struct ctx *c)
{
	struct bench *b = c->b;
	struct touch t;
	int err;

	touch_init(b, &t, NULL, b->scratch, file_order(b, c->kind, kind_touches(b, c->kind)),
		   ACC_IO, c->tc);
	t.deadline = deadline_of(b);
	err = touch_run(&t);
	if (err)
		return err;
	report_bad(c, t.bad, "blocks read wrong");
	c->s->served = c->s->io = (double)t.total;
	sample_from(c, b->lat, t.total, t.ns);
	return 0;
}

/* ---- swap-in ------------------------------------------------------------------------- */

static int measure_swapin(struct ctx *c)
{
	struct bench *b = c->b;
	size_t rp = REGION_BUDGETS * b->budget_pages, len = rp * b->page, m = 0, mapped = 0, skip;
	struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
	struct upager *p;
	struct touch t;
	void *addr;
	char *base;
	int err;

	if (c->impl == IMPL_IOURING)
		return measure_iouring(c);
	err = pager_open(c, 0, b->budget, &p);
	if (err)
		return err;
	err = upager_map(p, NULL, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE, UPAGER_MAP_PRIVATE,
			 &addr);
	if (err)
		goto out_close;
	base = addr;
	for (size_t i = 0; i < rp; i++)
		pattern_write(base + i * b->page, b->page, i);
	pager_settle(p);
	upager_stats_read(p, &a);
	if (mincore(base, len, b->vec)) {
		err = -errno;
		goto out_close;
	}
	/* Not mapped: in the swap store, or staged. Staged pages are the
	 * last written of those: leave them out, with a margin. */
	for (size_t i = 0; i < rp; i++) {
		if (b->vec[i] & 1)
			mapped++;
		else
			b->scratch[m++] = (uint32_t)i;
	}
	skip = (a.pages_resident > mapped ? a.pages_resident - mapped : 0) + b->budget_pages / 16;
	m = m > skip ? m - skip : 0;
	if (!b->swapin_seq)
		shuffle(b->scratch, m, RAND_SEED + K_SWAPIN);
	touch_init(b, &t, base, b->scratch, min_size(kind_touches(b, K_SWAPIN), m), ACC_READ, c->tc);
	t.deadline = deadline_of(b);
	err = touch_run(&t);
	upager_stats_read(p, &z);
	upager_counts(c, &a, &z);
	report_bad(c, t.bad, "pages read back wrong");
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
out_close:
	pager_close(p);
	return err;
}

/* ---- file read-in ---------------------------------------------------------------------- */

static int measure_fileread(struct ctx *c)
{
	struct bench *b = c->b;
	size_t len = b->file_pages * b->page;
	struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
	struct upager *p = NULL;
	struct touch t;
	void *base;
	size_t n;
	int err;

	cache_drop(b);
	if (c->impl == IMPL_IOURING)
		return measure_iouring(c);
	n = file_order(b, K_FILEREAD, kind_touches(b, K_FILEREAD));
	if (c->impl == IMPL_KERNEL) {
		base = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
		if (base == MAP_FAILED)
			return -errno;
		/* No read-around: one page per fault, as upager's random faults. */
		madvise(base, len, MADV_RANDOM);
	} else {
		err = pager_open(c, 0, 0, &p);
		if (err)
			return err;
		err = upager_map_file(p, NULL, len, UPAGER_PROT_READ, UPAGER_MAP_SHARED, b->fd, 0,
				      &base);
		if (err)
			goto out;
		upager_stats_read(p, &a);
	}
	touch_init(b, &t, base, b->scratch, n, ACC_READ, c->tc);
	t.deadline = deadline_of(b);
	err = touch_run(&t);
	if (p) {
		upager_stats_read(p, &z);
		upager_counts(c, &a, &z);
	} else {
		kernel_counts(c, &t);
	}
	report_bad(c, t.bad, "pages read back wrong");
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
out:
	if (p)
		pager_close(p);
	else
		munmap(base, len);
	return err;
}

/* ---- minor ------------------------------------------------------------------------------ */

/* raw-uffd's minor faults: a memfd holding the touched pages, mapped
 * shared, registered MINOR. */
static int minor_raw(struct ctx *c, struct touch *t, size_t len)
{
	struct bench *b = c->b;
	struct raw_uffd raw;
	uint64_t faults;
	int fd, err, close_err;
	char *buf, *m;

	fd = memfd_create("upager-bench", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = -ENOMEM;
	buf = malloc(b->page);
	if (!buf)
		goto out_close;
	err = ftruncate(fd, (off_t)len) ? -errno : 0;
	memset(buf, 0x5a, b->page);
	for (size_t i = 0; i < t->n && !err; i++) {
		pattern_write(buf, b->page, t->order[i]);
		if (pwrite(fd, buf, b->page, (off_t)t->order[i] * (off_t)b->page) != (ssize_t)b->page)
			err = -EIO;
	}
	free(buf);
	if (err)
		goto out_close;
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		err = -errno;
		goto out_close;
	}
	err = raw_open(&raw, RAW_MINOR, RAW_PER_THREAD, m, len, b->page, c->tc, &b->cpus);
	if (err)
		goto out_unmap;
	t->base = m;
	t->deadline = deadline_of(b);
	err = touch_run(t);
	close_err = raw_close(&raw, &faults);
	err = err ? err : close_err;
	c->s->faults = c->s->served = (double)faults;
out_unmap:
	munmap(m, len);
out_close:
	close(fd);
	return err;
}

static int measure_minor(struct ctx *c)
{
	struct bench *b = c->b;
	size_t n = min_size(kind_touches(b, K_MINOR), b->file_pages / MINOR_STRIDE);
	size_t len = n * MINOR_STRIDE * b->page;
	struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
	struct upager *p = NULL;
	void *first = MAP_FAILED, *second = MAP_FAILED;
	struct touch t;
	int err = 0;

	for (size_t i = 0; i < n; i++)
		b->scratch[i] = (uint32_t)(i * MINOR_STRIDE);
	shuffle(b->scratch, n, RAND_SEED + K_MINOR);
	touch_init(b, &t, NULL, b->scratch, n, ACC_READ, c->tc);
	if (c->impl == IMPL_RAW) {
		err = minor_raw(c, &t, len);
		goto out_sample;
	}
	/* The first mapping reads only the pages touched, one at a time: the
	 * kernel's page cache then holds them in single pages. Read ahead
	 * into large folios, they would be mapped up to 2 MiB (a PMD) per
	 * fault, whatever madvise says, and a touch would not be a fault. */
	if (c->impl == IMPL_KERNEL) {
		cache_drop(b);
		first = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
		second = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
		if (first == MAP_FAILED || second == MAP_FAILED) {
			err = -errno;
		} else {
			madvise(first, len, MADV_RANDOM);
			read_pages(first, b->scratch, n, b->page);
		}
	} else {
		err = pager_open(c, 0, 0, &p);
		if (err)
			return err;
		err = upager_map_file(p, NULL, len, UPAGER_PROT_READ, UPAGER_MAP_SHARED, b->fd, 0,
				      &first);
		if (!err) {
			read_pages(first, b->scratch, n, b->page);
			err = upager_map_file(p, NULL, len, UPAGER_PROT_READ, UPAGER_MAP_SHARED, b->fd,
					      0, &second);
		}
		upager_stats_read(p, &a);
	}
	if (!err) {
		t.base = second;
		t.deadline = deadline_of(b);
		err = touch_run(&t);
		if (p) {
			upager_stats_read(p, &z);
			upager_counts(c, &a, &z);
		} else {
			kernel_counts(c, &t);
		}
	}
	if (p) {
		pager_close(p);
	} else {
		if (first != MAP_FAILED)
			munmap(first, len);
		if (second != MAP_FAILED)
			munmap(second, len);
	}
out_sample:
	report_bad(c, t.bad, "pages read back wrong");
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
	return err;
}

/* ---- copy-on-write ------------------------------------------------------------------------- */

static int measure_cow(struct ctx *c)
{
	struct bench *b = c->b;
	size_t n = min_size(kind_touches(b, K_COW), b->file_pages), len = n * b->page;
	struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
	struct upager *p = NULL;
	struct raw_uffd raw;
	uint64_t faults;
	struct touch t;
	void *base = MAP_FAILED;
	int err = 0;

	for (size_t i = 0; i < n; i++)
		b->scratch[i] = (uint32_t)i;
	shuffle(b->scratch, n, RAND_SEED + K_COW);
	switch (c->impl) {
	case IMPL_KERNEL:
		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, b->fd, 0);
		if (base == MAP_FAILED)
			return -errno;
		read_all(base, n, b->page);
		break;
	case IMPL_RAW:
		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED)
			return -errno;
		for (size_t i = 0; i < n; i++)
			pattern_write((char *)base + i * b->page, b->page, i);
		err = raw_open(&raw, RAW_WP, RAW_PER_THREAD, base, len, b->page, c->tc, &b->cpus);
		if (err) {
			munmap(base, len);
			return err;
		}
		break;
	default:
		err = pager_open(c, 0, 0, &p);
		if (err)
			return err;
		err = upager_map_file(p, NULL, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
				      UPAGER_MAP_PRIVATE, b->fd, 0, &base);
		if (err) {
			pager_close(p);
			return err;
		}
		read_all(base, n, b->page);
		upager_stats_read(p, &a);
		break;
	}
	touch_init(b, &t, base, b->scratch, n, ACC_WRITE_NEW, c->tc);
	t.deadline = deadline_of(b);
	err = touch_run(&t);
	report_bad(c, check_cow(&t), "pages wrong after their copy-on-write");
	switch (c->impl) {
	case IMPL_KERNEL:
		kernel_counts(c, &t);
		munmap(base, len);
		break;
	case IMPL_RAW: {
		int close_err = raw_close(&raw, &faults);

		err = err ? err : close_err;
		c->s->faults = c->s->served = (double)faults;
		munmap(base, len);
		break;
	}
	default:
		upager_stats_read(p, &z);
		upager_counts(c, &a, &z);
		pager_close(p);
		break;
	}
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
	return err;
}

/* ---- re-fault ---------------------------------------------------------------------------- */

/*
 * Cycles of: write a block of fresh pages larger than the budget (the
 * pages before it all leave memory, and the block's own oldest pages are
 * evicted or staged, in the order written), then touch the staged ones.
 * Staged pages are the not-mapped pages just below the mapped ones; how
 * many there are is pages in memory (stats.pages_resident) less pages
 * mapped (mincore). Three quarters of them are touched, the newest: a
 * margin for reclaim that moved on since. The stats say what each pass
 * really was (reactivations, and pages read: none).
 */
static int measure_refault(struct ctx *c)
{
	struct bench *b = c->b;
	size_t bp = b->budget_pages, w = bp + bp / 8, want = kind_touches(b, K_REFAULT);
	size_t collected = 0, next = 0;
	uint64_t ns = 0, deadline;
	struct upager *p;
	void *addr;
	char *base;
	int err;

	err = pager_open(c, 0, b->budget, &p);
	if (err)
		return err;
	err = upager_map(p, NULL, b->region_pages * b->page, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, &addr);
	if (err)
		goto out_close;
	base = addr;
	deadline = deadline_of(b);
	for (unsigned int cycle = 0; collected < want && next + w <= b->region_pages; cycle++) {
		struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
		size_t mapped = 0, staged, m = 0;
		struct touch t;

		if (deadline && now_ns() >= deadline)
			break;
		for (size_t i = next; i < next + w; i++)
			pattern_write(base + i * b->page, b->page, i);
		next += w;
		pager_settle(p);
		upager_stats_read(p, &a);
		/* Resident and not mapped is staged. Earlier cycles' pages
		 * may still be mapped: those a soft fault brought back go
		 * round the active list once more (docs/ARCHITECTURE.md,
		 * Policy). The latest cycle's last, so b->vec keeps it. */
		for (size_t from = 0; from < next; from += w) {
			size_t len = min_size(w, next - from);

			if (mincore(base + from * b->page, len * b->page, b->vec)) {
				err = -errno;
				break;
			}
			for (size_t i = 0; i < len; i++)
				mapped += b->vec[i] & 1;
		}
		if (err)
			break;
		staged = a.pages_resident > mapped ? a.pages_resident - mapped : 0;
		staged = min_size(staged * 3 / 4, want - collected);
		/* One page per aligned REACTIVATE_AROUND window: a soft
		 * fault brings back the pages staged beside it there, and a
		 * touch of one of those would time no fault at all. */
		for (size_t i = w, unmapped = 0; i-- > 0 && unmapped < staged;) {
			uintptr_t at = (uintptr_t)(base + (next - w + i) * b->page);

			if (b->vec[i] & 1)
				continue;
			unmapped++;
			if (at / b->page % REACTIVATE_AROUND == REACTIVATE_AROUND / 2)
				b->scratch[m++] = (uint32_t)(next - w + i);
		}
		if (!m)
			break;
		shuffle(b->scratch, m, RAND_SEED + K_REFAULT + cycle);
		touch_init(b, &t, base, b->scratch, m, ACC_READ, c->tc);
		t.lat = b->lat + collected;
		t.deadline = deadline;
		err = touch_run(&t);
		upager_stats_read(p, &z);
		upager_counts(c, &a, &z);
		report_bad(c, t.bad, "pages read back wrong");
		collected += t.total;
		ns += t.ns;
		if (err)
			break;
	}
	if (!err)
		sample_from(c, b->lat, collected, ns);
out_close:
	pager_close(p);
	return err;
}

int measure(struct bench *b, enum kind kind, enum impl impl, enum tcfg tc, struct sample *s,
	    struct bench_hist *h)
{
	struct ctx c = { .b = b, .kind = kind, .impl = impl, .tc = tc, .s = s, .h = h };
	char what[64];
	int err;

	memset(s, 0, sizeof(*s));
	switch (kind) {
	case K_ZERO_SEQ:
	case K_ZERO_RAND:
	case K_HANDLERS:
		err = measure_zero(&c);
		break;
	case K_SWAPIN:
		err = measure_swapin(&c);
		break;
	case K_FILEREAD:
		err = measure_fileread(&c);
		break;
	case K_MINOR:
		err = measure_minor(&c);
		break;
	case K_COW:
		err = measure_cow(&c);
		break;
	default:
		err = measure_refault(&c);
		break;
	}
	if (!err)
		return 0;
	s->valid = false;
	snprintf(what, sizeof(what), "%s %s", kind_name[kind], impl_name[impl]);
	if (err == -EOPNOTSUPP) {
		/* The running kernel lacks the feature: a row short, not a failure. */
		note(b, what, err);
		return 0;
	}
	fprintf(stderr, "%supager-bench: %s %ut %s: %s\n", b->tty ? "\n" : "", what, tc_threads[tc],
		tc_place[tc], strerror(-err));
	return err;
}
