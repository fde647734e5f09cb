/* SPDX-License-Identifier: MIT */
/*
 * upager-trace.h - what the BPF side of upager-trace (upager-trace.bpf.c)
 * and its user-space side (upager-trace.c) agree on: limits, histogram
 * layout, the counters in the BPF program's .bss.
 *
 * Included by the BPF program after vmlinux.h, and by user space.
 */
#ifndef UPAGER_TRACE_H
#define UPAGER_TRACE_H

/* The same 64 bits on both sides; user space gets uint64_t, which the
 * PRIu64 formats match (its __u64 is unsigned long long). */
#ifdef __bpf__
typedef __u64 trace_u64;
#else
#include <stdint.h>
typedef uint64_t trace_u64;
#endif

/* --region may be given this many times. */
#define TRACE_MAX_REGIONS 8

/* The library's histogram buckets (lib/core/hist.h), computed on the
 * BPF side: one per value below 2^TRACE_SUB_BITS ns, then 2^TRACE_SUB_BITS
 * per power of two. User space checks both numbers against hist.h. */
#define TRACE_SUB_BITS 4
#define TRACE_BUCKETS ((64 - TRACE_SUB_BITS + 1) << TRACE_SUB_BITS)

/* The histograms, in the "hists" array map at key hist * TRACE_BUCKETS +
 * bucket. A fault that slept is split in three parts that add up to its
 * total: fault entry -> switched out, switched out -> woken, woken ->
 * switched in (on CPU again). */
enum trace_hist {
	HIST_TOTAL,      /* fault entry -> the thread runs again */
	HIST_TO_SLEEP,   /* fault entry -> switched out (went to sleep) */
	HIST_SLEEP,      /* switched out -> sched_wakeup */
	HIST_WAKE_TO_RUN, /* sched_wakeup -> switched in */
	TRACE_NHISTS,
};

/* [start, end) of one --region (start inclusive, end exclusive). */
struct trace_region {
	trace_u64 start;
	trace_u64 end;
};

/* Counters, in the BPF program's .bss; user space reads them through the
 * skeleton's memory-mapped .bss. Updated with atomic adds, except the
 * max_ns members (a racy compare-and-store: a concurrent larger value may
 * rarely be lost; the histogram still has it). */
struct trace_counts {
	trace_u64 faults;        /* user page faults of traced processes */
	trace_u64 faults_write;  /* ... of which write faults (error_code bit 1) */
	trace_u64 slept;         /* ... that slept (switched out, sleep state set) */
	trace_u64 awake;         /* ... that ended without sleeping (duration unknown) */
	trace_u64 awake_woken;   /* ... of which woken before they slept */
	trace_u64 no_wakeup;     /* slept faults whose sched_wakeup was not seen */
	trace_u64 abandoned;     /* faults whose thread exited before running again */
	trace_u64 lost;          /* faults not tracked: the per-thread map was full */
	trace_u64 region_faults[TRACE_MAX_REGIONS];
	trace_u64 region_slept[TRACE_MAX_REGIONS];
	/* ... that ended without sleeping (answered before the thread slept);
	 * with region_slept, every region fault once its thread ran again. */
	trace_u64 region_awake[TRACE_MAX_REGIONS];
	trace_u64 other_faults;  /* faults outside every --region */
	trace_u64 other_slept;
	trace_u64 sum_ns[TRACE_NHISTS]; /* exact sums, for the means */
	trace_u64 max_ns[TRACE_NHISTS];
};

#endif /* UPAGER_TRACE_H */
