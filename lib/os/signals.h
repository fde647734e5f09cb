/* SPDX-License-Identifier: MIT */
/*
 * signals.h - upager's calls run with the program's asynchronous signals
 * blocked, as the kernel's own mmap, munmap and mprotect are never
 * interrupted half-way.
 *
 * A call that holds the pager's lock (or any lock a fault needs: the page
 * lock, the stream lock, the live-pager set) must not be interrupted by
 * a signal handler of the program's: the handler may touch paged memory
 * (its fault waits for a handler thread that waits for the lock), call
 * malloc (whose mmap comes back to upager_map and the same lock), or call
 * upager itself. Each entry point blocks every signal but the
 * synchronous ones for its duration, so the handler runs once the call
 * has returned. Synchronous signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGTRAP, SIGSYS) stay open: blocked, a fault in the caller's memory
 * would kill the process instead of reaching its handler. Handler,
 * worker and reclaim threads block everything from birth.
 */
#ifndef UPAGER_SIGNALS_H
#define UPAGER_SIGNALS_H

#include <signal.h>

struct signals_saved {
	sigset_t old; /* the caller's mask, put back by signals_restore() */
};

/* Block the asynchronous signals in the calling thread, saving its mask. */
void signals_block(struct signals_saved *s);

/* Put back the mask signals_block() saved (a pending signal's handler
 * runs now). */
void signals_restore(const struct signals_saved *s);

#endif /* UPAGER_SIGNALS_H */
