/* SPDX-License-Identifier: MIT */
/*
 * object.h - what backs a region, as the kernel's address_space and
 * anon_vma do: where each page of it lives now, and who maps it.
 *
 * Kinds:
 *   OBJ_ANON   private pages: demand-zero memory, or the private copies
 *              of a private mapping of a shared object (`backing`), made
 *              on the first write to a page (copy-on-write). One per
 *              private mapping, as an anon_vma is.
 *   OBJ_SHMEM  shared anonymous memory: pages start as zeros, have one
 *              copy in memory however many regions map them, and go to
 *              swap slots when evicted.
 *   OBJ_FILE   a file: pages are read from it on first touch, have one
 *              copy in memory, and dirty ones are written back to it.
 *
 * A shared object (SHMEM, FILE) holds its pages in memory in a memfd, its
 * *cache*: every region mapping it maps that memfd, so a page has one
 * physical copy whoever maps it, and a write through one region is seen
 * through all of them (docs/ARCHITECTURE.md: "Objects"). cache.h moves
 * pages in and out of it.
 *
 * An object knows, per page index, where that page lives now: a flat
 * array of struct page_entry, mapped MAP_NORESERVE so that only the parts
 * describing touched pages ever take memory (the kernel's page tables
 * work the same way), and so that the fault path never calls malloc.
 * Entries are indexed by the page's offset in the object; an OBJ_ANON
 * layer over a shared object uses its backing's offsets, from `base`.
 *
 * Page states (docs/ARCHITECTURE.md has the diagrams):
 *   ABSENT     never touched, or discarded: reads as zeros (ANON, SHMEM
 *              without a slot), as the file (FILE), or as the backing
 *              object (an ANON layer over one)
 *   RESIDENT   in memory: mapped in its region (ANON) or in the cache
 *              (SHMEM, FILE), holding frame `frame` under a budget
 *   STAGED     in memory but mapped nowhere, on the inactive list: ANON
 *              pages sit in a staging slot, cache pages stay in the cache;
 *              a touch brings it back without I/O (second chance)
 *   WRITEBACK  STAGED, with its contents being written to its slot or file
 *   SWAPPED    only in swap slot `slot`
 *   SWAPIN     being read (from a slot or the file) by a handler, or
 *              installed by one without the page lock (a zero run)
 * `slot` is valid in every state when has_slot is set: a RESIDENT or
 * STAGED page with a slot whose checksum still matches is clean.
 * All fields are guarded by the pager's page lock (reclaim.h).
 */
#ifndef UPAGER_OBJECT_H
#define UPAGER_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <xxhash.h>

enum page_state {
	PAGE_ABSENT = 0,
	PAGE_RESIDENT,
	PAGE_STAGED,
	PAGE_WRITEBACK,
	PAGE_SWAPPED,
	PAGE_SWAPIN,
};

/* page_entry.flags */
/* An ANON layer's ABSENT page whose region maps the backing object's
 * page, write-protected: still shared with the object. */
#define PE_MAPS_BACKING (1u << 0)

struct page_entry {
	uint64_t slot;    /* swap slot, valid when has_slot */
	uint32_t frame;   /* frame index, valid when RESIDENT/STAGED/WRITEBACK under a budget */
	uint8_t state;    /* enum page_state */
	uint8_t has_slot;
	uint8_t poisoned; /* its data was lost (bad slot, failed read): SIGBUS on touch */
	uint8_t flags;    /* PE_* */
};

enum object_kind {
	OBJ_ANON = 0,
	OBJ_SHMEM,
	OBJ_FILE,
};

/*
 * Where a region maps a shared object: the object's reverse map, which
 * reclaim walks to take a page out of every mapping of it (the kernel's
 * i_mmap). One entry per upager_map call, trimmed and split as parts of
 * it are unmapped; protection changes do not touch it.
 */
struct object_map {
	uintptr_t start, end;  /* [start, end) */
	uint64_t pgoff;        /* object page index at start */
	struct object *anon;   /* a private mapping: its ANON layer; NULL: shared */
	struct object_map *next;
};

struct object {
	enum object_kind kind;
	uint64_t pages;         /* size of the entry array, in pages */
	uint64_t base;          /* page index of entry 0 (ANON layers of a private mapping) */
	uint64_t mapped_pages;  /* pages of it regions map directly */
	struct page_entry *pte; /* page entries, lazily backed by the kernel */
	size_t pte_bytes;

	/* ANON: the shared object whose pages this layer copies on first
	 * write, or NULL (demand-zero memory). Holds a reference on it. */
	struct object *backing;

