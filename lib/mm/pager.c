/* SPDX-License-Identifier: MIT */
/*
 * pager.c - the pager instance and the public API on top of it: opening
 * and closing a pager, and mapping, unmapping and protecting its regions
 * so that the kernel's mappings and the region tree always change together.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "mm/cache.h"
#include "mm/handle.h"
#include "mm/lock.h"
#include "core/log.h"
#include "core/options.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "mm/debug.h"
#include "os/aspace.h"
#include "os/signals.h"
#include "store/store-file.h"
#include "store/store-user.h"
#include "store/store-zpool.h"
#include "store/store.h"

/*
 * The live-pager set: every API entry checks its handle here first, so a
 * closed (or never opened) pager is refused with -EBADF instead of being
 * dereferenced. Only handles are compared, never followed, before the check.
 */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct upager *live_head;

static void live_add(struct upager *p)
{
	pthread_mutex_lock(&live_lock);
	p->next_live = live_head;
	live_head = p;
	pthread_mutex_unlock(&live_lock);
}

static bool live_remove(struct upager *p)
{
	struct upager **pp;
	bool found = false;

	pthread_mutex_lock(&live_lock);
	for (pp = &live_head; *pp; pp = &(*pp)->next_live) {
		if (*pp == p) {
			*pp = p->next_live;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);
	return found;
}

void pager_live_lock(void)
{
	pthread_mutex_lock(&live_lock);
}

void pager_live_unlock(void)
{
	pthread_mutex_unlock(&live_lock);
}

void pager_live_reinit(void)
{
	pthread_mutex_init(&live_lock, NULL);
	handle_fork_child();
}

struct upager *pager_live_first(void)
{
	return live_head;
}

static int check_live(const struct upager *p, const char *what)
{
	const struct upager *it;

	pthread_mutex_lock(&live_lock);
	for (it = live_head; it && it != p; it = it->next_live)
		;
	pthread_mutex_unlock(&live_lock);
	if (!it) {
		log_error("%s: %p is not an open pager", what, (const void *)p);
		return -EBADF;
	}
	if (p->broken) {
		log_error("%s: pager %p was lost in a fork (see the log of the fork)",
			  what, (const void *)p);
		return -EIO;
	}
	return 0;
}

/* The pager's lock for writing. Address-space changes the program made
 * before this call are applied first (events.h), so the tree is the
 * kernel's view before anything changes it. */
static void write_lock(struct upager *p)
{
	p->be_ops->fence(p->be);
	pthread_rwlock_wrlock(&p->lock);
	events_apply(p);
}

int pager_check_live(const struct upager *p, const char *what)
{
	return check_live(p, what);
}

void pager_write_lock(struct upager *p)
{
	write_lock(p);
}

/* Before reading the tree on the caller's behalf: the program's own
 * changes made before this call are applied. */
static void catch_up(struct upager *p)
{
	p->be_ops->fence(p->be);
	if (events_pending(&p->events)) {
		pthread_rwlock_wrlock(&p->lock);
		events_apply(p);
		pthread_rwlock_unlock(&p->lock);
	}
}

/* Pages of [start, end) that the kernel has in memory. */
uint64_t pager_count_resident(const struct upager *p, uintptr_t start, uintptr_t end)
{
	unsigned char vec[4096];
	uint64_t n = 0;

	while (start < end) {
		size_t chunk = (end - start) / p->page_size;

		if (chunk > sizeof(vec))
			chunk = sizeof(vec);
		if (aspace_resident(p->as, start, chunk * p->page_size, vec) == 0)
			for (size_t i = 0; i < chunk; i++)
				n += vec[i] & 1;
		start += chunk * p->page_size;
	}
	return n;
}

static void resident_sub(struct upager *p, uint64_t pages)
{
	atomic_fetch_sub_explicit(&p->stats.pages_resident, (int64_t)pages,
				  memory_order_relaxed);
}

/* At exit, a process that did not close its pagers: its changes to
 * shared file mappings still reach the files (as a kernel mapping's
 * dirty pages would, from the page cache). Pages stay mapped: later
 * exit handlers may still use them. */
static void sync_files_at_exit(void)
{
	struct signals_saved sig;

	signals_block(&sig); /* signals.h */
	pthread_mutex_lock(&live_lock);
	for (struct upager *p = live_head; p; p = p->next_live) {
		if (p->broken || p->owner != getpid())
			continue;
		pthread_rwlock_rdlock(&p->lock);
		for (struct object *obj = p->shared_objects; obj; obj = obj->next)
			cache_sync(p, obj, 0, obj->pages, false);
		pthread_rwlock_unlock(&p->lock);
	}
	pthread_mutex_unlock(&live_lock);
	signals_restore(&sig);
}

static void register_exit_sync(void)
{
	atexit(sync_files_at_exit);
}

int pager_open(const struct upager_options *opts, struct upager **out)
{
	return pager_open_on(opts, &uffd_backend_ops, NULL, NULL, out);
}

int pager_open_on(const struct upager_options *opts, const struct backend_ops *ops,
		  struct store *store, struct aspace *as,
		  struct upager **out)
{
	static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

	struct upager *p;
	pthread_rwlockattr_t attr;
	int err;

	if (!out) {
		log_error("upager_open: out is NULL");
		store_close(store);
		aspace_close(as);
		return -EINVAL;
	}
	p = handle_alloc(sizeof(*p));
	if (!p) {
		store_close(store);
		aspace_close(as);
		return -ENOMEM;
	}
	err = options_resolve(opts, &p->opts);
	if (!err && store && !p->opts.max_resident) {
		log_error("upager_open: a store without a frame budget");
		err = -EINVAL;
	}
	/* Its /proc files are reclaim's, for pages it takes out. */
	if (!err && !as)
		err = aspace_self_open(p->opts.max_resident != 0, &as);
	if (err) {
		store_close(store);
		aspace_close(as);
		goto out_free;
	}
	p->as = as;
	p->page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	p->owner = getpid();
	pager_fork_init();
	pthread_once(&exit_once, register_exit_sync);
	region_tree_init(&p->tree, p->page_size);
	fault_streams_init(&p->streams, p->opts.fault_around_max, p->page_size);
	events_init(&p->events);
	/* Writers (map/unmap) must not starve behind a storm of faults. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&p->lock, &attr);
	pthread_rwlockattr_destroy(&attr);

	if (p->opts.max_resident && !store) {
		struct store_config cfg = {
			.path = p->opts.swap_path,
			.capacity = p->opts.swap_size,
			.keep = p->opts.flags & UPAGER_OPEN_SWAP_KEEP,
			.preallocate = p->opts.flags & UPAGER_OPEN_SWAP_PREALLOCATE,
		};

		if (p->opts.store_ops && p->opts.compress != UPAGER_COMPRESS_OFF) {
			/* The tier passes slots, references and forks through
			 * to the file store's own; a user store has none. */
			log_error("upager_open: compress with store_ops: the compressed tier works over "
				  "the swap file only");
			err = -EINVAL;
		} else if (p->opts.store_ops) {
			err = user_store_open(p->opts.store_ops, p->opts.store_ctx, p->page_size,
					      &store);
		} else {
			err = file_store_open(&cfg, p->page_size, &store);
		}
		if (!err && !p->opts.store_ops && p->opts.compress != UPAGER_COMPRESS_OFF) {
			struct zstore_config zc = {
				.codec = p->opts.compress == UPAGER_COMPRESS_ZSTD ? ZSTORE_ZSTD :
										    ZSTORE_LZ4,
				.pool_max = p->opts.max_resident / 100 * p->opts.compress_pool_pct,
			};

			err = zpool_store_open(&zc, store, p->page_size, &store);
		}
		if (err)
			goto out_destroy;
	}
	p->be_ops = ops;
	err = p->be_ops->open(p, &p->be);
	if (err)
		goto out_close_store;
	err = reclaim_init(p, &p->rc, (uint32_t)(p->opts.max_resident / p->page_size), store);
	if (err)
		goto out_close_backend;
	store = NULL; /* the reclaim state owns it now */
	err = p->be_ops->start(p->be);
	if (err)
		goto out_reclaim;
	err = reclaim_start(p);
	if (err)
		goto out_reclaim;
	live_add(p);
	log_info("pager %p open: %s backend, %u handler thread(s), fault-around %u pages",
		 (void *)p, p->be_ops->name, p->opts.handler_threads, p->opts.fault_around_max);
	*out = p;
	return 0;

