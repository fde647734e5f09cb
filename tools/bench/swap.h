/* SPDX-License-Identifier: MIT */
/*
 * swap.h - what the files of "upager-bench swap" share: the samples a
 * pass yields, the benchmark's configuration and results, and the record
 * of what must be undone at exit. swap.c is the driver (options, upager
 * and the raw device, the run loop); swap-work.c the workloads;
 * swap-kernel.c the kernel's side (swapfile, memory cgroup v1 or v2, the
 * child) and the cleanup; swap-report.c what a run prints.
 */
#ifndef UPAGER_BENCH_SWAP_H
#define UPAGER_BENCH_SWAP_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define MAX_RUNS 100u
#define MAX_THREADS 2u
#define KSWAP_PATH "/var/tmp/upager-bench.swapfile"
/* Where a cgroup v1 memory controller is mounted, when it is. */
#define CGROUP_MEM "/sys/fs/cgroup/memory"
#define RAND_SEED 0x5eedbe7cull
/* The raw file's pattern generation: never a run's. */
#define RAW_GEN 0xfeedull
/* Room in the kernel's swapfile beyond the region: the child's own pages. */
#define KSWAP_SLACK (64 * MIB)

enum impl { IMPL_UPAGER, IMPL_KERNEL, NIMPL };
enum pass { PASS_SEQ_WRITE, PASS_SEQ_READ, PASS_RAND_READ, PASS_ZIPF_READ, NPASS,
	    PASS_RAW = NPASS };

/* Indexed by enum pass, PASS_RAW included. */
extern const char *const pass_name[NPASS + 1];

/* One pass of one implementation in one run. Counters are deltas over the
 * pass; which counter means what differs per implementation (see
 * print_legend()). Sent as is from the kernel child (same binary). */
struct sample {
	bool valid;
	double pps;          /* accesses per second */
	double p50, p99;     /* per-access ns: rand/zipf (and raw) only */
	double max;          /* slowest single access, ns */
	uint64_t accesses;
	uint64_t bad;        /* verification failures */
	uint64_t majflt;     /* upager: swap-in operations; kernel: ru_majflt */
	uint64_t swapins;    /* upager: pages swapped in; kernel: pswpin */
	uint64_t readahead;  /* upager: of swapins, read ahead of a fault */
	uint64_t writebacks; /* upager: writebacks; kernel: pswpout */
	uint64_t clean_drops, zero_drops, reactivations, faults; /* upager */
	uint64_t sigbus, checksum_failures, swap_full;            /* upager */
	/* upager: io_uring_enter() calls that submitted, and their requests */
	uint64_t read_submits, read_sqes, write_submits, write_sqes;
};

/* What the kernel child sends back. */
struct child_report {
	int err;                  /* 0, or the negative errno that ended it */
	uint64_t overhead_bytes;  /* cgroup usage before the first pass */
	struct sample s[NPASS];
};

/* Rejection-inversion sampling of Zipf (Hörmann and Derflinger, 1996):
 * constant memory and time per draw, exact for any s > 0. */
struct zipf {
	double s, n;
	double h_x1, h_n, shift;
};

/* A bijection of [0, n): a 4-round Feistel network on the smallest even
 * bit width covering n, cycle-walked back into range. Rank r of the Zipf
 * draw becomes page perm(r), so hot pages are scattered, identically for
 * both implementations. */
struct perm {
	uint64_t n, mask;
	unsigned int half;
	uint64_t keys[4];
};

/* The shared state of one pass. */
struct workload {
	char *base;
	size_t pages, page;
	unsigned int threads;
	enum pass pass;
	uint64_t ops;       /* rand/zipf/raw accesses, over all threads */
	uint64_t gen;       /* pattern generation */
	uint64_t seed;
	const struct zipf *zipf;
	const struct perm *perm;
	int raw_fd;         /* PASS_RAW: the file (each thread dups it) */
	uint64_t *lat;      /* [ops]: one sample per timed access */
	pthread_barrier_t start;
	atomic_uint done;
};

