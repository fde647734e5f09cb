/* SPDX-License-Identifier: MIT */
/*
 * faults.h - what the files of "upager-bench faults" share: the
 * vocabulary of a run (the kinds of fault, the implementations that serve
 * them, where the threads run), the sample one measurement yields, the
 * benchmark's configuration and results, and the entry points of each
 * file:
 *
 *   faults.c            the driver: options, setup, the run loop
 *   faults-kinds.c      the kinds: how each one's faults are made and
 *                       counted; zero-fill and handlers
 *   faults-kinds-io.c   the kinds with a file or a swap store behind them
 *   faults-touch.c      the faulting threads: one pass of touches, timed
 *   faults-baselines.c  the minimal handlers upager is compared with, and
 *                       the handler designs each one's loop can take
 *   faults-report.c     what a run prints: table, histograms, JSON, SVG
 *
 * Glossary. A kind is one sort of fault (zero-fill, swap-in, ...); an
 * implementation serves it (the kernel, upager, a baseline); a touch is
 * one access by a faulting thread, one fault of the kind; a pass is the
 * touches of one measurement: a kind, an implementation and a thread
 * configuration in one run; its sample is what the report aggregates.
 *
 * Include it after defining _GNU_SOURCE: pin_cpu() needs CPU_SET and
 * pthread_setaffinity_np().
 */
#ifndef UPAGER_BENCH_FAULTS_H
#define UPAGER_BENCH_FAULTS_H

#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "harness.h"
#include "hist.h"
#include "upager.h"

#define MAX_RUNS 1000u
#define MAX_THREADS 2u
/* Handler threads of one raw pager at most: one per CPU, the first this
 * many CPUs the process may use. */
#define MAX_HANDLERS 8u
#define FAULTING_CPU 0u
#define CROSS_CPU 1u
/* Permutations are the same for every implementation and run. */
#define RAND_SEED 0x5eedbe7cull
/* The swap region and the benchmark's file: this many frame budgets. */
#define REGION_BUDGETS 4u
/* minor: one page touched in this many (the kernel's fault_around_bytes,
 * 64 KiB by default, maps up to this many cached pages per fault). */
#define MINOR_STRIDE 16u
/* handlers, busy placement: touches a pass at most. A design whose
 * handlers lose their CPUs to the computing threads may serve a few
 * hundred faults a second there; the whole region would take minutes. */
#define BUSY_TOUCHES 2048u
/* Not /tmp: it may be tmpfs, and the I/O kinds must reach the disk. */
#define FILE_DIR "/var/tmp"

/* K_HANDLERS: zero-rand's faults served by each handler design (the
 * IMPL_H_ implementations), compared with one another. */
enum kind { K_ZERO_SEQ, K_ZERO_RAND, K_SWAPIN, K_FILEREAD, K_MINOR, K_COW, K_REFAULT, K_HANDLERS,
	    NKIND };
/* IMPL_H_: the raw handler's designs, K_HANDLERS's only implementations:
 * one handler waiting in read(2), in poll(2), in io_uring; one handler per
 * CPU, pinned there, waiting in poll(2) or read(2), or in poll(2) as
 * SCHED_BATCH or SCHED_IDLE; no handler, the faulting thread serving its
 * own SIGBUS. */
enum impl { IMPL_KERNEL, IMPL_RAW, IMPL_SIGSEGV, IMPL_IOURING, IMPL_UPAGER, IMPL_NOFA,
	    IMPL_H_READ, IMPL_H_POLL, IMPL_H_URING, IMPL_H_CPU_POLL, IMPL_H_CPU_READ,
	    IMPL_H_CPU_BATCH, IMPL_H_CPU_IDLE, IMPL_H_SIGBUS, NIMPL };
/* Thread configurations: one faulting thread with its handlers on its CPU
 * or the other, or two faulting threads with a handler on each CPU; and,
 * K_HANDLERS only, one or two faulting threads not pinned at all (free),
 * as a program's threads are, with handlers pinned only where the design
 * pins them; and two faulting threads spread with a thread that only
 * computes beside each (busy): a program with more runnable threads than
 * CPUs, where a handler must win a CPU from a thread that does not fault. */
