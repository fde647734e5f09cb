/* SPDX-License-Identifier: MIT */
/*
 * follow.c - the program's own address-space calls over upager's memory
 * (the LD_PRELOAD shim's mmap over regions, mprotect, mremap), made as
 * the kernel makes them: the kernel's call comes first and is the
 * answer, and the region tree follows what it did. Checking arguments
 * as the kernel does and changing the tree first cannot be exact: the
 * kernel's checks, their order and what it allows change between
 * versions (6.17 moves ranges that span several mappings; 6.18 reads
 * mremap's fifth argument as a hint with MREMAP_DONTUNMAP), and a call
 * may change part of its range and then fail (mprotect over a hole).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/log.h"
#include "mm/object.h"
#include "mm/debug.h"
#include "mm/pager.h"
#include "mm/follow.h"
#include "os/aspace.h"

/* The end of [start, start + len) rounded up to pages, or 0 when @start
 * is unaligned or the range wraps: the kernel refuses those before it
 * changes anything. */
static uintptr_t range_end(const struct upager *p, uintptr_t start, size_t len)
{
	uintptr_t end = (start + len + p->page_size - 1) & ~(uintptr_t)(p->page_size - 1);

	if ((start & (p->page_size - 1)) || end < start || (len && end == start))
		return 0;
	return end;
}

int follow_map_over(struct upager *p, void *addr, size_t len, int prot, int flags, int fd,
		    off_t off, void **out)
{
	int err;

	if ((err = pager_check_live(p, "mmap")))
		return err;
	pager_write_lock(p);
	err = pager_mmap_locked(p, addr, len, prot, flags, fd, off, out);
	debug_check_pager(p, "mmap over the pager's memory");
	pthread_rwlock_unlock(&p->lock);
	return err;
}

/* ---- mprotect -------------------------------------------------------------- */

static int tree_prot(int prot)
{
	return (prot & PROT_READ ? UPAGER_PROT_READ : 0) |
	       (prot & PROT_WRITE ? UPAGER_PROT_WRITE : 0) |
	       (prot & PROT_EXEC ? UPAGER_PROT_EXEC : 0);
}

/*
 * The kernel's mprotect of [start, end) stopped with an error: it changed
 * the mappings before the place it stopped (a hole, a mapping that may
 * not have @prot) and nothing after. Whether it got as far as @piece is
 * whether the same call on [start, piece) succeeds now: mprotect is
 * idempotent, so that call changes nothing the first one did not, and
 * stops where the first stopped.
 */
static bool reached(struct aspace *as, uintptr_t start, uintptr_t piece, int prot)
{
	return piece == start || !aspace_protect(as, start, piece - start, prot);
}

int follow_mprotect(struct upager *p, void *addr, size_t len, int prot)
{
	uintptr_t start = (uintptr_t)addr, end = range_end(p, start, len), limit, at, s, e;
	struct region *r;
	bool probe;
	int err;

	if ((err = pager_check_live(p, "mprotect")))
		return err;
	pager_write_lock(p);
	limit = end && (prot & PROT_WRITE) ? pager_first_readonly_file(p, start, end) : end;
	if (limit == end || limit > start)
		err = aspace_protect(p->as, start, limit == end ? len : limit - start, prot);
	/* A shared mapping of a file opened read-only maps the object's
	 * memfd, which the kernel would let be made writable: upager
	 * answers for it, as mprotect does for the file's own mapping. */
	if (!err && limit != end)
		err = -EACCES;
	if (!end || err == -EINVAL)
		goto out_unlock; /* refused before anything changed */
	probe = err && limit == end;
	if (err && !probe)
		end = limit;
	for (at = start; (r = region_next_in(&p->tree, &at, end, &s, &e));) {
		int terr;

		if (probe && !reached(p->as, start, s, prot))
			break;
		if (prot & PROT_WRITE)
			pager_mark_written(p, s, e);
		terr = region_protect_range(&p->tree, s, e, tree_prot(prot));
		if (terr) {
			/* The tree cannot follow: the kernel goes back to the
			 * tree's protection, so faults there are still served
			 * as the tree says. */
			aspace_protect(p->as, s, e - s, r->prot);
			log_error("mprotect(%p, %zu): 0x%lx-0x%lx: %s; it keeps its old protection",
				  addr, len, (unsigned long)s, (unsigned long)e, strerror(-terr));
			if (!err)
				err = terr;
		}
	}
out_unlock:
	debug_check_pager(p, "mprotect");
	pthread_rwlock_unlock(&p->lock);
	return err;
}