out_reclaim:
	store = p->rc.store;
	reclaim_destroy(p, &p->rc);
out_close_backend:
	p->be_ops->close(p->be);
out_close_store:
	store_close(store);
out_destroy:
	pthread_rwlock_destroy(&p->lock);
	fault_streams_destroy(&p->streams);
	events_destroy(&p->events);
	aspace_close(p->as);
out_free:
	handle_free(p, sizeof(*p));
	return err;
}

int pager_attach_how(const struct region *r)
{
	if (r->object && object_is_shared(r->object))
		return BACKEND_SHARED;
	if (r->object && r->object->backing)
		return BACKEND_PRIVATE; /* a private mapping of a shared object */
	return BACKEND_FAULTS;
}

/* The pages of @piece are gone from the kernel: let go of everything that
 * held them (frames, staging pages, slots), and of the objects with
 * their last mapped page; a shared file mapping's changes are written to
 * the file first. Pager lock held for writing. */
void pager_forget_piece(struct upager *p, const struct region *piece, uint64_t resident)
{
	struct object *obj = piece->object, *shared;
	uint64_t pages = (piece->end - piece->start) / p->page_size;

	if (piece->flags & REGION_LOCKED)
		p->locked_pages -= pages;
	if (!obj) {
		resident_sub(p, resident);
		return;
	}
	if (object_is_shared(obj)) {
		shared = obj;
		cache_sync(p, obj, piece->pgoff, pages, false);
	} else {
		shared = obj->backing;
		reclaim_forget_range(p, obj, piece->pgoff, pages);
	}
	if (shared && object_map_remove(shared, piece->start, piece->end))
		log_error("unmap 0x%lx-0x%lx: out of memory updating the object's reverse map",
			  (unsigned long)piece->start, (unsigned long)piece->end);
	obj->mapped_pages -= pages;
	if (!object_is_shared(obj) && !obj->mapped_pages)
		object_free(obj);
	if (shared && object_is_unused(shared))
		cache_release(p, shared);
}

