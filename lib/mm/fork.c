/* SPDX-License-Identifier: MIT */
/*
 * fork.c - pagers across fork(): the parent is quiesced around the fork,
 * and the child gets a pager of its own over its copy of the parent's.
 *
 * Without UFFD_FEATURE_EVENT_FORK the kernel gives the child plain copies
 * of the registered mappings: resident pages are shared copy-on-write, as
 * for any anonymous memory, and nothing catches a first touch. Everything
 * else a page can be (in swap, staged, absent) is described by the pager's
 * own tables, which the child also inherits as copies. So the child
 * needs only a new fault source over the same tables: a new userfaultfd
 * with every region registered again, new handler threads, new I/O rings,
 * and its own references to the swap slots it inherited (store.h: the
 * store is shared between the processes, each a "holder").
 *
 * Why not EVENT_FORK: it hands the child's userfaultfd to the parent's
 * handlers, so the child's pages would live and die with the parent.
 * A child that outlives its parent (a daemon forked off, a shell's
 * background job) must keep its memory, so each process pages itself.
 *
 * The same protocol serves the forks no atfork handler sees (_Fork,
 * clone, syscall: the shim calls pager_fork_prepare/parent/child around
 * them), and regions are kept out of every other fork (MADV_DONTFORK).
 *
 * The handlers run from pthread_atfork: prepare quiesces every pager of
 * this process (no fault is being served, no page is in flight, the
 * region tree is not changing) and keeps it so until fork returns; the
 * child's handler rebuilds; the parent's resumes. A program's own atfork
 * prepare handler registered before upager_open() runs after ours, and
 * must not touch upager memory (its fault would wait for the pager the
 * forking thread holds).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "mm/cache.h"
#include "mm/lock.h"
#include "core/log.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "os/aspace.h"
#include "os/signals.h"
#include "store/store.h"

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * Regions are kept out of forks (MADV_DONTFORK) except while a fork this
 * code sees is under way: a child made by a system call no handler sees
 * then has no mapping where the regions were, and its first touch of one
 * is a SIGSEGV, where the kernel would have given it a copy reading zeros
 * wherever a page was evicted.
 */
static void region_fork_in(void *ctx, const struct region *r)
{
	struct upager *p = ctx;

	if (r->flags & REGION_DONTFORK)
		return; /* the program's own advice: the child does not get it */
	aspace_advise(p->as, r->start, r->end - r->start, MADV_DOFORK);
}

static void region_fork_out(void *ctx, const struct region *r)
{
	struct upager *p = ctx;

	aspace_advise(p->as, r->start, r->end - r->start, MADV_DONTFORK);
}

/* The locks of one pager, in the order faults take them. */
static void quiesce(struct upager *p)
{
	/* The program's changes read so far reach the tree first: the
	 * child's copy of it must describe the address space it gets. */
	p->be_ops->fence(p->be);
	pthread_rwlock_wrlock(&p->lock); /* every fault and reclaim round done */
	events_apply(p);
	pthread_mutex_lock(&p->rc.reclaim_lock);
	pthread_mutex_lock(&p->rc.lock);
	pthread_mutex_lock(&p->streams.lock);
	/* Both processes will map the shared objects' memfds. */
	for (struct object *obj = p->shared_objects; obj; obj = obj->next) {
		int err = cache_pin(p, obj);

		if (err)
			log_error("fork: cannot share an object with the child (%s); its pages "
				  "will raise SIGBUS in the child", strerror(-err));
	}
	p->fork_store_err = p->rc.store ? store_fork_prepare(p->rc.store) : 0;
	region_for_each(&p->tree, region_fork_in, p);
}

static void resume(struct upager *p)
{
	region_for_each(&p->tree, region_fork_out, p);
	if (p->rc.store)
		store_fork_parent(p->rc.store);
	pthread_mutex_unlock(&p->streams.lock);
	pthread_mutex_unlock(&p->rc.lock);
	pthread_mutex_unlock(&p->rc.reclaim_lock);
	pthread_rwlock_unlock(&p->lock);
}

/* The child holds copies of locks the forking thread took: start over. */
static void reinit_locks(struct upager *p)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&p->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&p->streams.lock, NULL);
	reclaim_fork_reinit(&p->rc);
}

/*
 * Register [start, end) with the child's userfaultfd. A part the child
 * does not have mapped was unmapped by another thread of the parent as
 * the fork began, too late for the tree the child copied: it is taken
 * out of the child's tree (an unmap event), the rest registered.
 */