/* ---- mremap ----------------------------------------------------------------- */

/* Whether @obj is a shared object or a private view of one: its pages
 * have a place in the object that address arithmetic here cannot give. */
static bool maps_shared(const struct object *obj)
{
	return obj && (object_is_shared(obj) || obj->backing);
}

/* The kernel grew a mapping into [start, end) (mremap, in place or
 * moved); it raised no event for that. The region ending at @start, if
 * upager's, grows with it, and its object, or, when @grown_obj (made by
 * prepare_remap) is given, the growth is that new object's. */
static void follow_grown(struct upager *p, uintptr_t start, uintptr_t end,
			 struct object *grown_obj)
{
	struct region *r = region_find(&p->tree, start - 1);
	struct object *obj;
	uint64_t pgoff, pages = (end - start) / p->page_size;
	int err = 0;

	if (!r || r->end != start) {
		object_free(grown_obj);
		return; /* not upager's memory that grew */
	}
	obj = r->object;
	if (maps_shared(obj) || !region_range_is_free(&p->tree, start, end)) {
		object_free(grown_obj);
		log_error("mremap grew 0x%lx-0x%lx (%s): not followed; faults there are not served",
			  (unsigned long)start, (unsigned long)end,
			  maps_shared(obj) ? "a mapping of a shared object" : "not free in the tree");
		return;
	}
	pgoff = r->pgoff + (r->end - r->start) / p->page_size;
	if (grown_obj) {
		obj = grown_obj;
		pgoff = 0;
		obj->mapped_pages = pages;
	} else if (obj && !(err = object_grow_anon(obj, pgoff + pages)))
		obj->mapped_pages += pages;
	if (!err)
		err = region_insert(&p->tree, start, end, r->prot, r->flags, obj, pgoff);
	if (err && grown_obj)
		object_free(grown_obj);
	if (err)
		log_error("mremap grew 0x%lx-0x%lx: %s; not followed", (unsigned long)start,
			  (unsigned long)end, strerror(-err));
}

/*
 * MREMAP_DONTUNMAP moved [from, from + len) to [to, to + len) and kept
 * the source mapped: the kernel's mappings there stay, with their
 * protection and advice, still registered with upager's userfaultfd, and
 * empty (private anonymous memory reads as zeros from now on). The moved
 * regions' events took them out of the tree there; each comes back as
 * new demand-zero memory with the attributes the moved one has, backed
 * (with a budget) by @obj, made for the whole source before the call.
 * Only the kernel's mappings that moved are kept: @src[0..@n) (n < 0:
 * all of [from, from + len)); a move across several mappings leaves the
 * destination facing the gaps between them as it was, and the regions
 * there are not the source's.
 */
static void follow_kept_source(struct upager *p, uintptr_t from, uintptr_t to, size_t len,
			       const uintptr_t (*src)[2], int n, struct object *obj)
{
	uint64_t kept = 0;

	for (int i = 0; i < (n < 0 ? 1 : n); i++) {
		uintptr_t lo = n < 0 ? to : to + (src[i][0] - from);
		uintptr_t hi = n < 0 ? to + len : to + (src[i][1] - from);

		const struct region *r;
		uintptr_t at = lo, s, e;

		while ((r = region_next_in(&p->tree, &at, hi, &s, &e))) {
			uintptr_t sa = from + (s - to);
			int err;

			if (maps_shared(r->object)) {
				log_error("mremap(MREMAP_DONTUNMAP) kept 0x%lx-0x%lx, a mapping of a "
					  "shared object: not followed; faults there are not served",
					  (unsigned long)sa, (unsigned long)(sa + (e - s)));
				continue;
			}
			/* Every attribute a region carries for its kernel
			 * mapping (protection, flags, advice) is the source's
			 * too. */
			err = region_insert(&p->tree, sa, sa + (e - s), r->prot, r->flags,
					    r->object ? obj : NULL, (sa - from) / p->page_size);
			if (err)
				log_error("mremap(MREMAP_DONTUNMAP) kept 0x%lx-0x%lx: %s; not followed",
					  (unsigned long)sa, (unsigned long)(sa + (e - s)),
					  strerror(-err));
			else if (r->object)
				kept += (e - s) / p->page_size;
		}
	}
	if (obj) {
		obj->mapped_pages = kept;
		if (!kept)
			object_free(obj);
	}
}