enum tcfg { TC_SAME, TC_CROSS, TC_TWO, TC_FREE1, TC_FREE2, TC_BUSY2, NTC };

/* Indexed by the enums above; defined in faults-kinds.c. */
extern const char *const kind_name[NKIND];
extern const char *const impl_name[NIMPL];
extern const char *const tc_place[NTC];
extern const unsigned int tc_threads[NTC];

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

struct bench {
	/* configuration */
	size_t pages;          /* zero-fill region */
	size_t page;
	unsigned int runs;
	uint64_t faults;       /* touches per measurement, but zero-fill's */
	size_t zero_touches;   /* zero-fill: the region, or --faults when fewer */
	double duration;       /* seconds per measurement; 0: no limit */
	uint64_t budget;       /* swapin, refault */
	uint64_t zero_budget;  /* zero-fill's upager rows; 0: none */
	size_t budget_pages;
	/* upager's swap read-ahead, 2^page_cluster pages (the kernel's knob
	 * of that name); -1: the library's default. */
	int page_cluster;
	bool swapin_seq;       /* swapin touches in ascending order, not at random */
	bool kind[NKIND];
	bool tc[NTC];
	cpu_set_t cpus;        /* the CPUs the process may use, before pinning */
	struct common_opts co;
	bool histogram, tty;
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
	unsigned int steps;     /* measurements of one run, then of all */
	struct progress progress;
	/* results */
	struct sample *samples;    /* [kind][tc][impl][run] */
	struct bench_hist *hist;   /* [kind][tc][impl], pooled over runs */
};

/* Faulting threads are pinned, thread i to CPU FAULTING_CPU + i. */
static inline bool tc_is_pinned(enum tcfg tc)
{
	return tc != TC_FREE1 && tc != TC_FREE2;
}

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Where handler @i of pinned configuration @tc runs. */
static inline unsigned int handler_cpu(enum tcfg tc, unsigned int i)
{
	if (tc == TC_TWO || tc == TC_BUSY2)
		return FAULTING_CPU + i;
	return tc == TC_CROSS ? CROSS_CPU : FAULTING_CPU;
}

/* Let @thread run on any of @cpus: not pinned. Threads start with their
 * creator's mask, and the driver's is one CPU. */
static inline int unpin(pthread_t thread, const cpu_set_t *cpus)
{
	return -pthread_setaffinity_np(thread, sizeof(*cpus), cpus);
}

/* ---- faults.c: where a measurement's results live ---------------------------- */

/* The sample of @run; the cross row of an implementation that ignores
 * placement holds a copy of its same row. */
struct sample *sample_at(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl,
			 unsigned int run);
/* The configuration whose pass stands for @tc (see impl_ignores_placement()). */
enum tcfg tc_measured(const struct bench *b, enum tcfg tc, enum impl impl);
/* The histogram pooled over runs of the measured configuration. */
struct bench_hist *hist_at(struct bench *b, enum kind kind, enum tcfg tc, enum impl impl);
/* Touches per measurement of @kind. */
size_t kind_touches(const struct bench *b, enum kind kind);

/* ---- faults-kinds.c: the kinds ------------------------------------------------------ */

bool kind_has(enum kind kind, enum impl impl);
/* @kind served by @impl is measured with threads @tc (when selected). */
bool pass_exists(enum kind kind, enum impl impl, enum tcfg tc);
/* Its handlers run where they run whatever the placement (none, or pinned
 * one per CPU): one thread's same and cross rows are one measurement. */
bool impl_ignores_placement(enum impl impl);
/* Write b->file_pages of patterned pages to an unlinked file in FILE_DIR:
 * b->fd, and b->fd_direct for io_uring. Returns 0 or -errno. */
int faults_file_create(struct bench *b);
/* Measure @kind served by @impl with threads @tc into @s, pooling the
 * latencies into @h. Returns 0 (also when the kernel lacks what @impl
 * needs: a note, and @s stays invalid) or -errno, already reported. */
int measure(struct bench *b, enum kind kind, enum impl impl, enum tcfg tc, struct sample *s,
	    struct bench_hist *h);
/* Remove the swap store of the pager open, if any, when a signal ends
 * the run (cleanup_install()'s @undo). */
