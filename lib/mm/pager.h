/* SPDX-License-Identifier: MIT */
/*
 * pager.h - the core types of libupager, and its vocabulary.
 *
 * Glossary (docs/ARCHITECTURE.md has the longer story):
 *   pager        one instance: a fault source (backend), its handler
 *                threads, a region tree, statistics. struct upager.
 *   region       upager's VMA: [start, end), protection, flags, backing
 *                object and offset. Lives in the region tree (region.h).
 *   object       what backs a region and knows where each of its pages
 *                lives (object.h): anonymous, shared anonymous, or a
 *                file. NULL: anonymous demand-zero memory of a pager
 *                without a budget, never evicted.
 *   cache        a shared object's pages in memory, in a memfd every
 *                region mapping the object maps (cache.h).
 *   page         one page_size unit of an object: absent, resident, staged,
 *                or in swap (object.h has the states).
 *   frame        one unit of the frame budget: the most pages a pager
 *                keeps in memory (frames.h).
 *   slot         a page-sized unit of the swap store, reference counted
 *                and checksummed (store.h).
 *   fault        a first touch of an absent page, reported by the backend.
 *   fault-around installing a run of pages for one fault when the fault
 *                stream is sequential (fault.h).
 *   event        a fault, or a change of the address space.
 *   backend      how faults are caught and pages installed (backend.h):
 *                userfaultfd today, mprotect + SIGSEGV later.
 *   copy-on-write  a private mapping of a shared object maps the
 *                object's page until its first write, which makes the
 *                region a copy of its own (cache.h).
 */
#ifndef UPAGER_PAGER_H
#define UPAGER_PAGER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "upager.h"
#include "mm/events.h"
#include "mm/fault.h"
#include "mm/reclaim.h"
#include "core/region.h"
#include "core/stats.h"

struct backend;
struct backend_ops;

struct upager {
	struct upager_options opts; /* defaults filled in, validated */
	unsigned long page_size;

	/* Guards tree. Faults take it for reading, map/unmap/protect for
	 * writing; a writer calls into the kernel (mmap, munmap, mprotect)
	 * with it held, so the kernel's view and the tree change together. */
	pthread_rwlock_t lock;
	struct region_tree tree;

	struct fault_streams streams; /* fault-around state, own lock */
	/* Address-space changes read from the kernel and not yet applied
	 * to the tree, and upager's own that it expects (events.h). */
	struct events events;
	struct stats stats;
	/* The frame budget, its lists, the staging area and the swap store;
	 * unused (no frames) without a budget. */
	struct reclaim rc;

	/* Shared objects (shared anonymous memory, files) some region maps
	 * (object.h); guarded by lock. A file has one object per pager. */
	struct object *shared_objects;

	/* Locked memory (lock.h), guarded by lock: pages of REGION_LOCKED
	 * regions, and mlockall's MCL_FUTURE | MCL_ONFAULT bits in force
	 * (0: new mappings are not locked). */
	uint64_t locked_pages;
	bool lock_refusal_said;  /* a lock beyond lock_limit() was logged (once: the kernel says nothing) */
	int lock_future;

	const struct backend_ops *be_ops;
	struct backend *be;
	/* The paged process's address space (os/aspace.h): every call on
	 * its mappings and pages goes through it. The calling process's
	 * unless pager_open_on() was given another. */
	struct aspace *as;

	pid_t owner;              /* the process it serves (a fork child: itself) */
	struct upager *next_live; /* the live-pager set, see pager.c */

	/* fork (fork.c): results carried from the parent's prepare into
	 * the child, and a child's pager that could not be rebuilt. */
	int fork_store_err;
	int fork_err;
	bool broken;
};

/* The live-pager set, for fork.c: its lock is held across a fork. */
void pager_live_lock(void);
void pager_live_unlock(void);
void pager_live_reinit(void); /* in the child */
struct upager *pager_live_first(void);

/* Apply one address-space change the program made (events.h) to the
 * region tree and the objects. Pager lock held for writing. */
void pager_apply_event(struct upager *p, const struct event *e);

/* A fault at @addr in no region, that the kernel reported all the same:
 * if a region was grown in place (mremap, which raises no event), the
 * tree follows. Takes the pager's lock for writing. Returns whether the
 * tree now covers @addr. */
