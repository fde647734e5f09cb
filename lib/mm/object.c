/* SPDX-License-Identifier: MIT */
/*
 * object.c - objects, their page-entry arrays, their caches and their
 * reverse maps.
 */
#define _GNU_SOURCE
#include "os/fdreg.h"
#include "mm/object.h"
#include "core/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Objects and reverse-map entries come from pools, not malloc: see pool.h. */
static struct pool object_pool = POOL_INIT(struct object);
static struct pool map_pool = POOL_INIT(struct object_map);

void object_fork_child(void)
{
	pool_fork_child(&object_pool);
	pool_fork_child(&map_pool);
}

/* A lazily backed array of @n items of @size bytes; NULL on failure. */
static void *lazy_array(uint64_t n, size_t size, size_t *bytes)
{
	void *m;

	if (n > SIZE_MAX / size)
		return NULL;
	*bytes = (size_t)n * size;
	if (!*bytes)
		*bytes = size;
	m = pool_map_own(*bytes, PROT_READ | PROT_WRITE, MAP_NORESERVE);
	return m == MAP_FAILED ? NULL : m;
}

/* Grow a lazy array to @n items, keeping its contents (mremap moves the
 * pages, it does not copy them); in place, or moved over a mapping of
 * upager's own (pool_map_own: not into the program's holes). */