static void unmap_whole_region(void *ctx, const struct region *r)
{
	struct upager *p = ctx;
	uint64_t resident = r->object ? 0 : pager_count_resident(p, r->start, r->end);

	p->be_ops->detach(p->be, r->start, r->end); /* no event to wait for */
	aspace_unmap(p->as, r->start, r->end - r->start);
	pager_forget_piece(p, r, resident);
}

void pager_close(struct upager *p)
{
	int expect;

	if (!p)
		return;
	if (!live_remove(p)) {
		log_error("upager_close: %p is not an open pager", (void *)p);
		return;
	}
	if (p->broken) {
		/* A fork child's pager that could not be rebuilt (fork.c):
		 * no threads, no backend; its regions are sealed. Give back
		 * what is ours and leave the rest to exit or exec. */
		store_close(p->rc.store);
		aspace_close(p->as);
		return;
	}
	reclaim_stop(p);
	write_lock(p);
	/* Every munmap from here on is upager's own. */
	expect = events_expect(&p->events, EVENT_UNMAP, 0, UINTPTR_MAX);
	region_tree_clear(&p->tree, unmap_whole_region, p);
	events_unexpect(p, expect);
	pthread_rwlock_unlock(&p->lock);
	p->be_ops->close(p->be);
	store_close(p->rc.store);
	reclaim_destroy(p, &p->rc);
	pthread_rwlock_destroy(&p->lock);
	fault_streams_destroy(&p->streams);
	events_destroy(&p->events);
	aspace_close(p->as);
	handle_free(p, sizeof(*p));
}

struct unmap_ctx {
	struct upager *p;
	int err;
	struct region failed; /* the piece munmap refused, to put back */
};

static void unmap_piece(void *ctx, const struct region *piece)
{
	struct unmap_ctx *u = ctx;
	uint64_t resident = piece->object ? 0 : pager_count_resident(u->p, piece->start, piece->end);

	/* Detached first, the munmap raises no event for a handler to read
	 * while it waits (a round trip per call: docs/BENCHMARKS.md, "Design
	 * figures", the program's changes); still attached (-ENOMEM), it
	 * raises one, expected (unmap_locked()). */
	bool detached = !u->p->be_ops->detach(u->p->be, piece->start, piece->end);
	int err = aspace_unmap(u->p->as, piece->start, piece->end - piece->start);

	if (err) {
		/* Only a hole punched inside one kernel mapping can fail
		 * (vm.max_map_count), and that is a single-piece unmap;
		 * detaching it split the mapping already, so this is not
		 * expected, but the range must be caught again if so. */
		u->err = err;
		u->failed = *piece;
		if (detached && u->p->be_ops->attach(u->p->be, piece->start, piece->end,
						     pager_attach_how(piece)))
			log_error("unmap 0x%lx-0x%lx: failed, and its faults are no longer "
				  "caught", (unsigned long)piece->start, (unsigned long)piece->end);
		return;
	}
	pager_forget_piece(u->p, piece, resident);
}