bool pager_follow_growth(struct upager *p, uintptr_t addr);

/* The pages of @piece are gone from the kernel (@resident of them were
 * in memory, for regions without an object): let go of everything that
 * held them (frames, staging pages, slots), and of the objects with
 * their last mapped page. Pager lock held for writing. (pager.c) */
void pager_forget_piece(struct upager *p, const struct region *piece, uint64_t resident);
/* Pages of [start, end) that the kernel has in memory (mincore). */
uint64_t pager_count_resident(const struct upager *p, uintptr_t start, uintptr_t end);

/* Arguments every mapping call checks the same way. */
#define PAGER_VALID_PROT (UPAGER_PROT_READ | UPAGER_PROT_WRITE | UPAGER_PROT_EXEC)
#define PAGER_VALID_MAP_FLAGS (UPAGER_MAP_PRIVATE | UPAGER_MAP_SHARED | UPAGER_MAP_FIXED | \
			       UPAGER_MAP_FIXED_NOREPLACE | UPAGER_MAP_ACCOUNT)
#define PAGER_SHARING (UPAGER_MAP_PRIVATE | UPAGER_MAP_SHARED)

static inline bool pager_is_aligned(const struct upager *p, uintptr_t v)
{
	return !(v & (p->page_size - 1));
}

/* Round @len up to pages; 0 when it overflows. */
static inline size_t pager_page_round(const struct upager *p, size_t len)
{
	size_t r = (len + p->page_size - 1) & ~(size_t)(p->page_size - 1);

	return r < len ? 0 : r;
}

/*
 * Map @size bytes from page @pgoff of a shared object at @hint: the file
 * open as @fd, or (@fd -1) new shared anonymous memory; shared, or
 * (UPAGER_MAP_PRIVATE) privately through a new ANON layer. Arguments are
 * checked already. (map-object.c)
 */
int pager_map_object(struct upager *p, int fd, void *hint, size_t size, int prot,
		     unsigned int flags, uint64_t pgoff, void **addr);

/* check_live() for the API entries of other files (advice.c,
 * follow.c): 0 or -EBADF/-EIO (logged). */
int pager_check_live(const struct upager *p, const char *what);

/*
 * Give [to, to + to_len) the fork advice (REGION_ADVICE) each part of
 * [from, from + from_len) has, in the kernel and in the tree; past
 * from_len, the advice of the last page of [from, from + from_len), as
 * the kernel grows the last mapping with its flags. For a move or growth
 * made as a new mapping (and a copy: the shim's mremap), which must carry
 * the advice as the kernel's mremap carries a VMA's flags. Both ranges
 * the pager's and disjoint. Takes the pager's lock for writing. Returns 0
 * or -errno.
 */
int pager_copy_advice(struct upager *p, const void *from, size_t from_len, void *to,
		      size_t to_len);

/*
 * Let go of [start, end) without unmapping it (upager_release): no longer
 * caught, out of the tree, its frames and slots freed; the kernel keeps
 * the pages it has. Lock held for writing. Returns 0 or -errno.
 */
int pager_release_locked(struct upager *p, uintptr_t start, uintptr_t end);

/* Pages the kernel has in memory in [start, end) for regions without an
 * object (no budget: nothing else counts them), and their removal from
 * the statistics once the kernel let go of them. */
uint64_t pager_resident_unowned(const struct upager *p, uintptr_t start, uintptr_t end);
void pager_resident_sub(struct upager *p, uint64_t pages);

/*
 * mmap(2) as the kernel answers it; what a MAP_FIXED replaces leaves the
 * tree (and lets go of its objects) only once the kernel has replaced
 * it, so a refused MAP_FIXED leaves the old memory as it was. Pager lock
 * held for writing. Returns 0 and the address in *@out, or the kernel's
 * -errno (not logged).
 */
int pager_mmap_locked(struct upager *p, void *hint, size_t len, int prot, int flags, int fd,
		      off_t off, void **out);

/* Shared mappings in [start, end) became writable (object.h: written). */
void pager_mark_written(struct upager *p, uintptr_t start, uintptr_t end);
/* Where in [start, end) the first shared mapping of a file opened
 * read-only starts (upager refuses to make it writable, as mprotect
 * would the file's own mapping); @end when there is none. */
