// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * upager-trace.bpf.c - the kernel half of upager-trace: how long a user
 * page fault keeps its thread from running, timed with bpf_ktime_get_ns().
 *
 * There is no fault-exit tracepoint, so a fault's end is inferred from the
 * scheduler. Per thread, one fault at a time:
 *
 *   page_fault_user ──> FAULTED ──(switched out, sleep state set)──> SLEPT
 *        ^                 │                                           │
 *        │   next fault or syscall entry:              sched_wakeup    │
 *        │   ended awake, duration unknown                             v
 *        │                                     WOKEN <─────────────────┘
 *        │                                       │
 *        └─────── switched in again: fault -> run measured, entry gone
 *
 * A userfaultfd fault always sleeps (the handler thread must answer it);
 * a kernel-handled fault usually does not, or sleeps on I/O or a lock.
 * page_fault_user fires only for faults taken in user mode, so once the
 * thread enters a system call or faults again it has left the fault: an
 * entry still FAULTED then ended without sleeping. That keeps a later
 * sleep in a system call from being blamed on an old fault. A wakeup seen
 * while FAULTED marks a fault answered before its thread got to sleep
 * (counted, not timed).
 *
 * Everything attaches through BTF-typed tracepoints (tp_btf), which need no
 * tracefs; fentry and kprobes do not load on the target kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "upager-trace.h"

_Static_assert((TRACE_MAX_REGIONS & (TRACE_MAX_REGIONS - 1)) == 0,
	       "region indices are masked with TRACE_MAX_REGIONS - 1");

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by user space before load; constant for the verifier. */
const volatile __u32 follow_children = 0;
const volatile __u32 nregions = 0;
const volatile struct trace_region regions[TRACE_MAX_REGIONS] = {};

struct trace_counts counts = {};

enum fault_state { FAULTED, SLEPT, WOKEN };

/* The fault a thread is in, keyed by thread id. */
struct inflight {
	__u64 ts_fault; /* page_fault_user */
	__u64 ts_sleep; /* switched out (SLEPT and later) */
	__u64 ts_wake;  /* sched_wakeup (WOKEN) */
	__u32 state;    /* enum fault_state */
	__u32 region;   /* index into regions, or TRACE_MAX_REGIONS: none */
	__u32 woken;    /* woken while FAULTED, before it got to sleep */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* Traced processes: tgid -> user page faults taken. User space inserts the
 * first; with follow_children, forks of a traced process join. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} tgids SEC(".maps");

/* Histograms, key hist * TRACE_BUCKETS + bucket (upager-trace.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRACE_NHISTS * TRACE_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} hists SEC(".maps");

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

/* lib/core/hist.c's hist_bucket_of(). */
static __always_inline __u32 bucket_of(__u64 v)
{
	__u32 msb;

	if (v < (1u << TRACE_SUB_BITS))
		return (__u32)v;
	msb = log2_u64(v);
	return (msb - TRACE_SUB_BITS + 1) * (1u << TRACE_SUB_BITS) +
	       (__u32)((v >> (msb - TRACE_SUB_BITS)) & ((1u << TRACE_SUB_BITS) - 1));
}

static __always_inline void hist_add(__u32 hist, __u64 ns)
{
	__u32 key = hist * TRACE_BUCKETS + bucket_of(ns);
	__u64 *slot;

	if (hist >= TRACE_NHISTS)
		return;
	slot = bpf_map_lookup_elem(&hists, &key);
	if (slot)
		__sync_fetch_and_add(slot, 1);
	__sync_fetch_and_add(&counts.sum_ns[hist], ns);
	if (ns > counts.max_ns[hist])
		counts.max_ns[hist] = ns;
}

static __always_inline __u32 region_of(__u64 addr)
{
	for (__u32 i = 0; i < TRACE_MAX_REGIONS; i++) {
		if (i >= nregions)
			break;
		if (addr >= regions[i].start && addr < regions[i].end)
			return i;
	}
	return TRACE_MAX_REGIONS;
}

/* @arr[@region]++ for @region < TRACE_MAX_REGIONS, in a form the verifier
 * can bound: clang would otherwise compute the address before the caller's
 * range check and drop the mask as redundant. */
static __always_inline void region_add(trace_u64 *arr, __u32 region)
{
	barrier_var(region);
	__sync_fetch_and_add(&arr[region & (TRACE_MAX_REGIONS - 1)], 1);
}