static void attach_mapped(struct upager *p, uintptr_t start, uintptr_t end, int how)
{
	unsigned char vec;
	uintptr_t mid;
	int err = p->be_ops->attach(p->be, start, end, how);

	if (err != -EINVAL && err != -ENOMEM) {
		if (err && !p->fork_err)
			p->fork_err = err;
		return;
	}
	if (end - start == p->page_size) {
		struct event e = { .kind = EVENT_UNMAP, .start = start, .end = end };

		/* mincore fails with ENOMEM where nothing is mapped. */
		if (aspace_resident(p->as, start, p->page_size, &vec) == -ENOMEM)
			events_push(&p->events, &e);
		else if (!p->fork_err)
			p->fork_err = err;
		return;
	}
	mid = start + (end - start) / p->page_size / 2 * p->page_size;
	attach_mapped(p, start, mid, how);
	attach_mapped(p, mid, end, how);
}

static void attach_region(void *ctx, const struct region *r)
{
	struct upager *p = ctx;

	if (p->fork_err)
		return;
	if (r->flags & REGION_DONTFORK)
		return; /* not the child's: held, then dropped (let_go_dontfork) */
	if ((r->flags & REGION_WIPEONFORK) && r->object)
		/* The kernel gave the child an empty mapping: what upager
		 * holds of it elsewhere (staged, in swap) is the parent's
		 * only. Anonymous memory alone takes this advice. */
		reclaim_forget_range(p, r->object, r->pgoff, (r->end - r->start) / p->page_size);
	attach_mapped(p, r->start, r->end, pager_attach_how(r));
	region_fork_out(p, r);
}

/*
 * A shared object that could not be pinned at the fork is the parent's
 * alone: the child's copy of its entries goes stale as soon as the parent
 * evicts or brings in a page, and the child's reclaim would punch pages
 * out of the memfd that the parent holds resident. So the child lets go
 * of it: no frame of the child's budget holds its pages (reclaim never
 * touches them), the child's descriptor of the memfd is closed (nothing
 * of the child's can write or punch it), and every page is poisoned: its
 * regions stay registered, and a touch is a SIGBUS (cache_get), never
 * the parent's live bytes or a zero page. Private copies the child has in
 * a private mapping of it are the child's and stay.
 */
static void disown_unpinned(struct upager *p)
{
	for (struct object *obj = p->shared_objects; obj; obj = obj->next) {
		if (obj->pinned)
			continue;
		reclaim_forget_range(p, obj, obj->base, obj->pages);
		for (uint64_t i = 0; i < obj->pages; i++)
			obj->pte[i].poisoned = 1;
		if (obj->cache_fd >= 0)
			close(obj->cache_fd);
		obj->cache_fd = -1;
		log_error("fork: the child (pid %d) cannot share an object of %llu pages with "
			  "its parent; its pages raise SIGBUS in the child", (int)getpid(),
			  (unsigned long long)obj->pages);
	}
}

