/* SPDX-License-Identifier: MIT */
/*
 * test-nomalloc.c - upager's own threads never call malloc while paging.
 *
 * Under upager-run a handler's malloc can reach the preloaded allocator's
 * mmap, which the shim hands to upager_map: it takes the pager's lock for
 * writing, and a handler holding the page lock then deadlocks with the
 * others (docs/ARCHITECTURE.md). So the fault, reclaim and worker paths
 * must not allocate, nor call what does (glibc's qsort does, from 1 KiB).
 * This test interposes malloc and its kin, counts the calls made by
 * threads named upager-* while a workload pages through every path
 * (zero fill, eviction, swap-in with read-ahead, inactive pages brought
 * back alone and in runs, discard, a region grown in place by mremap,
 * found from /proc/self/maps with the pager's lock held), and expects none.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* the sanitizers own malloc: no interposing here */
#else
#define SANITIZED 0
#endif

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (4ul << 20)
#define NPAGES (8 * BUDGET / PAGE)

static atomic_bool watching;
static atomic_ulong pager_allocs;
static atomic_size_t first_size;

/* Counts a call by one of upager's threads while the test watches. */
static __attribute__((unused)) void note_alloc(size_t size)
{
	char name[16] = "";

	if (!atomic_load_explicit(&watching, memory_order_relaxed))
		return;
	if (prctl(PR_GET_NAME, name) || strncmp(name, "upager-", 7))
		return;
	if (atomic_fetch_add(&pager_allocs, 1) == 0)
		atomic_store(&first_size, size);
}

#if !SANITIZED
/* Exported (the build hides every symbol by default), so that libc's own
 * calls (fopen's, qsort's) reach these too, not only upager's. */
#define INTERPOSE __attribute__((visibility("default")))

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);

INTERPOSE void *malloc(size_t size)
{
	note_alloc(size);
	return __libc_malloc(size);
}

INTERPOSE void *calloc(size_t n, size_t size)
{
	note_alloc(n * size);
	return __libc_calloc(n, size);
}

INTERPOSE void *realloc(void *p, size_t size)
{
	note_alloc(size);
	return __libc_realloc(p, size);
}

INTERPOSE void *aligned_alloc(size_t align, size_t size)
{
	note_alloc(size);
	return __libc_memalign(align, size);
}

INTERPOSE int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	note_alloc(size);
	p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}
#endif

static uint64_t word(size_t pg, uint64_t gen)
{
	return pg * 0x9e3779b97f4a7c15ull ^ gen;
}

Test(nomalloc, paging_threads_never_allocate, .timeout = 120)
{
	char path[64];
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .swap_path = path,
					      .compress = test_compress());
	struct upager_stats st = UPAGER_STATS();
	struct upager *pager;
	uint64_t *mem, seed = 7;

	if (SANITIZED)
		cr_skip_test("a sanitizer owns malloc: nothing to interpose");
	snprintf(path, sizeof(path), "/var/tmp/upager-test-nomalloc-%d", getpid());
	unlink(path);
	cr_assert_eq(upager_open(&o, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem),
		     0);
	atomic_store(&watching, true);
	/* Zero fills and eviction; swap-ins with read-ahead; random touches:
	 * swap-ins alone and inactive pages brought back alone or with
	 * their run, their staging copies discarded in batches. */
	for (size_t pg = 0; pg < NPAGES; pg++)
		mem[pg * PAGE / 8] = word(pg, 1);
	for (size_t pg = 0; pg < NPAGES; pg++)
		cr_assert_eq(mem[pg * PAGE / 8], word(pg, 1), "page %zu", pg);
	for (int i = 0; i < 20000; i++) {
		size_t pg = rng_next(&seed) % NPAGES;

		cr_assert_eq(mem[pg * PAGE / 8], word(pg, 1), "page %zu", pg);
	}
	cr_assert_eq(upager_discard(pager, mem, NPAGES / 2 * PAGE), 0);
	cr_assert_eq(mem[0], 0);
	atomic_store(&watching, false);
	cr_assert_eq(upager_stats_read(pager, &st), 0);
	cr_log_info("reactivations %lu (+%lu around), swap-ins %lu", (unsigned long)st.reactivations,
		    (unsigned long)st.reactivated_around, (unsigned long)st.swapins);
	cr_assert_gt(st.reactivations, 0);
	cr_assert_gt(st.reactivated_around, 0);
	cr_assert_gt(st.readahead_pages, 0);
	/* Through the compressed tier: its pool was used. */
	if (test_compress())
		cr_assert_gt(st.pool_stored, 0, "no page went to the compressed pool");
	cr_assert_eq(atomic_load(&pager_allocs), 0,
		     "upager's threads allocated %lu times while paging (first: %zu bytes)",
		     atomic_load(&pager_allocs), atomic_load(&first_size));
	upager_close(pager);
}

/* A region grown in place by the program's mremap raises no event: the
 * first fault in the new part reads the kernel's view of the mapping
 * with the pager's lock held for writing, where a malloc can take it
 * again under the shim. */
Test(nomalloc, growth_in_place_never_allocates, .timeout = 60)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET);
	const size_t pages = 256;
	struct upager *pager;
	volatile uint64_t *m;
	void *hold;

	if (SANITIZED)
		cr_skip_test("a sanitizer owns malloc: nothing to interpose");
	cr_assert_eq(upager_open(&o, &pager), 0);
	/* Room after it: held, then freed just before growing. */
	hold = mmap(NULL, 2 * pages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(hold, MAP_FAILED);
	munmap((char *)hold + pages * PAGE, pages * PAGE);
	cr_assert_eq(upager_map(pager, hold, pages * PAGE, RW, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED,
				(void **)&m), 0);
	m[0] = 1;
	cr_assert_eq(mremap((void *)m, pages * PAGE, 2 * pages * PAGE, 0), (void *)m,
		     "mremap in place: %s", strerror(errno));
	atomic_store(&watching, true);
	m[pages * PAGE / 8] = 2;
	atomic_store(&watching, false);
	cr_assert_eq(m[pages * PAGE / 8], 2);
	cr_assert_eq(upager_query(pager, (void *)m, 2 * pages * PAGE, NULL), UPAGER_QUERY_ALL);
	cr_assert_eq(atomic_load(&pager_allocs), 0,
		     "upager's threads allocated %lu times following the growth (first: %zu bytes)",
		     atomic_load(&pager_allocs), atomic_load(&first_size));
	cr_assert_eq(upager_unmap(pager, (void *)m, 2 * pages * PAGE), 0);
	upager_close(pager);
}
