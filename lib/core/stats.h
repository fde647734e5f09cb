/* SPDX-License-Identifier: MIT */
/*
 * stats.h - a pager's counters and its latency histogram.
 *
 * Handler threads update them with relaxed atomics (no lock on the fault
 * path); readers copy them out one counter at a time. The histogram is
 * log-linear: 8 sub-buckets per power of two, so any percentile is read
 * with at most 12.5% relative error, over the whole 64-bit range.
 */
#ifndef UPAGER_STATS_H
#define UPAGER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/hist.h"

struct stats {
	_Atomic uint64_t faults;
	_Atomic uint64_t faults_read;
	_Atomic uint64_t faults_write;
	_Atomic uint64_t faults_raced;
	_Atomic uint64_t faults_retried;
	_Atomic uint64_t faults_dropped;
	_Atomic uint64_t faults_deferred; /* handed by a handler to the worker */
	_Atomic uint64_t events;          /* address-space changes applied (events.h) */
	_Atomic uint64_t zero_fills;
	_Atomic uint64_t fault_around_pages;
	/* Signed: unmap subtracts what mincore() sees, which may briefly run
	 * ahead of a handler that has installed but not yet counted. */
	_Atomic int64_t pages_resident;
	/* Paging (with a frame budget). */
	_Atomic uint64_t staged;        /* pages moved to the inactive list */
	_Atomic uint64_t reactivations; /* ... touched there and brought back */
	_Atomic uint64_t reactivated_around; /* ... brought back beside one touched */
	_Atomic uint64_t stage_failures;
	_Atomic uint64_t moves_undercounted; /* UFFDIO_MOVE moved more than it said */
	_Atomic uint64_t writebacks;    /* dirty pages written to swap */
	_Atomic uint64_t clean_drops;   /* evicted without I/O: slot still matched */
	_Atomic uint64_t zero_drops;    /* evicted without I/O: all zeros */
	_Atomic uint64_t swapins;       /* pages read back from swap */
	_Atomic uint64_t readahead_pages; /* ... of which ahead of a fault */
	_Atomic uint64_t swap_full;     /* evictions refused: no free slot */
	_Atomic uint64_t sigbus;        /* accesses answered with SIGBUS */
	/* Shared objects (cache.h). */
	_Atomic uint64_t faults_minor;  /* faults on pages the object's cache held */
	_Atomic uint64_t file_reads;    /* pages read from files */
	_Atomic uint64_t file_writes;   /* pages written back to files */
	_Atomic uint64_t cow_breaks;    /* private copies made on first write */
	_Atomic int64_t cache_pages;    /* shared objects' pages in memory */
	_Atomic int64_t private_shared; /* private-mapping pages still mapping their object's page */
	struct hist service_ns;
};

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t stat_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif /* UPAGER_STATS_H */