/* A PROT_NONE placeholder on [start, start + len) if it is all free,
 * else MAP_FAILED. */
static void *hold_range(struct aspace *as, uintptr_t start, size_t len)
{
	uintptr_t m;

	if (!len || start + len < start)
		return MAP_FAILED;
	if (aspace_map(as, start, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0, &m))
		return MAP_FAILED;
	if (m != start) { /* a kernel without NOREPLACE */
		aspace_unmap(as, m, len);
		return MAP_FAILED;
	}
	return (void *)m;
}

/*
 * What following the call will need from memory upager maps for itself
 * (an object's page entries) is made before it: made after, it could
 * take address space the call has just freed (a move's source), which
 * the program may mean to map again, as it could without upager. A
 * grown region's object grows, unless its pages past the range are
 * another region's (the rest of a region the call moves part of, or
 * a tail moved away before): the growth then gets an object of its own
 * (*@grown_obj), as it would read those pages' bytes and share them.
 * MREMAP_DONTUNMAP's kept source gets an object (returned in *@kept_obj).
 */
static void prepare_remap(struct upager *p, uintptr_t from, uintptr_t old_end, size_t new_sz,
			  int flags, uintptr_t dest, struct object **kept_obj,
			  struct object **grown_obj)
{
	size_t old_sz = old_end - from;
	void *grow_hold = MAP_FAILED, *dest_hold = MAP_FAILED;
	struct region *r;

	*kept_obj = NULL;
	*grown_obj = NULL;
	if (!old_end || !reclaim_has_budget(&p->rc))
		return;
	/* The places the call may take (growth in place, the destination
	 * or hint) may be free just now, and the entries made here must not
	 * land in them: held with placeholders meanwhile. */
	if (new_sz > old_sz)
		grow_hold = hold_range(p->as, from + old_sz, new_sz - old_sz);
	if (dest)
		dest_hold = hold_range(p->as, dest, new_sz);
	r = region_find(&p->tree, old_end - 1);
	if (new_sz > old_sz && r && r->object && !maps_shared(r->object)) {
		uint64_t past = r->pgoff + (old_end - r->start) / p->page_size;

		if (past - r->object->base < r->object->pages) {
			if (object_new_anon((new_sz - old_sz) / p->page_size, grown_obj))
				*grown_obj = NULL; /* follow_grown grows the object */
		} else if (object_grow_anon(r->object, past + (new_sz - old_sz) / p->page_size)) {
			goto out_release; /* out of memory: follow_grown says so */
		}
	}
	if ((flags & MREMAP_DONTUNMAP) && !region_range_is_free(&p->tree, from, old_end) &&
	    object_new_anon(old_sz / p->page_size, kept_obj))
		*kept_obj = NULL;
out_release:
	if (grow_hold != MAP_FAILED)
		aspace_unmap(p->as, (uintptr_t)grow_hold, new_sz - old_sz);
	if (dest_hold != MAP_FAILED)
		aspace_unmap(p->as, (uintptr_t)dest_hold, new_sz);
}

#define MAPPINGS_MAX 64

/*
 * The kernel's mappings that intersect [start, end), clipped to it, in
 * address order (aspace_mappings, which never calls malloc: the caller
 * holds the pager's lock). Returns how many (at most @max, no more than
 * MAPPINGS_MAX), or -errno (-E2BIG: more).
 */
