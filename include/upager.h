/* SPDX-License-Identifier: MIT */
/*
 * upager.h - the one public header of libupager, a user-space paging runtime.
 *
 * A pager takes over the paging of the memory regions it maps: pages are
 * brought in by upager on first touch (userfaultfd), not by the kernel.
 *
 * Conventions, for every function below:
 *  - A fallible function returns int: >= 0 on success, a negative errno
 *    value on failure. errno itself is never the channel.
 *  - Failures are also reported once, with context, through the log
 *    callback (upager_set_log()).
 *  - Option and statistics structs are extensible: their first member is
 *    their size, set by the UPAGER_OPTS()/UPAGER_STATS() initialisers. A
 *    caller compiled against an older, smaller struct keeps working.
 *  - Thread safety: all functions taking a struct upager * may be called
 *    concurrently from any thread, except upager_close(), which must not
 *    race with other calls on the same pager.
 */
#ifndef UPAGER_H
#define UPAGER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(UPAGER_STATIC)
#define UPAGER_API __attribute__((visibility("default")))
#else
#define UPAGER_API
#endif

#define UPAGER_VERSION_MAJOR 0
#define UPAGER_VERSION_MINOR 1

/* An opaque pager instance: one userfaultfd, its handler threads, its
 * region tree and its statistics. */
struct upager;

/* ---- options ------------------------------------------------------------ */

struct upager_options {
	size_t sz; /* sizeof(struct upager_options), set by UPAGER_OPTS() */
	/* Handler threads serving faults; 0 picks the default: one per CPU
	 * the process may run on (at most 8; one more with a budget), each
	 * pinned to its CPU, so that a fault is served on the CPU of the
	 * thread that took it (a wake-up across CPUs costs far more than the
	 * round trip on one). Threads asked for are not pinned unless
	 * UPAGER_OPEN_PIN_HANDLERS says where. */
	unsigned int handler_threads;
	/* Largest run of pages installed for one sequential fault
	 * (fault-around); 0 picks the default (256), 1 disables it. */
	unsigned int fault_around_max;
	/* UPAGER_OPEN_* flags. */
	unsigned int flags;
	/* With UPAGER_OPEN_PIN_HANDLERS: handler thread i runs on CPU
	 * (handler_cpu + i) modulo the CPUs online. */
	unsigned int handler_cpu;
	/* Frame budget: the most memory, in bytes (rounded down to pages),
	 * the pager keeps resident for its regions; the excess goes to the
	 * swap store; at least 256 KiB. 0: no budget, pages are never
	 * evicted (UPAGER_MAX_RESIDENT=0 is refused: unset it instead). */
	uint64_t max_resident;
	/* Swap store file, created with mode 0600 and removed at once
	 * (unless UPAGER_OPEN_SWAP_KEEP); it must not exist (-EEXIST,
	 * logged). An existing directory: a fresh file in it, so that
	 * every process given the path gets one of its own. NULL: a fresh
	 * file under $TMPDIR, else /var/tmp. Only used with a budget. */
	const char *swap_path;
	/* Swap store capacity in bytes; 0: 8 GiB; at least 64 pages
	 * (256 KiB). The file is sparse unless
	 * UPAGER_OPEN_SWAP_PREALLOCATE: disk is used as pages are evicted. */
	uint64_t swap_size;
	/* Largest swap-in, in pages, read ahead along a sequential stream
	 * included (the kernel's 2^page-cluster); 0 picks the default (128,
	 * the most), 1 turns read-ahead off. A quarter of the budget at
	 * most, so one stream cannot take every free frame. */
	unsigned int swap_readahead_max;
	/* New members go here, and lib/core/options.h's OPTS_KNOWN_END names
	 * the last one: every byte past it must be zero (tail padding
	 * included, which UPAGER_OPTS() zeroes). */
};

/* Fill unset options from UPAGER_* variables (upager_options_from_env()). */
#define UPAGER_OPEN_FROM_ENV (1u << 0)
/* Pin handler threads to CPUs (see handler_cpu). Where the handler runs
 * decides a fault's cost: on this kind of machine ~17 us when it shares the
 * faulting thread's CPU, ~30 us across CPUs. */
#define UPAGER_OPEN_PIN_HANDLERS (1u << 1)
/* Leave the swap store file in place at close. */
#define UPAGER_OPEN_SWAP_KEEP (1u << 2)
/* Allocate the swap store's disk space up front (fallocate). */
#define UPAGER_OPEN_SWAP_PREALLOCATE (1u << 3)

