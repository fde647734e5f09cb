/* SPDX-License-Identifier: MIT */
/*
 * aspace.h - the address-space seam: the paged process's memory as the
 * engine sees it from outside its page tables.
 *
 * The engine decides what a page of the paged process is; the kernel
 * holds the page tables. Every call the engine makes on the paged
 * process's address space (not on upager's own memory: the frame table,
 * the staging area, page entries and store buffers are upager's and are
 * mapped directly) goes through here: map, unmap, protect, move (mremap)
 * and advise mappings; zap pages (MADV_DONTNEED, MADV_REMOVE); read and
 * write bytes past the page protection (/proc/PID/mem); ask which pages
 * are present and which physical page each is (/proc/PID/pagemap), which
 * pages are in memory (mincore); break copy-on-write; read the memory
 * map (/proc/PID/maps).
 *
 * The calling process is one implementation (aspace_self_open: the
 * system calls themselves and /proc/self); a daemon paging another
 * process is another (a pidfd, process_vm_readv/writev,
 * process_madvise, the process's /proc/PID files, and the client's own
 * userfaultfd for what only the process itself can do), which is why
 * every address is a number, not a pointer, and no call assumes the
 * caller can touch the memory it names.
 *
 * The contract every implementation keeps:
 *   - A fallible call returns >= 0 or -errno, with the kernel's errno
 *     for the same call on the process (mmap's answer is mmap's).
 *   - Nothing here calls malloc: the fault path and calls made under the
 *     pager's lock for writing use it (a malloc can map memory through
 *     that very pager under the LD_PRELOAD shim).
 *   - Calls are thread-safe; an implementation keeps no per-call state.
 *   - Fork: in the child, before anything else, fork_child() makes the
 *     handle stand for the child (descriptors opened by the parent name
 *     the parent's memory).
 *
 * The engine calls the inline dispatchers below, never the ops directly.
 */
#ifndef UPAGER_ASPACE_H
#define UPAGER_ASPACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct aspace;

/* aspace_pages(): per page, as /proc/PID/pagemap has it. */
#define ASPACE_PAGE_PRESENT (1ull << 63)
/* The bits that name the physical page: equal words of one address at
 * two moments mean the same page stayed mapped (the frame number reads
 * as 0 without CAP_SYS_ADMIN, leaving present alone). */
#define ASPACE_PAGE_ID (ASPACE_PAGE_PRESENT | ((1ull << 55) - 1))
/* A swap-type entry: a page is there but not mapped this moment, as
 * while the kernel migrates it (compaction) or has swapped it out. */
#define ASPACE_PAGE_SWAP (1ull << 62)

/* aspace_zap()'s ways: MADV_DONTNEED's (private pages dropped, shared
 * ones unmapped) and MADV_REMOVE's (the backing store freed too). */
enum aspace_zap {
	ASPACE_ZAP_DONTNEED,
	ASPACE_ZAP_REMOVE,
};

/* What a kernel mapping is, where calls tell kinds apart (MADV_FREE
 * stops with EINVAL at the first that is not private anonymous). */
enum aspace_kind {
	ASPACE_ANON,   /* private anonymous memory (the heap, the stack, [anon:NAME]) */
	ASPACE_SHARED, /* MAP_SHARED, of a file or anonymous */
	ASPACE_FILE,   /* private, of a file or special ([vdso], [vvar]) */
};

/* One kernel mapping, [start, end). */
struct aspace_mapping {
	uintptr_t start;
	uintptr_t end;
	enum aspace_kind kind;
};

/* One implementation; every op is required. Their meaning is that of the
 * dispatchers below. */
struct aspace_ops {
	const char *name;
	void (*close)(struct aspace *as);
	int (*fork_child)(struct aspace *as);

	int (*map)(struct aspace *as, uintptr_t hint, size_t len, int prot, int flags, int fd,
		   off_t off, uintptr_t *out);
	int (*unmap)(struct aspace *as, uintptr_t addr, size_t len);
	int (*protect)(struct aspace *as, uintptr_t addr, size_t len, int prot);
	int (*remap)(struct aspace *as, uintptr_t old, size_t old_len, size_t new_len, int flags,
		     uintptr_t new_addr, uintptr_t *out);
	int (*advise)(struct aspace *as, uintptr_t addr, size_t len, int advice);
	int (*zap)(struct aspace *as, uintptr_t addr, size_t len, enum aspace_zap how);
	int (*break_cow)(struct aspace *as, uintptr_t addr);

	ssize_t (*read)(struct aspace *as, uintptr_t addr, void *buf, size_t len);
	ssize_t (*write)(struct aspace *as, uintptr_t addr, const void *buf, size_t len);
	int (*pages)(struct aspace *as, uintptr_t addr, uint32_t n, uint64_t *out);
	int (*resident)(struct aspace *as, uintptr_t addr, size_t len, unsigned char *vec);
	int (*rss)(struct aspace *as, uint64_t *pages);
	int (*mappings)(struct aspace *as, uintptr_t start, uintptr_t end,
			struct aspace_mapping *out, int max);
};

