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

/* A store of the caller's own for evicted pages (see "a store of your
 * own" below). */
struct upager_store_ops;

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
	/* Evicted pages go to this store instead of the swap file (only
	 * with a budget; swap_path, swap_size and the SWAP_* flags are then
	 * not used). The table is copied at upager_open(). NULL: the swap
	 * file. A libupager from before store_ops refuses the member
	 * (-EINVAL, logged), as it refuses every member it does not know. */
	const struct upager_store_ops *store_ops;
	/* Passed, untouched, to each of store_ops' calls. */
	void *store_ctx;
	/* The compressed tier, with a budget (UPAGER_COMPRESS_*): evicted
	 * pages are kept compressed in memory, in a pool that counts
	 * against max_resident (the budget gives up a frame for each page
	 * of memory the pool holds), in front of the swap store: pages that
	 * compress badly go straight to the swap store, pages of one 64-bit
	 * word repeated are kept as the word, and when the pool is full its
	 * least recently stored pages are written to the swap store. 0
	 * picks the default (off, for now). */
	unsigned int compress;
	/* The most of max_resident the pool may hold, in percent (1-90);
	 * 0 picks the default (20, zswap's max_pool_percent). */
	unsigned int compress_pool_pct;
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
/* max_resident caps the whole process's resident set (VmRSS, as a memory
 * cgroup's limit does), not only the pages this pager holds: the pager
 * measures what it does not page (/proc/self/statm, every 10-100 ms) and
 * keeps its own pages within the cap less that, never below a sixteenth
 * of the budget (then it warns once: the cap cannot be held). For one
 * pager per process (upager-run's); two such pagers would each count
 * the other's pages as unpaged. */
#define UPAGER_OPEN_BUDGET_PROCESS (1u << 4)

/* upager_options.compress: which compressor (0: the default). */
#define UPAGER_COMPRESS_OFF 1
#define UPAGER_COMPRESS_LZ4 2
#define UPAGER_COMPRESS_ZSTD 3 /* -EINVAL from upager_open() when built without zstd */

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
 *   UPAGER_COMPRESS=off|lz4|zstd  the compressed tier (compress)
 *   UPAGER_COMPRESS_POOL=PERCENT  its pool's share of the budget, 1-90
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
 *   -EINVAL  bad option, or @out is NULL; store_ops without a budget,
 *            without write or read, with a capacity below 64 slots, or
 *            setting a member this library does not know
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
 * nothing is discarded), or the kernel's -errno for a discard it refused
 * (the pages from there on keep their bytes).
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

/* ---- a store of your own ------------------------------------------------- */

/*
 * Where a pager with a budget keeps the pages it evicts, when the swap
 * file will not do (pages on another device, in a database, across the
 * network): the store keeps the contents of numbered *slots*, each one
 * page, and upager does the rest. upager allocates the slots (numbers in
 * [0, capacity)), counts their references, decides when a slot is free,
 * and checksums every page it writes (XXH3-128, kept in upager's memory):
 * a page a store reads back wrong is never served; the touch that needed
 * it gets SIGBUS (logged; counted in checksum_failures), as does one whose
 * read the store fails. A store therefore needs no checksums and no
 * allocator of its own.
 *
 * Calls come from upager's handler and reclaim threads, with every signal
 * blocked, several at once (each with its own batch): the ops must be
 * thread-safe. They must not touch memory this pager pages (the thread
 * that would serve that fault may be the caller), and should not wait
 * for anything a fault of this pager waits for. No two calls act on the
 * same slot at once, except reads of it.
 *
 * A forked child does not share the store: in the child, pages that were
 * in the store at the fork raise SIGBUS when touched and nothing more is
 * evicted; the child never calls the ops (not even close).
 */

/* One page of a batch. */
struct upager_store_req {
	uint64_t slot; /* in [0, capacity) */
	void *page;    /* one page (sysconf(_SC_PAGESIZE) bytes), page-aligned */
	/* Set by the store: 0 (written; or read: the page holds what the
	 * slot's last successful write put there), or a negative errno
	 * value. upager sets it to -EIO before the call, so a request the
	 * store does not complete has failed. */
	int result;
};

/* The most requests in one batch. */
#define UPAGER_STORE_BATCH_MAX 64u

struct upager_store_ops {
	size_t sz; /* sizeof(struct upager_store_ops), set by UPAGER_STORE_OPS() */
	/* Slots the store can hold (>= 64, the least a pager needs); when
	 * every one is in use, pages that would be evicted stay and a touch
	 * that needs a frame gets SIGBUS until some are freed (swap_full). */
	uint64_t capacity;
	/*
	 * Write @n (1 to UPAGER_STORE_BATCH_MAX) pages, reqs[i].page to
	 * reqs[i].slot, and return when each has completed (the batch is
	 * the unit of submission and of completion: a store with
	 * asynchronous I/O submits all @n, then waits). Returns 0 when every
	 * request's result says how it went, or a negative errno value when
	 * the whole batch failed with it. A slot is written again only
	 * after it was freed, or by a rewrite of the same page in place.
	 * A failed write costs nothing but the eviction: the page stays in
	 * memory. Required.
	 */
	int (*write)(void *ctx, struct upager_store_req *reqs, unsigned int n);
	/*
	 * Read @n (1 to UPAGER_STORE_BATCH_MAX) slots into reqs[i].page, as
	 * write does. Only slots whose last write succeeded are read.
	 * Required.
	 */
	int (*read)(void *ctx, struct upager_store_req *reqs, unsigned int n);
	/* @slot holds nothing any more (until its next write): the store
	 * may let go of its space. Optional (NULL). */
	void (*free)(void *ctx, uint64_t slot);
	/* The pager is closing: no call follows. Optional (NULL). */
	void (*close)(void *ctx);
	/* New members go here; a library that does not know one refuses a
	 * table that sets it (-EINVAL, logged). */
};