/* Remove [start, end) from the tree and the kernel. Lock held for writing. */
static int unmap_locked(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct unmap_ctx u = { .p = p };
	int err, expect;

	/* upager's own munmap raises the same event a program's would. */
	expect = events_expect(&p->events, EVENT_UNMAP, start, end);
	err = region_remove_range(&p->tree, start, end, unmap_piece, &u);
	events_unexpect(p, expect);
	if (err)
		return err;
	if (u.err) {
		const struct region *f = &u.failed;

		if (region_insert(&p->tree, f->start, f->end, f->prot, f->flags,
				  f->object, f->pgoff))
			log_error("unmap 0x%lx-0x%lx: failed and could not be undone; "
				  "the region tree lost a mapping the kernel kept",
				  (unsigned long)f->start, (unsigned long)f->end);
		return u.err;
	}
	return 0;
}

struct resident_ctx {
	const struct upager *p;
	uintptr_t start, end;
	uint64_t pages;
};

static void count_unowned(void *ctx, const struct region *r)
{
	struct resident_ctx *c = ctx;
	uintptr_t s = r->start > c->start ? r->start : c->start;
	uintptr_t e = r->end < c->end ? r->end : c->end;

	if (s < e && !r->object)
		c->pages += pager_count_resident(c->p, s, e);
}

uint64_t pager_resident_unowned(const struct upager *p, uintptr_t start, uintptr_t end)
{
	struct resident_ctx c = { p, start, end, 0 };

	if (!reclaim_has_budget(&p->rc))
		region_for_each(&p->tree, count_unowned, &c);
	return c.pages;
}

void pager_resident_sub(struct upager *p, uint64_t pages)
{
	resident_sub(p, pages);
}

int pager_mmap_locked(struct upager *p, void *hint, size_t len, int prot, int flags, int fd,
		      off_t off, void **out)
{
	uintptr_t start = (uintptr_t)hint, end = start + pager_page_round(p, len);
	/* An unaligned or wrapping MAP_FIXED is refused before anything
	 * changes. */
	bool replaces = (flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE) &&
			pager_is_aligned(p, start) && end > start &&
			!region_range_is_free(&p->tree, start, end);
	struct event gone = { .kind = EVENT_UNMAP, .start = start, .end = end };
	uint64_t resident = 0;
	int expect = 0, err;
	uintptr_t m;

	/* The kernel checks and may refuse before it replaces anything, so
	 * the regions it replaces leave the tree only once it has: a
	 * refused MAP_FIXED leaves them as they were. Its unmap of them
	 * raises an event, expected: it is applied here. */
	if (replaces) {
		resident = pager_resident_unowned(p, start, end);
		expect = events_expect(&p->events, EVENT_UNMAP, start, end);
	}
	err = aspace_map(p->as, start, len, prot, flags, fd, off, &m);
	if (replaces)
		events_unexpect(p, expect);
	if (err)
		return err;
	if (replaces) {
		pager_apply_event(p, &gone);
		resident_sub(p, resident);
	}
	*out = (void *)m;
	return 0;
}

