/* SPDX-License-Identifier: MIT */
/*
 * store.c - the swap store: the file and the shared state that describes
 * it, slot allocation in clusters, reference counts and checksums. This is
 * everything a slot goes through from fstore_alloc() to its last
 * fstore_put(), hole punching included. The state is shared by a process
 * and the children it forks, laid out as store-internal.h says. Which
 * processes those are (holders, reaping, fork) is store-holders.c's
 * business; moving pages between memory and the file is store-io.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "os/fdreg.h"
#include "core/log.h"
#include "core/options.h"
#include "store/store-internal.h"

_Static_assert(STORE_CLUSTER_SLOTS == OPT_MIN_SWAP_PAGES,
	       "options refuse a swap store smaller than one cluster");

/* Set bits [0, nbits), and no more. */
static void bit_fill(uint64_t *map, uint64_t nbits)
{
	memset(map, 0xff, nbits / 64 * sizeof(uint64_t));
	if (nbits % 64)
		map[nbits / 64] = (1ull << (nbits % 64)) - 1;
}

/* First set bit in [from, nbits), or STORE_NO_SLOT. */
static uint64_t bit_find(const uint64_t *map, uint64_t nbits, uint64_t from)
{
	uint64_t w = from / 64, word;

	if (from >= nbits)
		return STORE_NO_SLOT;
	word = map[w] & (~0ull << (from % 64));
	for (;;) {
		if (word) {
			uint64_t i = w * 64 + (uint64_t)__builtin_ctzll(word);

			return i < nbits ? i : STORE_NO_SLOT;
		}
		if (++w >= (nbits + 63) / 64)
			return STORE_NO_SLOT;
		word = map[w];
	}
}

/* Next-fit: first set bit at or after @from, wrapping around. */
static uint64_t bit_find_wrap(const uint64_t *map, uint64_t nbits, uint64_t from)
{
	uint64_t i = bit_find(map, nbits, from);

	return i != STORE_NO_SLOT || !from ? i : bit_find(map, nbits, 0);
}

/* ---- clusters and slots -------------------------------------------------- */

static uint64_t cluster_word(const struct file_store *s, enum cluster_kind k, uint64_t w)
{
	return k == CLUSTER_USED ? ~s->whole[w] : s->whole[w] & s->dirty[w];
}

/* First cluster of kind @k at or after @from, or STORE_NO_SLOT. Lock held. */
uint64_t store_cluster_find(const struct file_store *s, enum cluster_kind k, uint64_t from)
{
	uint64_t words = (s->nclusters + 63) / 64, w = from / 64, word;

	if (from >= s->nclusters)
		return STORE_NO_SLOT;
	word = cluster_word(s, k, w) & (~0ull << (from % 64));
	for (;;) {
		if (word) {
			uint64_t c = w * 64 + (uint64_t)__builtin_ctzll(word);

			return c < s->nclusters ? c : STORE_NO_SLOT;
		}
		if (++w >= words)
			return STORE_NO_SLOT;
		word = cluster_word(s, k, w);
	}
}

/*
 * The clusters next-fit cycles over: twice as many as the slots in use
 * fill, and STORE_WINDOW_MIN_CLUSTERS more. The per-slot tables (and a
 * compressed tier's table above this store) are this process's memory,
 * inside its cap, and a page of them once touched stays resident: a
 * cursor sweeping the whole store would make them grow with every slot
 * ever written (a rewritten page takes a fresh slot), where they should
 * grow with the slots in use. Lock held.
 */
static uint64_t cluster_window(const struct file_store *s)
{
	uint64_t used = (s->sh->in_use + STORE_CLUSTER_SLOTS - 1) / STORE_CLUSTER_SLOTS;
	uint64_t w = 2 * used + STORE_WINDOW_MIN_CLUSTERS;

	return w < s->nclusters ? w : s->nclusters;
}

/* A new cluster to fill: next-fit from the last one inside the window,
 * wholly free ones first so a stream of evictions lands contiguously;
 * past the window only when nothing inside is free. Lock held. */