/* Zero-initialised store ops with the size member set. Usage:
 *   struct upager_store_ops ops = UPAGER_STORE_OPS(.capacity = 1 << 20,
 *           .write = my_write, .read = my_read);
 * (a static table is written { .sz = sizeof(struct upager_store_ops),
 * ... }: C takes no compound literal there). */
#define UPAGER_STORE_OPS(...) \
	((struct upager_store_ops){ .sz = sizeof(struct upager_store_ops), __VA_ARGS__ })

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
	/* The compressed tier (upager_options.compress; all 0 without it). */
	uint64_t pool_bytes;       /* memory the pool holds: as many frames withheld from the budget */
	uint64_t pool_pages;       /* pages in the pool now, compressed */
	uint64_t pool_compressed_bytes; /* ... their compressed size */
	/* Over every page stored compressed so far: their bytes over
	 * pool_stored_bytes, in percent (0: none yet). */
	uint64_t compress_ratio_pct;
	uint64_t pool_stored;      /* pages stored compressed in the pool */
	uint64_t pool_stored_bytes; /* ... their compressed size */
	uint64_t same_filled;      /* pages of one word repeated, kept as the word: no space, no I/O */
	uint64_t compress_rejected; /* pages that compressed badly: written to swap instead */
	uint64_t pool_written_back; /* pool pages written to swap to make room (pool full) */
	/* With UPAGER_OPEN_BUDGET_PROCESS (else 0): the process's resident
	 * cap, the frames the pager may use now (the cap less what it does
	 * not page), and how the highest resident set measured divided:
	 * the pager's pages, the rest ("unpaged": text, libraries, stacks,
	 * small and shared mappings, upager's own memory), and of the rest
	 * upager's frame table and staging bitmap. unpaged_over_cap is 1
	 * once the unpaged part alone left the pager less than its floor
	 * (a sixteenth of the budget): the cap could not be held. */
	uint64_t rss_cap_pages;
	uint64_t frame_limit_pages;
	uint64_t peak_rss_pages;
	uint64_t peak_paged_pages;
	uint64_t peak_unpaged_pages;
	uint64_t peak_own_pages;
	uint64_t unpaged_over_cap;
	/* Swap I/O submissions: io_uring_enter() calls that submitted
	 * requests (each at least one doorbell to the device) and the
	 * requests (SQEs) they carried, retries of short transfers included;
	 * SQEs over submits is the batching, submits over pages the cost. */
	uint64_t swap_read_submits;
	uint64_t swap_read_sqes;
	uint64_t swap_write_submits;
	uint64_t swap_write_sqes;
};

#define UPAGER_STATS() ((struct upager_stats){ .sz = sizeof(struct upager_stats) })

/*
 * Copy @pager's statistics into @stats, whose sz member must be set.
 * Returns 0, or -EBADF, -EINVAL (@stats NULL or sz too small). Thread-safe;
 * counters are read without stopping the handlers, so they are each
 * exact but not a single atomic snapshot.
 */
UPAGER_API int upager_stats_read(struct upager *pager, struct upager_stats *stats);

/* The latency distributions upager_stats_hist() copies. */
enum upager_hist_id {
	UPAGER_HIST_FAULT_SERVICE = 0, /* a fault's service, read to page in place (service_ns_*) */
	UPAGER_HIST_SWAP_READ = 1,     /* a swap read batch, submission to completion */
	UPAGER_HIST_SWAP_WRITE = 2,    /* a swap write batch */
};

/* Samples between lower_ns and upper_ns, both included. */
struct upager_hist_bucket {
	uint64_t lower_ns;
	uint64_t upper_ns;
	uint64_t count;
};

/* The most buckets a histogram has: one per value below 16 ns, then 16
 * per power of two (each at most 6.25% of its values wide). */
#define UPAGER_HIST_MAX_BUCKETS 976

struct upager_hist {
	size_t sz;                          /* sizeof(struct upager_hist), set by UPAGER_HIST() */
	struct upager_hist_bucket *buckets; /* the caller's array ... */
	uint32_t capacity;                  /* ... of this many entries */
	uint32_t nbuckets;                  /* out: the non-empty buckets, ascending */
	uint64_t count;                     /* out: samples */
	uint64_t max_ns;                    /* out: the largest sample */
};

#define UPAGER_HIST(array, n)                                                  \
	((struct upager_hist){ .sz = sizeof(struct upager_hist), .buckets = (array), \
			       .capacity = (n) })

/*
 * Copy one of @pager's latency distributions (@which, UPAGER_HIST_*): its
 * non-empty buckets in ascending order into @hist->buckets, their number
 * in @hist->nbuckets, the sample count and the largest sample. The swap
 * histograms are empty without a frame budget. UPAGER_HIST_MAX_BUCKETS
 * entries always suffice. Returns 0, or -EBADF, -EINVAL (@hist NULL, sz
 * too small, @which unknown, buckets NULL with a capacity), -ERANGE (more
 * non-empty buckets than @hist->capacity: the first capacity are copied,
 * nbuckets says how many there are). Thread-safe, read as
 * upager_stats_read() reads.
 */
UPAGER_API int upager_stats_hist(struct upager *pager, int which, struct upager_hist *hist);

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