int pager_map(struct upager *p, void *hint, size_t len, int prot,
	      unsigned int flags, void **addr)
{
	unsigned int fixed = flags & (UPAGER_MAP_FIXED | UPAGER_MAP_FIXED_NOREPLACE);
	int mflags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	unsigned int rflags = UPAGER_MAP_PRIVATE;
	struct object *obj = NULL;
	uintptr_t start, end;
	size_t size;
	void *m;
	int err;

	if ((err = check_live(p, "upager_map")))
		return err;
	err = -EINVAL;
	if (!addr || !len || (prot & ~PAGER_VALID_PROT) || (flags & ~PAGER_VALID_MAP_FLAGS) ||
	    (flags & PAGER_SHARING) == 0 || (flags & PAGER_SHARING) == PAGER_SHARING ||
	    fixed == (UPAGER_MAP_FIXED | UPAGER_MAP_FIXED_NOREPLACE) ||
	    (fixed && !pager_is_aligned(p, (uintptr_t)hint))) {
		log_error("upager_map(%p, %zu, prot 0x%x, flags 0x%x): invalid argument",
			  hint, len, prot, flags);
		return err;
	}
	size = pager_page_round(p, len);
	if (!size || (fixed && (uintptr_t)hint + size < (uintptr_t)hint)) {
		log_error("upager_map(%p, %zu): no such address range", hint, len);
		return -ENOMEM;
	}
	if (flags & UPAGER_MAP_SHARED)
		return pager_map_object(p, -1, hint, size, prot, flags, 0, addr);
	if (flags & UPAGER_MAP_FIXED)
		mflags |= MAP_FIXED;
	if (flags & UPAGER_MAP_FIXED_NOREPLACE)
		mflags |= MAP_FIXED_NOREPLACE;
	if (flags & UPAGER_MAP_ACCOUNT)
		mflags &= ~MAP_NORESERVE;

	/* With a budget, pages can leave memory, so something must know
	 * where each one went: an anonymous object. Made first, so that
	 * a MAP_FIXED is not refused for it after it replaced memory. */
	if (reclaim_has_budget(&p->rc) && (err = object_new_anon(size / p->page_size, &obj)))
		return err;
	write_lock(p);
	/* Locked from birth under mlockall(MCL_FUTURE) (lock.h). */
	if ((err = lock_map_flags(p, size / p->page_size, &rflags))) {
		object_free(obj);
		goto out_unlock;
	}
	/* MAP_FIXED replaces whatever is there, ours included. */
	err = pager_mmap_locked(p, hint, size, prot, mflags, -1, 0, &m);
	if (err) {
		/* The kernel's answer to the caller's arguments (a busy
		 * MAP_FIXED_NOREPLACE, say), not an upager error. */
		log_debug("upager_map(%p, %zu): mmap: %s", hint, len, strerror(-err));
		object_free(obj);
		goto out_unreserve;
	}
	if (rflags & REGION_LOCKED)
		lock_map_kernel(m, size);
	start = (uintptr_t)m;
	end = start + size;
	err = p->be_ops->attach(p->be, start, end, BACKEND_FAULTS);
	if (err) {
		object_free(obj);
		goto out_munmap;
	}
	aspace_advise(p->as, start, size, MADV_DONTFORK); /* out of forks no handler sees (fork.c) */
	/* Pages move in and out one at a time: a huge page collapsed under
	 * them (khugepaged) would only have to be split again. */
	if (obj)
		aspace_advise(p->as, start, size, MADV_NOHUGEPAGE);
	err = region_insert(&p->tree, start, end, prot, rflags, obj, 0);
	if (err) {
		object_free(obj);
		log_error("upager_map: region 0x%lx-0x%lx: %s", (unsigned long)start,
			  (unsigned long)end, strerror(-err));
		goto out_munmap;
	}
	debug_check_pager(p, "upager_map");
	pthread_rwlock_unlock(&p->lock);
	if (rflags & REGION_LOCKED)
		lock_map_fill(p, m, size);
	*addr = m;
	return 0;

out_munmap:
	aspace_unmap(p->as, (uintptr_t)m, size);
out_unreserve:
	if (rflags & REGION_LOCKED)
		p->locked_pages -= size / p->page_size;
out_unlock:
	pthread_rwlock_unlock(&p->lock);
	return err;
}

int pager_unmap(struct upager *p, void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr;
	size_t size;
	int err;

	if ((err = check_live(p, "upager_unmap")))
		return err;
	size = pager_page_round(p, len);
	if (!len || !pager_is_aligned(p, start) || !size || start + size < start) {
		log_error("upager_unmap(%p, %zu): invalid argument", addr, len);
		return -EINVAL;
	}
	write_lock(p);
	err = unmap_locked(p, start, start + size);
	debug_check_pager(p, "upager_unmap");
	pthread_rwlock_unlock(&p->lock);
	if (err)
		log_error("upager_unmap(%p, %zu): %s", addr, len, strerror(-err));
	return err;
}

struct readonly_ctx {
	uintptr_t start, end;
	bool found;
	uintptr_t first; /* where the first one starts in the range */
};