void faults_undo(void);


/* ---- faults-touch.c: the faulting threads ------------------------------------------- */

/* What page @idx holds wherever a kind writes data: its first 8 bytes
 * (head) and its last 8 (tail). */
uint64_t pattern_head(uint64_t idx);
uint64_t pattern_tail(uint64_t idx);
void pattern_write(char *p, size_t page, uint64_t idx);
/* A fixed permutation of @v[0, n) for @seed. */
void shuffle(uint32_t *v, size_t n, uint64_t seed);

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
	const cpu_set_t *cpus;     /* not NULL: threads not pinned, free on these */
	/* results */
	size_t lo[MAX_THREADS], done[MAX_THREADS]; /* thread i touched order[lo, lo + done) */
	size_t total;
	uint64_t bad;              /* pages read back wrong */
	uint64_t ns;               /* first thread's start to last thread's end */
	uint64_t minflt, majflt;   /* the faulting threads' */
	int err;
};

/* Run @t on its threads; afterwards t->lat[0, t->total) holds the
 * latencies of the touches made. Returns 0 or the first thread's -errno. */
int touch_run(struct touch *t);

/* ---- faults-kinds.c: what the kinds' measurements share ---------------------------- */

/* One measurement: a kind, an implementation, a thread configuration. */
struct ctx {
	struct bench *b;
	enum kind kind;
	enum impl impl;
	enum tcfg tc;
	struct sample *s;
	struct bench_hist *h;  /* pooled over runs */
};

/* A note for the report: @what was not measured, because of @err. */
void note(struct bench *b, const char *what, int err);
/* When a measurement stops touching (--duration); 0: never. */
uint64_t deadline_of(const struct bench *b);
void touch_init(struct bench *b, struct touch *t, char *base, const uint32_t *order, size_t n,
		enum access acc, enum tcfg tc);
/* The sample of @n touches whose latencies are @lat (sorted here), made
 * in @ns. */
void sample_from(struct ctx *c, uint64_t *lat, size_t n, uint64_t ns);
/* @bad pages or accesses went wrong: said, and the run fails. */
void report_bad(struct ctx *c, uint64_t bad, const char *what);
/* Add the faulting threads' fault counts, or upager's counters over
 * [@a, @z], to the sample. */
void kernel_counts(struct ctx *c, const struct touch *t);
void upager_counts(struct ctx *c, const struct upager_stats *a, const struct upager_stats *z);
/* Run the pass @t until its deadline and add its counts to @c's sample:
 * upager's since @a when @p is not NULL, the threads' faults otherwise.
 * Returns touch_run()'s result. */
int touch_counted(struct ctx *c, struct touch *t, struct upager *p, const struct upager_stats *a);
/* A pager for @c's threads: @fault_around pages at most a fault; with a
 * swap store when @budget (bytes) is not 0. */
int bench_pager_open(struct ctx *c, unsigned int fault_around, uint64_t budget,
		     struct upager **out);
void bench_pager_close(struct upager *p);
/* Wait until background reclaim has stopped moving pages (at most 3 s). */
void bench_pager_settle(struct upager *p);
void read_all(const char *base, size_t pages, size_t page);
void read_pages(const char *base, const uint32_t *order, size_t n, size_t page);
/* The written pages of a copy-on-write pass that do not hold the new
 * head and the old tail. */
uint64_t check_cow(const struct touch *t);

/* ---- faults-kinds-io.c: the kinds with a file or a swap store --------------------------- */

int measure_swapin(struct ctx *c);
int measure_fileread(struct ctx *c);
int measure_minor(struct ctx *c);
int measure_cow(struct ctx *c);
int measure_refault(struct ctx *c);

/* ---- faults-baselines.c: raw userfaultfd and mprotect+SIGSEGV ------------------------- */

/* What the minimal handler does with a fault: the one operation a kind
 * needs, nothing else. */
enum raw_mode {
	RAW_MISSING, /* UFFDIO_COPY of a zero page into anonymous memory */
	RAW_MINOR,   /* UFFDIO_CONTINUE of a memfd page already in memory */
	RAW_WP,      /* UFFDIO_WRITEPROTECT clearing the protection */
};