static int attach_windows(struct upager *p)
{
	for (struct object *obj = p->shared_objects; obj; obj = obj->next) {
		int err;

		if (!obj->window)
			continue;
		err = p->be_ops->attach(p->be, (uintptr_t)obj->window,
					(uintptr_t)obj->window + obj->window_len, BACKEND_SHARED);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The kernel gave the child no DONTFORK region, and the child's pager maps
 * its own memory as it is rebuilt (rings, thread stacks): the kernel would
 * put it in those holes, where the program natively finds nothing. So
 * they are held with inaccessible placeholders across the rebuild.
 */
static void hold_dontfork(void *ctx, const struct region *r)
{
	struct upager *p = ctx;
	uintptr_t m;

	if (r->flags & REGION_DONTFORK)
		aspace_map(p->as, r->start, r->end - r->start, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0,
			   &m);
}

/* After the rebuild: the holes are let go, and the regions leave the tree
 * (an unmap event each: their pages' slots released for this holder). */
static void let_go_dontfork(void *ctx, const struct region *r)
{
	struct upager *p = ctx;
	struct event e = { .kind = EVENT_UNMAP, .start = r->start, .end = r->end };

	if (!(r->flags & REGION_DONTFORK))
		return;
	aspace_unmap(p->as, r->start, r->end - r->start);
	if (!p->broken)
		events_push(&p->events, &e);
}

static void seal_region(void *ctx, const struct region *r)
{
	struct upager *p = ctx;

	aspace_protect(p->as, r->start, r->end - r->start, PROT_NONE);
}

/*
 * Until its regions are registered again, a child's first touch of a page
 * the parent had evicted is the kernel's zero page: the tables say "in
 * swap" and no fault will ever ask. Only the forking thread runs then, in
 * upager's own code and the C library's thread creation, and both may
 * allocate. Pages that came to be there behind the tables' back are found
 * here, after registration, and fail the rebuild (loud, never wrong).
 */
struct touch_check {
	struct upager *p;
	const struct region *r;
	uintptr_t chunk;          /* first page mincore() looked at, 0: none */
	unsigned char vec[4096];  /* residency of [chunk, chunk + 4096 pages) */
	uintptr_t first_bad;      /* first such page, 0: none */
	size_t bad;
};

static void check_entry(void *ctx, uint64_t pgoff, struct page_entry *e)
{
	struct touch_check *c = ctx;
	size_t ps = c->p->page_size;
	uintptr_t addr = c->r->start + (pgoff - c->r->pgoff) * ps;
	size_t n = sizeof(c->vec);

	if (e->state == PAGE_ABSENT || e->state == PAGE_RESIDENT)
		return;
	if (!c->chunk || addr < c->chunk || addr >= c->chunk + n * ps) {
		if (n > (c->r->end - addr) / ps)
			n = (c->r->end - addr) / ps;
		if (aspace_resident(c->p->as, addr, n * ps, c->vec))
			return; /* gone since: nothing there to be wrong */
		c->chunk = addr;
	}
	if (c->vec[(addr - c->chunk) / ps] & 1) {
		if (!c->bad++)
			c->first_bad = addr;
	}
}

static void check_region(void *ctx, const struct region *r)
{
	struct touch_check *c = ctx;

	/* Shared objects: the memfd holds what is there; and over a memfd
	 * (a private mapping of one) mincore() reports the memfd's pages,
	 * not the mapping's. The allocator's memory is plain anonymous. */
	if (!r->object || r->object->kind != OBJ_ANON || r->object->backing)
		return;
	c->r = r;
	c->chunk = 0;
	object_for_each_used(r->object, r->pgoff, (r->end - r->start) / c->p->page_size,
			     check_entry, c);
}

static int check_unregistered_touches(struct upager *p)
{
	struct touch_check c = { .p = p };

	region_for_each(&p->tree, check_region, &c);
	if (!c.bad)
		return 0;
	log_error("fork: %zu evicted pages (the first at 0x%lx) were touched in the child "
		  "before its pager could serve them", c.bad, (unsigned long)c.first_bad);
	return -EFAULT;
}

/*
 * While the child's backend is opened and its threads started, the
 * pager's backend is one that registers nothing: the allocations this
 * makes (ours, and the C library's for each thread) may map, unmap and
 * protect memory through the shim, and the tree must follow; but a range
 * registered before a handler runs would hold the forking thread forever
 * in its own fault. Whatever the tree holds is registered afterwards.
 */
static int defer_attach(struct backend *be, uintptr_t start, uintptr_t end, int how)
{
	(void)be, (void)start, (void)end, (void)how;
	return 0;
}

static int defer_detach(struct backend *be, uintptr_t start, uintptr_t end)
{
	(void)be, (void)start, (void)end;
	return 0;
}

static long defer_fill_zero(struct backend *be, uintptr_t start, size_t len, bool writable)
{
	(void)be, (void)start, (void)len, (void)writable;
	return -ENOENT;
}

static int defer_wake(struct backend *be, uintptr_t start, size_t len)
{
	(void)be, (void)start, (void)len;
	return 0;
}

static long defer_copy(struct backend *be, uintptr_t dst, const void *src, size_t len)
{
	(void)be, (void)dst, (void)src, (void)len;
	return -ENOENT;
}

static long defer_move(struct backend *be, uintptr_t dst, uintptr_t src, size_t len)
{
	(void)be, (void)dst, (void)src, (void)len;
	return -ENOENT;
}

static long defer_cont(struct backend *be, uintptr_t start, size_t len, bool wp)
{
	(void)be, (void)start, (void)len, (void)wp;
	return -ENOENT;
}

static int defer_protect(struct backend *be, uintptr_t start, size_t len, bool on)
{
	(void)be, (void)start, (void)len, (void)on;
	return 0; /* registered afterwards with the protection the tree says */
}

static int defer_poison(struct backend *be, uintptr_t addr)
{
	(void)be, (void)addr;
	return -EOPNOTSUPP;
}

static void defer_nothing(struct backend *be)
{
	(void)be;
}

static const struct backend_ops deferring_ops = {
	.name = "deferring (a fork's child, being rebuilt)",
	.attach = defer_attach,
	.detach = defer_detach,
	.fill_zero = defer_fill_zero,
	.wake = defer_wake,
	.copy = defer_copy,
	.move = defer_move,
	.cont = defer_cont,
	.protect = defer_protect,
	.poison = defer_poison,
	.fence = defer_nothing,
	.close = defer_nothing,
	.forget = defer_nothing,
};

static int open_backend(struct upager *p)
{
	const struct backend_ops *ops = p->be_ops;
	struct backend *be = NULL;
	int err;

	p->be_ops = &deferring_ops;
	err = ops->open(p, &be);
	if (!err && (err = ops->start(be))) {
		ops->close(be);
		be = NULL;
	}
	p->be_ops = ops;
	p->be = be;
	return err;
}

static int rebuild(struct upager *p)
{
	int err;

	/* What the parent's threads used stays theirs. */
	err = reclaim_fork_forget(p);
	p->be_ops->forget(p->be);
	p->be = NULL;
	if (err)
		return err;
	if (p->fork_store_err)
		return p->fork_store_err;
	if (p->rc.store && (err = store_fork_child(p->rc.store)))
		return err;
	pthread_rwlock_wrlock(&p->lock);
	disown_unpinned(p); /* before anything could evict its pages */
	pthread_rwlock_unlock(&p->lock);
	if ((err = open_backend(p)))
		return err;
	if ((err = reclaim_attach_staging(p)))
		return err;
	if ((err = attach_windows(p)))
		return err;
	p->fork_err = 0;
	region_for_each(&p->tree, attach_region, p);
	events_apply(p); /* what the child turned out not to have */
	if ((err = p->fork_err))
		return err;
	if ((err = check_unregistered_touches(p)))
		return err;
	return reclaim_start(p);
}

/* The forking thread's signal mask, from prepare to parent or child: a
 * handler of the program's must not run while the pagers are held for
 * the fork (signals.h). Per thread: two threads may fork at once. */
static __thread struct signals_saved fork_signals;

static void prepare(void)
{
	signals_block(&fork_signals);
	pager_live_lock();
	for (struct upager *p = pager_live_first(); p; p = p->next_live)
		if (!p->broken)
			quiesce(p);
}

static void parent(void)
{
	for (struct upager *p = pager_live_first(); p; p = p->next_live)
		if (!p->broken)
			resume(p);
	pager_live_unlock();
	signals_restore(&fork_signals);
}

static void child(void)
{
	pager_live_reinit();
	region_fork_child();
	object_fork_child();
	for (struct upager *p = pager_live_first(); p; p = p->next_live) {
		int err;

		if (p->broken)
			continue;
		reinit_locks(p);
		events_fork_child(&p->events);
		lock_fork_child(p); /* the kernel's mlocks are not inherited either */
		p->owner = getpid();
		region_for_each(&p->tree, hold_dontfork, p);
		err = rebuild(p);
		if (err) {
			/* Loud, never silent: the child's copies of evicted
			 * pages would read as zeros with nobody to serve them. */
			log_error("fork: the child (pid %d) could not get a pager of its own "
				  "(%s); its upager regions are made inaccessible",
				  (int)getpid(), strerror(-err));
			region_for_each(&p->tree, seal_region, p);
			reclaim_stop(p);
			if (p->be)
				p->be_ops->close(p->be); /* ours: stops our threads */
			p->be = NULL;
			p->broken = true;
		}
		pthread_rwlock_wrlock(&p->lock);
		region_for_each(&p->tree, let_go_dontfork, p);
		if (!p->broken)
			events_apply(p);
		pthread_rwlock_unlock(&p->lock);
	}
	signals_restore(&fork_signals);
}

void pager_fork_prepare(void)
{
	prepare();
}

void pager_fork_parent(void)
{
	parent();
}

void pager_fork_child(void)
{
	child();
}

static void register_handlers(void)
{
	int err = pthread_atfork(prepare, parent, child);

	if (err)
		log_error("fork: pthread_atfork: %s; a forked child will not be paged",
			  strerror(err));
}

void pager_fork_init(void)
{
	pthread_once(&atfork_once, register_handlers);
}
