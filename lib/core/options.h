/* SPDX-License-Identifier: MIT */
/*
 * options.h - turning what a caller asked for into a pager's settings.
 */
#ifndef UPAGER_OPTIONS_H
#define UPAGER_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "upager.h"

/* Handler threads by default: one per CPU the process may run on, each
 * pinned to its CPU (OPT_SPREAD), at most this many; with swap one more
 * (every CPU's handler may wait for I/O while one stays free to read). */
#define OPT_DEFAULT_THREADS_MAX 8u
/* An internal flag options_resolve() sets in flags: handler threads were
 * not asked for, so there is one per CPU of the process's affinity,
 * pinned there. A faulting thread sleeps on its CPU until its fault is
 * served; the handler on that CPU, idle, serves it at once, where an
 * unpinned handler is often woken on the other CPU, and a wake-up across
 * CPUs costs many times the round trip on one (docs/BENCHMARKS.md,
 * "Design figures": placement). Never a caller's flag. */
#define OPT_SPREAD (1u << 30)
#define OPT_DEFAULT_SWAP_SIZE (8ull << 30)
/* The smallest swap store, in pages: one of the file store's clusters
 * (store-file.h's STORE_CLUSTER_SLOTS, checked to agree in store.c). */
#define OPT_MIN_SWAP_PAGES 64u
/* A budget smaller than a reclaim batch and its inactive list thrashes. */
#define OPT_MIN_RESIDENT (256u << 10)
#define OPT_MAX_THREADS 64u
/* 256 pages: one ioctl of 1 MiB costs about as much as 2-3 single faults
 * here, and the stream must be long to get there. */
#define OPT_DEFAULT_FAULT_AROUND 256u
#define OPT_MAX_FAULT_AROUND 4096u
#define OPT_MAX_CPU 1023u
/* The compressed pool's share of the budget, percent: zswap's default
 * max_pool_percent; at most 90, so paging keeps a tenth of the frames. */
#define OPT_DEFAULT_COMPRESS_POOL_PCT 20u
#define OPT_MAX_COMPRESS_POOL_PCT 90u
/* What compress means when not asked for: off until measurements say
 * the tier wins by default. */
#define OPT_DEFAULT_COMPRESS UPAGER_COMPRESS_OFF
/* A swap-in reads at most this many pages (reclaim.h: SWAPIN_MAX). */
#define OPT_MAX_SWAP_READAHEAD 128u

#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
/* Where the last member of struct upager_options this library knows
 * ends: bytes a caller passes past it must be zero. A new member of the
 * struct renames this. */
#define OPTS_KNOWN_END offsetofend(struct upager_options, compress_pool_pct)
_Static_assert(sizeof(struct upager_options) - OPTS_KNOWN_END < _Alignof(struct upager_options),
	       "OPTS_KNOWN_END must name the last member of struct upager_options");

/*
 * Copy @in (NULL: defaults) into @out with defaults filled in, the
 * environment applied when asked, and every value checked.
 * Returns 0 or -EINVAL (logged).
 */
int options_resolve(const struct upager_options *in, struct upager_options *out);

/* Parse a size: bytes, or a number with K/M/G/T (optionally KiB, MB...),
 * binary multiples. Returns 0 or -EINVAL. */
int options_parse_size(const char *s, uint64_t *out);

#endif /* UPAGER_OPTIONS_H */