uintptr_t pager_first_readonly_file(struct upager *p, uintptr_t start, uintptr_t end);

/* The program's address-space calls as the kernel answers them, the
 * region tree following (follow.c; entry.c runs each with signals
 * blocked). Each takes the pager's lock for writing and returns what the system call would (0 or an address, or
 * -errno), never logging the kernel's refusals. */
/* mmap of memory upager does not page (a file, say) over its regions. */
int pager_map_over(struct upager *p, void *addr, size_t len, int prot, int flags, int fd,
		   off_t off, void **out);
/* mprotect with the program's PROT_* bits (pager_protect is
 * upager_protect's). */
int pager_mprotect(struct upager *p, void *addr, size_t len, int prot);
/* mremap with the program's flags and fifth argument. */
int pager_remap(struct upager *p, void *old, size_t old_len, size_t new_len, int flags,
		void *new_addr, void **out);
/* How much of [@addr, @addr + @len) (page-aligned) madvise(MADV_FREE)
 * reaches: the kernel walks the mappings in order and stops with EINVAL
 * at the first that is not private anonymous memory (shared, a file's),
 * having freed the ones before: where @p's address space says that one
 * starts (aspace_mappings' kinds). Takes no lock. */
size_t pager_free_reach(struct upager *p, void *addr, size_t len);

/* How the backend catches @r's faults (BACKEND_*, backend.h). */
int pager_attach_how(const struct region *r);

/* The pager's lock for writing, with the program's changes made so far
 * applied to the tree first (events.h). Unlock with pthread_rwlock_unlock. */
void pager_write_lock(struct upager *p);

/* The public calls' implementations (upager.h documents them); entry.c
 * runs each with the program's asynchronous signals blocked (signals.h).
 * Call these, not the public names, from inside the library. */
int pager_open(const struct upager_options *opts, struct upager **out);
void pager_close(struct upager *p);
/*
 * pager_open() on other seams, for the tests: the backend @ops rather
 * than userfaultfd's (tests/fake-backend.h; the pager keeps @ops for its
 * life, a fork's child included), and @store (non-NULL) rather than a
 * fresh file store (tests/fake-store.h; opts' swap_* fields then do
 * nothing; the store is the pager's from the call on, closed with it or
 * on failure; needs opts->max_resident), and @as (non-NULL) rather than
 * the calling process's address space (tests/fake-aspace.h; the pager's
 * from the call on, as @store). Call it with signals as upager_open()
 * has them (entry.c's guard), as tests do from one thread.
 */
struct store;
struct aspace;
int pager_open_on(const struct upager_options *opts, const struct backend_ops *ops,
		  struct store *store, struct aspace *as, struct upager **out);
int pager_map(struct upager *p, void *hint, size_t len, int prot, unsigned int flags,
	      void **addr);
int pager_map_file(struct upager *p, void *hint, size_t len, int prot, unsigned int flags,
		   int fd, uint64_t offset, void **addr);
int pager_sync(struct upager *p, void *addr, size_t len, unsigned int flags);
int pager_unmap(struct upager *p, void *addr, size_t len);
int pager_protect(struct upager *p, void *addr, size_t len, int prot);
int pager_discard(struct upager *p, void *addr, size_t len);
int pager_query(struct upager *p, const void *addr, size_t len, int *prot);
int pager_stats_read(struct upager *p, struct upager_stats *out);
int pager_stats_hist(struct upager *p, int which, struct upager_hist *out); /* stats-hist.c */
int pager_advise(struct upager *p, void *addr, size_t len, int advice);
int pager_release(struct upager *p, void *addr, size_t len);

/* Install the fork handlers (once per process). */
void pager_fork_init(void);

/*
 * upager's own fork protocol, for a child made by a means pthread_atfork
 * does not see (syscall(SYS_fork), clone() without CLONE_VM, _Fork(): the
 * shim interposes them, preload-fork.c): pager_fork_prepare() before the
 * call, then pager_fork_parent() in the parent (also when the call
 * failed) or pager_fork_child() in the child, before it runs any other
 * code. The program's own atfork handlers are not run.
 */
void pager_fork_prepare(void);
void pager_fork_parent(void);
void pager_fork_child(void);

#endif /* UPAGER_PAGER_H */
