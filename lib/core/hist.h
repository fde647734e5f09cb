/* SPDX-License-Identifier: MIT */
/*
 * hist.h - the one latency histogram: log-linear buckets of nanoseconds.
 *
 * Values below HIST_SUB have a bucket each; above, every power of two is
 * cut into HIST_SUB equal buckets, so a bucket is at most 1/HIST_SUB of
 * its values wide (6.25%) over the whole 64-bit range. The library's
 * counters (fault service, swap I/O), upager_stats_hist(), the launcher's
 * JSON and the benchmarks all use these buckets, so a histogram from one
 * can be compared bucket by bucket with another.
 *
 * struct hist is the concurrent recorder: handler threads add to it with
 * relaxed atomics, no lock. Readers take a snapshot (hist_read).
 */
#ifndef UPAGER_HIST_H
#define UPAGER_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 4
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Octave 0 holds [0, HIST_SUB); octave k >= 1 the values whose leading
 * one is bit k + HIST_SUB_BITS - 1. */
#define HIST_BUCKETS ((64u - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	_Atomic uint64_t bucket[HIST_BUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t max;
};

/* A histogram at one moment, read without stopping the writers. */
struct hist_snapshot {
	uint64_t bucket[HIST_BUCKETS];
	uint64_t count; /* the sum of bucket[] */
	uint64_t max;
};

void hist_record(struct hist *h, uint64_t value);
void hist_read(struct hist *h, struct hist_snapshot *out);

/* The bucket @value falls in, and the inclusive bounds of bucket @b. */
unsigned int hist_bucket_of(uint64_t value);
uint64_t hist_bucket_lower(unsigned int b);
uint64_t hist_bucket_upper(unsigned int b);

/* The value below which @permille of the samples lie: the upper bound of
 * the bucket the rank falls in, never above the largest sample; 0 when
 * empty. */
uint64_t hist_percentile(struct hist *h, unsigned int permille);
uint64_t hist_snapshot_percentile(const struct hist_snapshot *s, unsigned int permille);

/* Octave by octave, for drawings of one bar per power of two: the
 * HIST_BUCKETS counts at @bucket summed per octave, the octaves that hold
 * any ([first, last]; first > last when none does) and the largest sum. */
#define HIST_OCTAVES (HIST_BUCKETS / HIST_SUB)
struct hist_octaves {
	uint64_t n[HIST_OCTAVES];
	uint64_t top;
	unsigned int first, last;
};
void hist_octaves(const uint64_t *bucket, struct hist_octaves *out);

#endif /* UPAGER_HIST_H */
