/* SPDX-License-Identifier: MIT */
/*
 * map-object.c - mapping shared objects: a file (upager_map_file), or
 * shared anonymous memory (upager_map with UPAGER_MAP_SHARED), shared or
 * privately through an anonymous layer (object.h); and upager_sync, which
 * writes a file mapping's changed pages back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "mm/cache.h"
#include "mm/lock.h"
#include "core/log.h"
#include "mm/object.h"
#include "mm/pager.h"
#include "mm/debug.h"
#include "mm/reclaim.h"
#include "os/aspace.h"

/* The file object for the file open as @fd, found or made; @pages: how
 * many pages it must hold. Lock held for writing. */
static int file_object(struct upager *p, int fd, uint64_t pages, struct object **out)
{
	struct object *obj;
	struct stat st;
	int err, fl;

	if (fstat(fd, &st))
		return -errno;
	fl = fcntl(fd, F_GETFL);
	for (obj = p->shared_objects; obj; obj = obj->next)
		if (obj->kind == OBJ_FILE && obj->dev == st.st_dev && obj->ino == st.st_ino)
			break;
	if (!obj) {
		if ((err = object_new_file(fd, pages, &obj)))
			return err;
		obj->next = p->shared_objects;
		p->shared_objects = obj;
	} else if (!obj->file_writable && (fl & O_ACCMODE) == O_RDWR) {
		/* Mapped read-only before; writable now: write back through
		 * this descriptor. */
		if ((err = object_file_reopen(obj, fd)))
			return err;
	}
	*out = obj;
	return 0;
}

/*
 * Map @size bytes from page @pgoff of a shared object at @hint: the file
 * open as @fd, or (@fd -1) new shared anonymous memory; shared, or
 * (UPAGER_MAP_PRIVATE) privately through a new ANON layer. Arguments are
 * checked already.
 */
int pager_map_object(struct upager *p, int fd, void *hint, size_t size, int prot,
		      unsigned int flags, uint64_t pgoff, void **addr)
{
	bool shared = flags & UPAGER_MAP_SHARED;
	int mflags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_NORESERVE;
	uint64_t pages = size / p->page_size;
	struct object *obj = NULL, *layer = NULL;
	uintptr_t start, end;
	void *m = MAP_FAILED;
	bool refused = false; /* by the kernel: the caller's answer, not an upager error */
	int err;

	if (flags & UPAGER_MAP_FIXED)
		mflags |= MAP_FIXED;
	if (flags & UPAGER_MAP_FIXED_NOREPLACE)
		mflags |= MAP_FIXED_NOREPLACE;
	pager_write_lock(p);
	if (fd >= 0) {
		err = file_object(p, fd, pgoff + pages, &obj);
	} else {
		err = object_new_shmem(pages, &obj);
		if (!err) {
			obj->next = p->shared_objects;
			p->shared_objects = obj;
		}
	}
	if (err)
		goto out_unlock;
	/* Held while mapping: a MAP_FIXED over the object's only mapping
	 * must not release it under us. */
	obj->refs++;
	if ((err = object_grow(obj, pgoff + pages)))
		goto out_release;
	/* MAP_FIXED replaces whatever is there, ours included. */
	err = pager_mmap_locked(p, hint, size, prot, mflags, obj->cache_fd,
				(off_t)(pgoff * p->page_size), &m);
	if (err) {
		refused = true;
		goto out_release;
	}
	/* Shared mappings are not locked (lock.h), by the kernel either:
	 * its staging would fail (MADV_DONTNEED of a locked mapping). */
	if (p->lock_future)
		lock_map_kernel(m, size);
	start = (uintptr_t)m;
	end = start + size;
	err = p->be_ops->attach(p->be, start, end, shared ? BACKEND_SHARED : BACKEND_PRIVATE);
	if (err)
		goto out_munmap;
	aspace_advise(p->as, start, size, MADV_DONTFORK); /* out of forks no handler sees (fork.c) */
	if (!shared && (err = object_new_layer(obj, pgoff, pages, &layer)))
		goto out_munmap;
	if ((err = object_map_add(obj, start, end, pgoff, layer)))
		goto out_free_layer;
	err = region_insert(&p->tree, start, end, prot, flags & PAGER_SHARING, layer ? layer : obj, pgoff);
	if (err) {
		object_map_remove(obj, start, end);
		goto out_free_layer;
	}
	if (shared)
		obj->mapped_pages += pages;
	if (shared && (prot & UPAGER_PROT_WRITE))
		obj->written = true;
	obj->refs--;
	debug_check_pager(p, "upager_map of a shared object");
	pthread_rwlock_unlock(&p->lock);
	*addr = m;
	return 0;

out_free_layer:
	object_free(layer);
out_munmap:
	aspace_unmap(p->as, (uintptr_t)m, size);
out_release:
	if (!--obj->refs && !obj->mapped_pages)
		cache_release(p, obj);
out_unlock:
	debug_check_pager(p, "a refused upager_map of a shared object");
	pthread_rwlock_unlock(&p->lock);
	if (refused)
		log_debug("upager_map(%p, %zu, %s%s): mmap: %s", hint, size,
			  shared ? "shared" : "private", fd >= 0 ? " file" : " anonymous",
			  strerror(-err));
	else
		log_error("upager_map(%p, %zu, %s%s): %s", hint, size,
			  shared ? "shared" : "private", fd >= 0 ? " file" : " anonymous",
			  strerror(-err));
	return err;
}

