/* SPDX-License-Identifier: MIT */
/*
 * faults-kinds.c - the kinds of fault upager-bench faults measures: for each kind
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
 *               One page per aligned UPAGER_INTERNAL_REACTIVATE_AROUND (16) is touched:
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

#include "faults.h"
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

void note(struct bench *b, const char *what, int err)
{
	for (unsigned int i = 0; i < b->nnotes; i++)
		if (!strncmp(b->notes[i], what, strlen(what)))
			return;
	if (b->nnotes < sizeof(b->notes) / sizeof(b->notes[0]))
		snprintf(b->notes[b->nnotes++], sizeof(b->notes[0]), "%s: not measured: %s", what,
			 strerror(-err));
}

/* ---- measurements ------------------------------------------------------------------ */

uint64_t deadline_of(const struct bench *b)
{
	return b->duration > 0 ? now_ns() + (uint64_t)(b->duration * 1e9) : 0;
}

void touch_init(struct bench *b, struct touch *t, char *base, const uint32_t *order, size_t n,
		enum access acc, enum tcfg tc)
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
void sample_from(struct ctx *c, uint64_t *lat, size_t n, uint64_t ns)
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

void report_bad(struct ctx *c, uint64_t bad, const char *what)
{
	if (!bad)
		return;
	fprintf(stderr, "%supager-bench faults: %s %s %ut %s: %" PRIu64 " %s\n",
		c->b->tty ? "\n" : "", kind_name[c->kind], impl_name[c->impl], tc_threads[c->tc],
		tc_place[c->tc], bad, what);
	c->b->data_error = true;
}

void kernel_counts(struct ctx *c, const struct touch *t)
{
	c->s->faults += (double)(t->minflt + t->majflt);
	c->s->served += (double)(c->kind == K_FILEREAD ? t->majflt : t->minflt);
	c->s->io += (double)t->majflt;
}

/* Add upager's counters over [@a, @z] to the sample. */
void upager_counts(struct ctx *c, const struct upager_stats *a, const struct upager_stats *z)
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
static struct undo_file swap_file;

/* A signal ending the run leaves no swap store behind. */
void faults_undo(void)
{
	if (bench_is_main())
		undo_file_run(&swap_file);
}

int bench_pager_open(struct ctx *c, unsigned int fault_around, uint64_t budget,
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
		char path[64];

		snprintf(path, sizeof(path), FILE_DIR "/upager-bench-swap.%d", (int)getpid());
		undo_file_arm(&swap_file, path);
		o.swap_path = swap_file.path;
		o.swap_size = (uint64_t)(c->b->region_pages + c->b->budget_pages) * c->b->page;
		if (c->b->page_cluster >= 0)
			o.swap_readahead_max = 1u << c->b->page_cluster;
	}
	err = upager_open(&o, out);
	if (err) {
		swap_file.live = 0;
		fprintf(stderr, "upager-bench faults: upager_open: %s\n", strerror(-err));
	}
	return err;
}

void bench_pager_close(struct upager *p)
{
	upager_close(p);
	swap_file.live = 0;
}

/* Wait until background reclaim has stopped moving pages (at most 3 s),
 * so what mincore() sees stays true while a pass runs. */
void bench_pager_settle(struct upager *p)
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

int touch_counted(struct ctx *c, struct touch *t, struct upager *p, const struct upager_stats *a)
{
	struct upager_stats z = UPAGER_STATS();
	int err;

	t->deadline = deadline_of(c->b);
	err = touch_run(t);
	if (p) {
		upager_stats_read(p, &z);
		upager_counts(c, a, &z);
	} else {
		kernel_counts(c, t);
	}
	return err;
}

void read_all(const char *base, size_t pages, size_t page)
{
	for (size_t i = 0; i < pages; i++)
		(void)*(volatile const uint64_t *)(base + i * page);
}

void read_pages(const char *base, const uint32_t *order, size_t n, size_t page)
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
uint64_t check_cow(const struct touch *t)
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
		err = bench_pager_open(c, c->impl == IMPL_NOFA ? 1 : 0, c->b->zero_budget, &a->pager);
		if (err)
			return err;
		err = upager_map(a->pager, NULL, a->len, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
				 UPAGER_MAP_PRIVATE, &addr);
		if (err) {
			bench_pager_close(a->pager);
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
		bench_pager_close(a->pager);
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

/* Each kind's measurement: how its faults are made and counted. */
static int (*const measure_kind[NKIND])(struct ctx *c) = {
	[K_ZERO_SEQ] = measure_zero,     [K_ZERO_RAND] = measure_zero,
	[K_SWAPIN] = measure_swapin,     [K_FILEREAD] = measure_fileread,
	[K_MINOR] = measure_minor,       [K_COW] = measure_cow,
	[K_REFAULT] = measure_refault,   [K_HANDLERS] = measure_zero,
};

int measure(struct bench *b, enum kind kind, enum impl impl, enum tcfg tc, struct sample *s,
	    struct bench_hist *h)
{
	struct ctx c = { .b = b, .kind = kind, .impl = impl, .tc = tc, .s = s, .h = h };
	char what[64];
	int err;

	memset(s, 0, sizeof(*s));
	err = measure_kind[kind](&c);
	if (!err)
		return 0;
	s->valid = false;
	snprintf(what, sizeof(what), "%s %s", kind_name[kind], impl_name[impl]);
	if (err == -EOPNOTSUPP) {
		/* The running kernel lacks the feature: a row short, not a failure. */
		note(b, what, err);
		return 0;
	}
	fprintf(stderr, "%supager-bench faults: %s %ut %s: %s\n", b->tty ? "\n" : "", what,
		tc_threads[tc], tc_place[tc], strerror(-err));
	return err;
}