static void find_readonly_file(void *ctx, const struct region *r)
{
	struct readonly_ctx *c = ctx;

	if (r->start < c->end && r->end > c->start && (r->flags & UPAGER_MAP_SHARED) &&
	    r->object && r->object->kind == OBJ_FILE && !r->object->file_writable &&
	    !c->found) {
		c->found = true;
		c->first = r->start > c->start ? r->start : c->start;
	}
}

static void written_region(void *ctx, const struct region *r)
{
	const struct readonly_ctx *c = ctx;

	if (r->start < c->end && r->end > c->start && (r->flags & UPAGER_MAP_SHARED) &&
	    r->object)
		r->object->written = true;
}

/* Shared mappings in [start, end) become writable: their objects' pages
 * may change from now on (object.h: written). */
static void mark_written(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct readonly_ctx c = { start, end, false, end };

	if (p->shared_objects)
		region_for_each(&p->tree, written_region, &c);
}

/* Does a shared mapping of a file opened read-only cross [start, end)? */
static bool maps_readonly_file(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct readonly_ctx c = { start, end, false, end };

	if (!p->shared_objects)
		return false;
	region_for_each(&p->tree, find_readonly_file, &c);
	return c.found;
}

void pager_mark_written(struct upager *p, uintptr_t start, uintptr_t end)
{
	mark_written(p, start, end);
}

uintptr_t pager_first_readonly_file(struct upager *p, uintptr_t start, uintptr_t end)
{
	struct readonly_ctx c = { start, end, false, end };

	if (p->shared_objects)
		region_for_each(&p->tree, find_readonly_file, &c);
	return c.first;
}

int pager_protect(struct upager *p, void *addr, size_t len, int prot)
{
	uintptr_t start = (uintptr_t)addr, end;
	size_t size;
	int err;

	if ((err = check_live(p, "upager_protect")))
		return err;
	if (!pager_is_aligned(p, start) || (prot & ~PAGER_VALID_PROT)) {
		log_error("upager_protect(%p, %zu, 0x%x): invalid argument", addr, len, prot);
		return -EINVAL;
	}
	if (!len)
		return 0;
	size = pager_page_round(p, len);
	end = start + size;
	if (!size || end < start) {
		log_error("upager_protect(%p, %zu): no such address range", addr, len);
		return -ENOMEM;
	}
	write_lock(p);
	err = -ENOMEM;
	if (!region_range_is_covered(&p->tree, start, end)) {
		log_error("upager_protect(%p, %zu): range is not all mapped by this pager",
			  addr, len);
		goto out_unlock;
	}
	if ((prot & UPAGER_PROT_WRITE) && maps_readonly_file(p, start, end)) {
		/* What mprotect answers for a shared mapping of a file
		 * opened read-only. The kernel cannot tell here: the region
		 * maps the object's memfd, which upager writes. */
		err = -EACCES;
		log_error("upager_protect(%p, %zu): a shared mapping of a file opened read-only "
			  "cannot be made writable", addr, len);
		goto out_unlock;
	}
	if ((err = aspace_protect(p->as, start, size, prot))) {
		log_error("upager_protect(%p, %zu): mprotect: %s", addr, len, strerror(-err));
		goto out_unlock;
	}
	if (prot & UPAGER_PROT_WRITE)
		mark_written(p, start, end);
	err = region_protect_range(&p->tree, start, end, prot);
	if (err) {
		const struct region *r;
		uintptr_t at, s, e;

		/* The tree is unchanged: make the kernel agree with it again. */
		for (at = start; (r = region_next_in(&p->tree, &at, end, &s, &e));)
			aspace_protect(p->as, s, e - s, r->prot);
		log_error("upager_protect(%p, %zu): %s", addr, len, strerror(-err));
	}
out_unlock:
	debug_check_pager(p, "upager_protect");
	pthread_rwlock_unlock(&p->lock);
	return err;
}

struct discard_ctx {
	struct upager *p;
	uintptr_t start, end;
	int err; /* the first zap refused: nothing from there on is discarded */
};

/* The part of @r inside the discarded range: out of the kernel, then out
 * of the object (frames, staging pages, slots), only once the kernel let
 * go of it: a refused zap leaves every page where it was, as a refused
 * madvise does. */