/* Zero-initialised options with the size member set. Usage:
 *   struct upager_options o = UPAGER_OPTS(.handler_threads = 2); */
#define UPAGER_OPTS(...) \
	((struct upager_options){ .sz = sizeof(struct upager_options), __VA_ARGS__ })

/*
 * Fill unset (zero) members of @opts from the environment:
 *   UPAGER_THREADS=N       handler threads
 *   UPAGER_FAULT_AROUND=N  largest fault-around run, in pages (1 = off)
 *   UPAGER_HANDLER_CPU=N   pin handler threads from CPU N on
 *   UPAGER_MAX_RESIDENT=SIZE  frame budget (SIZE: bytes, or with K/M/G)
 *   UPAGER_SWAP=PATH       swap store file
 *   UPAGER_SWAP_SIZE=SIZE  swap store capacity
 *   UPAGER_SWAP_READAHEAD=N  largest swap-in, in pages (1 = no read-ahead)
 *   UPAGER_LOG=LEVEL       error | warn | info | debug (default: warn)
 * Returns 0, or -EINVAL (logged) when a variable does not parse; @opts is
 * then left unchanged. Thread-safe.
 */
UPAGER_API int upager_options_from_env(struct upager_options *opts);

/* ---- instance ----------------------------------------------------------- */

/*
 * Create a pager. @opts may be NULL for defaults.
 *
 * fork: the first upager_open() registers pthread_atfork handlers, so a
 * child made by fork() gets a pager of its own over a copy of the
 * parent's memory, evicted pages included, whichever thread forks. A
 * child made without the atfork handlers (_Fork(), clone() without
 * CLONE_VM, syscall(SYS_fork), a bare syscall instruction) is not seen by
 * the library: upager's regions are kept out of such a child
 * (MADV_DONTFORK outside the forks upager sees), so its first touch of
 * one is a SIGSEGV, never a zero page where an evicted page was. A
 * program that needs such children to keep upager memory calls
 * fork() instead (libupager-preload.so, under upager-run, does this for
 * _Fork(), clone() and syscall() itself).
 *
 * Returns 0 and stores the pager in *@out, or:
 *   -EINVAL  bad option, or @out is NULL
 *   -EPERM   userfaultfd is not allowed here (syscall refused and
 *            /dev/userfaultfd not usable)
 *   -ENOSYS  the kernel has no userfaultfd
 *   -ENOMEM, -EAGAIN  out of memory or threads
 * Thread-safe.
 */
UPAGER_API int upager_open(const struct upager_options *opts, struct upager **out);

/*
 * Unmap every region of @pager, stop its threads and free it. @pager may be
 * NULL. After this call the handle is dead: passing it to any function
 * returns -EBADF (handles are checked against the live set, not trusted;
 * no later pager is ever given a closed one's address, so a stale handle
 * stays dead).
 * Must not race with other calls on the same pager. In a forked child
 * (which cannot use its parent's pager: other calls return -ECHILD) it
 * only releases the child's copies of the pager's descriptors.
 */
UPAGER_API void upager_close(struct upager *pager);

/* ---- regions ------------------------------------------------------------ */

/* Protection bits: the values of PROT_READ / PROT_WRITE. */
#define UPAGER_PROT_NONE 0x0
#define UPAGER_PROT_READ 0x1
#define UPAGER_PROT_WRITE 0x2
#define UPAGER_PROT_EXEC 0x4

/* Map flags. Exactly one of PRIVATE or SHARED is required. */
#define UPAGER_MAP_PRIVATE (1u << 0)
/* One copy of each page, whoever maps it: writes through any mapping of
 * the object are seen through all of them (and reach its file). */
#define UPAGER_MAP_SHARED (1u << 3)
/* Place at @hint exactly, replacing what is mapped there (MAP_FIXED). */
#define UPAGER_MAP_FIXED (1u << 1)
/* Place at @hint exactly, fail with -EEXIST if anything is mapped there
 * (MAP_FIXED_NOREPLACE). */
#define UPAGER_MAP_FIXED_NOREPLACE (1u << 2)
/* Private memory charged against the commit limit, as mmap(2) charges a
 * writable private mapping without MAP_NORESERVE (by default upager's
 * mappings are MAP_NORESERVE: only its frame budget takes memory). The
 * kernel merges only mappings charged alike, so the LD_PRELOAD shim
 * passes it unless the program gave MAP_NORESERVE: then its mappings
 * split, merge, and so answer mremap(2), as they would natively. */
