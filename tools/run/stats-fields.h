/* SPDX-License-Identifier: MIT */
/*
 * stats-fields.h - every counter of struct upager_stats, by name, for the
 * JSON the shim writes and upager-run reads (docs/stats-json.md). The
 * assertion below fails the build when the struct gains a member this
 * list lacks, so the JSON cannot silently fall behind the API.
 */
#ifndef UPAGER_STATS_FIELDS_H
#define UPAGER_STATS_FIELDS_H

#include <stddef.h>

#include "upager.h"

#define UPAGER_STATS_FIELDS(X) \
	X(faults) X(faults_read) X(faults_write) X(faults_raced) X(faults_retried) \
	X(faults_dropped) X(zero_fills) X(fault_around_pages) X(pages_resident) X(regions) \
	X(service_ns_p50) X(service_ns_p99) X(service_ns_max) X(budget_pages) X(staged) \
	X(reactivations) X(writebacks) X(clean_drops) X(zero_drops) X(swapins) \
	X(readahead_pages) X(swap_full) X(sigbus) X(slots_in_use) X(swap_capacity_slots) \
	X(swap_read_ios) X(swap_write_ios) X(checksum_failures) X(swap_read_ns_p50) \
	X(swap_read_ns_p99) X(swap_write_ns_p50) X(swap_write_ns_p99) X(faults_minor) \
	X(file_reads) X(file_writes) X(cow_breaks) X(cache_pages) X(private_shared_pages) \
	X(events) X(faults_deferred) X(moves_undercounted) X(reactivated_around) \
	X(pool_bytes) X(pool_pages) X(pool_compressed_bytes) X(compress_ratio_pct) \
	X(pool_stored) X(pool_stored_bytes) X(same_filled) X(compress_rejected) X(pool_written_back) \
	X(rss_cap_pages) X(frame_limit_pages) X(peak_rss_pages) X(peak_paged_pages) \
	X(peak_unpaged_pages) X(peak_own_pages) X(unpaged_over_cap) \
	X(swap_read_submits) X(swap_read_sqes) X(swap_write_submits) X(swap_write_sqes)

#define STATS_FIELD_ONE(name) +1
_Static_assert(sizeof(struct upager_stats) ==
	       offsetof(struct upager_stats, faults) + sizeof(uint64_t) * (0 UPAGER_STATS_FIELDS(STATS_FIELD_ONE)),
	       "a member of struct upager_stats is missing from UPAGER_STATS_FIELDS");
#undef STATS_FIELD_ONE

/* Counters a run adds up over its processes; the others (percentiles,
 * budgets, capacities, levels) mean nothing summed. */
#define UPAGER_STATS_SUMMED(X) \
	X(faults) X(faults_read) X(faults_write) X(zero_fills) X(writebacks) X(clean_drops) \
	X(zero_drops) X(swapins) X(readahead_pages) X(swap_full) X(sigbus) \
	X(checksum_failures) X(swap_read_ios) X(swap_write_ios) X(file_reads) X(file_writes) \
	X(pool_stored) X(pool_stored_bytes) X(same_filled) X(compress_rejected) X(pool_written_back) \
	X(swap_read_submits) X(swap_read_sqes) X(swap_write_submits) X(swap_write_sqes)

/* The schema's version (docs/stats-json.md): a new member keeps it, a
 * changed or removed one bumps it. */
#define STATS_JSON_SCHEMA 1

#endif /* UPAGER_STATS_FIELDS_H */