static void discard_region(void *ctx, const struct region *r)
{
	struct discard_ctx *c = ctx;
	struct upager *p = c->p;
	uintptr_t s = r->start > c->start ? r->start : c->start;
	uintptr_t e = r->end < c->end ? r->end : c->end;
	uint64_t resident;
	int expect, err;

	if (s >= e || c->err)
		return;
	resident = r->object ? 0 : pager_count_resident(p, s, e);
	expect = events_expect(&p->events, EVENT_REMOVE, s, e);
	err = aspace_zap(p->as, s, e - s, ASPACE_ZAP_DONTNEED);
	events_unexpect(p, expect);
	/* -ENOMEM: part of it was unmapped behind upager's back (its event
	 * says so) and the kernel zapped the rest, as madvise does. */
	if (err && err != -ENOMEM) {
		log_error("upager_discard: 0x%lx-0x%lx: %s; nothing from there on discarded",
			  (unsigned long)s, (unsigned long)e, strerror(-err));
		c->err = err;
		return;
	}
	/* A shared mapping only lets go of the pages: the object keeps
	 * them, and the next touch maps them again. */
	if (r->object && !object_is_shared(r->object))
		reclaim_forget_range(p, r->object, r->pgoff + (s - r->start) / p->page_size,
				     (e - s) / p->page_size);
	else if (!r->object)
		resident_sub(p, resident);
}

int pager_discard(struct upager *p, void *addr, size_t len)
{
	struct discard_ctx c = { p, (uintptr_t)addr, 0, 0 };
	size_t size;
	int err;

	if ((err = check_live(p, "upager_discard")))
		return err;
	size = pager_page_round(p, len);
	if (!pager_is_aligned(p, c.start) || (len && !size) || c.start + size < c.start) {
		log_error("upager_discard(%p, %zu): invalid argument", addr, len);
		return -EINVAL;
	}
	c.end = c.start + size;
	/* For writing: no fault may install a page between the kernel's
	 * discard and the object's. */
	write_lock(p);
	if (lock_range_has_locked(p, c.start, c.end)) {
		/* What madvise(MADV_DONTNEED) answers for a locked mapping. */
		pthread_rwlock_unlock(&p->lock);
		log_debug("upager_discard(%p, %zu): the range is locked", addr, len);
		return -EINVAL;
	}
	region_for_each(&p->tree, discard_region, &c);
	debug_check_pager(p, "upager_discard");
	pthread_rwlock_unlock(&p->lock);
	return c.err;
}

int pager_query(struct upager *p, const void *addr, size_t len, int *prot)
{
	uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(p ? p->page_size - 1 : 0), end;
	const struct region *r;
	int err, ans;

	if ((err = check_live(p, "upager_query")))
		return err;
	end = (uintptr_t)addr + len;
	if (!len || end < start)
		return -EINVAL;
	end = (end + p->page_size - 1) & ~(uintptr_t)(p->page_size - 1);
	catch_up(p);
	pthread_rwlock_rdlock(&p->lock);
	if (region_range_is_covered(&p->tree, start, end))
		ans = UPAGER_QUERY_ALL;
	else
		ans = region_range_is_free(&p->tree, start, end) ? UPAGER_QUERY_NONE
								  : UPAGER_QUERY_PART;
	r = region_find(&p->tree, start);
	if (prot && r)
		*prot = r->prot;
	pthread_rwlock_unlock(&p->lock);
	return ans;
}

/* The counters struct upager_stats reports as they are, under the same
 * name as in struct stats. */
#define PLAIN_COUNTERS(X)                                                           \
	X(faults) X(faults_read) X(faults_write) X(faults_raced) X(faults_retried)  \
	X(faults_dropped) X(zero_fills) X(fault_around_pages) X(staged)             \
	X(reactivations) X(writebacks) X(clean_drops) X(zero_drops) X(swapins)      \
	X(readahead_pages) X(swap_full) X(sigbus) X(faults_minor) X(file_reads)     \
	X(file_writes) X(cow_breaks) X(events) X(faults_deferred)                   \
	X(moves_undercounted) X(reactivated_around)

