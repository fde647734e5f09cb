/* SPDX-License-Identifier: MIT */
/*
 * upager-bench.c - what one fault costs, kind by kind: served by the
 * kernel, by upager, and by the smallest alternatives there are (a raw
 * userfaultfd handler, an mprotect+SIGSEGV handler, raw io_uring reads of
 * the disk), all in one run so that the ratios between them hold.
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
 * The raw baselines are floors, not competitors: io_uring is what the disk
 * costs at the same concurrency (each thread one 4 KiB O_DIRECT read at a
 * time), raw-uffd the bare round trip of the userfaultfd operation a kind
 * needs (for swapin, fileread and refault: zero-rand's).
 *
 * Method. Faulting thread i runs on CPU i; handler threads on the faulting
 * CPU (same) or the other one (cross) with one faulting thread, and with
 * two, one handler on each CPU (spread). Implementations are interleaved
 * within each run, in an order rotated per run, so machine noise hits all
 * alike. Every touch is bracketed by clock_gettime(CLOCK_MONOTONIC) and
 * every sample kept, so percentiles are exact per run; rows report their
 * median over runs (max: over runs), and a log-linear histogram pooled
 * over runs feeds --histogram and --plot. Zero-fill's pages/s come from a
 * separate untimed pass (two clock reads would cost a fault-around hit
 * more than the touch itself); the other kinds' from the timed pass (two
 * vDSO clock reads, tens of nanoseconds, against faults of a microsecond
 * and more). What is read is checked against what was written (each
 * page's first and last 8 bytes); a page read wrong fails the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "options.h"
#include "upager.h"

#define MIB ((uint64_t)1 << 20)
#define DEFAULT_PAGES 65536u
#define DEFAULT_RUNS 5u
#define DEFAULT_FAULTS 16384u
#define DEFAULT_BUDGET (64 * MIB)
#define QUICK_PAGES 512u
#define QUICK_RUNS 1u
#define QUICK_FAULTS 256u
/* Not less: at 4 MiB the inactive list (an eighth of the budget) is one
 * eviction batch, drained whole by every reclaim round, and refault would
 * find nothing staged. */
#define QUICK_BUDGET (8 * MIB)
/* 64 GiB of 4 KiB pages: far past any sane run, and page indices fit in
 * 32 bits. */
#define MAX_PAGES (1u << 24)
#define MAX_RUNS 1000u
#define MAX_THREADS 2u
#define FAULTING_CPU 0u
#define CROSS_CPU 1u
/* Permutations are the same for every implementation and run. */
#define RAND_SEED 0x5eedbe7cull
/* The swap region and the benchmark's file: this many frame budgets. */
#define REGION_BUDGETS 4u
/* minor: one page touched in this many (the kernel's fault_around_bytes,
 * 64 KiB by default, maps up to this many cached pages per fault). */
#define MINOR_STRIDE 16u
/* Not /tmp: it may be tmpfs, and the I/O kinds must reach the disk. */
#define FILE_DIR "/var/tmp"

enum kind { K_ZERO_SEQ, K_ZERO_RAND, K_SWAPIN, K_FILEREAD, K_MINOR, K_COW, K_REFAULT, NKIND };
enum impl { IMPL_KERNEL, IMPL_RAW, IMPL_SIGSEGV, IMPL_IOURING, IMPL_UPAGER, IMPL_NOFA, NIMPL };
/* Thread configurations: one faulting thread with its handlers on its CPU
 * or the other, or two faulting threads with a handler on each CPU. */
enum tcfg { TC_SAME, TC_CROSS, TC_TWO, NTC };

static const char *const kind_name[NKIND] = {
	"zero-seq", "zero-rand", "swapin", "fileread", "minor", "cow", "refault",
};
static const char *const kind_title[NKIND] = {
	"zero-fill, in order: first write to anonymous memory",
	"zero-fill, random order: first write to anonymous memory",
	"swap-in: read of a page in the swap store (region 4x the budget), random order",
	"file read-in: first read of a file page, page cache dropped, random order",
	"minor: first read through a second shared mapping of a page already in memory",
	"copy-on-write: first write to a page of a private file mapping, read before",
	"re-fault: touch of a page on the inactive list (soft fault, no I/O)",
};
/* What the served column counts for upager, per kind. */
static const char *const kind_served[NKIND] = {
	"zero_fills", "zero_fills", "swap-in ops (swapins - readahead)",
	"file read ops (file_reads - readahead)", "faults_minor", "cow_breaks", "reactivations",
};
static const char *const impl_name[NIMPL] = {
	"kernel", "raw-uffd", "sigsegv", "io_uring", "upager", "upager-nofa",
};
static const char *const tc_place[NTC] = { "same", "cross", "spread" };
static const unsigned int tc_threads[NTC] = { 1, 1, 2 };

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
	default:
		return IMPLS(IMPL_UPAGER);
	}
}

static bool kind_has(enum kind kind, enum impl impl)
{
	return kind_impls(kind) & (1u << impl);
}

/* No handler thread: where handlers run does not matter, so one thread's
 * same and cross rows are one measurement. */
static bool impl_is_handlerless(enum impl impl)
{
	return impl == IMPL_KERNEL || impl == IMPL_SIGSEGV || impl == IMPL_IOURING;
}

/* One measurement of one implementation. Times in nanoseconds. */
struct sample {
	bool valid;
	double pps;                       /* touches per second */
	double p50, p90, p99, p999, max;  /* per touch */
	double touches;                   /* touches timed */
	double faults;                    /* see print_legend() */
	double served;                    /* the counter that confirms the kind */
	double io;                        /* pages read from the disk */
	double deferred;                  /* upager: faults handed to its worker thread */
};

/* One row of the report: medians over valid runs, max of max. */
struct row {
	unsigned int n;                   /* valid runs; 0: not measured */
	double pps, p50, p90, p99, p999, max, touches, faults, served, io, deferred;
};

struct bench {
	/* configuration */
	size_t pages;          /* zero-fill region */
	size_t page;
	unsigned int runs;
	uint64_t faults;       /* touches per measurement, but zero-fill's */
	size_t zero_touches;   /* zero-fill: the region, or --faults when fewer */
	double duration;       /* seconds per measurement; 0: no limit */
	uint64_t budget;       /* swapin, refault */
	size_t budget_pages;
	bool kind[NKIND];
	bool tc[NTC];
	bool json, histogram, tty;
	const char *plot;
	/* state */
	uint32_t *order[2];    /* zero-seq, zero-rand: page touched at step i */
	uint32_t *scratch;     /* the other kinds' orders */
	uint64_t *lat;         /* timed passes: one sample per touch */
	unsigned char *vec;    /* mincore */
	size_t max_touches, region_pages;
	int fd, fd_direct;     /* the file (unlinked), and again with O_DIRECT */
	size_t file_pages;
	uint64_t cached_max;   /* most of the file cached after a drop */
	bool data_error;
	char notes[4][160];    /* implementations skipped, and why */
	unsigned int nnotes;
	unsigned int step, steps;
	/* results */
	struct sample *samples;    /* [kind][tc][impl][run] */
	struct bench_hist *hist;   /* [kind][tc][impl], pooled over runs */
};

/*
 * Process-wide state, because a signal handler reaches nothing else: the
 * sigsegv baseline's region, and the swap store to remove when a signal
 * ends the run before upager_close() does.
 */
static struct {
	uintptr_t base, end;       /* [base, end): the PROT_NONE region */
	size_t page;
	atomic_uint_fast64_t faults;
	struct sigaction old_segv;  /* restored after the pass */
	char swap_path[PATH_MAX];
	volatile sig_atomic_t swap_live;
} proc;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* What the first and last 8 bytes of page @idx hold wherever a kind
 * writes data (the file, the swap and refault regions). */
static uint64_t pattern_head(uint64_t idx)
{
	return mix64(idx * 0x9e3779b97f4a7c15ull + 0x7e57);
}

static uint64_t pattern_tail(uint64_t idx)
{
	return ~pattern_head(idx) ^ (idx << 8) ^ 0xa5;
}

static void pattern_write(char *p, size_t page, uint64_t idx)
{
	*(volatile uint64_t *)p = pattern_head(idx);
	*(volatile uint64_t *)(p + page - 8) = pattern_tail(idx);
}

/* Fisher-Yates with a fixed seed; the modulo bias is immaterial here. */
static void shuffle(uint32_t *v, size_t n, uint64_t seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(bench_splitmix64(&seed) % i);
		uint32_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

static int pin_cpu(pthread_t thread, unsigned int cpu)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	return -pthread_setaffinity_np(thread, sizeof(cpus), &cpus);
}