static int kernel_mappings(struct upager *p, uintptr_t start, uintptr_t end,
			   uintptr_t (*out)[2], int max)
{
	struct aspace_mapping m[MAPPINGS_MAX];
	int n = aspace_mappings(p->as, start, end, m, max < MAPPINGS_MAX ? max : MAPPINGS_MAX);

	for (int i = 0; i < n; i++) {
		out[i][0] = m[i].start > start ? m[i].start : start;
		out[i][1] = m[i].end < end ? m[i].end : end;
	}
	return n;
}

size_t pager_free_reach(struct upager *p, void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr, end = start + len, at = start, to = end;
	struct aspace_mapping m[MAPPINGS_MAX];

	/* At most MAPPINGS_MAX mappings at a time, in the stack: callers may
	 * hold the pager's lock, and malloc may map memory through it. */
	while (at < end) {
		int n = aspace_mappings(p->as, at, to, m, MAPPINGS_MAX);

		if (n == -E2BIG && to - at > p->page_size) {
			to = at + (to - at) / 2 / p->page_size * p->page_size;
			continue;
		}
		if (n < 0)
			break; /* unreadable: all of it, as before the reach was known */
		for (int i = 0; i < n; i++)
			if (m[i].kind != ASPACE_ANON)
				return (m[i].start > start ? m[i].start : start) - start;
		at = to;
		to = end;
	}
	return len;
}

/* The kernel's mappings in a range, read before a call that may move
 * them (what it does is then told from what was there). */
struct mappings {
	int n; /* how many, or -errno (-E2BIG: more than MAPPINGS_MAX) */
	uintptr_t m[MAPPINGS_MAX][2];
};

/*
 * A move without resizing, to a fixed place, of a range that spans
 * several kernel mappings (@before, read before the call), or one and
 * then a gap: 6.17 and later move each (and leave the gaps between
 * them), but stop with EFAULT at the first that is registered with a
 * userfaultfd, as upager's are, after moving the ones before it (with
 * MREMAP_DONTUNMAP these are still at the source too, emptied: moving
 * them again would move the emptied copy over the moved one). Moving
 * the rest one by one gives the program the kernel's answer; the first
 * that fails ends it, as in the kernel. Returns 0, -errno, or 1 when
 * the range is not such a range (the kernel's EFAULT stands).
 */
static int move_each_mapping(struct upager *p, const struct mappings *before, uintptr_t from,
			     uintptr_t end, uintptr_t dest, int flags)
{
	const uintptr_t (*m)[2] = before->m;
	int n = before->n, first = 0;

	if (n < 1 || m[0][0] != from || (n == 1 && m[0][1] == end))
		return 1; /* all one mapping, or a gap at the start: EFAULT it is */
	while (first < n && region_range_is_free(&p->tree, m[first][0], m[first][1]))
		first++;
	if (first == n)
		return 1; /* the kernel refused for a reason of its own */
	for (int i = first; i < n; i++) {
		size_t len = m[i][1] - m[i][0];

		uintptr_t moved;
		int err = aspace_remap(p->as, m[i][0], len, len, flags, dest + (m[i][0] - from),
				       &moved);

		if (err)
			return err;
	}
	return 0;
}

/*
 * upager's regions are all MADV_DONTFORK in the kernel (fork.c), so
 * regions the program left to fork and ones it advised DONTFORK share
 * one kernel mapping where natively they are two, and mremap would
 * move or grow across them where the kernel refuses (EFAULT). Whether
 * [start, end) holds such a boundary between two regions:
 */
static bool fork_advice_boundary(struct upager *p, uintptr_t start, uintptr_t end)
{
	const struct region *prev = NULL;

	for (uintptr_t at = start; at < end;) {
		const struct region *r = region_find_next(&p->tree, at);

		if (!r || r->start >= end)
			return false;
		if (prev && prev->end == r->start &&
		    ((prev->flags ^ r->flags) & REGION_DONTFORK))
			return true;
		prev = r;
		at = r->end;
	}
	return false;
}

/* @madv on the regions in [start, end) the program left to fork: DOFORK
 * lets the kernel see the program's own mapping boundaries for one call
 * (under the pager's lock, as fork.c does for a fork), DONTFORK puts
 * them back out of forks upager does not see. */