static uint64_t cluster_pick(struct file_store *s)
{
	uint64_t win = cluster_window(s), from = s->sh->hint < win ? s->sh->hint : 0;
	uint64_t c = bit_find_wrap(s->whole, win, from);

	if (c == STORE_NO_SLOT)
		c = bit_find_wrap(s->avail, win, from);
	if (c == STORE_NO_SLOT && win < s->nclusters) {
		c = bit_find(s->whole, s->nclusters, win);
		if (c == STORE_NO_SLOT)
			c = bit_find(s->avail, s->nclusters, win);
	}
	return c;
}

/* Return the wholly free cluster @c to the file system. Lock held (by a
 * holder); dropped around the fallocate, with the cluster hidden from
 * allocation and recorded as ours to show again should we die there. */
static void cluster_punch(struct file_store *s, uint64_t c)
{
	struct store_shared *sh = s->sh;
	uint64_t len = s->page_size * STORE_CLUSTER_SLOTS;
	int ret;

	bit_clear(s->whole, c);
	bit_clear(s->avail, c);
	sh->holder[s->self].punching = c;
	shared_unlock(s);
	/* A hole punched in whatever file the program put at this number
	 * would destroy its data. */
	fdreg_check(s->fd);
	ret = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)(c * len), (off_t)len);
	if (ret < 0)
		ret = -errno;
	shared_lock(s);
	sh->holder[s->self].punching = STORE_NO_SLOT;
	bit_set(s->whole, c);
	bit_set(s->avail, c);
	if (!ret) {
		sh->punched++;
		bit_clear(s->dirty, c);
	} else if (ret == -EOPNOTSUPP || ret == -ENOSYS) {
		if (!sh->punch_off)
			log_warn("store: %s cannot punch holes: freed slots keep their disk space",
				 s->path);
		sh->punch_off = true;
	} else {
		log_warn("store: punch cluster %" PRIu64 " of %s: %s", c, s->path,
			 strerror(-ret));
	}
}

/* Punch the wholly free clusters that departed holders left with blocks
 * (fstore_put() punches its own as it goes). The cluster being filled is
 * punched too, and is then no longer the cursor. Lock held by a holder;
 * dropped around each punch. */
void store_sweep(struct file_store *s)
{
	struct store_shared *sh = s->sh;

	if (!sh->sweep)
		return;
	sh->sweep = false;
	for (uint64_t c = store_cluster_find(s, CLUSTER_UNPUNCHED, 0);
	     c != STORE_NO_SLOT && !sh->punch_off;
	     c = store_cluster_find(s, CLUSTER_UNPUNCHED, c + 1)) {
		if (c == sh->cursor)
			sh->cursor = STORE_NO_SLOT;
		cluster_punch(s, c);
	}
}

/* Mark @slot allocated to this process. Lock held. */
static void slot_take(struct file_store *s, uint64_t slot)
{
	struct store_shared *sh = s->sh;
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	s->mask[slot] = own_bit(s);
	s->count[slot] = 1;
	bit_clear(s->valid, slot);
	bit_set(s->dirty, c);
	if (s->cfree[c]-- == STORE_CLUSTER_SLOTS)
		bit_clear(s->whole, c);
	if (!s->cfree[c])
		bit_clear(s->avail, c);
	if (++sh->in_use > sh->peak)
		sh->peak = sh->in_use;
}

/* @slot, whose mask has just become 0, is free. Returns true when its
 * cluster is then wholly free. Lock held. */
bool store_slot_free(struct file_store *s, uint64_t slot)
{
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	bit_clear(s->valid, slot);
	s->sh->in_use--;
	bit_set(s->avail, c);
	if (++s->cfree[c] < STORE_CLUSTER_SLOTS)
		return false;
	bit_set(s->whole, c);
	return true;
}

/*
 * The free slot of cluster @c at or after @off, wrapping inside the
 * cluster. cfree[c] > 0 says there is one; should a process have died
 * halfway through a change and left it saying so wrongly, the cluster is
 * set right rather than searched forever. Lock held.
 */
static int cluster_free_slot(struct file_store *s, uint64_t c, uint32_t off)
{
	uint64_t base = c * STORE_CLUSTER_SLOTS;

	for (uint32_t n = 0; n < STORE_CLUSTER_SLOTS; n++, off = (off + 1) % STORE_CLUSTER_SLOTS)
		if (!s->mask[base + off])
			return (int)off;
	log_error("store: %s: cluster %" PRIu64 " has no free slot but counted %u; corrected",
		  s->path, c, s->cfree[c]);
	s->cfree[c] = 0;
	bit_clear(s->avail, c);
	bit_clear(s->whole, c);
	return -1;
}

