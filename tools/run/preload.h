/* SPDX-License-Identifier: MIT */
/*
 * preload.h - what the modules of libupager-preload.so share. The shim is
 * the one place in upager with a process-wide instance: one pager for the
 * process, opened by the constructor (preload.c).
 *
 *   preload.c          start and end: the pager, the environment, say()
 *   preload-mm.c       the interposed address-space calls (mmap, munmap,
 *                      mremap, mprotect, madvise)
 *   preload-fork.c     children made without the fork handlers (_Fork,
 *                      clone, syscall)
 *   preload-summary.c  the statistics summary (at exit, on SIGUSR1, JSON)
 *   preload-uffd.c     a program's own userfaultfd (the interposed ioctl)
 *   preload-threads.c  the program's threads counted apart from upager's
 *   preload-lock.c     the interposed locking calls (mlock, mlockall, ...)
 *   preload-procmem.c  the program's own /proc/self/mem (read, write, ...)
 */
#ifndef UPAGER_PRELOAD_H
#define UPAGER_PRELOAD_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/options.h"

#define EXPORT __attribute__((visibility("default")))

/*
 * UPAGER_MAX_PAGED (upager-run --max-paged): a budget for upager's own
 * pages only, what the library's max_resident means without
 * UPAGER_OPEN_BUDGET_PROCESS; upager-run's --max-resident
 * (UPAGER_MAX_RESIDENT) caps the process. Returns 1 and the size in
 * *@out when set, 0 when unset, -EINVAL when it is no budget. Shared by
 * the shim and upager-run, which checks it first.
 */
static inline int preload_max_paged(uint64_t *out)
{
	const char *v = getenv("UPAGER_MAX_PAGED");

	if (!v)
		return 0;
	if (options_parse_size(v, out) || *out < OPT_MIN_RESIDENT)
		return -EINVAL;
	return 1;
}

/* The process's pager; NULL when none could be opened (fallback) or
 * before the constructor ran. */
extern struct upager *preload_pager;
/* Smallest anonymous mapping paged (UPAGER_RUN_MIN). */
extern size_t preload_min_len;
/* Where messages go: the program's stderr as it was at start. */
extern int preload_say_fd;

/* mlockall(MCL_FUTURE) without MCL_ONFAULT is in force (preload-lock.c):
 * the program's new mappings that are not upager's go through
 * preload_lock_new(), which locks and fills them as the kernel would
 * have (its own default is lock-on-fault, lib/mm/lock.h). Returns @m. */
extern bool preload_lock_fills;
void *preload_lock_new(void *m, size_t len);

/* Whether @caller (a return address) is inside this library's own code:
 * upager's own calls go straight to the kernel. */
bool preload_from_self(uintptr_t caller);
/* Whether [lo, hi) overlaps this library's code and data. */
bool preload_covers_self(uintptr_t lo, uintptr_t hi);
/* Close the pager: the program is unmapping this library's code. */
void preload_abandon(void);

/* One line on the program's stderr, prefixed with "upager[pid]: ". */
void preload_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The summary (preload-summary.c): on stderr when @human; as a JSON line
 * appended to @json when set. */
void preload_print_summary(const char *why, bool human, const char *json);
/* The SIGUSR1 summary thread, where the program has no SIGUSR1 handler. */
void preload_start_stats_signal(void);
/* Append a JSON record to UPAGER_STATS_JSON every @seconds. */
void preload_start_stats_interval(unsigned int seconds);
/* Start counting the program's threads (preload-threads.c): on the main
 * thread, from the constructor. */
void preload_threads_init(void);
/* Resolve the C library's _Fork, clone and syscall (preload-fork.c). */
void preload_fork_init(void);

/* A descriptor call made through syscall(2) by the program (close, dup,
 * dup2, dup3, fcntl, close_range): refused on upager's descriptors as the
 * interposed calls refuse it (preload-fd.c). Returns whether it was taken,
 * its result in @ret; untaken calls go to the kernel as they are. */
bool preload_fd_syscall(long nr, const long a[6], long *ret);
/* Whether this process is the one upager-run started (UPAGER_RUN_PID). */
bool preload_is_run_process(void);

#endif
