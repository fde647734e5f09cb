/* SPDX-License-Identifier: MIT */
/*
 * test-aspace.c - the address-space seam (os/aspace.h): the calling
 * process's implementation against the kernel's own answers, and the
 * real engine on the fake (fake-aspace.h), with calls failing on demand:
 * what the program sees must be the right bytes or SIGBUS, never a page
 * lost, and a call that failed is said so.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"
#include "fake-aspace.h"
#include "backend/backend.h"
#include "mm/pager.h"
#include "os/signals.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (256ul << 10)    /* the smallest budget: 64 pages */
#define NPAGES 256ul            /* 4x the budget */

static uint64_t word(size_t pg, size_t w)
{
	return ((pg << 32 | w) * 0x9e3779b97f4a7c15ull) | 1;
}

static void fill_page(uint64_t *p, size_t pg)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		p[w] = word(pg, w);
}

static bool page_ok(const uint64_t *p, size_t pg)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		if (p[w] != word(pg, w))
			return false;
	return true;
}

static uint64_t *page_at(uint64_t *mem, size_t pg)
{
	return mem + pg * PAGE / 8;
}

/* ---- the calling process ----------------------------------------------------- */

/* Bytes past the protection, which pages are there, zap, the memory map:
 * each as the kernel has it. */
Test(aspace, self_answers_as_the_kernel, .timeout = 30)
{
	struct aspace *as;
	struct aspace_mapping m[2];
	uint64_t pm[4], buf[PAGE / 8];
	unsigned char vec[4];
	uintptr_t a, b;

	cr_assert_eq(aspace_self_open(1, &as), 0);
	cr_assert_eq(aspace_map(as, 0, 4 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &a), 0);
	fill_page((uint64_t *)a, 0);
	cr_assert_eq(aspace_protect(as, a, 4 * PAGE, PROT_READ), 0);
	/* Written past PROT_READ, as /proc/self/mem writes. */
	fill_page(buf, 2);
	cr_assert_eq(aspace_write(as, a + 2 * PAGE, buf, PAGE), (ssize_t)PAGE);
	cr_assert(page_ok((uint64_t *)(a + 2 * PAGE), 2));
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(aspace_read(as, a, buf, PAGE), (ssize_t)PAGE);
	cr_assert(page_ok(buf, 0));

	cr_assert_eq(aspace_pages(as, a, 4, pm), 0);
	cr_assert(pm[0] & ASPACE_PAGE_PRESENT);
	cr_assert_not(pm[1] & ASPACE_PAGE_PRESENT);
	cr_assert(pm[2] & ASPACE_PAGE_PRESENT);
	cr_assert_eq(aspace_resident(as, a, 4 * PAGE, vec), 0);
	cr_assert_eq(vec[0] & 1, 1);
	cr_assert_eq(vec[1] & 1, 0);

	cr_assert_eq(aspace_zap(as, a, PAGE, ASPACE_ZAP_DONTNEED), 0);
	cr_assert_eq(aspace_pages(as, a, 1, pm), 0);
	cr_assert_not(pm[0] & ASPACE_PAGE_PRESENT);
	cr_assert_eq(*(volatile uint64_t *)a, 0);

	/* The mapping, whole, and its neighbours' boundaries kept apart:
	 * the middle page made another mapping by its protection. */
	cr_assert_eq(aspace_protect(as, a + PAGE, PAGE, PROT_NONE), 0);
	cr_assert_eq(aspace_mappings(as, a + PAGE, a + PAGE + 1, m, 1), 1);
	cr_assert_eq(m[0].start, a + PAGE);
	cr_assert_eq(m[0].end, a + 2 * PAGE);
	cr_assert_eq(aspace_mappings(as, a, a + 3 * PAGE, m, 2), -E2BIG);
	cr_assert_eq(aspace_mappings(as, a, a + 2 * PAGE, m, 2), 2);
	cr_assert_eq(m[0].start, a);
	cr_assert_eq(m[1].end, a + 2 * PAGE);

	/* The last page moves, grown, with its bytes. */
	fill_page(buf, 3);
	cr_assert_eq(aspace_write(as, a + 3 * PAGE, buf, PAGE), (ssize_t)PAGE);
	cr_assert_eq(aspace_remap(as, a + 3 * PAGE, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0, &b), 0);
	cr_assert(page_ok((uint64_t *)b, 3));
	cr_assert_eq(aspace_unmap(as, b, 2 * PAGE), 0);
	cr_assert_eq(aspace_remap(as, a, PAGE, 2 * PAGE, 0, 0, &b), -ENOMEM,
		     "growth in place over the next mapping is refused, as the kernel does");
	cr_assert_eq(aspace_unmap(as, a, 3 * PAGE), 0);
	cr_assert_eq(aspace_resident(as, a, PAGE, vec), -ENOMEM);
	aspace_close(as);
}

/* ---- the engine on the fake -------------------------------------------------- */

/* A pager with a 64-page budget on a fresh fake address space. */
static struct upager *open_on_fake(struct fake_aspace **fake)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .handler_threads = 1);
	struct upager *pager;
	int err = fake_aspace_pager(&o, fake, &pager);

	cr_assert_eq(err, 0, "pager_open_on: %s", strerror(-err));
	return pager;
}

/* NPAGES pages written, then made read-only: reclaim takes such pages out
 * by copy (pagemap, /proc/self/mem, zap), not by UFFDIO_MOVE. */