/* Up to @n slots, as fstore_alloc() describes. Lock held, by a holder. */
static unsigned int alloc_locked(struct file_store *s, unsigned int n, uint64_t *slots)
{
	struct store_shared *sh = s->sh;
	unsigned int got = 0;

	while (got < n) {
		uint64_t c = sh->cursor, base;

		if (c == STORE_NO_SLOT) {
			c = cluster_pick(s);
			if (c == STORE_NO_SLOT)
				break;
			sh->cursor = c;
			sh->cursor_next = 0;
		}
		/* Free slots of the cluster in order from where the last
		 * allocation stopped, wrapping inside the cluster. */
		base = c * STORE_CLUSTER_SLOTS;
		while (got < n && s->cfree[c]) {
			int off = cluster_free_slot(s, c, sh->cursor_next);

			if (off < 0)
				break;
			slot_take(s, base + (uint64_t)off);
			slots[got++] = base + (uint64_t)off;
			sh->cursor_next = ((uint32_t)off + 1) % STORE_CLUSTER_SLOTS;
		}
		if (!s->cfree[c]) {
			sh->cursor = STORE_NO_SLOT;
			sh->hint = c + 1 < s->nclusters ? c + 1 : 0;
		}
	}
	return got;
}

/* ---- opening and closing ---------------------------------------------- */

/* A fresh file of our own in @dir. */
static int create_in(const char *dir, char **pathp)
{
	if (asprintf(pathp, "%s/upager-swap-XXXXXX", dir) < 0) {
		*pathp = NULL;
		return -ENOMEM;
	}
	return mkostemp(*pathp, O_CLOEXEC);
}

static int create_file(const struct store_config *cfg, char **pathp)
{
	const char *dir;
	struct stat st;
	char *path;
	int fd, err;

	if (cfg->path) {
		path = strdup(cfg->path);
		if (!path)
			return -ENOMEM;
		/* Buffered first, O_DIRECT after (see enable_direct()). */
		fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		/* A directory: every process (make -j, xargs -P, each with
		 * its own pager) makes its own file in it. */
		if (fd < 0 && errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			free(path);
			fd = create_in(cfg->path, &path);
			if (!path)
				return -ENOMEM;
		} else if (fd < 0 && errno == EEXIST) {
			log_error("store: %s exists; a swap path names a new file, or a directory "
				  "to make one in", path);
			free(path);
			return -EEXIST;
		}
	} else {
		/* Not /tmp: it is often tmpfs, and swapping memory to memory
		 * frees nothing. */
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/var/tmp";
		fd = create_in(dir, &path);
		if (!path)
			return -ENOMEM;
	}
	if (fd < 0) {
		err = -errno;
		log_error("store: create %s: %s", path, strerror(-err));
		free(path);
		return err;
	}
	*pathp = path;
	return fd;
}

/*
 * O_DIRECT keeps swapped pages out of the page cache, which would
 * otherwise hold a second copy of the very memory being evicted. It is
 * turned on after the file exists rather than passed to open(): a file
 * system without O_DIRECT (ramfs, some FUSE) creates the file and only
 * then refuses the open with EINVAL, so a buffered retry with O_EXCL
 * would meet its own file.
 */
static bool enable_direct(int fd, const char *path)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0)
		return true;
	log_info("store: %s: no O_DIRECT here (%s), using buffered I/O", path,
		 strerror(errno));
	return false;
}

static size_t page_up(size_t n, unsigned long page_size)
{
	return (n + page_size - 1) & ~(size_t)(page_size - 1);
}

/*
 * The shared state, wholly free: a memfd laid out as store-internal.h
 * says, mapped MAP_NORESERVE so only the pages touched take memory (the
 * per-slot tables take 24 bytes a slot: 48 MiB of address space for
 * 8 GiB). What is not zero when free is initialised here: the lock, the
 * cursor, and per cluster (a byte and two bits each) cfree, avail, whole.
 */
