/* SPDX-License-Identifier: MIT */
/*
 * store-holders.c - the processes that share a swap store: a holder's
 * record lock, finding out holders that are gone and reaping them, and the
 * fork protocol that makes a holder for the child to come
 * (fstore_fork_prepare(), _parent(), _child()). It is about processes, not
 * slots (store.c): it touches slots only to add or take off one holder's
 * bit on all of them at once. Holder states and what guards each are
 * described in store-internal.h.
 *
 * Reaping runs in two phases so that a reaper dying halfway leaves nothing
 * inconsistent behind: first, with the lock held throughout, the dead
 * holder's bit is taken off every slot (freeing those nobody else holds)
 * and the holder becomes FREE; then the sweep (store_sweep(), in store.c)
 * punches wholly free clusters one at a time, the lock dropped around each
 * fallocate as fstore_put() does. A holder records the cluster it is
 * punching, so a cluster hidden by a holder that died punching it is shown
 * again by its reaper.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "os/fdreg.h"
#include "core/log.h"
#include "store/store-internal.h"

/* ---- holders: locks -------------------------------------------------------- */

/* Lock (F_WRLCK) or unlock (F_UNLCK) byte @h of the lock area. */
int store_holder_lock(struct file_store *s, int h, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = h, .l_len = 1 };

	return fcntl(s->mfd, F_SETLK, &fl) < 0 ? -errno : 0;
}

/* Has holder @h (not ourselves) died, exec'd, or never started? A LIVE
 * holder's process holds its byte of the lock area, an EMBRYO's guard its
 * byte of the guard memfd. Our own locks never conflict with our test, so
 * the answer is about other processes only. Lock held. */
static bool holder_is_gone(struct file_store *s, unsigned int h)
{
	const struct store_holder *hd = &s->sh->holder[h];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = h, .l_len = 1 };
	int fd, err;

	if (hd->state == HOLDER_LIVE)
		fd = s->mfd;
	else if (hd->state == HOLDER_EMBRYO && hd->guarded)
		fd = s->guard_fd;
	else
		return false;
	err = fcntl(fd, F_GETLK, &fl) < 0 ? -errno : 0;
	if (err) {
		log_warn("store: %s: test holder %u: %s", s->path, h, strerror(-err));
		return false;
	}
	return fl.l_type == F_UNLCK;
}

/* ---- holders: leaving, reaping ------------------------------------------ */

/* Take holder @h off every slot, freeing the slots nobody else holds.
 * Lock held, never dropped. Returns the slots freed. */
uint64_t store_holder_clear(struct file_store *s, unsigned int h)
{
	uint64_t bit = 1ull << h, freed = 0;

	for (uint64_t c = store_cluster_find(s, CLUSTER_USED, 0); c != STORE_NO_SLOT;
	     c = store_cluster_find(s, CLUSTER_USED, c + 1)) {
		uint64_t base = c * STORE_CLUSTER_SLOTS;

		for (uint64_t slot = base; slot < base + STORE_CLUSTER_SLOTS; slot++) {
			if (!(s->mask[slot] & bit))
				continue;
			s->mask[slot] &= ~bit;
			if (!s->mask[slot]) {
				freed++;
				if (store_slot_free(s, slot))
					s->sh->sweep = true;
			}
		}
	}
	return freed;
}

/* Holder @h, holding no slot any more, is FREE. A cluster it was punching
 * when it died is shown again (its blocks may be left: sweep). Lock held. */
void store_holder_release(struct file_store *s, unsigned int h)
{
	struct store_holder *hd = &s->sh->holder[h];

	if (hd->punching != STORE_NO_SLOT) {
		bit_set(s->whole, hd->punching);
		bit_set(s->avail, hd->punching);
		s->sh->sweep = true;
	}
	*hd = (struct store_holder){ .state = HOLDER_FREE, .punching = STORE_NO_SLOT };
}

/* Drop every holder that is gone (see holder_is_gone()). Lock held, by a
 * holder, never dropped. Returns the slots freed. */
uint64_t store_reap_locked(struct file_store *s)
{
	uint64_t total = 0;

	for (unsigned int h = 0; h < STORE_HOLDERS; h++) {
		const struct store_holder *hd = &s->sh->holder[h];
		bool embryo = hd->state == HOLDER_EMBRYO;
		int pid = hd->pid;
		uint64_t n;

		if ((int)h == s->self || !holder_is_gone(s, h))
			continue;
		n = store_holder_clear(s, h);
		store_holder_release(s, h);
		log_info("store: reaped holder %u (pid %d%s): %" PRIu64 " slots", h, pid,
			 embryo ? ", a fork child that never started" : "", n);
		total += n;
	}
	return total;
}

uint64_t fstore_reap(struct store *st)
{
	struct file_store *s = fstore_of(st);
	uint64_t n = 0;

	shared_lock(s);
	if (is_holder(s)) {
		n = store_reap_locked(s);
		store_sweep(s);
	}
	shared_unlock(s);
	return n;
}

/* ---- fork ------------------------------------------------------------------ */

/*
 * Guard embryo @c: a description of the guard memfd of this fork's own,
 * OFD-locked on byte c, which the child inherits. Without /proc there is
 * no way to open one; the embryo is then reaped only once it is LIVE.
 * Lock held.
 */
