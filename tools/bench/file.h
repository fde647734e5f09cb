/* SPDX-License-Identifier: MIT */
/*
 * file.h - what the two files of "upager-bench file" share: the passes,
 * the samples a pass yields, the benchmark's configuration and results.
 * file.c runs the passes on both implementations; file-report.c prints.
 */
#ifndef UPAGER_BENCH_FILE_H
#define UPAGER_BENCH_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "harness.h"
#include "upager.h"

#define DEFAULT_FILE_SIZE (2048 * MIB)
#define DEFAULT_BUDGET (256 * MIB)
#define DEFAULT_OPS 65536u
#define DEFAULT_RUNS 3u
#define QUICK_FILE_SIZE (64 * MIB)
#define QUICK_BUDGET (16 * MIB)
#define QUICK_OPS 2048u
#define QUICK_RUNS 1u
#define MAX_RUNS 100u
#define MAX_OPS (1ull << 30)
#define RAND_SEED 0xf11ebe7cull
/* What LLNL's umap managed on a file-backed out-of-core sequential read,
 * and the target: ten times that. */
#define UMAP_SEQ_PPS 5600.0
#define TARGET_SEQ_PPS (10 * UMAP_SEQ_PPS)
/* Generation and verification I/O size. */
#define IO_CHUNK (4 * MIB)
/* No progress for this long prints a warning while the pass goes on. */
#define STALL_WARN_NS (10ull * 1000000000u)
/* A pass running this long gets a progress line. */
#define PROGRESS_AFTER_NS (2ull * 1000000000u)

enum impl { IMPL_UPAGER, IMPL_KERNEL, NIMPL };
/* PASS_SYNC and PASS_WRITE_SYNC are the write pass's sync, alone and
 * with the writes: rows of the report, not passes of their own. */
enum pass { PASS_SEQ_READ, PASS_RAND_READ, PASS_WRITE, PASS_SYNC, PASS_WRITE_SYNC, NPASS };

/* Indexed by the enums above; defined in file.c. */
extern const char *const file_impl_name[NIMPL];
extern const char *const file_pass_name[NPASS];

/* Counters over one pass. Which means what differs per implementation
 * (see print_legend()). */
struct counters {
	uint64_t disk_reads;  /* pages the process read from the device (/proc/self/io) */
	uint64_t faults;      /* upager: faults; kernel: ru_majflt + ru_minflt */
	uint64_t minor;       /* upager: faults_minor; kernel: ru_minflt */
	uint64_t file_reads, readahead, file_writes, clean_drops, sigbus; /* upager */
};

/* One pass (or row) of one implementation in one run. */
struct sample {
	bool valid;
	double pps;       /* pages (accesses) per second */
	double secs;      /* wall time of the pass */
	double p50, p99;  /* per-access ns: rand-read only */
	double max;       /* slowest single access (sync: the sync), ns */
	uint64_t bad;     /* pages that failed verification */
	struct counters c;
};

/* A snapshot of everything a pass's counters are the difference of. */
struct probe {
	uint64_t t;
	struct upager_stats st;
	struct rusage ru;
	uint64_t io_read;
	bool io_ok;
};

struct bench {
	/* configuration */
	uint64_t file_size, budget, ops;
	size_t page, pages;
	unsigned int runs;
	struct common_opts co;
	bool tty;
	struct progress progress;
	/* state */
	int fd;
	uint64_t disk_gen;           /* the pattern generation the file holds */
	uint64_t *lat;               /* [ops]: one sample per rand-read access */
	unsigned char *mincore_vec;  /* [pages] */
	char *io_buf;                /* [IO_CHUNK] */
	char file_path[PATH_MAX];
	char store_path[PATH_MAX];
	bool drop_failed, drop_sys;  /* posix_fadvise failed; drop_caches written */
	uint64_t cached_max;         /* most pages of the file cached after a drop */
	bool io_missing;             /* no /proc/self/io */
	/* results */
	struct sample *samples;      /* [impl][pass][run] */
	uint64_t verify_bad[NIMPL];  /* over runs */
	uint64_t unmap_writes[NIMPL]; /* upager: pages the unmap wrote after the sync */
	bool data_error, run_error;
};

struct sample *file_sample_at(struct bench *b, enum impl impl, enum pass pass,
			      unsigned int run);

/* file-report.c */
void file_print_table(struct bench *b);
/* One JSON object on stdout (report.h); 0 or -EIO. */
int file_print_json(struct bench *b);

#endif
