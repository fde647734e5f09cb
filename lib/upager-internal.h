/* SPDX-License-Identifier: MIT */
/*
 * upager-internal.h - the one internal header tools may include, for
 * what a benchmark needs beyond include/upager.h and no more: the size
 * parser the library reads UPAGER_* sizes with (so options mean the same
 * in both), two bounds the library holds its options and reclaim to, and
 * the unmasked map/unmap and the signal mask the public calls wrap (to
 * measure what the mask costs), and the library's whole-buffer pread and
 * pwrite. Not installed, no ABI: a tool built from
 * this tree links the internal library. lib/upager-internal.c checks that
 * every declaration here is the module's own.
 */
#ifndef UPAGER_INTERNAL_H
#define UPAGER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "os/signals.h"
#include "upager.h"

/* The most pages one swap-in reads (options.h: OPT_MAX_SWAP_READAHEAD). */
#define UPAGER_INTERNAL_SWAP_READAHEAD_MAX 128u
/* A refault reactivates the pages of its aligned window of this many
 * pages (reclaim.h: REACTIVATE_AROUND). */
#define UPAGER_INTERNAL_REACTIVATE_AROUND 16u

/* core/options.h: bytes, or a number with K/M/G/T (optionally KiB,
 * MB...), binary multiples. Returns 0 or -EINVAL. */
int options_parse_size(const char *s, uint64_t *out);

/* mm/pager.h: upager_map() and upager_unmap() without blocking the
 * caller's signals around them. */
int pager_map(struct upager *p, void *hint, size_t len, int prot, unsigned int flags,
	      void **out);
int pager_unmap(struct upager *p, void *addr, size_t len);

/* mm/object.h: pread and pwrite of all of @len bytes at @off, short
 * transfers continued, EINTR retried. pread_full: bytes read (fewer only
 * at the end of the file) or -errno; pwrite_full: 0 or -errno. */
ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* And os/signals.h, whole: signals_block() and signals_restore(), what
 * the public calls wrap pager_map() and pager_unmap() in. */

#endif /* UPAGER_INTERNAL_H */