static uint64_t *map_readonly(struct upager *pager)
{
	void *mem;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, &mem), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill_page(page_at(mem, pg), pg);
	cr_assert_eq(upager_protect(pager, mem, NPAGES * PAGE, UPAGER_PROT_READ), 0);
	return mem;
}

/* Every page twice over, by the program: each one right, or SIGBUS.
 * Returns how many raised SIGBUS. */
static size_t read_all(uint64_t *mem)
{
	size_t sigbus = 0;

	for (int round = 0; round < 2; round++)
		for (size_t pg = 0; pg < NPAGES; pg++) {
			struct access_result r = probe_read((unsigned char *)page_at(mem, pg));

			if (r.sig) {
				cr_assert_eq(r.sig, SIGBUS, "page %zu: signal %d", pg, r.sig);
				sigbus++;
				continue;
			}
			cr_assert(page_ok(page_at(mem, pg), pg), "page %zu: wrong bytes", pg);
		}
	return sigbus;
}

/* The engine's calls on the paged process reach the seam: map, advice,
 * protect, the copy-out of read-only pages (pagemap, mem, zap), unmap. */
Test(aspace, engine_goes_through_the_seam, .timeout = 60)
{
	struct fake_aspace *f;
	struct upager *pager = open_on_fake(&f);
	uint64_t *mem = map_readonly(pager);

	cr_assert_eq(read_all(mem), 0);
	cr_assert_gt(atomic_load(&f->calls[FA_MAP]), 0);
	cr_assert_gt(atomic_load(&f->calls[FA_ADVISE]), 0);
	cr_assert_gt(atomic_load(&f->calls[FA_PROTECT]), 0);
	cr_assert_gt(atomic_load(&f->calls[FA_PAGES]), 0);
	cr_assert_gt(atomic_load(&f->calls[FA_READ]), 0);
	cr_assert_gt(atomic_load(&f->calls[FA_ZAP]), 0);
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	cr_assert_gt(atomic_load(&f->calls[FA_UNMAP]), 0);
	upager_close(pager);
	cr_assert(atomic_load(&f->closed));
	fake_aspace_free(f);
}

/* Reclaim's copy-out with the fake's @call failing: pages read right
 * until no frame can be had, then SIGBUS (said so, never a wrong page),
 * and all read right once @call answers again. */
static void copy_out_failing(enum fake_aspace_call call, const char *never_asked)
{
	struct fake_aspace *f;
	struct upager *pager = open_on_fake(&f);
	uint64_t *mem = map_readonly(pager);
	uint64_t failures = atomic_load(&pager->stats.stage_failures);
	size_t pg;

	atomic_store(&f->fail[call], -EIO);
	for (pg = 0; pg < NPAGES; pg++) {
		struct access_result r = probe_read((unsigned char *)page_at(mem, pg));

		if (r.sig) {
			cr_assert_eq(r.sig, SIGBUS, "page %zu: signal %d", pg, r.sig);
			break;
		}
		cr_assert(page_ok(page_at(mem, pg), pg), "page %zu: wrong bytes", pg);
	}
	cr_assert_lt(pg, NPAGES, "every page read, though nothing could be staged");
	cr_assert_gt(atomic_load(&f->failed[call]), 0, "%s", never_asked);
	cr_assert_gt(atomic_load(&pager->stats.stage_failures), failures);
	atomic_store(&f->fail[call], 0);
	/* The page poisoned while no frame could be had raises SIGBUS until
	 * a reclaim round lifts the mark: the first pass may see it. */
	read_all(mem);
	cr_assert_eq(read_all(mem), 0);
	upager_close(pager);
	fake_aspace_free(f);
}

/* pagemap unreadable: reclaim cannot tell a read-only page is still the
 * one it copied, so it takes none out. */
Test(aspace, present_pages_failing_loses_nothing, .timeout = 60)
{
	copy_out_failing(FA_PAGES, "reclaim never asked");
}

/* The copy-out's read refused (as process_vm_readv or /proc/PID/mem can
 * refuse), the pages staying where they were: a failure of those pages,
 * not the program moving them, so reclaim does not wait for an event
 * that never comes (it did: every fault waited for ever). */
Test(aspace, copy_out_read_failing_is_loud, .timeout = 60)
{
	copy_out_failing(FA_READ, "reclaim never read");
}

/* upager_discard whose zap the kernel refused: it says so, and discards
 * nothing, as madvise(MADV_DONTNEED) that failed: every page, in memory or
 * in swap, keeps its bytes. */
Test(aspace, failed_zap_discards_nothing, .timeout = 60)
{
	struct fake_aspace *f;
	struct upager *pager = open_on_fake(&f);
	void *mem;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, &mem), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill_page(page_at(mem, pg), pg);
	atomic_store(&f->fail[FA_ZAP], -EAGAIN);
	cr_assert_eq(upager_discard(pager, mem, NPAGES * PAGE), -EAGAIN);
	cr_assert_gt(atomic_load(&f->failed[FA_ZAP]), 0);
	atomic_store(&f->fail[FA_ZAP], 0);
	cr_assert_eq(read_all(mem), 0);
	/* And a discard that works still discards. */
	cr_assert_eq(upager_discard(pager, mem, NPAGES * PAGE), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		cr_assert_eq(*page_at(mem, pg), 0, "page %zu", pg);
	upager_close(pager);
	fake_aspace_free(f);
}