/* The thread left a fault it never slept in. */
static __always_inline void end_awake(__u32 tid, struct inflight *f)
{
	if (f->state == FAULTED) {
		__sync_fetch_and_add(&counts.awake, 1);
		if (f->woken)
			__sync_fetch_and_add(&counts.awake_woken, 1);
		if (f->region < TRACE_MAX_REGIONS)
			region_add(counts.region_awake, f->region);
	} else
		__sync_fetch_and_add(&counts.abandoned, 1);
	bpf_map_delete_elem(&inflight, &tid);
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(on_fault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct inflight f = {}, *old;
	__u64 *per_tgid;

	per_tgid = bpf_map_lookup_elem(&tgids, &tgid);
	if (!per_tgid)
		return 0;
	__sync_fetch_and_add(per_tgid, 1);
	__sync_fetch_and_add(&counts.faults, 1);
	if (error_code & 2)
		__sync_fetch_and_add(&counts.faults_write, 1);

	old = bpf_map_lookup_elem(&inflight, &tid);
	if (old)
		end_awake(tid, old);

	f.ts_fault = bpf_ktime_get_ns();
	f.state = FAULTED;
	f.region = region_of(address);
	if (f.region < TRACE_MAX_REGIONS)
		region_add(counts.region_faults, f.region);
	else
		__sync_fetch_and_add(&counts.other_faults, 1);
	if (bpf_map_update_elem(&inflight, &tid, &f, BPF_ANY))
		__sync_fetch_and_add(&counts.lost, 1);
	return 0;
}

/* A system call entered: any fault this thread was in is over. */
SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long syscall_id)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f)
		end_awake(tid, f);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u32 prev_tid = prev->pid, next_tid = next->pid;
	struct inflight *f;
	__u64 now;

	/*
	 * Switched out with a sleep state set: asleep in the fault. That holds
	 * even when preempted on the way to schedule() (the wakeup then finds
	 * it still queued, and it runs again without a switch of its own). A
	 * thread in user mode always has state TASK_RUNNING (0): a preemption
	 * after an awake fault returned is not mistaken for a sleep.
	 */
	f = bpf_map_lookup_elem(&inflight, &prev_tid);
	if (f && f->state == FAULTED && prev_state != 0) {
		f->ts_sleep = bpf_ktime_get_ns();
		f->state = SLEPT;
	}

	f = bpf_map_lookup_elem(&inflight, &next_tid);
	if (!f || f->state == FAULTED)
		return 0;
	now = bpf_ktime_get_ns();
	hist_add(HIST_TOTAL, now - f->ts_fault);
	hist_add(HIST_TO_SLEEP, f->ts_sleep - f->ts_fault);
	if (f->state == WOKEN) {
		hist_add(HIST_SLEEP, f->ts_wake - f->ts_sleep);
		hist_add(HIST_WAKE_TO_RUN, now - f->ts_wake);
	} else {
		__sync_fetch_and_add(&counts.no_wakeup, 1);
	}
	__sync_fetch_and_add(&counts.slept, 1);
	if (f->region < TRACE_MAX_REGIONS)
		region_add(counts.region_slept, f->region);
	else
		__sync_fetch_and_add(&counts.other_slept, 1);
	bpf_map_delete_elem(&inflight, &next_tid);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	__u32 tid = p->pid;
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (!f)
		return 0;
	if (f->state == SLEPT) {
		f->ts_wake = bpf_ktime_get_ns();
		f->state = WOKEN;
	} else if (f->state == FAULTED) {
		/* A wakeup matches only a sleep state, and a thread in user mode
		 * has none: it is inside the fault, about to sleep, and answered
		 * first (a quick userfaultfd handler, a lock released). */
		f->woken = 1;
	}
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u64 zero = 0;

	if (!follow_children || ptgid == ctgid)
		return 0;
	if (bpf_map_lookup_elem(&tgids, &ptgid))
		bpf_map_update_elem(&tgids, &ctgid, &zero, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 tid = p->pid;
	struct inflight *f = bpf_map_lookup_elem(&inflight, &tid);

	if (f) {
		__sync_fetch_and_add(&counts.abandoned, 1);
		bpf_map_delete_elem(&inflight, &tid);
	}
	return 0;
}
