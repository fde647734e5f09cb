/* SPDX-License-Identifier: MIT */
/*
 * as-cases2 - more named address-space cases, in the transcript format
 * of as-cases.c and compared the same way (tests/run/check-as.sh): each
 * is the smallest form of a divergence tools/difftest found (issue 18),
 * named by what the kernel's mappings do there.
 *
 * Memory is laid out by MAP_FIXED inside a reservation (shared anonymous,
 * PROT_NONE, so upager never pages it); pages hold a pattern naming their
 * tag and index, dumped in runs ("A3[0..99]", "zero", "SEGV", a hash).
 * A pressure step writes more than upager-run's 16 MiB cap, so under
 * upager the pages a case checks have been evicted and are read back.
 *
 * usage: as-cases2 CASE | as-cases2 list
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "as-common.h"
#include "cases.h"

/* @pages anonymous private pages at page @page of the reservation, with
 * extra mmap @flags. */
static char *place(size_t page, size_t pages, int prot, int flags)
{
	char *p = mmap(at(page), pages * ps, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | flags,
		       -1, 0);

	if (p != at(page)) {
		printf("place %zu+%zu: failed (%s)\n", page, pages, errname(errno));
		exit(1);
	}
	return p;
}

/* ---- commit charge: MAP_NORESERVE ------------------------------------------ */

/*
 * A region mapped charged (no MAP_NORESERVE) and one after it mapped
 * MAP_NORESERVE (a PROT_NONE reservation, say) made writable: the kernel
 * keeps them two mappings (VM_ACCOUNT against VM_NORESERVE), so growing
 * or moving a range across both is EFAULT. upager's own MAP_NORESERVE
 * made them one, which grew.
 */
static void case_noreserve_boundary(void)
{
	char *r = place(1024, REGION, PROT_READ | PROT_WRITE, 0), *q;

	place(1024 + REGION, REGION, PROT_NONE, MAP_NORESERVE);
	result("mprotect reservation rw", mprotect(at(1024 + REGION), REGION * ps,
						   PROT_READ | PROT_WRITE));
	fill(r, 2 * REGION, 1);
	pressure();
	q = mremap(r + 256 * ps, 512 * ps, 528 * ps, 0);
	presult("mremap grow across", q, "old", r + 256 * ps, NULL, NULL);
	q = mremap(r + 256 * ps, 512 * ps, 528 * ps, MREMAP_MAYMOVE);
	presult("mremap grow-maymove across", q, "old", r + 256 * ps, NULL, NULL);
	q = mremap(r + 508 * ps, 8 * ps, 4 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(8192));
	presult("mremap move-fixed shrinking across", q, "old", r + 508 * ps, "new", at(8192));
	q = mremap(r + 2 * REGION * ps - 16 * ps, 16 * ps, 32 * ps, 0);
	presult("mremap grow the reservation", q, "old", r + 2 * REGION * ps - 16 * ps, NULL, NULL);
	dump("region", r, 2 * REGION + 16);
}

/* ---- madvise -------------------------------------------------------------- */

/*
 * MADV_FREE across a region, a shared mapping and another region: the
 * kernel frees the first region's part, then stops at the shared mapping
 * with EINVAL; the region after it keeps its bytes. upager discarded
 * both regions' parts first.
 */
static void case_free_stops_at_shared(void)
{
	char *r = place(1024, REGION, PROT_READ | PROT_WRITE, 0), *s, *r2;

	s = mmap(at(1024 + REGION), 16 * ps, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	presult("mmap shared", s, "addr", at(1024 + REGION), NULL, NULL);
	r2 = place(1024 + REGION + 16, REGION, PROT_READ | PROT_WRITE, 0);
	fill(r, REGION, 1);
	fill(r2, REGION, 2);
	pressure();
	result("madvise free across", madvise(r + 500 * ps, (12 + 16 + 100) * ps, MADV_FREE));
	result("madvise free from the shared one", madvise(s, (16 + 100) * ps, MADV_FREE));
	/* What was freed reads either way: left out. */
	dump("first", r, 500);
	dump("second", r2, REGION);
}

/* ---- small mappings beside regions ---------------------------------------- */

/*
 * A small MAP_FIXED mapping (below upager-run's 256 KiB) over a region's
 * tail and past it: natively it merges into the region's mapping, so a
 * range across the seam moves as one (here with MREMAP_DONTUNMAP, which
 * moves one mapping only) and the whole grows. Left to the kernel, it
 * was a mapping of its own: EFAULT.
 */
static void case_small_fixed_beside(void)
{
	char *r = place(1024, REGION, PROT_READ | PROT_WRITE, 0), *q;

	fill(r, REGION, 1);
	place(1024 + REGION - 2, 18, PROT_READ | PROT_WRITE, 0);
	fill(r + REGION * ps, 16, 2);
	pressure();
	q = mremap(r + 500 * ps, 20 * ps, 20 * ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	presult("mremap dontunmap across the seam", q, "old", r + 500 * ps, NULL, NULL);
	if (q != MAP_FAILED) {
		dump("moved", q, 20);
		result("munmap moved", munmap(q, 20 * ps));
	}
	q = mremap(r, (REGION + 16) * ps, (REGION + 32) * ps, 0);
	presult("mremap grow all", q, "old", r, NULL, NULL);
	dump("region", r, REGION + 32);
}

/* ---- MREMAP_DONTUNMAP across several mappings --------------------------- */

/*
 * MREMAP_DONTUNMAP | MREMAP_FIXED of two mappings and the gap between
 * them into the middle of a region: the kernel moves both, keeps both
 * (emptied) at the source, and leaves the gap a gap and the destination
 * facing it as it was. upager took the region's pages facing the gap
 * for moved ones and kept them at the source too, in its tree only: a
 * mapping placed in the gap later was not followed, and its faults
 * looped ("in no region").
 */
static void case_dontunmap_gap(void)
{
	char *r = place(1024, REGION, PROT_READ | PROT_WRITE, 0), *m, *q;

	m = place(4096, REGION, PROT_READ | PROT_WRITE, 0);
	result("munmap the middle", munmap(m + 16 * ps, 16 * ps));
	fill(r, REGION, 1);
	fill(m, 16, 2);
	fill(m + 32 * ps, 16, 3);
	pressure();
	q = mremap(m, 48 * ps, 48 * ps, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP,
		   r + 100 * ps);
	presult("mremap dontunmap two mappings and a gap", q, "old", m, "new", r + 100 * ps);
	q = mremap(r + 300 * ps, 16 * ps, 16 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, m + 16 * ps);
	presult("mremap into the gap", q, "old", r + 300 * ps, "new", m + 16 * ps);
	fill(m + 16 * ps, 16, 4);
	pressure();
	dump("source", m, 48);
	dump("region", r, REGION);
}

static const struct run_case cases[] = {
	{ "noreserve-boundary", case_noreserve_boundary },
	{ "free-stops-at-shared", case_free_stops_at_shared },
	{ "small-fixed-beside", case_small_fixed_beside },
	{ "dontunmap-gap", case_dontunmap_gap },
};

int main(int argc, char **argv)
{
	return cases_main("as-cases2", cases, sizeof(cases) / sizeof(cases[0]), as_setup, argc,
			  argv);
}