#define UPAGER_MAP_ACCOUNT (1u << 4)

/*
 * Map @len bytes of demand-zero anonymous memory paged by @pager, private
 * (MAP_PRIVATE | MAP_ANONYMOUS) or shared (MAP_SHARED | MAP_ANONYMOUS:
 * one copy of each page however it is mapped; evicted to the swap store
 * under a budget).
 * @hint is where to place it (a hint unless a FIXED flag is given).
 * @prot is a combination of UPAGER_PROT_*; @flags of UPAGER_MAP_*.
 * No page exists until first touch. Returns 0 and the address in *@addr, or:
 *   -EBADF   @pager is not a live pager
 *   -EINVAL  @len is 0, a FIXED @hint is unaligned, unknown @prot or
 *            @flags bits, not exactly one of PRIVATE and SHARED, or both
 *            FIXED flags
 *   -EEXIST  FIXED_NOREPLACE and the range is not free
 *   -ENOMEM  no address space (a FIXED range past the end of the address
 *            space or wrapping around), or too many mappings
 *   -EOPNOTSUPP  the running kernel lacks what this kind of mapping needs
 */
UPAGER_API int upager_map(struct upager *pager, void *hint, size_t len, int prot,
	       unsigned int flags, void **addr);

/*
 * Map @len bytes of the file open as @fd, from byte @offset, as mmap(2)
 * does: UPAGER_MAP_SHARED (writes reach the file, and every mapping of
 * it by this pager sees them at once: one copy of each page) or
 * UPAGER_MAP_PRIVATE (copy-on-write: the mapping sees the file until
 * its first write to a page, which makes the page its own and never
 * reaches the file). Pages are read from the file when first touched
 * (sequential streams read ahead); a touch of a page wholly past the end
 * of the file gets SIGBUS, and so does one whose read fails (logged).
 * Changed pages reach the file when evicted, on upager_sync(), and when
 * unmapped; until then read(2) of the file does not see them (upager's
 * pages are not the kernel's page cache). @fd stays the caller's; the
 * pager keeps its own descriptor while the file is mapped.
 * Returns 0 and the address in *@addr, or the errors of upager_map(), and:
 *   -EINVAL  @fd < 0, @offset not page aligned
 *   -EBADF   @fd is an O_PATH descriptor (as for mmap(2))
 *   -EACCES  @fd not open for reading; SHARED with PROT_WRITE and @fd not
 *            open read-write (or open for appending)
 *   -ENODEV  @fd is not a regular file
 *   -EOVERFLOW  @offset + @len wraps around
 */
UPAGER_API int upager_map_file(struct upager *pager, void *hint, size_t len, int prot,
			       unsigned int flags, int fd, uint64_t offset, void **addr);

/* upager_sync() flags. */
/* Also wait until the file's data is on its device (fdatasync). */
#define UPAGER_SYNC_DURABLE (1u << 0)

/*
 * Write the changed pages of shared file mappings in [@addr, @addr +
 * @len) to their files, as msync(MS_SYNC) does; private and anonymous
 * mappings in the range have nothing to write. Pages changed while it
 * runs may or may not be written; they stay changed for the next sync.
 * Returns 0, or -EBADF, -EINVAL (unaligned @addr, unknown @flags),
 * -ENOMEM (part of the range is in no region of @pager), -EIO (a write
 * failed; logged; the pages stay changed in memory).
 */
UPAGER_API int upager_sync(struct upager *pager, void *addr, size_t len, unsigned int flags);

/*
 * Unmap [@addr, @addr + @len) as munmap() does: pages in it are freed,
 * regions are split at the ends, and ranges in no region are ignored.
 * Returns 0, or -EBADF, -EINVAL (unaligned @addr, @len 0, wrap-around),
 * -ENOMEM (splitting needed memory).
 */
UPAGER_API int upager_unmap(struct upager *pager, void *addr, size_t len);

/*
 * Change the protection of [@addr, @addr + @len) as mprotect() does.
 * Every page of the range must belong to a region of @pager; @len 0 is a
 * successful no-op, as for mprotect().
 * Returns 0, or -EBADF, -EINVAL (unaligned @addr, bad @prot), -ENOMEM (part
 * of the range is in no region of @pager, wrap-around, or splitting needed
 * memory).
 */