/* Where handler @i of configuration @tc runs. */
static unsigned int handler_cpu(enum tcfg tc, unsigned int i)
{
	if (tc == TC_TWO)
		return FAULTING_CPU + i;
	return tc == TC_CROSS ? CROSS_CPU : FAULTING_CPU;
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

/* ---- raw userfaultfd ----------------------------------------------------------- */

/* What the minimal handler does with a fault: the one operation a kind
 * needs, nothing else. */
enum raw_mode {
	RAW_MISSING, /* UFFDIO_COPY of a zero page into anonymous memory */
	RAW_MINOR,   /* UFFDIO_CONTINUE of a memfd page already in memory */
	RAW_WP,      /* UFFDIO_WRITEPROTECT clearing the protection */
};

/* A minimal userfaultfd pager: one handler thread per faulting thread,
 * each a blocking read() of one message and one ioctl. The floor upager's
 * one-page-per-fault paths are compared against. */
struct raw_uffd {
	int fd;
	enum raw_mode mode;
	size_t page;
	unsigned int handlers;
	void *zero;                  /* one zeroed page, the UFFDIO_COPY source */
	char *mem;                   /* [mem, mem + len): the caller's region */
	size_t len;
	char *bells;                 /* one doorbell page per handler */
	pthread_t thread[MAX_THREADS];
	atomic_uint_fast64_t faults; /* faults served */
	atomic_int err;              /* a handler's failure (negative errno) */
};

/* A handler that cannot go on unregisters everything: the kernel then
 * wakes the waiting fault and serves the rest, so the pass ends instead of
 * hanging, and raw_close() reports the error. */
static void *raw_bail(struct raw_uffd *r, int err)
{
	struct uffdio_range range = { .start = (uintptr_t)r->mem, .len = r->len };

	atomic_store(&r->err, err);
	ioctl(r->fd, UFFDIO_UNREGISTER, &range);
	range = (struct uffdio_range){ .start = (uintptr_t)r->bells, .len = r->handlers * r->page };
	ioctl(r->fd, UFFDIO_UNREGISTER, &range);
	return NULL;
}

static int raw_copy_zero(struct raw_uffd *r, uintptr_t addr)
{
	struct uffdio_copy copy = { .dst = addr, .src = (uintptr_t)r->zero, .len = r->page };

	/* mode 0: the copy wakes the faulting thread. EAGAIN means the
	 * mapping is changing; nothing here changes it for long. */
	while (ioctl(r->fd, UFFDIO_COPY, &copy) < 0) {
		if (errno == EEXIST) {
			/* Not ours to install, but ours to wake. */
			ioctl(r->fd, UFFDIO_WAKE, &(struct uffdio_range){ addr, r->page });
			return 0;
		}
		if (errno != EAGAIN)
			return -errno;
		copy.copy = 0;
	}
	return 0;
}

static int raw_serve(struct raw_uffd *r, uintptr_t addr)
{
	struct uffdio_continue cont = { .range = { addr, r->page } };
	struct uffdio_writeprotect wp = { .range = { addr, r->page } };

	switch (r->mode) {
	case RAW_MISSING:
		return raw_copy_zero(r, addr);
	case RAW_MINOR:
		while (ioctl(r->fd, UFFDIO_CONTINUE, &cont) < 0) {
			if (errno == EEXIST) {
				ioctl(r->fd, UFFDIO_WAKE, &cont.range);
				return 0;
			}
			if (errno != EAGAIN)
				return -errno;
		}
		return 0;
	default:
		/* mode 0: unprotect and wake. */
		while (ioctl(r->fd, UFFDIO_WRITEPROTECT, &wp) < 0)
			if (errno != EAGAIN)
				return -errno;
		return 0;
	}
}

static void *raw_handler(void *arg)
{
	struct raw_uffd *r = arg;
	uintptr_t bells = (uintptr_t)r->bells, bells_end = bells + r->handlers * r->page;

	for (;;) {
		struct uffd_msg msg;
		ssize_t n = read(r->fd, &msg, sizeof(msg));
		uintptr_t addr;
		int err;

		if (n != (ssize_t)sizeof(msg)) {
			if (n < 0 && errno == EINTR)
				continue;
			return raw_bail(r, n < 0 ? -errno : -EIO);
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		addr = (uintptr_t)(msg.arg.pagefault.address & ~(uint64_t)(r->page - 1));
		if (addr >= bells && addr < bells_end) {
			/* A doorbell: this handler's last fault. */
			err = raw_copy_zero(r, addr);
			return err ? raw_bail(r, err) : NULL;
		}
		err = raw_serve(r, addr);
		if (err)
			return raw_bail(r, err);
		atomic_fetch_add_explicit(&r->faults, 1, memory_order_relaxed);
	}
}

static int raw_register(struct raw_uffd *r, void *start, size_t len, uint64_t mode,
			unsigned int ioctl_nr)
{
	struct uffdio_register reg = { .range = { (uintptr_t)start, len }, .mode = mode };

	if (ioctl(r->fd, UFFDIO_REGISTER, &reg) < 0)
		return errno == EINVAL ? -EOPNOTSUPP : -errno;
	return reg.ioctls & (1ull << ioctl_nr) ? 0 : -EOPNOTSUPP;
}

/* Stop the handlers: each doorbell is one handler's last fault. Handlers
 * that bailed out leave the others blocked in read(): cancel those. */
static void raw_stop(struct raw_uffd *r, unsigned int started)
{
	for (unsigned int i = 0; i < started && !atomic_load(&r->err); i++)
		(void)*(volatile const char *)(r->bells + i * r->page);
	for (unsigned int i = 0; i < started; i++) {
		if (atomic_load(&r->err))
			pthread_cancel(r->thread[i]);
		pthread_join(r->thread[i], NULL);
	}
}

static void raw_free(struct raw_uffd *r)
{
	if (r->bells && r->bells != MAP_FAILED)
		munmap(r->bells, r->handlers * r->page);
	if (r->zero && r->zero != MAP_FAILED)
		munmap(r->zero, r->page);
	close(r->fd);
}

/* Serve faults on the caller's [@mem, @mem + @len) in @mode with one
 * handler per faulting thread of @tc. RAW_MINOR: @mem is a shared mapping
 * of a memfd; RAW_WP: its pages are present (they are write-protected
 * here). Returns 0, -EOPNOTSUPP (the kernel lacks the mode), or -errno. */
static int raw_open(struct raw_uffd *r, enum raw_mode mode, char *mem, size_t len, size_t page,
		    enum tcfg tc)
{
	static const uint64_t reg_mode[] = { UFFDIO_REGISTER_MODE_MISSING,
					     UFFDIO_REGISTER_MODE_MINOR, UFFDIO_REGISTER_MODE_WP };
	static const unsigned int reg_ioctl[] = { _UFFDIO_COPY, _UFFDIO_CONTINUE,
						  _UFFDIO_WRITEPROTECT };
	struct uffdio_api api = { .api = UFFD_API,
				  .features = mode == RAW_MINOR ? UFFD_FEATURE_MINOR_SHMEM : 0 };
	unsigned int i;
	int err;

	memset(r, 0, sizeof(*r));
	r->mode = mode;
	r->page = page;
	r->mem = mem;
	r->len = len;
	r->handlers = tc_threads[tc];
	r->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	if (ioctl(r->fd, UFFDIO_API, &api) < 0) {
		err = errno == EINVAL ? -EOPNOTSUPP : -errno;
		goto out_free;
	}
	err = -ENOMEM;
	r->zero = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	r->bells = mmap(NULL, r->handlers * page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->zero == MAP_FAILED || r->bells == MAP_FAILED)
		goto out_free;
	err = raw_register(r, r->bells, r->handlers * page, UFFDIO_REGISTER_MODE_MISSING,
			   _UFFDIO_COPY);
	if (!err)
		err = raw_register(r, mem, len, reg_mode[mode], reg_ioctl[mode]);
	if (!err && mode == RAW_WP) {
		struct uffdio_writeprotect wp = { .range = { (uintptr_t)mem, len },
						  .mode = UFFDIO_WRITEPROTECT_MODE_WP };

		if (ioctl(r->fd, UFFDIO_WRITEPROTECT, &wp) < 0)
			err = -errno;
	}
	if (err)
		goto out_free;
	for (i = 0; i < r->handlers; i++) {
		err = -pthread_create(&r->thread[i], NULL, raw_handler, r);
		if (err)
			break;
		err = pin_cpu(r->thread[i], handler_cpu(tc, i));
		if (err) {
			i++;
			break;
		}
	}
	if (!err)
		return 0;
	raw_stop(r, i);
out_free:
	raw_free(r);
	return err;
}

/* Stop the handlers and close; the region stays the caller's. Returns
 * the handlers' error, if any, and the faults served. */
static int raw_close(struct raw_uffd *r, uint64_t *faults)
{
	raw_stop(r, r->handlers);
	raw_free(r);
	*faults = atomic_load(&r->faults);
	return atomic_load(&r->err);
}

/* ---- mprotect + SIGSEGV ---------------------------------------------------------- */

static void segv_handler(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)uctx;
	if (a >= proc.base && a < proc.end &&
	    !mprotect((void *)(a & ~(uintptr_t)(proc.page - 1)), proc.page,
		      PROT_READ | PROT_WRITE)) {
		atomic_fetch_add_explicit(&proc.faults, 1, memory_order_relaxed);
		return;
	}
	/* Not ours: the access repeats and ends the process as it should. */
	signal(sig, SIG_DFL);
}

/* Map @len bytes PROT_NONE whose pages the SIGSEGV handler opens on first
 * touch. */
static int segv_open(char **base, size_t len, size_t page)
{
	struct sigaction sa = { .sa_sigaction = segv_handler, .sa_flags = SA_SIGINFO };
	char *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -errno;
	proc.base = (uintptr_t)m;
	proc.end = (uintptr_t)m + len;
	proc.page = page;
	atomic_store(&proc.faults, 0);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &proc.old_segv)) {
		munmap(m, len);
		return -errno;
	}
	*base = m;
	return 0;
}