/* How the handlers are laid out and how each waits for a message: every
 * design reads one message at a time and serves it with one ioctl, so the
 * designs differ only in that. */
enum raw_design {
	RAW_PER_THREAD, /* the baseline: a handler per faulting thread, placed
			 * by the configuration, blocking read(2) */
	RAW_READ,       /* one handler, blocking read(2) on a blocking uffd */
	RAW_POLL,       /* one handler, poll(2) + read(2) of a non-blocking uffd */
	RAW_URING,      /* one handler, io_uring: a poll of the uffd linked to
			 * a read of it, one io_uring_enter() to submit both
			 * and wait */
	RAW_CPU_POLL,   /* a handler per CPU, pinned there, poll(2) + read(2) */
	RAW_CPU_READ,   /* a handler per CPU, pinned there, blocking read(2) */
	RAW_CPU_BATCH,  /* RAW_CPU_POLL with handlers in SCHED_BATCH, as
			 * upager's: a woken handler does not preempt */
	RAW_CPU_IDLE,   /* RAW_CPU_POLL with handlers in SCHED_IDLE: they run
			 * only on a CPU with nothing else to run */
	RAW_SIGBUS,     /* no handler: UFFD_FEATURE_SIGBUS, and the faulting
			 * thread's SIGBUS handler does the UFFDIO_COPY */
};

/* The designs with a handler per CPU, pinned there. */
static inline bool raw_design_is_per_cpu(enum raw_design design)
{
	return design == RAW_CPU_POLL || design == RAW_CPU_READ || design == RAW_CPU_BATCH ||
	       design == RAW_CPU_IDLE;
}

struct io_uring;

/* A minimal userfaultfd pager: handler threads (as @design lays them
 * out), each reading one message and doing one ioctl. The floor upager's
 * one-page-per-fault paths are compared against. */
struct raw_uffd {
	int fd;
	enum raw_mode mode;
	enum raw_design design;
	size_t page;
	unsigned int handlers;
	void *zero;                  /* one zeroed page, the UFFDIO_COPY source */
	char *mem;                   /* [mem, mem + len): the caller's region */
	size_t len;
	char *bells;                 /* one doorbell page per handler */
	struct io_uring *ring;       /* RAW_URING: the handler's */
	struct uffd_msg ring_msg;    /* RAW_URING: where its read lands */
	pthread_t thread[MAX_HANDLERS];
	atomic_uint_fast64_t faults; /* faults served */
	atomic_int err;              /* a handler's failure (negative errno) */
};

/* Serve faults on the caller's [@mem, @mem + @len) in @mode with the
 * handlers of @design for threads @tc; @cpus are the CPUs the process may
 * use (per-CPU handlers, and handlers not pinned). RAW_MINOR: @mem is a
 * shared mapping of a memfd; RAW_WP: its pages are present (they are
 * write-protected here). RAW_SIGBUS: RAW_MISSING only, one pager at a
 * time (the signal handler's state is process-wide). Returns 0,
 * -EOPNOTSUPP (the kernel lacks the mode or the design), or -errno. */
int raw_open(struct raw_uffd *r, enum raw_mode mode, enum raw_design design, char *mem,
	     size_t len, size_t page, enum tcfg tc, const cpu_set_t *cpus);
/* Stop the handlers and close; the region stays the caller's. Returns
 * the handlers' error, if any, and the faults served. */
int raw_close(struct raw_uffd *r, uint64_t *faults);
/* Map @len bytes PROT_NONE whose pages the SIGSEGV handler opens on first
 * touch. One region at a time: the handler's state is process-wide. */
int segv_open(char **base, size_t len, size_t page);
/* Restore the old handler and unmap; returns the signals handled. */
uint64_t segv_close(char *base, size_t len);

/* ---- faults-report.c: what a run prints ---------------------------------------------- */

void print_table(struct bench *b);
void print_histograms(struct bench *b);
/* One JSON object on stdout (report.h); 0 or -EIO. */
int print_json(struct bench *b);
/* Write the latency CDFs to b->plot. Returns 0 or -errno, reported. */
int write_plot(struct bench *b);

#endif