UPAGER_API int upager_protect(struct upager *pager, void *addr, size_t len, int prot);

/*
 * Discard the pages of [@addr, @addr + @len) as madvise(MADV_DONTNEED)
 * does on private anonymous memory: they read as zeros afterwards, and
 * their swap slots are freed at once. Parts of the range in no region of
 * @pager are ignored (the caller may hand them to madvise()).
 * Returns 0, or -EBADF, -EINVAL (unaligned @addr, wrap-around, or a
 * locked region in the range, as madvise answers for mlock'd memory:
 * nothing is discarded).
 */
UPAGER_API int upager_discard(struct upager *pager, void *addr, size_t len);

/* Fork advice for upager_advise(), as madvise() takes it. */
#define UPAGER_ADVISE_DONTFORK 1   /* MADV_DONTFORK: not in a forked child */
#define UPAGER_ADVISE_DOFORK 2     /* MADV_DOFORK: undoes DONTFORK */
#define UPAGER_ADVISE_WIPEONFORK 3 /* MADV_WIPEONFORK: zeros in a forked child */
#define UPAGER_ADVISE_KEEPONFORK 4 /* MADV_KEEPONFORK: undoes WIPEONFORK */

/*
 * Give [@addr, @addr + @len) fork advice (UPAGER_ADVISE_*) as madvise()
 * does, and answer as it answers: the kernel gets the advice for the whole
 * range, @pager's regions in it keep it too (a forked child's pager
 * honours it: a DONTFORK region is not in the child, a WIPEONFORK region
 * reads as zeros there however many of its pages were swapped out).
 * Returns 0, or -EBADF, -EINVAL (unaligned @addr, bad @advice, wrap-around,
 * WIPEONFORK on a shared or file mapping: the advice then holds for the
 * range below it, as for madvise), -ENOMEM (part of the range is not
 * mapped; the rest has the advice). Thread safe.
 */
UPAGER_API int upager_advise(struct upager *pager, void *addr, size_t len, int advice);

/*
 * Give [@addr, @addr + @len) up to the caller: every page upager holds of
 * it outside the mapping (staged, in swap) is brought back into it first,
 * then upager stops paging the range (its faults are no longer caught; it
 * leaves the pager's regions, whose frames and slots are freed). The
 * mapping stays, with the same bytes; pages never touched stay untouched,
 * so that another userfaultfd registered over the range next sees their
 * first touch. Parts of the range in no region are ignored. The caller's
 * thread brings the pages in by reading them: no lock of the pager may be
 * held, and pages the program cannot read (PROT_NONE, write-only) and
 * mappings of shared objects are refused.
 * Returns 0, or -EBADF, -EINVAL (unaligned @addr, wrap-around), -EACCES
 * (a page to bring back cannot be read), -EOPNOTSUPP (a shared object's
 * mapping), -EBUSY (pages kept leaving memory as they were brought back),
 * -ENOMEM. Thread safe.
 */
UPAGER_API int upager_release(struct upager *pager, void *addr, size_t len);

/* What upager_query() found. */
#define UPAGER_QUERY_NONE 0 /* no page of the range is in a region of the pager */
#define UPAGER_QUERY_PART 1 /* some pages are */
#define UPAGER_QUERY_ALL 2  /* every page is */

/*
 * How much of [@addr, @addr + @len) @pager maps (UPAGER_QUERY_*); when
 * @prot is not NULL and @addr is in a region, *@prot is that region's
 * protection. For callers that sit between a program and the kernel, as
 * the LD_PRELOAD shim does. Returns the answer (>= 0), or -EBADF, -EINVAL.
 */
UPAGER_API int upager_query(struct upager *pager, const void *addr, size_t len, int *prot);

/* ---- statistics ----------------------------------------------------------- */