static bool embryo_guard(struct file_store *s, unsigned int c)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = c, .l_len = 1 };
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->guard_fd);
	fdreg_check(s->guard_fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	err = fd < 0 ? -errno : fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
	if (!err) {
		s->embryo_fd = fdreg_hide(fd, "swap store fork guard");
		return true;
	}
	if (!s->guard_warned)
		log_warn("store: %s: cannot guard a fork's child (%s): one that dies before "
			 "it starts keeps its slots until the store is gone",
			 s->path, strerror(-err));
	s->guard_warned = true;
	if (fd >= 0)
		close(fd);
	return false;
}

int fstore_fork_prepare(struct store *st)
{
	struct file_store *s = fstore_of(st);
	struct store_shared *sh = s->sh;
	bool holder;
	uint64_t own, bit;
	int c = NO_HOLDER;

	shared_lock(s);
	holder = is_holder(s);
	s->fork_pending = true;
	s->fork_child = NO_HOLDER;
	/* A guard inherited by a child that never became a holder guards
	 * nothing of ours: let its embryo be reaped. */
	fdreg_close(s->embryo_fd);
	s->embryo_fd = -1;
	/* On every return the lock stays taken, until fstore_fork_parent(). */
	if (!holder)
		return -EAGAIN;
	store_reap_locked(s);
	for (unsigned int h = 0; h < STORE_HOLDERS && c == NO_HOLDER; h++)
		if (sh->holder[h].state == HOLDER_FREE)
			c = (int)h;
	if (c == NO_HOLDER)
		return -EAGAIN;
	sh->holder[c] = (struct store_holder){
		.state = HOLDER_EMBRYO,
		.punching = STORE_NO_SLOT,
	};
	sh->holder[c].guarded = embryo_guard(s, (unsigned int)c);
	/* The child will inherit our counts: it holds what we hold. */
	own = own_bit(s);
	bit = 1ull << c;
	for (uint64_t cl = store_cluster_find(s, CLUSTER_USED, 0); cl != STORE_NO_SLOT;
	     cl = store_cluster_find(s, CLUSTER_USED, cl + 1))
		for (uint64_t slot = cl * STORE_CLUSTER_SLOTS;
		     slot < (cl + 1) * STORE_CLUSTER_SLOTS; slot++)
			if (s->mask[slot] & own)
				s->mask[slot] |= bit;
	s->fork_child = c;
	return 0;
}

void fstore_fork_parent(struct store *st)
{
	struct file_store *s = fstore_of(st);

	/* Our copy of the guard goes; the child's keeps it (if fork() failed,
	 * there is none, and the embryo is reaped). */
	fdreg_close(s->embryo_fd);
	s->embryo_fd = -1;
	s->fork_child = NO_HOLDER;
	s->fork_pending = false;
	shared_unlock(s);
}

/* A child's I/O is its own. */
static void stats_reset(struct file_store *s)
{
	atomic_store(&s->pages_written, 0);
	atomic_store(&s->pages_read, 0);
	atomic_store(&s->write_ios, 0);
	atomic_store(&s->read_ios, 0);
	atomic_store(&s->write_submits, 0);
	atomic_store(&s->write_sqes, 0);
	atomic_store(&s->read_submits, 0);
	atomic_store(&s->read_sqes, 0);
	atomic_store(&s->checksum_failures, 0);
	atomic_store(&s->io_errors, 0);
	memset(&s->base.read_ns, 0, sizeof(s->base.read_ns));
	memset(&s->base.write_ns, 0, sizeof(s->base.write_ns));
}

/*
 * Becoming LIVE takes the lock, which the parent holds until
 * fstore_fork_parent(): every change of the shared state is then made under
 * the lock, and a reaper (which tests a holder's lock and reads its state
 * under the lock) can never see the moment between our record lock and
 * LIVE, nor LIVE before the record lock. If the parent dies first, the
 * robust lock comes to us as EOWNERDEAD; its prepare was complete.
 */
int fstore_fork_child(struct store *st)
{
	struct file_store *s = fstore_of(st);
	struct store_shared *sh = s->sh;
	int c = s->fork_child, err;
	pid_t pid = getpid();

	stats_reset(s);
	/* The parent's descriptors came along by number: make sure they are
	 * still the store's before this process writes or punches through
	 * them (a program's dup2 onto one of them would otherwise send our
	 * pages into its file). */
	fdreg_check(s->fd);
	fdreg_check(s->mfd);
	fdreg_check(s->guard_fd);
	s->fork_child = NO_HOLDER;
	if (c == NO_HOLDER) {
		s->self = NO_HOLDER;
		s->fork_pending = false;
		return -EAGAIN;
	}
	shared_lock(s);
	s->fork_pending = false;
	err = store_holder_lock(s, c, F_WRLCK);
	if (err) {
		log_error("store: %s: lock holder %d in a fork's child (pid %d): %s; "
			  "the child gets no swap", s->path, c, (int)pid, strerror(-err));
		store_holder_clear(s, (unsigned int)c);
		store_holder_release(s, (unsigned int)c);
		s->self = NO_HOLDER;
	} else {
		sh->holder[c] = (struct store_holder){
			.state = HOLDER_LIVE,
			.pid = (int32_t)pid,
			.punching = STORE_NO_SLOT,
		};
		s->self = c;
		s->pid = pid;
	}
	shared_unlock(s);
	/* LIVE now (or gone): the guard has done its work. */
	fdreg_close(s->embryo_fd);
	s->embryo_fd = -1;
	return err;
}