int pager_stats_read(struct upager *p, struct upager_stats *out)
{
	struct upager_stats st = { .sz = sizeof(st) };
	struct stats *s;
	int64_t resident;
	int err;

	if ((err = check_live(p, "upager_stats_read")))
		return err;
	if (!out || out->sz < offsetof(struct upager_stats, faults)) {
		log_error("upager_stats_read: stats NULL or sz not set (use UPAGER_STATS())");
		return -EINVAL;
	}
	catch_up(p);
	s = &p->stats;
	resident = atomic_load_explicit(&s->pages_resident, memory_order_relaxed);
	st.pages_resident = resident > 0 ? (uint64_t)resident : 0;
	if (reclaim_has_budget(&p->rc)) {
		struct store_stats ss;

		pthread_mutex_lock(&p->rc.lock);
		st.budget_pages = reclaim_budget_now(&p->rc);
		/* Frames withheld for a compressed pool hold no page. */
		st.pages_resident = frames_in_use(&p->rc.frames) -
				    frames_count(&p->rc.frames, FRAME_WITHHELD);
		if (p->rc.process_cap) {
			const struct budget *b = &p->rc.budget;

			st.rss_cap_pages = b->cap;
			st.frame_limit_pages = frames_limit(&p->rc.frames);
			st.peak_rss_pages = b->peak_rss;
			st.peak_paged_pages = b->peak_paged;
			st.peak_unpaged_pages = b->peak_unpaged;
			st.peak_own_pages = b->peak_own;
			st.unpaged_over_cap = b->over;
		}
		pthread_mutex_unlock(&p->rc.lock);
		store_stats_read(p->rc.store, &ss);
		st.slots_in_use = ss.slots_in_use;
		st.swap_capacity_slots = ss.capacity_slots;
		st.swap_read_ios = ss.read_ios;
		st.swap_write_ios = ss.write_ios;
		st.swap_read_submits = ss.read_submits;
		st.swap_read_sqes = ss.read_sqes;
		st.swap_write_submits = ss.write_submits;
		st.swap_write_sqes = ss.write_sqes;
		st.checksum_failures = ss.checksum_failures;
		st.pool_bytes = ss.pool_bytes;
		st.pool_pages = ss.pool_pages;
		st.pool_compressed_bytes = ss.pool_compressed_bytes;
		st.compress_ratio_pct = ss.pool_stored_bytes ?
					ss.pool_stored * p->page_size * 100 / ss.pool_stored_bytes : 0;
		st.pool_stored = ss.pool_stored;
		st.pool_stored_bytes = ss.pool_stored_bytes;
		st.same_filled = ss.same_filled;
		st.compress_rejected = ss.compress_rejected;
		st.pool_written_back = ss.pool_written_back;
		st.swap_read_ns_p50 = hist_percentile(store_read_hist(p->rc.store), 500);
		st.swap_read_ns_p99 = hist_percentile(store_read_hist(p->rc.store), 990);
		st.swap_write_ns_p50 = hist_percentile(store_write_hist(p->rc.store), 500);
		st.swap_write_ns_p99 = hist_percentile(store_write_hist(p->rc.store), 990);
	}
	/* After the page lock was taken above: a handler counts a fault's
	 * reactivation or swap-in under that lock, after the install that
	 * woke the faulting thread (UFFDIO_MOVE, _COPY wake it), so counters
	 * read before taking it could miss the fault that thread just saw
	 * served (test-swap's soft-fault tests did, one run in four). */
#define COPY_COUNTER(name) st.name = stat_get(&s->name);
	PLAIN_COUNTERS(COPY_COUNTER)
#undef COPY_COUNTER
	resident = atomic_load_explicit(&s->cache_pages, memory_order_relaxed);
	st.cache_pages = resident > 0 ? (uint64_t)resident : 0;
	resident = atomic_load_explicit(&s->private_shared, memory_order_relaxed);
	st.private_shared_pages = resident > 0 ? (uint64_t)resident : 0;
	pthread_rwlock_rdlock(&p->lock);
	st.regions = p->tree.count;
	pthread_rwlock_unlock(&p->lock);
	st.service_ns_p50 = hist_percentile(&s->service_ns, 500);
	st.service_ns_p99 = hist_percentile(&s->service_ns, 990);
	st.service_ns_max = atomic_load_explicit(&s->service_ns.max, memory_order_relaxed);
	/* An older caller gets the members it knows of. */
	memcpy((char *)out + sizeof(out->sz), (char *)&st + sizeof(st.sz),
	       (out->sz < sizeof(st) ? out->sz : sizeof(st)) - sizeof(st.sz));
	return 0;
}