static uint64_t segv_close(char *base, size_t len)
{
	sigaction(SIGSEGV, &proc.old_segv, NULL);
	proc.base = proc.end = 0;
	munmap(base, len);
	return atomic_load(&proc.faults);
}

/* ---- faulting threads ------------------------------------------------------------- */

enum access {
	ACC_WRITE_ONE, /* write byte 1 at the start of the page (zero-fill) */
	ACC_READ,      /* read the first and last 8 bytes, check the pattern */
	ACC_WRITE_NEW, /* write ~pattern_head (cow) */
	ACC_IO,        /* io_uring 4 KiB O_DIRECT read of that page of the file */
};

/* One pass: @threads faulting threads, thread i touching
 * order[n * i / threads .. n * (i + 1) / threads). */
struct touch {
	char *base;
	size_t page;
	const uint32_t *order;
	size_t n;
	enum access acc;
	bool timed;
	uint64_t *lat;             /* [n], timed passes: latency of touch i */
	uint64_t deadline;         /* stop touching then (0: never) */
	int io_fd;                 /* ACC_IO */
	unsigned int threads;
	/* results */
	size_t lo[MAX_THREADS], done[MAX_THREADS]; /* thread i touched order[lo, lo + done) */
	size_t total;
	uint64_t bad;              /* pages read back wrong */
	uint64_t ns;               /* first thread's start to last thread's end */
	uint64_t minflt, majflt;   /* the faulting threads' */
	int err;
};

/* Holds the faulting threads until all are ready, so they start together. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;                 /* 0: wait, 1: go, -1: give up */
};

struct toucher {
	struct touch *t;
	struct gate *gate;
	pthread_t thread;
	unsigned int idx;
	size_t lo, hi, done;
	uint64_t bad, t0, t1;
	struct rusage ru0, ru1;
	struct io_uring ring;
	void *buf;
	int err;
};

static void touch_timed(struct toucher *k)
{
	const struct touch *t = k->t;
	size_t i;

	for (i = k->lo; i < k->hi; i++) {
		uint64_t idx = t->order[i], want = ~pattern_head(idx), t0, head = 0, tail = 0;
		volatile char *p = t->base + idx * t->page;

		t0 = now_ns();
		if (t->deadline && t0 >= t->deadline)
			break;
		/* The barriers keep the access between the two clock reads. */
		__asm__ volatile("" ::: "memory");
		switch (t->acc) {
		case ACC_WRITE_ONE:
			*p = 1;
			break;
		case ACC_WRITE_NEW:
			*(volatile uint64_t *)p = want;
			break;
		default:
			head = *(volatile uint64_t *)p;
			tail = *(volatile uint64_t *)(p + t->page - 8);
			break;
		}
		__asm__ volatile("" ::: "memory");
		t->lat[i] = now_ns() - t0;
		if (t->acc == ACC_READ && (head != pattern_head(idx) || tail != pattern_tail(idx)))
			k->bad++;
	}
	k->done = i - k->lo;
}

/* Zero-fill's throughput pass: no clock reads but the deadline's, every
 * 256 pages. */
static void touch_untimed(struct toucher *k)
{
	const struct touch *t = k->t;
	volatile char *mem = t->base;
	size_t i;

	for (i = k->lo; i < k->hi; i++) {
		if (t->deadline && !(i & 255) && now_ns() >= t->deadline)
			break;
		mem[(size_t)t->order[i] * t->page] = 1;
	}
	k->done = i - k->lo;
}

/* Raw device reads at queue depth 1 per thread: what a read costs
 * without anything in front of it. */
static void touch_io(struct toucher *k)
{
	const struct touch *t = k->t;
	size_t i;

	for (i = k->lo; i < k->hi && !k->err; i++) {
		uint64_t idx = t->order[i], t0;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&k->ring);
		struct io_uring_cqe *cqe;
		int ret;

		if (!sqe) {
			k->err = -EBUSY;
			break;
		}
		io_uring_prep_read(sqe, t->io_fd, k->buf, (unsigned int)t->page, idx * t->page);
		t0 = now_ns();
		if (t->deadline && t0 >= t->deadline)
			break;
		ret = io_uring_submit_and_wait(&k->ring, 1);
		if (ret >= 0)
			ret = io_uring_wait_cqe(&k->ring, &cqe);
		if (ret < 0) {
			k->err = ret;
			break;
		}
		t->lat[i] = now_ns() - t0;
		ret = cqe->res;
		io_uring_cqe_seen(&k->ring, cqe);
		if (ret != (int)t->page) {
			k->err = ret < 0 ? ret : -EIO;
			break;
		}
		if (*(const uint64_t *)k->buf != pattern_head(idx) ||
		    *(const uint64_t *)((const char *)k->buf + t->page - 8) != pattern_tail(idx))
			k->bad++;
	}
	k->done = i - k->lo;
}

static void *toucher_main(void *arg)
{
	struct toucher *k = arg;
	struct touch *t = k->t;
	bool ring = false;

	k->err = pin_cpu(pthread_self(), FAULTING_CPU + k->idx);
	if (!k->err && t->acc == ACC_IO) {
		k->err = -posix_memalign(&k->buf, 4096, t->page);
		if (!k->err)
			k->err = io_uring_queue_init(4, &k->ring, 0);
		ring = !k->err;
	}
	pthread_mutex_lock(&k->gate->lock);
	while (!k->gate->state)
		pthread_cond_wait(&k->gate->cond, &k->gate->lock);
	if (k->gate->state < 0 && !k->err)
		k->err = -ECANCELED;
	pthread_mutex_unlock(&k->gate->lock);
	getrusage(RUSAGE_THREAD, &k->ru0);
	k->t0 = now_ns();
	if (!k->err) {
		if (t->acc == ACC_IO)
			touch_io(k);
		else if (t->timed)
			touch_timed(k);
		else
			touch_untimed(k);
	}
	k->t1 = now_ns();
	getrusage(RUSAGE_THREAD, &k->ru1);
	if (ring)
		io_uring_queue_exit(&k->ring);
	free(k->buf);
	return NULL;
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
}

/* Run @t on its threads; afterwards t->lat[0, t->total) holds the
 * latencies of the touches made. */