static void fork_advice_kernel(struct upager *p, uintptr_t start, uintptr_t end, int madv)
{
	const struct region *r;
	uintptr_t at = start, s, e;

	while ((r = region_next_in(&p->tree, &at, end, &s, &e)))
		if (!(r->flags & REGION_DONTFORK))
			aspace_advise(p->as, s, e - s, madv);
}

int follow_remap(struct upager *p, void *old, size_t old_len, size_t new_len, int flags,
		 void *new_addr, void **out)
{
	uintptr_t from = (uintptr_t)old, old_end = range_end(p, from, old_len);
	uintptr_t dest = (uintptr_t)new_addr, dest_end = range_end(p, dest, new_len);
	size_t old_sz = old_end - from, new_sz = (new_len + p->page_size - 1) & ~(p->page_size - 1);
	struct object *kept_obj, *grown_obj;
	struct mappings before = { .n = 0 };
	uintptr_t to;
	uint64_t resident = 0;
	bool split;
	long ret;
	int err = 0;

	if ((err = pager_check_live(p, "mremap")))
		return err;
	pager_write_lock(p);
	/* What the call may unmap (a shrunk tail, a MREMAP_FIXED
	 * destination), for the statistics: the events cannot count it. */
	if (old_end && new_sz < old_sz)
		resident += pager_resident_unowned(p, from + new_sz, old_end);
	if ((flags & MREMAP_FIXED) && dest_end)
		resident += pager_resident_unowned(p, dest, dest_end);
	prepare_remap(p, from, old_end, new_sz, flags, dest, &kept_obj, &grown_obj);
	split = old_end && fork_advice_boundary(p, from, old_end);
	if (split)
		fork_advice_kernel(p, from, old_end, MADV_DOFORK);
	if ((flags & MREMAP_FIXED) && old_end && dest_end && new_sz == old_sz)
		before.n = kernel_mappings(p, from, old_end, before.m, MAPPINGS_MAX);
	err = aspace_remap(p->as, from, old_len, new_len, flags, dest, &to);
	ret = err ? -1 : (long)to;
	if (err == -EFAULT && (flags & MREMAP_FIXED) && old_end && dest_end &&
	    new_sz == old_sz) {
		int moved = move_each_mapping(p, &before, from, old_end, dest, flags);

		if (moved <= 0) {
			err = moved;
			ret = (long)dest;
		}
	}
	/* The kernel held this thread until a handler had read the events
	 * it raised (a move per kernel mapping, the unmap of a shrunk tail
	 * or of a MREMAP_FIXED destination), even when it failed part way:
	 * once fenced they are queued, and are applied here, in order. */
	p->be_ops->fence(p->be);
	events_apply(p);
	if (err) {
		object_free(kept_obj);
		object_free(grown_obj);
		goto out_unlock;
	}
	pager_resident_sub(p, resident);
	if (old_end && new_sz > old_sz)
		follow_grown(p, (uintptr_t)ret + old_sz, (uintptr_t)ret + new_sz, grown_obj);
	else
		object_free(grown_obj);
	if ((flags & MREMAP_DONTUNMAP) && (uintptr_t)ret != from)
		follow_kept_source(p, from, (uintptr_t)ret, old_sz,
				   (const uintptr_t(*)[2])before.m,
				   before.n > 0 ? before.n : -1, kept_obj);
	else
		object_free(kept_obj);
	*out = (void *)ret;
out_unlock:
	if (split) { /* wherever the regions are now: left, moved, kept */
		fork_advice_kernel(p, from, old_end, MADV_DONTFORK);
		if (dest_end)
			fork_advice_kernel(p, dest, dest_end, MADV_DONTFORK);
		if (!err)
			fork_advice_kernel(p, (uintptr_t)ret, (uintptr_t)ret +
					   (new_sz > old_sz ? new_sz : old_sz), MADV_DONTFORK);
	}
	debug_check_pager(p, "mremap");
	pthread_rwlock_unlock(&p->lock);
	return err;
}
