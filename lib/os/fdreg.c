/* SPDX-License-Identifier: MIT */
/*
 * fdreg.c - the registry of upager's own descriptors (fdreg.h). It is
 * process-wide by nature, like the live-pager set: a descriptor number
 * belongs to the process, whichever pager opened it.
 *
 * Entries are claimed and released with atomics only, so the shim's
 * close() (which must stay async-signal-safe) can read the registry at
 * any moment: an entry's fd is published, with release order, only after
 * its identity is written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "os/fdreg.h"
#include "core/log.h"

/* An entry's key: zero-initialised means free. */
#define KEY_FREE 0
#define KEY_CLAIMED (-1) /* being filled in */
#define KEY(fd) ((fd) + 1)

struct fdreg_entry {
	_Atomic int key;  /* KEY_FREE, KEY_CLAIMED, or KEY(the descriptor) */
	dev_t dev;        /* the file it was when recorded */
	ino_t ino;
	const char *what; /* for messages: "swap store", ... */
};

static struct fdreg_entry reg[FDREG_MAX];
/* Entries [0, used) have ever been claimed: lookups stop there. */
static _Atomic unsigned int used;
/* No registered descriptor is below it: most closes are answered by one
 * comparison. Only ever lowered. */
static _Atomic int lowest = INT_MAX;
static _Atomic bool full_warned;

int fdreg_base(void)
{
	struct rlimit rl;
	rlim_t top = FDREG_TOP;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top)
		top = rl.rlim_cur;
	return top > 2 * FDREG_SPAN ? (int)(top - FDREG_SPAN) : (int)(top / 2);
}

static void record(int fd, const char *what)
{
	struct stat st;
	int low;

	if (fstat(fd, &st) < 0)
		memset(&st, 0, sizeof(st));
	for (unsigned int i = 0; i < FDREG_MAX; i++) {
		int expect = KEY_FREE;

		if (!atomic_compare_exchange_strong(&reg[i].key, &expect, KEY_CLAIMED))
			continue;
		reg[i].dev = st.st_dev;
		reg[i].ino = st.st_ino;
		reg[i].what = what;
		low = atomic_load(&lowest);
		while (fd < low && !atomic_compare_exchange_weak(&lowest, &low, fd))
			;
		unsigned int u = atomic_load(&used);
		while (u < i + 1 && !atomic_compare_exchange_weak(&used, &u, i + 1))
			;
		atomic_store_explicit(&reg[i].key, KEY(fd), memory_order_release);
		return;
	}
	if (!atomic_exchange(&full_warned, true))
		log_warn("fdreg: more than %d descriptors of upager's; descriptor %d (%s) "
			 "is not protected from the program", FDREG_MAX, fd, what);
}

int fdreg_hide(int fd, const char *what)
{
	int base, moved;

	if (fd < 0)
		return fd;
	base = fdreg_base();
	if (fd < base) {
		moved = fcntl(fd, F_DUPFD_CLOEXEC, base);
		if (moved >= 0) {
			close(fd);
			fd = moved;
		} else {
			/* Kept where it is (still close-on-exec, still
			 * protected by the shim), only visible to the program. */
			log_debug("fdreg: cannot move descriptor %d (%s) to %d or above: %s",
				  fd, what, base, strerror(errno));
		}
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	record(fd, what);
	return fd;
}

static struct fdreg_entry *find(int fd)
{
	unsigned int n;

	if (fd < atomic_load_explicit(&lowest, memory_order_relaxed))
		return NULL;
	n = atomic_load_explicit(&used, memory_order_acquire);
	for (unsigned int i = 0; i < n; i++)
		if (atomic_load_explicit(&reg[i].key, memory_order_acquire) == KEY(fd))
			return &reg[i];
	return NULL;
}

bool fdreg_is_own(int fd)
{
	return fd >= 0 && find(fd) != NULL;
}

int fdreg_next_own(int from)
{
	unsigned int n = atomic_load_explicit(&used, memory_order_acquire);
	int best = -1;

	for (unsigned int i = 0; i < n; i++) {
		int fd = atomic_load_explicit(&reg[i].key, memory_order_acquire) - 1;

		if (fd >= 0 && fd >= from && (best < 0 || fd < best))
			best = fd;
	}
	return best;
}

void fdreg_forget(int fd)
{
	struct fdreg_entry *e;

	if (fd >= 0 && (e = find(fd)))
		atomic_store_explicit(&e->key, KEY_FREE, memory_order_release);
}

void fdreg_close(int fd)
{
	if (fd < 0)
		return;
	fdreg_forget(fd);
	close(fd);
}

void fdreg_check(int fd)
{
	struct fdreg_entry *e = fd >= 0 ? find(fd) : NULL;
	struct stat st;

	if (!e)
		return;
	if (fstat(fd, &st) < 0)
		fdreg_lost(fd, -errno);
	if (st.st_dev != e->dev || st.st_ino != e->ino)
		fdreg_lost(fd, 0);
}

void fdreg_lost(int fd, int err)
{
	struct fdreg_entry *e = fd >= 0 ? find(fd) : NULL;
	const char *what = e ? e->what : "upager's";

	if (err && err != -EBADF && err != -ENOTTY)
		log_error("descriptor %d (%s) failed with %s; ending the process "
			  "rather than losing data", fd, what, strerror(-err));
	else
		log_error("descriptor %d (%s) was closed or replaced behind upager's "
			  "back; ending the process rather than losing data", fd, what);
	abort();
}