static void *lazy_grow(void *old, size_t *bytes, uint64_t n, size_t size)
{
	size_t want;
	void *m;

	if (n > SIZE_MAX / size)
		return NULL;
	want = (size_t)n * size;
	if (want <= *bytes)
		return old;
	m = mremap(old, *bytes, want, 0);
	if (m == MAP_FAILED) {
		void *to = pool_map_own(want, PROT_NONE, MAP_NORESERVE);

		if (to == MAP_FAILED)
			return NULL;
		m = mremap(old, *bytes, want, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		if (m == MAP_FAILED) {
			munmap(to, want);
			return NULL;
		}
	}
	*bytes = want;
	return m;
}

static struct object *object_alloc(enum object_kind kind, uint64_t pages)
{
	struct object *obj = pool_alloc(&object_pool);

	if (!obj)
		return NULL;
	obj->kind = kind;
	obj->cache_fd = -1;
	obj->file_fd = -1;
	obj->direct_fd = -1;
	obj->pte = lazy_array(pages, sizeof(struct page_entry), &obj->pte_bytes);
	if (!obj->pte) {
		pool_free(&object_pool, obj);
		return NULL;
	}
	obj->pages = pages;
	return obj;
}

int object_new_anon(uint64_t pages, struct object **out)
{
	struct object *obj = object_alloc(OBJ_ANON, pages);

	if (!obj)
		return -ENOMEM;
	obj->mapped_pages = pages;
	*out = obj;
	return 0;
}

int object_new_layer(struct object *backing, uint64_t base, uint64_t pages,
		     struct object **out)
{
	int err = object_new_anon(pages, out);

	if (err)
		return err;
	(*out)->base = base;
	(*out)->backing = backing;
	backing->refs++;
	return 0;
}

/* The memfd that holds a shared object's pages in memory. */
static int cache_new(struct object *obj, uint64_t pages, const char *name)
{
	obj->cache_fd = fdreg_hide(memfd_create(name, MFD_CLOEXEC), "shared object cache");
	if (obj->cache_fd < 0)
		return -errno;
	if (ftruncate(obj->cache_fd, (off_t)(pages * (uint64_t)sysconf(_SC_PAGESIZE))))
		return -errno;
	obj->cache_pages = pages;
	return 0;
}

int object_new_shmem(uint64_t pages, struct object **out)
{
	struct object *obj = object_alloc(OBJ_SHMEM, pages);
	int err;

	if (!obj)
		return -ENOMEM;
	err = cache_new(obj, pages, "upager-shmem");
	if (err) {
		object_free(obj);
		return err;
	}
	*out = obj;
	return 0;
}

int object_new_file(int fd, uint64_t pages, struct object **out)
{
	struct object *obj;
	struct stat st;
	int err;

	if (fstat(fd, &st))
		return -errno;
	obj = object_alloc(OBJ_FILE, pages);
	if (!obj)
		return -ENOMEM;
	obj->dev = st.st_dev;
	obj->ino = st.st_ino;
	err = object_file_reopen(obj, fd);
	if (!err)
		err = cache_new(obj, pages, "upager-file");
	if (!err) {
		obj->sums = lazy_array(pages, sizeof(XXH128_hash_t), &obj->sums_bytes);
		err = obj->sums ? 0 : -ENOMEM;
	}

	if (err) {
		object_free(obj);
		return err;
	}
	*out = obj;
	return 0;
}

int object_file_reopen(struct object *obj, int fd)
{
	int fl = fcntl(fd, F_GETFL), own, direct;
	char path[64];

	if (fl < 0)
		return -errno;
	/* The object keeps the file open for as long as it lives, as a
	 * kernel mapping holds a reference to its file. */
	own = fdreg_hide(fcntl(fd, F_DUPFD_CLOEXEC, 0), "mapped file");
	if (own < 0)
		return -errno;
	/* The same open file again, through /proc (which reaches an
	 * unlinked file too), with O_DIRECT if the file system takes it. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", own);
	direct = fdreg_hide(open(path, (fl & O_ACCMODE) | O_DIRECT | O_CLOEXEC),
			    "mapped file (O_DIRECT)");
	fdreg_close(obj->file_fd);
	fdreg_close(obj->direct_fd);
	obj->file_fd = own;
	obj->direct_fd = direct;
	obj->file_writable = (fl & O_ACCMODE) == O_RDWR;
	return 0;
}

ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

ssize_t object_file_read(struct object *obj, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	/* A file read costs far more than the fstat of a check. */
	fdreg_check(obj->file_fd);
	if (obj->direct_fd >= 0) {
		fdreg_check(obj->direct_fd);
		n = pread_full(obj->direct_fd, buf, len, off);
		if (n != -EINVAL)
			return n;
		/* O_DIRECT refused after all: the ordinary descriptor. */
	}
	return pread_full(obj->file_fd, buf, len, off);
}

int object_file_write(struct object *obj, const void *buf, size_t len, uint64_t off)
{
	size_t whole = len & ~(size_t)(sysconf(_SC_PAGESIZE) - 1);
	int err = 0;

	fdreg_check(obj->file_fd);
	fdreg_check(obj->direct_fd);
	if (obj->direct_fd >= 0 && whole) {
		err = pwrite_full(obj->direct_fd, buf, whole, off);
		if (err == -EINVAL)
			whole = 0; /* O_DIRECT refused: all of it buffered */
		else if (err)
			return err;
	} else {
		whole = 0;
	}
	if (len > whole)
		err = pwrite_full(obj->file_fd, (const char *)buf + whole, len - whole, off + whole);
	return err;
}

uint64_t object_run(struct object *obj, uint64_t pgoff, uint64_t max, enum page_state state)
{
	const struct page_entry *first = object_entry(obj, pgoff);
	uint64_t n = 1, limit = obj->base + obj->pages - pgoff;

	if (limit > max)
		limit = max;
	while (n < limit) {
		const struct page_entry *e = object_entry(obj, pgoff + n);

		if (e->state != state || e->poisoned)
			break;
		if (state == PAGE_SWAPPED && (!e->has_slot || e->slot != first->slot + n))
			break;
		n++;
	}
	return n;
}

int object_grow(struct object *obj, uint64_t pages)
{
	void *m;

	if (pages <= obj->pages)
		return 0;
	m = lazy_grow(obj->pte, &obj->pte_bytes, pages, sizeof(struct page_entry));
	if (!m)
		return -ENOMEM;
	obj->pte = m;
	if (obj->sums) {
		m = lazy_grow(obj->sums, &obj->sums_bytes, pages, sizeof(XXH128_hash_t));
		if (!m)
			return -ENOMEM;
		obj->sums = m;
	}
	if (obj->cache_fd >= 0 && pages > obj->cache_pages) {
		if (ftruncate(obj->cache_fd, (off_t)(pages * (uint64_t)sysconf(_SC_PAGESIZE))))
			return -errno;
		obj->cache_pages = pages;
	}
	obj->pages = pages;
	return 0;
}

int object_grow_anon(struct object *obj, uint64_t end)
{
	void *m;

	if (end - obj->base <= obj->pages)
		return 0;
	m = lazy_grow(obj->pte, &obj->pte_bytes, end - obj->base, sizeof(struct page_entry));
	if (!m)
		return -ENOMEM;
	obj->pte = m;
	obj->pages = end - obj->base;
	return 0;
}

void object_free(struct object *obj)
{
	if (!obj)
		return;
	while (obj->maps) {
		struct object_map *m = obj->maps;

		obj->maps = m->next;
		pool_free(&map_pool, m);
	}
	if (obj->backing)
		obj->backing->refs--;
	fdreg_close(obj->cache_fd);
	fdreg_close(obj->file_fd);
	fdreg_close(obj->direct_fd);

	if (obj->sums)
		munmap(obj->sums, obj->sums_bytes);
	if (obj->window)
		munmap(obj->window, obj->window_len);
	munmap(obj->pte, obj->pte_bytes);
	pool_free(&object_pool, obj);
}

int object_map_add(struct object *obj, uintptr_t start, uintptr_t end, uint64_t pgoff,
		   struct object *anon)
{
	struct object_map *m = pool_alloc(&map_pool);

	if (!m)
		return -ENOMEM;
	m->start = start;
	m->end = end;
	m->pgoff = pgoff;
	m->anon = anon;
	m->next = obj->maps;
	obj->maps = m;
	return 0;
}

int object_map_remove(struct object *obj, uintptr_t start, uintptr_t end)
{
	const uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	struct object_map **pp = &obj->maps;

	while (*pp) {
		struct object_map *m = *pp;

		if (m->end <= start || m->start >= end) {
			pp = &m->next;
			continue;
		}
		if (m->start < start && m->end > end) {
			/* A hole in the middle: the part after it is new. */
			struct object_map *tail = pool_alloc(&map_pool);

			if (!tail)
				return -ENOMEM;
			*tail = *m;
			tail->start = end;
			tail->pgoff = m->pgoff + (end - m->start) / ps;
			m->end = start;
			m->next = tail;
			return 0;
		}
		if (m->start < start) {
			m->end = start;
		} else if (m->end > end) {
			m->pgoff += (end - m->start) / ps;
			m->start = end;
		} else {
			*pp = m->next;
			pool_free(&map_pool, m);
			continue;
		}
		pp = &m->next;
	}
	return 0;
}

void object_for_each_used(struct object *obj, uint64_t pgoff, uint64_t n,
			  void (*fn)(void *ctx, uint64_t pgoff, struct page_entry *e),
			  void *ctx)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const uint64_t per_page = page / sizeof(struct page_entry);
	unsigned char vec[256];
	uint64_t end = pgoff - obj->base + n;

	pgoff -= obj->base;
	while (pgoff < end) {
		/* One mincore covers 256 pages of entries: a page of entries
		 * that was never touched holds only ABSENT entries. */
		uint64_t first = pgoff / per_page;
		uint64_t count = (end - 1) / per_page - first + 1;

		if (count > sizeof(vec))
			count = sizeof(vec);
		if (mincore((char *)obj->pte + first * page, count * page, vec))
			for (uint64_t i = 0; i < count; i++)
				vec[i] = 1; /* cannot tell: look at everything */
		for (uint64_t i = 0; i < count; i++) {
			uint64_t from = (first + i) * per_page, to = from + per_page;

			if (!(vec[i] & 1))
				continue;
			if (from < pgoff)
				from = pgoff;
			if (to > end)
				to = end;
			for (uint64_t p = from; p < to; p++) {
				struct page_entry *e = &obj->pte[p];

				if (e->state != PAGE_ABSENT || e->has_slot || e->flags)
					fn(ctx, p + obj->base, e);
			}
		}
		pgoff = (first + count) * per_page;
	}
}