int pager_map_file(struct upager *p, void *hint, size_t len, int prot, unsigned int flags,
		   int fd, uint64_t offset, void **addr)
{
	unsigned int fixed = flags & (UPAGER_MAP_FIXED | UPAGER_MAP_FIXED_NOREPLACE);
	size_t size;
	struct stat st;
	int err, fl;

	if ((err = pager_check_live(p, "upager_map_file")))
		return err;
	if (!addr || !len || fd < 0 || (prot & ~PAGER_VALID_PROT) || (flags & ~PAGER_VALID_MAP_FLAGS) ||
	    (flags & PAGER_SHARING) == 0 || (flags & PAGER_SHARING) == PAGER_SHARING ||
	    fixed == (UPAGER_MAP_FIXED | UPAGER_MAP_FIXED_NOREPLACE) ||
	    (fixed && !pager_is_aligned(p, (uintptr_t)hint)) || !pager_is_aligned(p, (uintptr_t)offset)) {
		log_error("upager_map_file(%p, %zu, prot 0x%x, flags 0x%x, fd %d, offset %llu): "
			  "invalid argument", hint, len, prot, flags, fd, (unsigned long long)offset);
		return -EINVAL;
	}
	size = pager_page_round(p, len);
	if (!size || (fixed && (uintptr_t)hint + size < (uintptr_t)hint) ||
	    offset + size < offset || (offset + size) / p->page_size > (1ull << 40)) {
		log_error("upager_map_file(%p, %zu, offset %llu): no such range", hint, len,
			  (unsigned long long)offset);
		return offset + size < offset ? -EOVERFLOW : -ENOMEM;
	}
	if (fstat(fd, &st) || (fl = fcntl(fd, F_GETFL)) < 0) {
		err = -errno;
		log_error("upager_map_file: fd %d: %s", fd, strerror(-err));
		return err;
	}
	/* An O_PATH descriptor opens nothing: mmap(2) answers EBADF. */
	if (fl & O_PATH) {
		log_error("upager_map_file: fd %d is an O_PATH descriptor", fd);
		return -EBADF;
	}
	/* What mmap(2) answers for the same file and access. */
	if (!S_ISREG(st.st_mode)) {
		log_error("upager_map_file: fd %d is not a regular file", fd);
		return -ENODEV;
	}
	if ((fl & O_ACCMODE) == O_WRONLY ||
	    ((flags & UPAGER_MAP_SHARED) && (prot & UPAGER_PROT_WRITE) &&
	     ((fl & O_ACCMODE) != O_RDWR || (fl & O_APPEND)))) {
		log_error("upager_map_file: fd %d is not open for %s", fd,
			  (fl & O_ACCMODE) == O_WRONLY ? "reading" : "writing a shared mapping");
		return -EACCES;
	}
	return pager_map_object(p, fd, hint, size, prot, flags, offset / p->page_size, addr);
}

struct sync_ctx {
	struct upager *p;
	uintptr_t start, end;
	bool durable;
	int err;
};

static void sync_region(void *ctx, const struct region *r)
{
	struct sync_ctx *c = ctx;
	uintptr_t s = r->start > c->start ? r->start : c->start;
	uintptr_t e = r->end < c->end ? r->end : c->end;
	int err;

	if (s >= e || !r->object || r->object->kind != OBJ_FILE)
		return;
	err = cache_sync(c->p, r->object, r->pgoff + (s - r->start) / c->p->page_size,
			 (e - s) / c->p->page_size, c->durable);
	if (err && !c->err)
		c->err = err;
}

int pager_sync(struct upager *p, void *addr, size_t len, unsigned int flags)
{
	struct sync_ctx c = { p, (uintptr_t)addr, 0, flags & UPAGER_SYNC_DURABLE, 0 };
	size_t size;
	int err;

	if ((err = pager_check_live(p, "upager_sync")))
		return err;
	size = pager_page_round(p, len);
	if (!pager_is_aligned(p, c.start) || (flags & ~UPAGER_SYNC_DURABLE) || (len && !size)) {
		log_error("upager_sync(%p, %zu, 0x%x): invalid argument", addr, len, flags);
		return -EINVAL;
	}
	c.end = c.start + size;
	if (c.end < c.start)
		return -ENOMEM;
	pthread_rwlock_rdlock(&p->lock);
	if (size && !region_range_is_covered(&p->tree, c.start, c.end)) {
		pthread_rwlock_unlock(&p->lock);
		log_error("upager_sync(%p, %zu): range is not all mapped by this pager", addr, len);
		return -ENOMEM;
	}
	region_for_each(&p->tree, sync_region, &c);
	pthread_rwlock_unlock(&p->lock);
	return c.err;
}