/* An implementation embeds this as the first member of its own type. */
struct aspace {
	const struct aspace_ops *ops;
};

/*
 * The calling process. @page_files: open its /proc/self/mem, pagemap and
 * statm now (aspace_read/write/pages/rss need them; a pager without a
 * frame budget never asks, and keeps three descriptors fewer): without,
 * those answer -EBADF. 0 or -errno (logged).
 */
int aspace_self_open(int page_files, struct aspace **out);

/* Let go of the handle. NULL is fine. Not concurrent with other calls. */
static inline void aspace_close(struct aspace *as)
{
	if (as)
		as->ops->close(as);
}

/* In a forked child, single-threaded, first: stand for the child from now
 * on. 0 or -errno (the handle then answers -EBADF where it needs files). */
static inline int aspace_fork_child(struct aspace *as)
{
	return as->ops->fork_child(as);
}

/* mmap(2) in the process: the mapping's address in *@out. 0 or -errno. */
static inline int aspace_map(struct aspace *as, uintptr_t hint, size_t len, int prot, int flags,
			     int fd, off_t off, uintptr_t *out)
{
	return as->ops->map(as, hint, len, prot, flags, fd, off, out);
}

/* munmap(2). 0 or -errno. */
static inline int aspace_unmap(struct aspace *as, uintptr_t addr, size_t len)
{
	return as->ops->unmap(as, addr, len);
}

/* mprotect(2) with PROT_* bits. 0 or -errno. */
static inline int aspace_protect(struct aspace *as, uintptr_t addr, size_t len, int prot)
{
	return as->ops->protect(as, addr, len, prot);
}

/* mremap(2) with its flags and fifth argument: the new address in *@out.
 * 0 or -errno. */
static inline int aspace_remap(struct aspace *as, uintptr_t old, size_t old_len, size_t new_len,
			       int flags, uintptr_t new_addr, uintptr_t *out)
{
	return as->ops->remap(as, old, old_len, new_len, flags, new_addr, out);
}

/* madvise(2) advice that changes no page (MADV_DONTFORK, MADV_NOHUGEPAGE,
 * MADV_POPULATE_*, ...); pages go through aspace_zap. 0 or -errno. */
static inline int aspace_advise(struct aspace *as, uintptr_t addr, size_t len, int advice)
{
	return as->ops->advise(as, addr, len, advice);
}

/* Take [addr, addr + len)'s pages out of the process (the next touch
 * faults). 0 or -errno. */
static inline int aspace_zap(struct aspace *as, uintptr_t addr, size_t len, enum aspace_zap how)
{
	return as->ops->zap(as, addr, len, how);
}

/* Give the page at @addr, shared copy-on-write with a forked process, a
 * copy of this process's own, as a write would, changing no byte. The
 * page must be mapped writable. 0 or -errno. */
static inline int aspace_break_cow(struct aspace *as, uintptr_t addr)
{
	return as->ops->break_cow(as, addr);
}

/* Copy out of (into) the process's memory whatever its protection, as
 * /proc/PID/mem does: bytes transferred (short where a page is missing:
 * the kernel does not wait for a userfaultfd here), or -errno. */
static inline ssize_t aspace_read(struct aspace *as, uintptr_t addr, void *buf, size_t len)
{
	return as->ops->read(as, addr, buf, len);
}

static inline ssize_t aspace_write(struct aspace *as, uintptr_t addr, const void *buf, size_t len)
{
	return as->ops->write(as, addr, buf, len);
}

/* @n words for the pages from @addr (ASPACE_PAGE_*): all of them, or
 * -errno (-EIO: fewer could be read). Decisions to keep or drop pages
 * rest on it. */
static inline int aspace_pages(struct aspace *as, uintptr_t addr, uint32_t n, uint64_t *out)
{
	return as->ops->pages(as, addr, n, out);
}

/* mincore(2): per page of [addr, addr + len), bit 0 set if in memory (a
 * shared mapping's page cache counts). 0 or -errno (-ENOMEM: part of the
 * range is not mapped). */
static inline int aspace_resident(struct aspace *as, uintptr_t addr, size_t len,
				  unsigned char *vec)
{
	return as->ops->resident(as, addr, len, vec);
}

/* The process's resident set in pages, as the kernel counts it (what its
 * VmHWM and getrusage's ru_maxrss peak at): for a process cap. 0 or
 * -errno (-EBADF: opened without its page files). */
static inline int aspace_rss(struct aspace *as, uint64_t *pages)
{
	return as->ops->rss(as, pages);
}

/* The kernel's mappings that intersect [start, end), whole (not clipped),
 * in address order, with their kinds: how many (at most @max), or -errno
 * (-E2BIG: more than @max). */
static inline int aspace_mappings(struct aspace *as, uintptr_t start, uintptr_t end,
				  struct aspace_mapping *out, int max)
{
	return as->ops->mappings(as, start, end, out, max);
}

#endif /* UPAGER_ASPACE_H */