	/* Shared objects (SHMEM, FILE) only. */
	/* Shared with a forked process, which maps the same memfd: its
	 * pages stay in memory (they take no frames), the memfd is the truth
	 * about which are there, and pages come in through `window` (cache.c). */
	bool pinned;
	char *window;            /* the memfd mapped shared, for atomic fills */
	size_t window_len;
	unsigned int refs;       /* ANON layers backed by it */
	int cache_fd;            /* the memfd holding its resident pages */
	uint64_t cache_pages;    /* the memfd's size, in pages */
	struct object_map *maps; /* its reverse map */
	/* FILE only. */
	int file_fd;             /* the pager's own descriptor of the file */
	/* The file again, opened O_DIRECT (-1 where the file system cannot):
	 * whole pages go through it, so that the kernel's page cache does
	 * not keep a second copy of what the budget already holds. */
	int direct_fd;
	bool file_writable;      /* opened for writing: may be mapped shared and writable */
	/* A shared mapping of it was writable: its cached pages may differ
	 * from the file. Until then they cannot, and leave without being
	 * looked at (no checksums, no read-back). */
	bool written;
	dev_t dev;               /* identity: one object per file per pager */
	ino_t ino;
	/* Checksum of each cached page as last read from or written to the
	 * file: a page that still matches is clean (no write-back). */
	XXH128_hash_t *sums;
	size_t sums_bytes;
	struct object *next;     /* the pager's list of shared objects */
};

/* A new anonymous object of @pages pages. Returns 0 or -ENOMEM. */
int object_new_anon(uint64_t pages, struct object **out);

/* A new ANON layer for a private mapping of @backing's pages
 * [@base, @base + @pages); takes a reference on @backing. 0 or -ENOMEM. */
int object_new_layer(struct object *backing, uint64_t base, uint64_t pages,
		     struct object **out);

/* A new shared anonymous object of @pages pages, with its cache.
 * Returns 0 or -errno (memfd_create, ftruncate). */
int object_new_shmem(uint64_t pages, struct object **out);

/*
 * A new file object for the file open as @fd (its own descriptor is a
 * duplicate; @fd stays the caller's), able to hold @pages pages.
 * Returns 0 or -errno.
 */
int object_new_file(int fd, uint64_t pages, struct object **out);

/* Free @obj and its cache, and drop its reference on its backing (which
 * the caller must free when that was the last: see object_is_unused()).
 * NULL is fine. */
void object_free(struct object *obj);

/* A shared object no region maps and no layer references. */
static inline bool object_is_unused(const struct object *obj)
{
	return !obj->mapped_pages && !obj->refs;
}

static inline bool object_is_shared(const struct object *obj)
{
	return obj->kind != OBJ_ANON;
}

/* Give file object @obj the descriptors of @fd (its own duplicate, and
 * the O_DIRECT one), closing those it had. 0 or -errno. */
int object_file_reopen(struct object *obj, int fd);

/* Read or write a file object's pages at byte @off: whole pages through
 * the O_DIRECT descriptor, a partial last page through the other.
 * read: bytes read (short only at the end of the file) or -errno;
 * write: 0 or -errno. */
ssize_t object_file_read(struct object *obj, void *buf, size_t len, uint64_t off);
int object_file_write(struct object *obj, const void *buf, size_t len, uint64_t off);

/* Grow a shared object so it can hold @pages pages (entry array, cache,
 * checksums). Returns 0 or -errno. Never shrinks. */
int object_grow(struct object *obj, uint64_t pages);

/* Grow an anonymous object's entry array to index @end (exclusive,
 * offsets from its base). 0 or -ENOMEM. */
int object_grow_anon(struct object *obj, uint64_t end);

static inline struct page_entry *object_entry(struct object *obj, uint64_t pgoff)
{
	return &obj->pte[pgoff - obj->base];
}

/* Pages of @obj from @pgoff on, at most @max, in state @state and not
 * poisoned; for PAGE_SWAPPED in consecutive slots too (one I/O reads
 * them). At least 1: the page at @pgoff is counted without a look. */
uint64_t object_run(struct object *obj, uint64_t pgoff, uint64_t max, enum page_state state);

/* pread/pwrite all of @len bytes at @off, through short transfers and
 * EINTR. pread_full: bytes read (fewer only at the end of the file) or
 * -errno; pwrite_full: 0 or -errno. */
ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * Visit the entries of [pgoff, pgoff + n) that may hold something, skipping
 * untouched stretches of the entry array cheaply (mincore on the array):
 * @fn sees (ctx, pgoff, entry) for each entry not ABSENT, or ABSENT with
 * a slot or flags.
 */
void object_for_each_used(struct object *obj, uint64_t pgoff, uint64_t n,
			  void (*fn)(void *ctx, uint64_t pgoff, struct page_entry *e),
			  void *ctx);

/* Record that [start, end) maps @obj from @pgoff on; @anon: the ANON layer
 * of a private mapping, NULL for a shared one. 0 or -ENOMEM. */
int object_map_add(struct object *obj, uintptr_t start, uintptr_t end, uint64_t pgoff,
		   struct object *anon);

/* Forget that [start, end) maps @obj (parts of entries are trimmed or
 * split). 0, or -ENOMEM when a split could not allocate. */
int object_map_remove(struct object *obj, uintptr_t start, uintptr_t end);

/* In a forked child (fork.c): reset the pools' locks. */
void object_fork_child(void);

#endif /* UPAGER_OBJECT_H */
