/* SPDX-License-Identifier: MIT */
/*
 * fdreg.h - upager's own descriptors, kept out of the program's way: the
 * registry of every descriptor upager creates (swap store, memfds,
 * userfaultfds, /proc/self files, io_uring rings). Process-wide by nature,
 * like the live-pager set: descriptors belong to the process, not to a
 * pager.
 *
 * A program may close, replace or reuse any descriptor number it does not
 * know to be upager's (bash's `exec 5<>file`, close_range(3, ~0U, 0)).
 * So every descriptor upager keeps is moved far above the program's range
 * (fdreg_hide), close-on-exec, and recorded with the identity of its
 * file; the LD_PRELOAD shim asks fdreg_is_own() before letting the
 * program close or replace a descriptor, and upager checks the identity
 * (fdreg_check) before anything that would destroy data if the number
 * now meant another file.
 */
#ifndef UPAGER_FDREG_H
#define UPAGER_FDREG_H

#include <stdbool.h>

/* How many descriptors the registry holds; a pager keeps about 10. */
#define FDREG_MAX 256

/*
 * Move @fd (one upager just created) to the lowest free number at or
 * above fdreg_base(), close-on-exec, close the original, and record it
 * as upager's, @what saying what it is in messages (a string literal).
 * If it cannot be moved (no room under RLIMIT_NOFILE), @fd itself is kept
 * and still recorded. Returns the descriptor to use from now on; a
 * negative @fd (a failed open's -errno) is returned as it is. Not
 * async-signal-safe; thread-safe.
 */
int fdreg_hide(int fd, const char *what);

/*
 * Whether @fd is one of upager's. Async-signal-safe and lock-free: the
 * shim's close() asks it on every call.
 */
bool fdreg_is_own(int fd);

/*
 * The smallest of upager's descriptors at or above @from, or -1 if none.
 * Async-signal-safe (the shim splits close_range() around them).
 */
int fdreg_next_own(int from);

/* @fd is no longer upager's (called just before upager closes it). */
void fdreg_forget(int fd);

/* fdreg_forget(@fd), then close it; a negative @fd is ignored. */
void fdreg_close(int fd);

/*
 * Make sure @fd is still the file fdreg_hide() recorded (one fstat:
 * docs/ARCHITECTURE.md, "Descriptors", has its cost). If it was closed or now means another file, the process is
 * ended (fdreg_lost): whatever upager was about to do to it (punch holes,
 * write swap, register memory) would destroy the program's data. A
 * descriptor that is not registered is not checked.
 */
void fdreg_check(int fd);

/*
 * A system call on upager's descriptor @fd answered @err (EBADF, or a
 * descriptor that is not what it was): say loudly what was lost and
 * abort the process, rather than run on with pages nobody serves or
 * write into a file that is not upager's.
 */
_Noreturn void fdreg_lost(int fd, int err);

/* The number at or above which upager keeps its descriptors: near the
 * top of the soft RLIMIT_NOFILE (at most FDREG_TOP), as valgrind does. */
int fdreg_base(void);

/* Where the registry starts (and stops) looking: the highest descriptor
 * upager asks for, however high RLIMIT_NOFILE is, so the kernel's table
 * of descriptors stays small. */
#define FDREG_TOP 4096
/* How many numbers below the top are upager's. */
#define FDREG_SPAN 128

#endif /* UPAGER_FDREG_H */