struct bench {
	/* configuration */
	uint64_t region, budget;
	size_t page, pages;
	uint64_t ops, raw_ops;
	double zipf_s;
	unsigned int runs;
	struct common_opts co;
	bool threads_sel[MAX_THREADS];
	bool no_kernel;
	const char *kswap_path;
	/* --cgroup: the parent of the kernel child's cgroups (NULL: found);
	 * in the child, its own cgroup */
	const char *cgroup_dir;
	/* kernel child mode */
	int child_fd;
	unsigned int child_run;
	/* state */
	struct zipf zipf;
	struct perm perm;
	uint64_t *lat;
	char exe[PATH_MAX];
	char store_path[PATH_MAX];
	char raw_path[PATH_MAX];
	char kernel_skip[PATH_MAX + 256]; /* why the kernel part does not run; "" if it does */
	char other_swap[256];   /* swap areas active that are not ours */
	bool drop_failed;
	unsigned int cgroup_seq;
	int cgroup_v;           /* 1 or 2: the memory cgroup the kernel child runs in */
	char cgroup_parent[256]; /* where its cgroups are made */
	struct progress progress;
	uint64_t kswap_bytes;
	long swappiness;
	/* results */
	struct sample *samples;     /* [impl][threads-1][pass][run] */
	struct sample *raw;         /* [threads-1][run] */
	uint64_t *k_overhead, *k_peak, *k_failcnt; /* [threads-1][run] */
	bool data_error, upager_error;
};

/*
 * What must be undone however the process ends: the one process-wide
 * state of this tool, because signal handlers and atexit() reach nothing
 * else. Paths are written before the thing they name exists, flags right
 * after it does; cleanup_run() only uses async-signal-safe calls.
 */
struct cleanup {
	volatile sig_atomic_t swap_file, swap_on, cgroup;
	struct undo_file raw_file, store;
	volatile pid_t child;
	char swap_path[PATH_MAX];
	char cgroup_path[320];
};

extern struct cleanup cl;

/* swap.c */
void drop_caches(struct bench *b);
/* The first line of the file at @path, or its bracketed word ("always
 * [madvise] never"); "?" when unreadable. */
void knob_string(const char *path, char *buf, size_t len);
struct sample *swap_sample_at(struct bench *b, enum impl impl, unsigned int threads,
			      enum pass pass, unsigned int run);

/* swap-work.c */
void zipf_init(struct zipf *z, double s, uint64_t n);
void perm_init(struct perm *p, uint64_t n, uint64_t seed);
/* Prepare one implementation's passes on the region at @base. */
void workload_init(struct bench *b, struct workload *w, char *base, unsigned int threads,
		   unsigned int run);
/* Run @pass on @w and fill @s; 0 or the first worker's -errno. */
int workload_run(struct workload *w, enum pass pass, struct sample *s);

/* swap-report.c */
void swap_print_table(struct bench *b);
/* One JSON object on stdout (report.h); 0 or -EIO. */
int swap_print_json(struct bench *b);

/* swap-kernel.c */
/* Undo what cl records; async-signal-safe, idempotent. */
void cleanup_run(void);
/* Check for root and a memory cgroup (v1, else v2), create and enable the
 * swapfile; on failure b->kernel_skip says why. */
void kernel_setup(struct bench *b);
void kswap_teardown(void);
/* One kernel child for @threads and @run; 0 or -errno (already said). */
int kernel_measure(struct bench *b, unsigned int threads, unsigned int run);
/* The body of the child (--kernel-child); exit status. */
int kernel_child_main(struct bench *b);
/* "cgroup v1 memory.limit_in_bytes" or "cgroup v2 memory.max", for the
 * report. */
const char *cgroup_kind(const struct bench *b);

#endif /* UPAGER_BENCH_SWAP_H */