static int touch_run(struct touch *t)
{
	struct toucher k[MAX_THREADS];
	struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	uint64_t t0 = UINT64_MAX, t1 = 0;
	unsigned int i, started;
	int err = 0;

	memset(k, 0, sizeof(k));
	for (started = 0; started < t->threads; started++) {
		struct toucher *kk = &k[started];

		kk->t = t;
		kk->gate = &gate;
		kk->idx = started;
		kk->lo = t->n * started / t->threads;
		kk->hi = t->n * (started + 1) / t->threads;
		err = -pthread_create(&kk->thread, NULL, toucher_main, kk);
		if (err)
			break;
	}
	pthread_mutex_lock(&gate.lock);
	gate.state = err ? -1 : 1;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
	for (i = 0; i < started; i++)
		pthread_join(k[i].thread, NULL);
	t->total = 0;
	t->bad = 0;
	t->minflt = t->majflt = 0;
	t->err = err;
	for (i = 0; i < started; i++) {
		if (k[i].err && !t->err)
			t->err = k[i].err;
		if (t->timed && t->lat && k[i].done)
			memmove(t->lat + t->total, t->lat + k[i].lo, k[i].done * sizeof(*t->lat));
		t->lo[i] = k[i].lo;
		t->done[i] = k[i].done;
		t->total += k[i].done;
		t->bad += k[i].bad;
		t->minflt += (uint64_t)(k[i].ru1.ru_minflt - k[i].ru0.ru_minflt);
		t->majflt += (uint64_t)(k[i].ru1.ru_majflt - k[i].ru0.ru_majflt);
		if (k[i].t0 < t0)
			t0 = k[i].t0;
		if (k[i].t1 > t1)
			t1 = k[i].t1;
	}
	t->ns = t1 > t0 ? t1 - t0 : 1;
	return t->err;
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

static size_t kind_touches(const struct bench *b, enum kind kind);

static uint64_t deadline_of(const struct bench *b)
{
	return b->duration > 0 ? now_ns() + (uint64_t)(b->duration * 1e9) : 0;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
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
		offsetof(struct upager_stats, reactivations),
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

static int pager_open(struct ctx *c, unsigned int fault_around, uint64_t budget,
		      struct upager **out)
{
	struct upager_options o = UPAGER_OPTS(.handler_threads = tc_threads[c->tc],
					      .fault_around_max = fault_around,
					      .flags = UPAGER_OPEN_PIN_HANDLERS,
					      .handler_cpu = handler_cpu(c->tc, 0),
					      .max_resident = budget);
	int err;

	if (budget) {
		snprintf(proc.swap_path, sizeof(proc.swap_path), FILE_DIR "/upager-bench-swap.%d",
			 (int)getpid());
		o.swap_path = proc.swap_path;
		o.swap_size = (uint64_t)(c->b->region_pages + c->b->budget_pages) * c->b->page;
		proc.swap_live = 1;
	}
	err = upager_open(&o, out);
	if (err) {
		proc.swap_live = 0;
		fprintf(stderr, "upager-bench: upager_open: %s\n", strerror(-err));
	}
	return err;
}

static void pager_close(struct upager *p)
{
	upager_close(p);
	proc.swap_live = 0;
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
		a->base = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (a->base == MAP_FAILED)
			return -errno;
		if (c->impl == IMPL_KERNEL)
			return 0;
		err = raw_open(&a->raw, RAW_MISSING, a->base, a->len, c->b->page, c->tc);
		if (err)
			munmap(a->base, a->len);
		return err;
	case IMPL_SIGSEGV:
		return segv_open(&a->base, a->len, c->b->page);
	default:
		err = pager_open(c, c->impl == IMPL_NOFA ? 1 : 0, 0, &a->pager);
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
	case IMPL_RAW:
		err = raw_close(&a->raw, &faults);
		munmap(a->base, a->len);
		c->s->faults = c->s->served = (double)faults;
		break;
	case IMPL_SIGSEGV:
		c->s->faults = c->s->served = (double)segv_close(a->base, a->len);
		break;
	default:
		err = upager_stats_read(a->pager, &z);
		upager_counts(c, &a->st, &z);
		pager_close(a->pager);
		break;
	}
	return err;
}

static int measure_zero(struct ctx *c)
{
	struct bench *b = c->b;
	struct touch t;
	double pps = 0;
	int err = 0;

	for (int pass = 0; pass < 2 && !err; pass++) {
		struct zarena a;
		int close_err;

		err = zarena_open(c, &a);
		if (err)
			return err;
		touch_init(b, &t, a.base, b->order[c->kind == K_ZERO_RAND], kind_touches(b, c->kind),
			   ACC_WRITE_ONE, c->tc);
		t.timed = pass == 1;
		t.deadline = deadline_of(b);
		err = touch_run(&t);
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

static int file_create(struct bench *b)
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
	err = raw_open(&raw, RAW_MINOR, m, len, b->page, c->tc);
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
		err = raw_open(&raw, RAW_WP, base, len, b->page, c->tc);
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
		if (mincore(base + (next - w) * b->page, w * b->page, b->vec)) {
			err = -errno;
			break;
		}
		for (size_t i = 0; i < w; i++)
			mapped += b->vec[i] & 1;
		staged = a.pages_resident > mapped ? a.pages_resident - mapped : 0;
		staged = min_size(staged * 3 / 4, want - collected);
		for (size_t i = w; i-- > 0 && m < staged;)
			if (!(b->vec[i] & 1))
				b->scratch[m++] = (uint32_t)(next - w + i);
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

static int measure(struct bench *b, enum kind kind, enum impl impl, enum tcfg tc,
		   struct sample *s, struct bench_hist *h)
{
	struct ctx c = { .b = b, .kind = kind, .impl = impl, .tc = tc, .s = s, .h = h };
	char what[64];
	int err;

	memset(s, 0, sizeof(*s));
	switch (kind) {
	case K_ZERO_SEQ:
	case K_ZERO_RAND:
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

/* ---- the run loop ---------------------------------------------------------------------- */

static struct sample *sample_at(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
				unsigned int run)
{
	return &b->samples[(((size_t)kind * NTC + tc) * NIMPL + impl) * b->runs + run];
}

/* A handlerless implementation's cross row is its same row. */
static enum tcfg tc_measured(const struct bench *b, enum tcfg tc, enum impl impl)
{
	return tc == TC_CROSS && impl_is_handlerless(impl) && b->tc[TC_SAME] ? TC_SAME : tc;
}

static struct bench_hist *hist_at(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl)
{
	return &b->hist[((size_t)kind * NTC + tc_measured(b, tc, impl)) * NIMPL + impl];
}

static size_t kind_touches(const struct bench *b, enum kind kind)
{
	return kind == K_ZERO_SEQ || kind == K_ZERO_RAND ? b->zero_touches : (size_t)b->faults;
}

/* Calls @fn for every measurement of a run, in the run's order. */
static int for_each_measurement(struct bench *b, unsigned int run,
				int (*fn)(struct bench *, unsigned int, enum kind, enum tcfg, enum impl))
{
	for (int kind = 0; kind < NKIND; kind++) {
		for (int tc = 0; b->kind[kind] && tc < NTC; tc++) {
			for (unsigned int k = 0; b->tc[tc] && k < NIMPL; k++) {
				enum impl impl = (enum impl)((k + run) % NIMPL);
				int err;

				if (!kind_has(kind, impl))
					continue;
				err = fn(b, run, kind, tc, impl);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

static int count_step(struct bench *b, unsigned int run, enum kind kind, enum tcfg tc,
		      enum impl impl)
{
	(void)run;
	(void)kind;
	if (tc_measured(b, tc, impl) == tc)
		b->steps++;
	return 0;
}

static int run_step(struct bench *b, unsigned int run, enum kind kind, enum tcfg tc,
		    enum impl impl)
{
	struct sample *s = sample_at(b, kind, tc, impl, run);
	enum tcfg from = tc_measured(b, tc, impl);

	if (from != tc) {
		*s = *sample_at(b, kind, from, impl, run);
		return 0;
	}
	b->step++;
	if (b->tty)
		fprintf(stderr, "\rupager-bench: run %u/%u, %u/%u: %s, %u thread%s (%s), %s\033[K",
			run + 1, b->runs, b->step, b->steps, kind_name[kind], tc_threads[tc],
			tc_threads[tc] > 1 ? "s" : "", tc_place[tc], impl_name[impl]);
	return measure(b, kind, impl, tc, s, hist_at(b, kind, tc, impl));
}

/* ---- report ----------------------------------------------------------------------------- */

static void row_get(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
		    struct row *r)
{
	double v[10][MAX_RUNS];
	double *out[10] = { &r->pps, &r->p50, &r->p90, &r->p99, &r->p999, &r->touches,
			    &r->faults, &r->served, &r->io, &r->deferred };
	unsigned int n = 0;

	memset(r, 0, sizeof(*r));
	if (!b->kind[kind] || !b->tc[tc] || !kind_has(kind, impl))
		return;
	for (unsigned int run = 0; run < b->runs; run++) {
		const struct sample *s = sample_at(b, kind, tc, impl, run);
		const double in[10] = { s->pps, s->p50, s->p90, s->p99, s->p999, s->touches,
					s->faults, s->served, s->io, s->deferred };

		if (!s->valid)
			continue;
		for (int i = 0; i < 10; i++)
			v[i][n] = in[i];
		if (s->max > r->max)
			r->max = s->max;
		n++;
	}
	r->n = n;
	for (int i = 0; n && i < 10; i++)
		*out[i] = bench_median(v[i], n);
}

/* Ratios against the baselines of the same kind and threads; 0 when the
 * baseline is missing or the row is its own baseline. */
struct ratios {
	double tput_kern, p50_kern, p50_raw, p99_raw, p50_io, tput_io;
};

static void ratios_get(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
		       const struct row *r, struct ratios *q)
{
	struct row ref;

	memset(q, 0, sizeof(*q));
	if (impl != IMPL_KERNEL && kind_has(kind, IMPL_KERNEL)) {
		row_get(b, kind, tc, IMPL_KERNEL, &ref);
		q->tput_kern = bench_ratio(r->pps, ref.pps);
		q->p50_kern = bench_ratio(r->p50, ref.p50);
	}
	if (impl == IMPL_UPAGER || impl == IMPL_NOFA || impl == IMPL_SIGSEGV) {
		/* Kinds without a raw handler of their own: the bare round trip. */
		row_get(b, kind_has(kind, IMPL_RAW) ? kind : K_ZERO_RAND, tc, IMPL_RAW, &ref);
		q->p50_raw = bench_ratio(r->p50, ref.p50);
		q->p99_raw = bench_ratio(r->p99, ref.p99);
	}
	if (impl != IMPL_IOURING && kind_has(kind, IMPL_IOURING)) {
		row_get(b, kind, tc, IMPL_IOURING, &ref);
		q->p50_io = bench_ratio(r->p50, ref.p50);
		q->tput_io = bench_ratio(r->pps, ref.pps);
	}
}

/* The kernel's transparent-hugepage mode decides whether its zero-fill
 * rows are 4 KiB faults, like the others, or 2 MiB ones. */
static void thp_mode(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";
	char *l, *r;

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (l = strchr(line, '[')) && (r = strchr(l, ']'))) {
		*r = '\0';
		snprintf(buf, len, "%s", l + 1);
	}
	fclose(f);
}

static void print_ratio(double v)
{
	if (v > 0)
		printf(" %8.2fx", v);
	else
		printf(" %9s", "-");
}

static void print_table_row(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl)
{
	struct ratios q;
	struct row r;

	row_get(b, kind, tc, impl, &r);
	printf("%-9s %3u %-6s %-11s", kind_name[kind], tc_threads[tc], tc_place[tc], impl_name[impl]);
	if (!r.n) {
		printf("   (not measured)\n");
		return;
	}
	ratios_get(b, kind, tc, impl, &r, &q);
	printf(" %10.0f %8.2f %8.2f %8.2f %9.2f %9.1f %8.0f %8.0f %8.0f %7.0f", r.pps, r.p50 / 1e3,
	       r.p90 / 1e3, r.p99 / 1e3, r.p999 / 1e3, r.max / 1e3, r.touches, r.faults, r.served,
	       r.io);
	print_ratio(q.tput_kern);
	print_ratio(q.p50_kern);
	print_ratio(q.p50_raw);
	print_ratio(q.p99_raw);
	print_ratio(q.p50_io);
	printf("\n");
}

static void print_targets(struct bench *b)
{
	struct row up, kernel, nofa, raw;

	if (!b->kind[K_ZERO_SEQ] && !b->kind[K_ZERO_RAND])
		return;
	printf("\ntargets (reported, not asserted; one faulting thread):\n");
	for (int tc = TC_SAME; tc <= TC_CROSS; tc++) {
		if (!b->tc[tc])
			continue;
		if (b->kind[K_ZERO_SEQ]) {
			row_get(b, K_ZERO_SEQ, tc, IMPL_UPAGER, &up);
			row_get(b, K_ZERO_SEQ, tc, IMPL_KERNEL, &kernel);
			printf("  [%-5s] sequential first touch upager/kernel throughput = "
			       "%.2fx (target >= 3x)\n", tc_place[tc], bench_ratio(up.pps, kernel.pps));
		}
		for (int kind = K_ZERO_SEQ; kind <= K_ZERO_RAND; kind++) {
			if (!b->kind[kind])
				continue;
			row_get(b, kind, tc, IMPL_NOFA, &nofa);
			row_get(b, kind, tc, IMPL_RAW, &raw);
			printf("  [%-5s] %-4s upager-nofa p50 / raw-uffd p50 = %.2f (target <= 1.15), "
			       "p99 ratio = %.2f (target <= 1.5)\n", tc_place[tc], kind_name[kind] + 5,
			       bench_ratio(nofa.p50, raw.p50), bench_ratio(nofa.p99, raw.p99));
		}
	}
}

/* What the counters say each kind really was: the faults were of the kind
 * (served), and read the disk or not (io), as expected. */
static void print_checks(struct bench *b)
{
	static const char *const what[NKIND] = {
		NULL, NULL, "swap-in ops,", "file read ops,", "minor faults,", "copy-on-write breaks,",
		"reactivations,",
	};
	static const enum impl checked[] = { IMPL_KERNEL, IMPL_UPAGER };
	bool any = false;

	for (int kind = K_SWAPIN; kind < NKIND; kind++) {
		bool io_expected = kind == K_SWAPIN || kind == K_FILEREAD;

		for (int tc = 0; tc < NTC; tc++) {
			for (unsigned int i = 0; i < 2; i++) {
				enum impl impl = checked[i];
				double share = kind == K_SWAPIN ? 0.9 : 0.98;
				bool ok;
				struct row r;

				row_get(b, kind, tc, impl, &r);
				if (!r.n || (int)tc_measured(b, tc, impl) != tc)
					continue;
				ok = r.touches > 0 && r.served >= share * r.touches && (io_expected ? r.io >= r.served : !r.io);
				if (!any)
					printf("\nchecks (medians over runs; kernel: its minor/major fault "
					       "counts; upager: its statistics):\n");
				any = true;
				printf("  %-9s %ut %-6s %-7s %6.0f touches, %6.0f %-21s %6.0f pages read",
				       kind_name[kind], tc_threads[tc], tc_place[tc], impl_name[impl],
				       r.touches, r.served,
				       impl == IMPL_KERNEL ? (kind == K_FILEREAD ? "major faults," :
							      "minor faults,") : what[kind], r.io);
				if (impl == IMPL_UPAGER)
					printf(", %.0f deferred to its worker", r.deferred);
				printf(": %s\n", !ok ? "NOT as expected" :
				       kind == K_REFAULT ? "confirmed, served without I/O" :
				       io_expected ? "confirmed" : "confirmed, no I/O");
			}
		}
	}
}

static void print_legend(struct bench *b)
{
	char thp[32];

	thp_mode(thp, sizeof(thp));
	printf("upager-bench: zero-fill %zu pages (%zu MiB); other kinds up to %zu touches; budget "
	       "%zu MiB (file and swap region %zu MiB in " FILE_DIR "); %u run%s; page %zu B; "
	       "THP %s\n", b->pages, b->pages * b->page >> 20, kind_touches(b, K_SWAPIN),
	       b->budget_pages * b->page >> 20, REGION_BUDGETS * b->budget_pages * b->page >> 20,
	       b->runs, b->runs > 1 ? "s" : "", b->page, thp);
	printf("thr/place: 1 faulting thread on CPU %u, handlers on CPU %u (same) or %u (cross); 2 "
	       "threads on CPUs %u and %u, a handler on each (spread)\n", FAULTING_CPU, FAULTING_CPU,
	       CROSS_CPU, FAULTING_CPU, CROSS_CPU);
	printf("latency: each touch timed; exact percentiles per run, medians over runs; max = max "
	       "over runs\n");
	printf("pages/s: zero-fill from an untimed pass; the other kinds touches / wall time of the "
	       "timed pass\n");
	printf("faults: kernel = minor + major faults of the faulting threads; raw-uffd = faults "
	       "served; sigsegv = signals; upager = stats.faults\n");
	printf("served, the counter that confirms the kind: kernel = minor faults (major for "
	       "fileread); upager =");
	for (int kind = K_ZERO_RAND; kind < NKIND; kind++)
		printf(" %s%s", kind_served[kind], kind + 1 < NKIND ? "," : "");
	printf("; io_uring = reads\n");
	printf("io: pages read from the disk: kernel = major faults; upager = swapins + file_reads; "
	       "io_uring = reads\n");
	printf("ratios: tput/kern, p50/kern against the kernel; p50/raw, p99/raw against raw-uffd "
	       "of the kind (zero-rand's for swapin, fileread, refault: the bare round trip); "
	       "p50/io against io_uring at the same concurrency\n");
}

static void print_table(struct bench *b)
{
	print_legend(b);
	for (int kind = 0; kind < NKIND; kind++) {
		if (!b->kind[kind])
			continue;
		printf("\n%s: %s\n", kind_name[kind], kind_title[kind]);
		printf("%-9s %3s %-6s %-11s %10s %8s %8s %8s %9s %9s %8s %8s %8s %7s %9s %9s %9s %9s %9s\n",
		       "kind", "thr", "place", "impl", "pages/s", "p50 us", "p90 us", "p99 us",
		       "p99.9 us", "max us", "touches", "faults", "served", "io", "tput/kern",
		       "p50/kern", "p50/raw", "p99/raw", "p50/io");
		for (int tc = 0; tc < NTC; tc++)
			for (int impl = 0; b->tc[tc] && impl < NIMPL; impl++)
				if (kind_has(kind, impl))
					print_table_row(b, kind, tc, impl);
	}
	print_targets(b);
	print_checks(b);
	if (b->cached_max)
		printf("\nnote: up to %" PRIu64 " pages of the file stayed in the page cache after a "
		       "drop\n", b->cached_max);
	for (unsigned int i = 0; i < b->nnotes; i++)
		printf("note: %s\n", b->notes[i]);
}

static void print_histograms(struct bench *b)
{
	for (int kind = 0; kind < NKIND; kind++) {
		for (int tc = 0; b->kind[kind] && tc < NTC; tc++) {
			for (int impl = 0; b->tc[tc] && impl < NIMPL; impl++) {
				const struct bench_hist *h;
				struct row r;

				if (!kind_has(kind, impl) || (int)tc_measured(b, tc, impl) != tc)
					continue;
				h = hist_at(b, kind, tc, impl);
				row_get(b, kind, tc, impl, &r);
				printf("\n%s, %u thread%s (%s), %s: %" PRIu64 " touches over %u run%s, "
				       "p50 %.2f us, p99 %.2f us\n", kind_name[kind], tc_threads[tc],
				       tc_threads[tc] > 1 ? "s" : "", tc_place[tc], impl_name[impl], h->n,
				       r.n, r.n == 1 ? "" : "s", r.p50 / 1e3, r.p99 / 1e3);
				bench_hist_print(stdout, h, "  ", 50);
			}
		}
	}
}

static void json_ratio(const char *name, double v)
{
	if (v > 0)
		printf(", \"%s\": %.4f", name, v);
	else
		printf(", \"%s\": null", name);
}

static void print_json_row(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
			   bool *first)
{
	const struct bench_hist *h = hist_at(b, kind, tc, impl);
	bool first_bucket = true;
	struct ratios q;
	struct row r;

	row_get(b, kind, tc, impl, &r);
	ratios_get(b, kind, tc, impl, &r, &q);
	printf("%s\n    {\"kind\": \"%s\", \"threads\": %u, \"placement\": \"%s\", \"impl\": \"%s\", "
	       "\"runs_valid\": %u", *first ? "" : ",", kind_name[kind], tc_threads[tc], tc_place[tc],
	       impl_name[impl], r.n);
	*first = false;
	if (!r.n) {
		printf("}");
		return;
	}
	printf(", \"pages_per_s\": %.0f, \"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f, "
	       "\"p999_us\": %.3f, \"max_us\": %.3f, \"touches\": %.0f, \"faults\": %.0f, "
	       "\"served\": %.0f, \"io_pages\": %.0f, \"deferred\": %.0f", r.pps, r.p50 / 1e3,
	       r.p90 / 1e3, r.p99 / 1e3, r.p999 / 1e3, r.max / 1e3, r.touches, r.faults, r.served,
	       r.io, r.deferred);
	json_ratio("tput_vs_kernel", q.tput_kern);
	json_ratio("p50_vs_kernel", q.p50_kern);
	json_ratio("p50_vs_raw", q.p50_raw);
	json_ratio("p99_vs_raw", q.p99_raw);
	json_ratio("p50_vs_io", q.p50_io);
	json_ratio("tput_vs_io", q.tput_io);
	printf(",\n     \"per_run\": [");
	for (unsigned int run = 0, n = 0; run < b->runs; run++) {
		const struct sample *s = sample_at(b, kind, tc, impl, run);

		if (!s->valid)
			continue;
		printf("%s{\"pages_per_s\": %.0f, \"p50_us\": %.3f, \"p90_us\": %.3f, \"p99_us\": %.3f, "
		       "\"p999_us\": %.3f, \"max_us\": %.3f, \"touches\": %.0f, \"faults\": %.0f, "
		       "\"served\": %.0f, \"io_pages\": %.0f}", n++ ? ", " : "", s->pps, s->p50 / 1e3,
		       s->p90 / 1e3, s->p99 / 1e3, s->p999 / 1e3, s->max / 1e3, s->touches, s->faults,
		       s->served, s->io);
	}
	/* Pooled over runs: [lower ns, upper ns, count] of each non-empty bucket. */
	printf("],\n     \"histogram\": [");
	for (unsigned int i = 0; i < BENCH_HIST_N; i++) {
		if (!h->count[i])
			continue;
		printf("%s[%.0f, %.0f, %" PRIu64 "]", first_bucket ? "" : ", ", bench_hist_lower(i),
		       bench_hist_upper(i), h->count[i]);
		first_bucket = false;
	}
	printf("]}");
}

static void print_json(struct bench *b)
{
	bool first = true;
	char thp[32];

	thp_mode(thp, sizeof(thp));
	printf("{\n  \"zero_pages\": %zu, \"touches\": %zu, \"budget_bytes\": %zu, \"page_size\": %zu, "
	       "\"runs\": %u, \"duration_s\": %.3f, \"thp\": \"%s\", \"faulting_cpu\": %u, "
	       "\"cross_cpu\": %u, \"rand_seed\": %llu, \"file_pages\": %zu, "
	       "\"minor_stride\": %u, \"page_cache_left_max\": %" PRIu64 ",\n"
	       "  \"aggregate\": \"median over valid runs, max of max; histogram pooled over runs\",\n"
	       "  \"rows\": [", b->pages, kind_touches(b, K_SWAPIN), b->budget_pages * b->page,
	       b->page, b->runs, b->duration, thp, FAULTING_CPU, CROSS_CPU,
	       (unsigned long long)RAND_SEED, b->file_pages, MINOR_STRIDE, b->cached_max);
	for (int kind = 0; kind < NKIND; kind++)
		for (int tc = 0; b->kind[kind] && tc < NTC; tc++)
			for (int impl = 0; b->tc[tc] && impl < NIMPL; impl++)
				if (kind_has(kind, impl))
					print_json_row(b, kind, tc, impl, &first);
	printf("\n  ],\n  \"targets\": [");
	first = true;
	for (int tc = TC_SAME; tc <= TC_CROSS; tc++) {
		for (int kind = K_ZERO_SEQ; kind <= K_ZERO_RAND; kind++) {
			struct row up, kernel, nofa, raw;

			if (!b->tc[tc] || !b->kind[kind])
				continue;
			row_get(b, kind, tc, IMPL_UPAGER, &up);
			row_get(b, kind, tc, IMPL_KERNEL, &kernel);
			row_get(b, kind, tc, IMPL_NOFA, &nofa);
			row_get(b, kind, tc, IMPL_RAW, &raw);
			printf("%s\n    {\"placement\": \"%s\", \"pattern\": \"%s\", ", first ? "" : ",",
			       tc_place[tc], kind_name[kind] + 5);
			if (kind == K_ZERO_SEQ)
				printf("\"upager_vs_kernel_tput\": %.4f, \"upager_vs_kernel_tput_min\": 3, ",
				       bench_ratio(up.pps, kernel.pps));
			printf("\"nofa_vs_raw_p50\": %.4f, \"nofa_vs_raw_p50_max\": 1.15, "
			       "\"nofa_vs_raw_p99\": %.4f, \"nofa_vs_raw_p99_max\": 1.5}",
			       bench_ratio(nofa.p50, raw.p50), bench_ratio(nofa.p99, raw.p99));
			first = false;
		}
	}
	printf("\n  ],\n  \"notes\": [");
	for (unsigned int i = 0; i < b->nnotes; i++)
		printf("%s\"%s\"", i ? ", " : "", b->notes[i]);
	printf("],\n  \"data_ok\": %s\n}\n", b->data_error ? "false" : "true");
}

/* ---- the plot ------------------------------------------------------------------------------ */

static int write_plot(struct bench *b)
{
	static const char *const panel_title[NKIND] = {
		"zero-fill, in order", "zero-fill, random order", "swap-in (random)",
		"file read-in (page cache dropped)", "minor (second shared mapping)",
		"copy-on-write (private file mapping)", "re-fault (inactive list, no I/O)",
	};
	static const char *const short_name[NIMPL] = { "kernel", "raw", "segv", "uring", "upager",
						       "nofa" };
	struct bench_series series[NKIND][2 * NIMPL];
	struct bench_panel panels[NKIND];
	struct bench_legend legend[NIMPL + 2];
	char titles[NKIND][64], subs[NKIND][160], sub[200], thp[32];
	enum tcfg one = b->tc[TC_SAME] ? TC_SAME : TC_CROSS;
	bool used[NIMPL] = { false };
	unsigned int np = 0, nl = 0;
	FILE *f;
	int err;

	for (int kind = 0; kind < NKIND; kind++) {
		unsigned int ns = 0;
		size_t off;

		if (!b->kind[kind])
			continue;
		snprintf(titles[np], sizeof(titles[np]), "%s: %s", kind_name[kind], panel_title[kind]);
		off = (size_t)snprintf(subs[np], sizeof(subs[np]), "p50 \u00b5s (1 thread):");
		for (int impl = 0; impl < NIMPL; impl++) {
			const enum tcfg lines[2] = { one, TC_TWO };

			for (unsigned int l = 0; kind_has(kind, impl) && l < 2; l++) {
				enum tcfg tc = lines[l];
				const struct bench_hist *h = hist_at(b, kind, tc, impl);
				struct row r;

				if (!b->tc[tc] || !h->n)
					continue;
				series[np][ns++] = (struct bench_series){ h, (unsigned int)impl, tc == TC_TWO };
				used[impl] = true;
				row_get(b, kind, tc, impl, &r);
				if (tc == one && off < sizeof(subs[np]))
					off += (size_t)snprintf(subs[np] + off, sizeof(subs[np]) - off,
								" %s %.3g", short_name[impl], r.p50 / 1e3);
			}
		}
		panels[np] = (struct bench_panel){ titles[np], b->tc[one] ? subs[np] : NULL, series[np],
						   ns };
		np++;
	}
	for (int impl = 0; impl < NIMPL; impl++)
		if (used[impl])
			legend[nl++] = (struct bench_legend){ impl_name[impl], (unsigned int)impl, false };
	if (b->tc[one])
		legend[nl++] = (struct bench_legend){ one == TC_SAME ?
			"1 faulting thread, handler same CPU" : "1 faulting thread, handler other CPU",
			BENCH_PALETTE_N - 1, false };
	if (b->tc[TC_TWO])
		legend[nl++] = (struct bench_legend){ "2 faulting threads, 2 CPUs", BENCH_PALETTE_N - 1,
						      true };
	thp_mode(thp, sizeof(thp));
	snprintf(sub, sizeof(sub), "Latency of each touch (one fault of the kind), %u run%s pooled; "
		 "x: log scale, shared by all panels; page %zu B, THP %s, budget %zu MiB.",
		 b->runs, b->runs > 1 ? "s" : "", b->page, thp, b->budget_pages * b->page >> 20);
	f = fopen(b->plot, "w");
	if (!f) {
		err = -errno;
		fprintf(stderr, "upager-bench: %s: %s\n", b->plot, strerror(-err));
		return err;
	}
	err = bench_svg_cdf(f, "upager-bench: per-fault latency CDFs by kind", sub, panels, np,
			    np > 4 ? (np + 1) / 2 : np, legend, nl);
	if (fclose(f) && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "upager-bench: writing %s: %s\n", b->plot, strerror(-err));
	return err;
}

/* ---- setup ----------------------------------------------------------------------------------- */

static void order_init(struct bench *b)
{
	for (size_t i = 0; i < b->pages; i++)
		b->order[0][i] = b->order[1][i] = (uint32_t)i;
	shuffle(b->order[1], b->pages, RAND_SEED);
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* Buffers are allocated and written before any pass, so none of their
 * own first touches lands inside a measurement. */
static int bench_alloc(struct bench *b)
{
	size_t nsamples = (size_t)NKIND * NTC * NIMPL * b->runs, bp = b->budget_pages;
	size_t block = bp + bp / 8, swap_pages = REGION_BUDGETS * bp, lat, scratch;
	bool file = b->kind[K_SWAPIN] || b->kind[K_FILEREAD] || b->kind[K_MINOR] || b->kind[K_COW];

	b->file_pages = file ? REGION_BUDGETS * bp : 0;
	b->region_pages = b->kind[K_SWAPIN] ? swap_pages : 0;
	if (b->kind[K_REFAULT]) {
		/* Blocks enough for the touches wanted, counting on half the
		 * inactive list (an eighth of the budget) a block. */
		size_t per = max_size(bp / 16, 1), blocks = kind_touches(b, K_REFAULT) / per + 2;

		b->region_pages = max_size(b->region_pages, min_size(blocks * block, MAX_PAGES));
	}
	lat = max_size(b->pages, kind_touches(b, K_SWAPIN));
	scratch = max_size(max_size(b->file_pages, swap_pages), block);
	b->order[0] = malloc(b->pages * sizeof(uint32_t));
	b->order[1] = malloc(b->pages * sizeof(uint32_t));
	b->scratch = malloc(scratch * sizeof(uint32_t));
	b->vec = malloc(scratch);
	b->lat = malloc(lat * sizeof(uint64_t));
	b->samples = calloc(nsamples, sizeof(struct sample));
	b->hist = calloc((size_t)NKIND * NTC * NIMPL, sizeof(struct bench_hist));
	if (!b->order[0] || !b->order[1] || !b->scratch || !b->vec || !b->lat || !b->samples ||
	    !b->hist)
		return -ENOMEM;
	memset(b->scratch, 0, scratch * sizeof(uint32_t));
	memset(b->vec, 0, scratch);
	memset(b->lat, 0, lat * sizeof(uint64_t));
	order_init(b);
	return file ? file_create(b) : 0;
}

static void bench_free(struct bench *b)
{
	free(b->order[0]);
	free(b->order[1]);
	free(b->scratch);
	free(b->vec);
	free(b->lat);
	free(b->samples);
	free(b->hist);
	if (b->fd_direct >= 0)
		close(b->fd_direct);
	if (b->fd >= 0)
		close(b->fd);
}

/* Pin the main thread; the faulting threads and handler threads are
 * pinned on their own. */
static int pin_self(const struct bench *b)
{
	cpu_set_t allowed;
	int err;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -errno;
	if (!CPU_ISSET(FAULTING_CPU, &allowed)) {
		fprintf(stderr, "upager-bench: CPU %u is not available to this process\n",
			FAULTING_CPU);
		return -EINVAL;
	}
	if ((b->tc[TC_CROSS] || b->tc[TC_TWO]) && !CPU_ISSET(CROSS_CPU, &allowed)) {
		fprintf(stderr, "upager-bench: cross placement and 2 threads need CPU %u, which is not "
			"available (use --placement same --threads 1)\n", CROSS_CPU);
		return -EINVAL;
	}
	err = pin_cpu(pthread_self(), FAULTING_CPU);
	if (err)
		fprintf(stderr, "upager-bench: pinning to CPU %u: %s\n", FAULTING_CPU,
			strerror(-err));
	return err;
}

/* Fail early, with the reason, when this process may not use userfaultfd. */
static int probe_userfaultfd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	int err = 0;

	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "upager-bench: userfaultfd: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)" :
			err == -ENOSYS ? " (kernel built without CONFIG_USERFAULTFD)" : "");
		return err;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		err = -errno;
		fprintf(stderr, "upager-bench: UFFDIO_API: %s\n", strerror(-err));
	}
	close(fd);
	return err;
}

/* A signal ending the run leaves no swap store behind. */
static void on_signal(int sig)
{
	if (proc.swap_live)
		unlink(proc.swap_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cleanup_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_signal);
}

/* ---- command line ------------------------------------------------------------------------------ */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
		"Per-fault latency and throughput by kind of fault (zero-seq, zero-rand, swapin,\n"
		"fileread, minor, cow, refault): upager against the kernel, a raw userfaultfd\n"
		"handler, an mprotect+SIGSEGV handler and raw io_uring reads, in one run.\n\n"
		"  --kinds LIST            kinds to run, comma-separated (default all; \"zero\" is\n"
		"                          zero-seq and zero-rand)\n"
		"  --threads LIST          faulting threads: 1, 2 or 1,2 (default 1,2)\n"
		"  --placement same|cross|both\n"
		"                          one thread: handler on its CPU %u or on CPU %u (default both)\n"
		"  --pattern seq|rand|both zero-fill touch order (default both)\n"
		"  --pages N               zero-fill region, pages (default %u = %u MiB)\n"
		"  --faults N              touches per measurement (default: the zero-fill region,\n"
		"                          %u for the other kinds)\n"
		"  --duration SECS         stop each measurement's touches after SECS\n"
		"  --budget SIZE           frame budget of swapin and refault; the file and the swap\n"
		"                          region are %ux it (default %llu MiB)\n"
		"  --runs N                runs, medians reported (default %u)\n"
		"  --quick                 %u zero-fill pages, %u touches, %llu MiB budget, %u run\n"
		"  --json                  one JSON object on stdout (histograms included)\n"
		"  --histogram             a log-scale histogram per kind and implementation\n"
		"  --plot FILE.svg         the latency CDFs of the kinds, side by side, as SVG\n"
		"  -h, --help              this text\n",
		prog, FAULTING_CPU, CROSS_CPU, DEFAULT_PAGES, DEFAULT_PAGES / 256, DEFAULT_FAULTS,
		REGION_BUDGETS, (unsigned long long)(DEFAULT_BUDGET >> 20), DEFAULT_RUNS, QUICK_PAGES,
		QUICK_FAULTS, (unsigned long long)(QUICK_BUDGET >> 20), QUICK_RUNS);
}

/* Strict decimal in [min, max]. */
static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "a", "b" or "both" into two selection flags. */
static int parse_pair(const char *s, const char *const names[2], bool sel[2])
{
	bool both = !strcmp(s, "both");

	if (!both && strcmp(s, names[0]) && strcmp(s, names[1]))
		return -EINVAL;
	sel[0] = both || !strcmp(s, names[0]);
	sel[1] = both || !strcmp(s, names[1]);
	return 0;
}

/* A comma-separated list of kind names ("zero", "all" too). */
static int parse_kinds(const char *s, bool sel[NKIND])
{
	char buf[256], *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	memset(sel, 0, NKIND * sizeof(sel[0]));
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int kind;

		if (!strcmp(tok, "all") || !strcmp(tok, "zero")) {
			for (kind = 0; kind < NKIND; kind++)
				sel[kind] |= tok[0] == 'a' || kind <= K_ZERO_RAND;
			continue;
		}
		for (kind = 0; kind < NKIND && strcmp(tok, kind_name[kind]); kind++)
			;
		if (kind == NKIND)
			return -EINVAL;
		sel[kind] = true;
	}
	return 0;
}

static int parse_threads(const char *s, bool sel[2])
{
	if (!strcmp(s, "1") || !strcmp(s, "2")) {
		sel[0] = s[0] == '1';
		sel[1] = s[0] == '2';
		return 0;
	}
	if (!strcmp(s, "1,2") || !strcmp(s, "2,1") || !strcmp(s, "both")) {
		sel[0] = sel[1] = true;
		return 0;
	}
	return -EINVAL;
}

enum { OPT_PAGES = 256, OPT_RUNS, OPT_PATTERN, OPT_PLACEMENT, OPT_QUICK, OPT_JSON, OPT_KINDS,
       OPT_THREADS, OPT_BUDGET, OPT_FAULTS, OPT_DURATION, OPT_HISTOGRAM, OPT_PLOT };

/* Returns 0 to run, 1 after --help, or -EINVAL (already explained). */
static int parse_args(int argc, char **argv, struct bench *b)
{
	/* In the order of the OPT_ values: bad_value names the option. */
	static const struct option longopts[] = {
		{ "pages", required_argument, NULL, OPT_PAGES },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "placement", required_argument, NULL, OPT_PLACEMENT },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "kinds", required_argument, NULL, OPT_KINDS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "faults", required_argument, NULL, OPT_FAULTS },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "histogram", no_argument, NULL, OPT_HISTOGRAM },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const pattern_names[2] = { "seq", "rand" };
	static const char *const place_names[2] = { "same", "cross" };
	unsigned long pages = 0, runs = 0, faults = 0;
	bool quick = false, pattern[2] = { true, true }, place[2] = { true, true };
	bool threads[2] = { true, true };
	uint64_t budget = 0;
	char *end;
	int c;

	for (int kind = 0; kind < NKIND; kind++)
		b->kind[kind] = true;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PAGES:
			if (parse_uint(optarg, 1, MAX_PAGES, &pages))
				goto bad_value;
			break;
		case OPT_RUNS:
			if (parse_uint(optarg, 1, MAX_RUNS, &runs))
				goto bad_value;
			break;
		case OPT_PATTERN:
			if (parse_pair(optarg, pattern_names, pattern))
				goto bad_value;
			break;
		case OPT_PLACEMENT:
			if (parse_pair(optarg, place_names, place))
				goto bad_value;
			break;
		case OPT_QUICK:
			quick = true;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case OPT_KINDS:
			if (parse_kinds(optarg, b->kind))
				goto bad_value;
			break;
		case OPT_THREADS:
			if (parse_threads(optarg, threads))
				goto bad_value;
			break;
		case OPT_BUDGET:
			if (options_parse_size(optarg, &budget) || budget < MIB || budget > (64ull << 30))
				goto bad_value;
			break;
		case OPT_FAULTS:
			if (parse_uint(optarg, 1, MAX_PAGES, &faults))
				goto bad_value;
			break;
		case OPT_DURATION:
			errno = 0;
			b->duration = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(b->duration > 0) || b->duration > 86400)
				goto bad_value;
			break;
		case OPT_HISTOGRAM:
			b->histogram = true;
			break;
		case OPT_PLOT:
			b->plot = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			fprintf(stderr, "upager-bench: unknown option or missing value: %s\n",
				argv[optind - 1]);
			goto bad;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "upager-bench: unexpected argument: %s\n", argv[optind]);
		goto bad;
	}
	b->kind[K_ZERO_SEQ] &= pattern[0];
	b->kind[K_ZERO_RAND] &= pattern[1];
	b->tc[TC_SAME] = threads[0] && place[0];
	b->tc[TC_CROSS] = threads[0] && place[1];
	b->tc[TC_TWO] = threads[1];
	/* Explicit values win over --quick, whatever their order. */
	b->pages = pages ? pages : quick ? QUICK_PAGES : DEFAULT_PAGES;
	b->runs = (unsigned int)(runs ? runs : quick ? QUICK_RUNS : DEFAULT_RUNS);
	b->faults = faults ? faults : quick ? QUICK_FAULTS : DEFAULT_FAULTS;
	/* zero-fill: the whole region unless --faults says fewer. */
	b->zero_touches = faults && faults < b->pages ? faults : b->pages;
	b->budget = budget ? budget : quick ? QUICK_BUDGET : DEFAULT_BUDGET;
	b->budget_pages = (size_t)(b->budget / b->page);
	return 0;