static int shared_new(struct file_store *s)
{
	unsigned long pg = s->page_size;
	uint64_t swords = (s->nslots + 63) / 64, cwords = (s->nclusters + 63) / 64;
	size_t off = pg; /* the lock area */
	size_t o_hdr, o_mask, o_sum, o_valid, o_cfree, o_avail, o_whole, o_dirty;
	pthread_mutexattr_t attr;
	char *m;
	int err;

	o_hdr = off;
	off += page_up(sizeof(struct store_shared), pg);
	o_mask = off;
	off += page_up(s->nslots * sizeof(*s->mask), pg);
	o_sum = off;
	off += page_up(s->nslots * sizeof(*s->sum), pg);
	o_valid = off;
	off += page_up(swords * sizeof(uint64_t), pg);
	o_cfree = off;
	off += page_up(s->nclusters, pg);
	o_avail = off;
	off += page_up(cwords * sizeof(uint64_t), pg);
	o_whole = off;
	off += page_up(cwords * sizeof(uint64_t), pg);
	o_dirty = off;
	off += page_up(cwords * sizeof(uint64_t), pg);

	s->mfd = fdreg_hide(memfd_create("upager-store", MFD_CLOEXEC), "swap store state");
	if (s->mfd < 0 || ftruncate(s->mfd, (off_t)off) < 0)
		goto out_errno;
	s->guard_fd = fdreg_hide(memfd_create("upager-store-guard", MFD_CLOEXEC),
				 "swap store guard");
	if (s->guard_fd < 0)
		goto out_errno;
	m = mmap(NULL, off, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, s->mfd, 0);
	if (m == MAP_FAILED)
		goto out_errno;
	s->map = m;
	s->map_len = off;
	s->sh = (struct store_shared *)(m + o_hdr);
	s->mask = (uint64_t *)(m + o_mask);
	s->sum = (XXH128_hash_t *)(m + o_sum);
	s->valid = (uint64_t *)(m + o_valid);
	s->cfree = (uint8_t *)(m + o_cfree);
	s->avail = (uint64_t *)(m + o_avail);
	s->whole = (uint64_t *)(m + o_whole);
	s->dirty = (uint64_t *)(m + o_dirty);

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	err = pthread_mutex_init(&s->sh->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (err) {
		log_error("store: shared mutex: %s", strerror(err));
		return -err;
	}
	s->sh->cursor = STORE_NO_SLOT;
	for (unsigned int h = 0; h < STORE_HOLDERS; h++)
		s->sh->holder[h].punching = STORE_NO_SLOT;
	memset(s->cfree, STORE_CLUSTER_SLOTS, s->nclusters);
	bit_fill(s->avail, s->nclusters);
	bit_fill(s->whole, s->nclusters);
	return 0;

out_errno:
	err = -errno;
	log_error("store: shared state (%zu bytes): %s", off, strerror(-err));
	return err;
}

/* This process's reference counts: MAP_NORESERVE, so only the pages of
 * slots it has used take memory; MAP_PRIVATE, so a child gets a copy. */
static void *table_new(uint64_t n, size_t size)
{
	void *t = mmap(NULL, n * size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return t == MAP_FAILED ? NULL : t;
}

/* Release what this process has of @s; the shared state is left as is. */
static void store_free(struct file_store *s)
{
	if (s->map)
		munmap(s->map, s->map_len);
	if (s->count)
		munmap(s->count, s->nslots * sizeof(*s->count));
	fdreg_close(s->embryo_fd);
	fdreg_close(s->guard_fd);
	fdreg_close(s->mfd);
	fdreg_close(s->fd);
	free(s->path);
	free(s);
}

int fstore_open(const struct store_config *cfg, unsigned long page_size,
	       struct file_store **out)
{
	uint64_t cluster_bytes = (uint64_t)page_size * STORE_CLUSTER_SLOTS;
	struct file_store *s;
	off_t bytes;
	int err;

	if (!cfg || !page_size || (page_size & (page_size - 1)) ||
	    cfg->capacity / cluster_bytes == 0 ||
	    cfg->capacity / cluster_bytes > (uint64_t)INT64_MAX / cluster_bytes)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &file_store_ops;
	s->fd = s->mfd = s->guard_fd = s->embryo_fd = -1;
	s->self = s->fork_child = NO_HOLDER;
	s->page_size = page_size;
	s->nclusters = cfg->capacity / cluster_bytes;
	s->nslots = s->nclusters * STORE_CLUSTER_SLOTS;
	err = shared_new(s);
	if (err)
		goto out_free;
	s->count = table_new(s->nslots, sizeof(*s->count));
	if (!s->count) {
		err = -ENOMEM;
		goto out_free;
	}

	err = create_file(cfg, &s->path);
	if (err < 0)
		goto out_free;
	s->fd = fdreg_hide(err, "swap store");
	/* Gone from the directory at once: the file lives exactly as long as
	 * some process of the family has it open, however they end. */
	if (!cfg->keep && unlink(s->path) < 0) {
		err = -errno;
		log_error("store: remove %s: %s", s->path, strerror(-err));
		goto out_free;
	}
	/* open()'s mode passes through the umask, which may take bits we
	 * need (or, set permissively elsewhere, is no help): say it exactly. */
	if (fchmod(s->fd, 0600) < 0) {
		err = -errno;
		log_error("store: chmod %s: %s", s->path, strerror(-err));
		goto out_unlink;
	}
	s->direct_io = enable_direct(s->fd, s->path);

	bytes = (off_t)(s->nslots * page_size);
	if (cfg->preallocate) {
		if (fallocate(s->fd, 0, 0, bytes) < 0) {
			err = -errno;
			log_error("store: preallocate %s (%" PRIu64 " bytes): %s", s->path,
				  (uint64_t)bytes, strerror(-err));
			goto out_unlink;
		}
	} else if (ftruncate(s->fd, bytes) < 0) {
		err = -errno;
		log_error("store: size %s to %" PRIu64 " bytes: %s", s->path,
			  (uint64_t)bytes, strerror(-err));
		goto out_unlink;
	}

	err = store_holder_lock(s, 0, F_WRLCK);
	if (err) {
		log_error("store: %s: lock holder 0: %s", s->path, strerror(-err));
		goto out_unlink;
	}
	s->sh->holder[0] = (struct store_holder){
		.state = HOLDER_LIVE,
		.pid = (int32_t)getpid(),
		.punching = STORE_NO_SLOT,
	};
	s->self = 0;
	s->pid = getpid();
	*out = s;
	return 0;

out_unlink:
	/* The caller gets no store, so nothing of it is left behind. */
	if (cfg->keep)
		unlink(s->path);
out_free:
	store_free(s);
	return err;
}

void fstore_close(struct store *st)
{
	struct file_store *s = fstore_of(st);

	if (!s)
		return;
	/* Not concurrent with other calls: no lock needed to know who we are.
	 * A process that is not holder `self` (a child that never became a
	 * holder) touches nothing shared. */
	if (is_holder(s) && s->pid == getpid()) {
		shared_lock(s);
		store_holder_clear(s, (unsigned int)s->self);
		/* Every wholly free cluster, the one being filled included:
		 * nothing of a free slot is left on disk. */
		s->sh->sweep = true;
		store_sweep(s);
		/* Before FREE: a child made holder `self` must find it unlocked. */
		store_holder_lock(s, s->self, F_UNLCK);
		store_holder_release(s, (unsigned int)s->self);
		shared_unlock(s);
	}
	store_free(s);
}

const char *fstore_path(const struct store *st)
{
	return fstore_const_of(st)->path;
}

uint64_t fstore_slot_offset(const struct file_store *s, uint64_t slot)
{
	return slot * s->page_size;
}

/* ---- slots ---------------------------------------------------------------- */

int fstore_alloc(struct store *st, unsigned int n, uint64_t *slots)
{
	struct file_store *s = fstore_of(st);
	unsigned int got = 0;

	shared_lock(s);
	if (!is_holder(s)) {
		shared_unlock(s);
		return -EAGAIN;
	}
	got = alloc_locked(s, n, slots);
	/* Full: perhaps of slots only a dead holder held. No sweep: what is
	 * freed is about to be written again. */
	if (!got && n && store_reap_locked(s))
		got = alloc_locked(s, n, slots);
	shared_unlock(s);
	return got ? (int)got : -ENOSPC;
}

/* A slot the caller may name: in range, allocated and, when @ours, held
 * by this process. Logs the caller's bug otherwise. Lock held. */
bool store_slot_is_held(struct file_store *s, uint64_t slot, const char *what, bool ours)
{
	if (slot >= s->nslots) {
		log_error("store: %s of slot %" PRIu64 ": out of range (%" PRIu64 " slots)",
			  what, slot, s->nslots);
		return false;
	}
	if (!s->mask[slot]) {
		log_error("store: %s of free slot %" PRIu64, what, slot);
		return false;
	}
	if (ours && !s->count[slot]) {
		log_error("store: %s of slot %" PRIu64 ", which this process does not hold",
			  what, slot);
		return false;
	}
	return true;
}

void fstore_get(struct store *st, uint64_t slot)
{
	struct file_store *s = fstore_of(st);

	shared_lock(s);
	if (is_holder(s) && store_slot_is_held(s, slot, "get", false)) {
		if (s->count[slot] == UINT32_MAX)
			log_error("store: get of slot %" PRIu64 ": count overflow", slot);
		else if (!s->count[slot]++)
			s->mask[slot] |= own_bit(s);
	}
	shared_unlock(s);
}

void fstore_put(struct store *st, uint64_t slot)
{
	struct file_store *s = fstore_of(st);
	struct store_shared *sh = s->sh;
	uint64_t c = slot / STORE_CLUSTER_SLOTS;

	shared_lock(s);
	if (!is_holder(s) || !store_slot_is_held(s, slot, "put", true) || --s->count[slot])
		goto out_unlock;
	s->mask[slot] &= ~own_bit(s);
	if (s->mask[slot] || !store_slot_free(s, slot))
		goto out_unlock;
	/* Wholly free. The cluster being filled is left alone: it is about
	 * to be written again, and punching it would race with nothing but
	 * cost a fallocate per slot when one slot is taken and put in turn. */
	if (c != sh->cursor && !sh->punch_off && bit_test(s->dirty, c))
		cluster_punch(s, c);
out_unlock:
	shared_unlock(s);
}

uint32_t fstore_refcount(struct store *st, uint64_t slot)
{
	struct file_store *s = fstore_of(st);
	uint32_t ref = 0;

	shared_lock(s);
	if (slot < s->nslots) {
		uint64_t others = s->mask[slot], n = 0;

		if (is_holder(s)) {
			others &= ~own_bit(s);
			n = s->count[slot];
		}
		n += (uint64_t)__builtin_popcountll(others);
		ref = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	} else {
		log_error("store: refcount of slot %" PRIu64 ": out of range", slot);
	}
	shared_unlock(s);
	return ref;
}

bool fstore_slot_matches(struct store *st, uint64_t slot, const void *page)
{
	struct file_store *s = fstore_of(st);
	XXH128_hash_t h;
	bool match;

	if (slot >= s->nslots)
		return false;
	h = XXH3_128bits(page, s->page_size);
	shared_lock(s);
	match = is_holder(s) && sum_matches(s, slot, h);
	shared_unlock(s);
	return match;
}

void fstore_stats_read(struct store *st, struct store_stats *out)
{
	struct file_store *s = fstore_of(st);
	struct store_shared *sh = s->sh;
	uint32_t holders = 0;

	shared_lock(s);
	if (is_holder(s)) {
		store_reap_locked(s);
		store_sweep(s);
	}
	for (unsigned int h = 0; h < STORE_HOLDERS; h++)
		holders += sh->holder[h].state != HOLDER_FREE;
	*out = (struct store_stats){
		.capacity_slots = s->nslots,
		.slots_in_use = sh->in_use,
		.slots_peak = sh->peak,
		.clusters_punched = sh->punched,
		.holders = holders,
		.direct_io = s->direct_io,
	};
	shared_unlock(s);
	out->pages_written = stat_get(&s->pages_written);
	out->pages_read = stat_get(&s->pages_read);
	out->write_ios = stat_get(&s->write_ios);
	out->read_ios = stat_get(&s->read_ios);
	out->write_submits = stat_get(&s->write_submits);
	out->write_sqes = stat_get(&s->write_sqes);
	out->read_submits = stat_get(&s->read_submits);
	out->read_sqes = stat_get(&s->read_sqes);
	out->checksum_failures = stat_get(&s->checksum_failures);
	out->io_errors = stat_get(&s->io_errors);
}