struct upager_stats {
	size_t sz; /* sizeof(struct upager_stats), set by UPAGER_STATS() */
	uint64_t faults;           /* fault messages handled */
	uint64_t faults_read;      /* ... of which read faults */
	uint64_t faults_write;     /* ... of which write faults */
	uint64_t faults_raced;     /* page was already there (EEXIST) */
	uint64_t faults_retried;   /* ioctl retried on EAGAIN */
	uint64_t faults_dropped;   /* range vanished under the fault */
	uint64_t zero_fills;       /* pages installed as zero pages */
	uint64_t fault_around_pages; /* pages installed ahead of a fault */
	uint64_t pages_resident;   /* pages in memory for the pager's regions */
	uint64_t regions;          /* regions in the tree */
	/* Handler service time, from reading the fault to the page being in
	 * place, in nanoseconds (histogram percentiles; 0 when no fault). */
	uint64_t service_ns_p50;
	uint64_t service_ns_p99;
	uint64_t service_ns_max;
	/* Paging, with a frame budget (all 0 without one). A page evicted
	 * leaves memory by one of writebacks, clean_drops, zero_drops. */
	uint64_t budget_pages;     /* the frame budget */
	uint64_t staged;           /* pages moved to the inactive list */
	uint64_t reactivations;    /* ... touched there and brought back */
	uint64_t writebacks;       /* dirty pages written to swap */
	uint64_t clean_drops;      /* pages evicted unmodified since swap-in: no I/O */
	uint64_t zero_drops;       /* all-zero pages evicted: no I/O, no slot */
	uint64_t swapins;          /* pages read back from swap */
	uint64_t readahead_pages;  /* ... of which read ahead of a fault */
	uint64_t swap_full;        /* evictions refused for want of a slot */
	uint64_t sigbus;           /* accesses answered with SIGBUS */
	uint64_t slots_in_use;     /* swap slots holding pages */
	uint64_t swap_capacity_slots;
	uint64_t swap_read_ios;    /* I/O requests (after coalescing) */
	uint64_t swap_write_ios;
	uint64_t checksum_failures; /* slots that failed their checksum */
	/* Swap I/O batch latency, nanoseconds. */
	uint64_t swap_read_ns_p50;
	uint64_t swap_read_ns_p99;
	uint64_t swap_write_ns_p50;
	uint64_t swap_write_ns_p99;
	/* Shared objects (shared anonymous memory, files). */
	uint64_t faults_minor;     /* faults on pages already in memory, mapped without I/O */
	uint64_t file_reads;       /* pages read from files */
	uint64_t file_writes;      /* pages written back to files */
	uint64_t cow_breaks;       /* private copies made by a first write to a private mapping */
	uint64_t cache_pages;      /* shared objects' pages in memory (one per page, however mapped) */
	uint64_t private_shared_pages; /* pages of private mappings still the object's own page */
	/* Changes the program made to upager's memory itself (munmap,
	 * mremap, madvise), followed by the pager. */
	uint64_t events;
	uint64_t faults_deferred;  /* faults a handler passed to the worker thread */
	/* UFFDIO_MOVE calls that moved more pages than the kernel reported,
	 * found with pagemap and counted as moved (reclaim.c). */
	uint64_t moves_undercounted;
	/* Staged pages brought back beside a touched one, staged with it
	 * (counted apart from reactivations: no fault of their own). */
	uint64_t reactivated_around;
};

#define UPAGER_STATS() ((struct upager_stats){ .sz = sizeof(struct upager_stats) })

/*
 * Copy @pager's statistics into @stats, whose sz member must be set.
 * Returns 0, or -EBADF, -EINVAL (@stats NULL or sz too small). Thread-safe;
 * counters are read without stopping the handlers, so they are each
 * exact but not a single atomic snapshot.
 */
UPAGER_API int upager_stats_read(struct upager *pager, struct upager_stats *stats);

/* ---- logging ---------------------------------------------------------------- */

enum upager_log_level {
	UPAGER_LOG_ERROR = 0,
	UPAGER_LOG_WARN = 1,
	UPAGER_LOG_INFO = 2,
	UPAGER_LOG_DEBUG = 3,
};

typedef void (*upager_log_fn)(enum upager_log_level level, const char *fmt,
			      va_list args);

/*
 * Replace the log callback (process-wide); NULL silences logging. The
 * default prints to stderr messages at or below UPAGER_LOG (default warn).
 * Returns the previous callback. Thread-safe. The callback may be called
 * from upager's handler threads and must not touch upager regions.
 */
UPAGER_API upager_log_fn upager_set_log(upager_log_fn fn);

/* ---- version --------------------------------------------------------------- */

/*
 * The library's version, "MAJOR.MINOR.PATCH" (a static string; the
 * version this header came with may differ when the library was
 * upgraded under a program). Thread-safe. Since UPAGER_0.2.
 */
UPAGER_API const char *upager_version(void);

#ifdef __cplusplus
}
#endif

#endif /* UPAGER_H */