bad_value:
	fprintf(stderr, "upager-bench: invalid value for --%s: \"%s\" (pages and faults 1..%u, runs "
		"1..%u, pattern seq|rand|both, placement same|cross|both, threads 1|2|1,2, budget "
		"1M..64G, kinds from: all zero", longopts[c - OPT_PAGES].name, optarg, MAX_PAGES,
		MAX_RUNS);
	for (int kind = 0; kind < NKIND; kind++)
		fprintf(stderr, " %s", kind_name[kind]);
	fprintf(stderr, ")\n");
bad:
	fprintf(stderr, "Try '%s --help'.\n", argv[0]);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct bench b = { .page = (size_t)sysconf(_SC_PAGESIZE), .fd = -1, .fd_direct = -1 };
	int err;

	err = parse_args(argc, argv, &b);
	if (err)
		return err > 0 ? 0 : 2;
	b.tty = isatty(STDERR_FILENO);
	err = pin_self(&b);
	if (!err)
		err = probe_userfaultfd();
	if (err)
		return 1;
	cleanup_install();
	err = bench_alloc(&b);
	if (err) {
		fprintf(stderr, "upager-bench: setting up: %s\n", strerror(-err));
		goto out_free;
	}
	for_each_measurement(&b, 0, count_step);
	b.steps *= b.runs;
	for (unsigned int run = 0; run < b.runs && !err; run++)
		err = for_each_measurement(&b, run, run_step);
	if (b.tty)
		fprintf(stderr, "\r\033[K");
	if (err)
		goto out_free;
	if (b.json) {
		print_json(&b);
	} else {
		print_table(&b);
		if (b.histogram)
			print_histograms(&b);
	}
	if (b.plot)
		err = write_plot(&b);
	if (b.data_error) {
		fprintf(stderr, "upager-bench: some pages read back wrong (see above)\n");
		err = -EIO;
	}
out_free:
	bench_free(&b);
	return err ? 1 : 0;
}
