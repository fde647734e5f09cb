/* SPDX-License-Identifier: MIT */
/*
 * statm.h - the process's resident set, as the kernel counts it.
 *
 * /proc/self/statm's second field is RssAnon + RssFile + RssShmem in
 * pages, the figure whose peak is VmHWM (getrusage's ru_maxrss): read
 * from the kernel's per-mm counters, without walking page tables
 * (smaps_rollup walks them all), so a read costs a few microseconds.
 */
#ifndef UPAGER_STATM_H
#define UPAGER_STATM_H

#include <stdint.h>

/* Pages resident in the process that opened @fd (/proc/self/statm).
 * Returns 0 or -errno (-EIO: the file did not parse). */
int statm_resident(int fd, uint64_t *pages);

#endif /* UPAGER_STATM_H */
