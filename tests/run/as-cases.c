/* SPDX-License-Identifier: MIT */
/*
 * as-cases - named address-space cases (mmap, mremap, mprotect, munmap,
 * madvise) for differential checks: each case prints a transcript of its
 * calls' results (errno by name) and of what its memory holds, page by
 * page, by offset and never by address, so that a native run and one
 * under upager-run compare byte for byte (tests/run/check-as.sh).
 *
 * Memory is laid out inside a reservation (shared anonymous, PROT_NONE,
 * so upager never pages it) by MAP_FIXED, so each case knows what is
 * next to what. Each page a case fills holds a pattern naming its tag
 * and index; a dump prints runs of pages as "A3[0..99]" (tag 3, pages 0
 * to 99 in order), "zero", "SEGV" (unreadable) or a hash. A pressure
 * step writes more than upager-run's 16 MiB cap in between, so under
 * upager the pages a case checks have been evicted and are read back.
 *
 * usage: as-cases CASE | as-cases list
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "as-common.h"
#include "cases.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* Whether the page at @b takes a write (of the byte read: the contents
 * stay). */
static __attribute__((noinline)) int try_write(char *b)
{
	volatile int ok = 0;

	probing = 1;
	if (!sigsetjmp(probe_env, 1)) {
		*(volatile char *)b = *(volatile char *)b;
		ok = 1;
	}
	probing = 0;
	return ok;
}

/* Which of @pages pages from @p take a write, in runs. */
static void writable(const char *what, char *p, size_t pages)
{
	size_t from = 0;
	int prev = 0;

	for (size_t i = 0; i <= pages; i++) {
		int w = i < pages ? try_write(p + i * ps + 100) : -1;

		if (i && w != prev) {
			printf("%s: pages %zu-%zu %s\n", what, from, i - 1,
			       prev ? "writable" : "not writable");
			from = i;
		}
		prev = w;
	}
	fflush(stdout);
}

/* @pages anonymous private pages at page @page of the reservation. */
static char *place(size_t page, size_t pages, int prot)
{
	char *p = mmap(at(page), pages * ps, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p != at(page)) {
		printf("place %zu+%zu: failed (%s)\n", page, pages, errname(errno));
		exit(1);
	}
	return p;
}

/* The usual start: a filled 2 MiB region at page 1024, evicted. */
static char *region(unsigned tag)
{
	char *r = place(1024, REGION, PROT_READ | PROT_WRITE);

	fill(r, REGION, tag);
	pressure();
	return r;
}

/* A file of @pages pages, filled with tag @tag. */
static int file(size_t pages, unsigned tag)
{
	char path[] = "/tmp/as-cases.XXXXXX";
	int fd = mkstemp(path);
	char *buf = malloc(pages * ps);

	if (fd < 0 || !buf) {
		printf("file: failed\n");
		exit(1);
	}
	unlink(path);
	fill(buf, pages, tag);
	if (write(fd, buf, pages * ps) != (ssize_t)(pages * ps)) {
		printf("file: short write\n");
		exit(1);
	}
	free(buf);
	return fd;
}

/* ---- MAP_FIXED ------------------------------------------------------------ */

static void case_fixed_file_einval(void)
{
	char *r = region(1);
	int fd = file(8, 9);

	presult("mmap fixed file off 123", mmap(r + 16 * ps, 4 * ps, PROT_READ,
						MAP_PRIVATE | MAP_FIXED, fd, 123), "addr", r + 16 * ps,
		NULL, NULL);
	dump("region", r, REGION);
	writable("region", r, REGION);
}

static void case_fixed_anon_fail(void)
{
	char *r = region(1);

	presult("mmap fixed anon off 123", mmap(r + 16 * ps, 128 * ps, PROT_READ | PROT_WRITE,
						MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 123),
		"addr", r + 16 * ps, NULL, NULL);
	presult("mmap fixed anon past the end", mmap(r + 16 * ps, (size_t)1 << 47,
						     PROT_READ | PROT_WRITE,
						     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		"addr", r + 16 * ps, NULL, NULL);
	presult("mmap fixed file past the end", mmap(r + 16 * ps, (size_t)1 << 47, PROT_READ,
						     MAP_PRIVATE | MAP_FIXED, file(8, 9), 0),
		"addr", r + 16 * ps, NULL, NULL);
	dump("region", r, REGION);
	writable("region", r, REGION);
}

static void case_fixed_replace(void)
{
	char *r = region(1);
	int fd = file(8, 9);

	presult("mmap fixed file", mmap(r + 16 * ps, 4 * ps, PROT_READ, MAP_PRIVATE | MAP_FIXED,
					fd, 0), "addr", r + 16 * ps, NULL, NULL);
	presult("mmap fixed anon", mmap(r + 128 * ps, 128 * ps, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		"addr", r + 128 * ps, NULL, NULL);
	presult("mmap fixed shared", mmap(r + 300 * ps, 8 * ps, PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		"addr", r + 300 * ps, NULL, NULL);
	presult("mmap fixed file, length not in pages", mmap(r + 400 * ps, 2 * ps + 1, PROT_READ,
							     MAP_PRIVATE | MAP_FIXED, fd, 0),
		"addr", r + 400 * ps, NULL, NULL);
	fill(r + 128 * ps, 64, 2);
	pressure();
	dump("region", r, REGION);
	writable("region", r, REGION);
	result("munmap", munmap(r, REGION * ps));
	dump("region", r, 4);
}

static void case_fixed_noreplace_busy(void)
{
	char *r = region(1);

	presult("mmap noreplace", mmap(r + 16 * ps, 128 * ps, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
		"addr", r + 16 * ps, NULL, NULL);
	dump("region", r, REGION);
}

static void case_map_32bit(void)
{
	char *p = mmap(NULL, 1u << 20, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);

	if (p == MAP_FAILED) {
		printf("mmap 32bit: MAP_FAILED %s\n", errname(errno));
		return;
	}
	printf("mmap 32bit: below 2 GiB %s\n", (uintptr_t)p + (1u << 20) <= (1ul << 31) ? "yes" : "no");
	fill(p, 256, 1);
	pressure();
	dump("map", p, 256);
}

/* ---- mremap ----------------------------------------------------------------- */

/* mremap(@r, @from pages, @to pages, MREMAP_MAYMOVE), said as @what; where it
 * worked, the pages after pressure, dumped and tried for writes as @name.
 * Returns the new address, or MAP_FAILED. */
static char *remap_and_look(const char *what, char *r, size_t from, size_t to, const char *name)
{
	char *q = mremap(r, from * ps, to * ps, MREMAP_MAYMOVE);

	presult(what, q, "old", r, NULL, NULL);
	if (q == MAP_FAILED)
		return q;
	pressure();
	dump(name, q, to);
	writable(name, q, to);
	return q;
}

static void case_remap_readonly(void)
{
	char *r = region(1), *q;

	result("mprotect read", mprotect(r, REGION * ps, PROT_READ));
	/* The tail is the reservation: growing must move. */
	q = remap_and_look("mremap grow", r, REGION, 2 * REGION, "grown");
	if (q == MAP_FAILED)
		return;
	r = q;
	q = mremap(r, 2 * REGION * ps, 2 * REGION * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(8192));
	presult("mremap move", q, "old", r, "new", at(8192));
	if (q == MAP_FAILED)
		return;
	result("mprotect rw", mprotect(q, 2 * REGION * ps, PROT_READ | PROT_WRITE));
	fill(q + 1000 * ps, 8, 2);
	pressure();
	dump("moved", q, 2 * REGION);
}

static void case_remap_none(void)
{
	char *r = region(1), *q;

	result("mprotect none", mprotect(r, REGION * ps, PROT_NONE));
	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(8192));
	presult("mremap move", q, "old", r, "new", at(8192));
	if (q == MAP_FAILED)
		return;
	dump("moved", q, REGION);
	result("mprotect read", mprotect(q, REGION * ps, PROT_READ));
	dump("moved", q, REGION);
	remap_and_look("mremap grow", q, REGION, 2 * REGION, "grown");
}

/* Only the first page is read-only: two kernel mappings. */
static void case_remap_first_page_ro(void)
{
	char *r = region(1), *q, *f;

	result("mprotect first page", mprotect(r, ps, PROT_READ));
	q = mremap(r, REGION * ps, 2 * REGION * ps, MREMAP_MAYMOVE);
	presult("mremap grow", q, "old", r, NULL, NULL);
	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(8192));
	presult("mremap move", q, "old", r, "new", at(8192));
	if (q == MAP_FAILED)
		return;
	pressure();
	dump("moved", q, REGION);
	writable("moved", q, REGION);
	f = mremap(q, ps, ps, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	presult("mremap move the first page back", f, "old", q, "new", r);
	q = mremap(q + ps, (REGION - 1) * ps, 2 * REGION * ps, MREMAP_MAYMOVE);
	presult("mremap grow the rest", q, "old", at(8193), NULL, NULL);
	if (q == MAP_FAILED)
		return;
	pressure();
	dump("first", r, 1);
	writable("first", r, 1);
	dump("grown", q, 2 * REGION);
	writable("grown", q, 2 * REGION);
}

static void case_remap_fixed_overlap(void)
{
	char *r = region(1), *q;

	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_FIXED, r + 4 * ps);
	presult("mremap onto itself +4", q, "old", r, "new", r + 4 * ps);
	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_FIXED, r - 4 * ps);
	presult("mremap onto itself -4", q, "old", r, "new", r - 4 * ps);
	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	presult("mremap onto itself", q, "old", r, "new", r);
	dump("region", r, REGION);
	writable("region", r, REGION);
}

static void case_remap_bad_args(void)
{
	char *r = region(1), *q;

	q = mremap(r + 1, 16 * ps, 32 * ps, MREMAP_MAYMOVE);
	presult("mremap unaligned", q, "old", r, NULL, NULL);
	q = mremap(r + 1, 16 * ps, 8 * ps, 0);
	presult("mremap unaligned shrink", q, "old", r + 1, NULL, NULL);
	q = mremap(r, REGION * ps, REGION * ps, 0x40);
	presult("mremap bad flags", q, "old", r, NULL, NULL);
	q = mremap(r, REGION * ps, REGION * ps, MREMAP_FIXED, at(8192));
	presult("mremap fixed without maymove", q, "old", r, "new", at(8192));
	q = mremap(r, REGION * ps, 0, MREMAP_MAYMOVE);
	presult("mremap to 0", q, "old", r, NULL, NULL);
	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(8192) + 1);
	presult("mremap fixed unaligned", q, "old", r, "new", at(8192) + 1);
	q = mremap(r, REGION * ps, 2 * REGION * ps, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL);
	presult("mremap dontunmap grow", q, "old", r, NULL, NULL);
	q = mremap(r, REGION * ps, 2 * REGION * ps, 0);
	presult("mremap grow in place, busy", q, "old", r, NULL, NULL);
	dump("region", r, REGION);
	writable("region", r, REGION);
}

static void case_remap_dontunmap(void)
{
	char *r = region(1), *q;

	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	presult("mremap dontunmap", q, "old", r, NULL, NULL);
	if (q == MAP_FAILED)
		return;
	pressure();
	dump("new", q, REGION);
	dump("old", r, REGION);
	writable("old", r, REGION);
	fill(r, 16, 2);
	pressure();
	dump("old", r, 32);
	dump("new", q, 32);
	result("munmap old", munmap(r, REGION * ps));
	dump("new", q, REGION);
	q = mremap(q, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED,
		   at(8192));
	presult("mremap dontunmap fixed", q, "new", at(8192), NULL, NULL);
	if (q != MAP_FAILED)
		dump("fixed", q, REGION);
}

/* 6.18 reads the fifth argument as a hint with MREMAP_DONTUNMAP (and
 * glibc 2.36's mremap passes it on). */
static void case_remap_dontunmap_hint(void)
{
	char *r = region(1), *q;

	result("munmap the hint's place", munmap(at(8192), REGION * ps));
	q = mremap(r, REGION * ps, REGION * ps, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, at(8192));
	presult("mremap dontunmap hint", q, "hint", at(8192), "old", r);
	if (q == MAP_FAILED)
		return;
	dump("new", q, REGION);
	dump("old", r, 8);
}

/* Two regions side by side: one read-write, one PROT_NONE (two kernel
 * mappings). */
static void case_remap_multi(void)
{
	char *a = region(1), *b = place(1024 + REGION, REGION, PROT_READ | PROT_WRITE), *q;

	fill(b, REGION, 2);
	result("mprotect none", mprotect(b, REGION * ps, PROT_NONE));
	pressure();
	q = mremap(a + (REGION - 50) * ps, 100 * ps, 200 * ps, MREMAP_MAYMOVE);
	presult("mremap grow across", q, "old", a + (REGION - 50) * ps, NULL, NULL);
	q = mremap(a + (REGION - 50) * ps, 100 * ps, 100 * ps, MREMAP_MAYMOVE);
	presult("mremap across, no move", q, "old", a + (REGION - 50) * ps, NULL, NULL);
	q = mremap(a + (REGION - 50) * ps, 100 * ps, 100 * ps, MREMAP_MAYMOVE | MREMAP_FIXED,
		   at(8192));
	presult("mremap move across", q, "old", a + (REGION - 50) * ps, "new", at(8192));
	pressure();
	dump("a", a, REGION);
	dump("b", b, REGION);
	dump("moved", at(8192), 100);
	writable("moved", at(8192), 100);
	result("mprotect moved", mprotect(at(8192), 100 * ps, PROT_READ | PROT_WRITE));
	dump("moved", at(8192), 100);
	writable("moved", at(8192), 100);
}

/* A range only partly upager's: a region and a small read-only mapping
 * after it (a kernel mapping of its own natively too). */
static void case_remap_partial(void)
{
	char *r = region(1), *s = place(1024 + REGION, 4, PROT_READ | PROT_WRITE), *q;

	fill(s, 4, 2);
	result("mprotect small", mprotect(s, 4 * ps, PROT_READ));
	q = mremap(r + (REGION - 8) * ps, 12 * ps, 24 * ps, 0x40);
	presult("mremap bad flags", q, "old", r + (REGION - 8) * ps, NULL, NULL);
	q = mremap(r + (REGION - 8) * ps + 1, 12 * ps, 24 * ps, MREMAP_MAYMOVE);
	presult("mremap unaligned", q, "old", r + (REGION - 8) * ps, NULL, NULL);
	q = mremap(r + (REGION - 8) * ps, 12 * ps, 24 * ps, MREMAP_MAYMOVE | MREMAP_FIXED,
		   r + (REGION - 4) * ps);
	presult("mremap fixed overlap", q, "old", r + (REGION - 8) * ps, NULL, NULL);
	q = mremap(r + (REGION - 8) * ps, 12 * ps, 24 * ps, MREMAP_MAYMOVE);
	presult("mremap grow", q, "old", r + (REGION - 8) * ps, NULL, NULL);
	q = mremap(r + (REGION - 8) * ps, 12 * ps, 12 * ps, MREMAP_MAYMOVE | MREMAP_FIXED,
		   at(8192));
	presult("mremap move", q, "old", r + (REGION - 8) * ps, "new", at(8192));
	if (q != MAP_FAILED) {
		pressure();
		dump("moved", q, 12);
		writable("moved", q, 12);
	}
	result("mremap small back", mremap(at(8192) + 8 * ps, 4 * ps, 4 * ps,
					   MREMAP_MAYMOVE | MREMAP_FIXED, s) == s ? 0 : -1);
	q = mremap(r + (REGION - 16) * ps, 20 * ps, 4 * ps, 0);
	presult("mremap shrink across", q, "old", r + (REGION - 16) * ps, NULL, NULL);
	pressure();
	dump("region", r, REGION + 4);
	writable("region", r, REGION + 4);
}

/* A move to a fixed place, without resizing, of a range that is one
 * mapping and then a hole (difftest seed 8): the kernel moves the
 * mapping's part and leaves the hole; a hole at the start is EFAULT. */
static void case_remap_tail_hole(void)
{
	char *r = region(1), *q;

	result("munmap after", munmap(r + REGION * ps, 8 * ps));
	q = mremap(r + (REGION - 2) * ps, 6 * ps, 6 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(8192));
	presult("mremap move, hole after", q, "old", r + (REGION - 2) * ps, "new", at(8192));
	q = mremap(r + (REGION - 4) * ps, 6 * ps, 6 * ps,
		   MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, at(9000));
	presult("mremap dontunmap, hole after", q, "old", r + (REGION - 4) * ps, "new", at(9000));
	q = mremap(r + (REGION - 2) * ps, 6 * ps, 6 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(9500));
	presult("mremap move, hole at start", q, "old", r + (REGION - 2) * ps, "new", at(9500));
	pressure();
	/* Not the hole: upager's own memory may land there, as anything
	 * a program maps may. */
	dump("region", r, REGION);
	dump("moved", at(8192), 6);
	writable("moved", at(8192), 6);
	dump("moved dontunmap", at(9000), 6);
	writable("moved dontunmap", at(9000), 6);
}

/* A region whose first pages are advised DONTFORK: natively two kernel
 * mappings, so growing across them is EFAULT (difftest seed 13), and a
 * fixed move without resizing moves each. */
static void case_remap_dontfork_split(void)
{
	char *r = region(1), *q;

	result("madvise dontfork", madvise(r, 5 * ps, MADV_DONTFORK));
	q = mremap(r, 26 * ps, 138 * ps, MREMAP_MAYMOVE);
	presult("mremap grow-maymove across", q, "old", r, NULL, NULL);
	q = mremap(r, 26 * ps, 30 * ps, 0);
	presult("mremap grow across", q, "old", r, NULL, NULL);
	q = mremap(r + 4 * ps, 2 * ps, 4 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(8192));
	presult("mremap fixed grow across", q, "old", r + 4 * ps, "new", at(8192));
	q = mremap(r + 3 * ps, 4 * ps, 4 * ps, MREMAP_MAYMOVE | MREMAP_FIXED, at(9000));
	presult("mremap fixed move across", q, "old", r + 3 * ps, "new", at(9000));
	q = mremap(r + 8 * ps, 20 * ps, 40 * ps, MREMAP_MAYMOVE);
	presult("mremap grow-maymove after", q, "old", r + 8 * ps, NULL, NULL);
	pressure();
	dump("region", r, REGION);
	dump("moved", at(9000), 4);
	writable("moved", at(9000), 4);
	if (q != MAP_FAILED)
		dump("grown", q, 40);
}

/* A move to a fixed place, without resizing, of a range that is the tail
 * of a private file mapping written to, a gap (the reservation) and the
 * head of anonymous memory (difftest seed 21): 6.17+ moves each mapping,
 * and the file pages' private writes go with them. The kernel's own
 * multi-mapping move stops at the first one registered with a
 * userfaultfd, after it moved the ones before. */
static void remap_file_gap(int flags)
{
	int fd = file(2048, 5);
	char *f = mmap(at(1024), 1008 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	char *a = place(2048, 1008, PROT_READ | PROT_WRITE), *q;

	presult("mmap file private", f, "addr", at(1024), NULL, NULL);
	fill(place(3072, 1008, PROT_READ | PROT_WRITE), 1008, 4);
	fill(f, 1008, 2);
	fill(a, 1008, 3);
	pressure();
	q = mremap(at(1024 + 1004), 38 * ps, 38 * ps, MREMAP_MAYMOVE | MREMAP_FIXED | flags,
		   at(8192 + 745));
	presult("mremap fixed across file, gap, anon", q, "new", at(8192 + 745), NULL, NULL);
	pressure();
	dump("file", f, 1008);
	dump("anon", a, 1008);
	dump("moved", at(8192 + 745), 38);
	writable("moved", at(8192 + 745), 38);
	close(fd);
}

static void case_remap_file_gap(void)
{
	remap_file_gap(0);
}

static void case_remap_dontunmap_file_gap(void)
{
	remap_file_gap(MREMAP_DONTUNMAP);
}

/* A hole the program made in its memory stays free: natively nothing
 * is mapped there unless the program maps it, while upager's own memory
 * for what the program maps next (an object's page table, pool chunks),
 * left to the kernel, would take the highest hole that fits (the
 * intermittent part of remap-dontfork-split). */
static void case_hole_stays_free(void)
{
	char *r = region(1);

	result("munmap hole", munmap(r + 100 * ps, 4 * ps));
	result("munmap hole 2", munmap(r + 200 * ps, 20 * ps));
	for (size_t i = 0; i < 8; i++)
		fill(place(4096 + i * REGION, REGION, PROT_READ | PROT_WRITE), 1, 2);
	dump("hole", r + 100 * ps, 4);
	dump("hole 2", r + 200 * ps, 20);
	result("map hole", mmap(r + 100 * ps, 4 * ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
				MAP_FIXED_NOREPLACE, -1, 0) == r + 100 * ps ? 0 : -1);
}

/* Growing, moved, the head of a region (difftest seed 17): the growth
 * reads zeros, not the rest of the region, and writes to it stay its own. */
static void case_remap_grow_head(void)
{
	char *r = region(1), *q;

	q = mremap(r, 20 * ps, 180 * ps, MREMAP_MAYMOVE);
	presult("mremap grow-maymove head", q, "old", r, NULL, NULL);
	if (q == MAP_FAILED)
		return;
	pressure();
	dump("grown", q, 180);
	fill(q + 20 * ps, 4, 2);
	pressure();
	dump("region", r, REGION);
	dump("grown", q, 180);
}

static void case_remap_basic(void)
{
	char *r = region(1), *q;

	q = mremap(r, REGION * ps, (REGION - 100) * ps, 0);
	presult("mremap shrink", q, "old", r, NULL, NULL);
	dump("region", r, REGION);
	/* The reservation's pages after the region are gone: grow in place. */
	result("munmap after", munmap(r + REGION * ps, REGION * ps));
	q = mremap(r, (REGION - 100) * ps, 2 * REGION * ps, 0);
	presult("mremap grow in place", q, "old", r, NULL, NULL);
	pressure();
	dump("region", r, 2 * REGION);
	fill(r + (REGION + 10) * ps, 10, 2);
	pressure();
	dump("region", r, 2 * REGION);
	remap_and_look("mremap grow, busy, may move", r, 2 * REGION, 3 * REGION, "moved");
}

/* Moves while another thread faults through more than the cap: the
 * kernel moves the pages while upager evicts and reads back others. */
static volatile int toucher_stop;

static void *toucher(void *arg)
{
	char *a = arg;
	size_t bad = 0;

	while (!toucher_stop)
		for (size_t i = 0; i < 10 * REGION; i++)
			bad += a[i * ps + 100] != (char)pattern(5, i, 100);
	return (void *)bad;
}

static void case_remap_threads(void)
{
	char *a = mmap(NULL, 10 * REGION * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0), *b = region(1);
	size_t slot[3] = { 1024, 4096, 6144 }, bad = 0;
	pthread_t t;
	void *tbad;

	fill(a, 10 * REGION, 5);
	pthread_create(&t, NULL, toucher, a);
	for (int k = 0; k < 60; k++) {
		char *dst = at(slot[(k + 1) % 3]);
		int flags = MREMAP_MAYMOVE | MREMAP_FIXED | (k % 4 == 3 ? MREMAP_DONTUNMAP : 0);
		char *q = mremap(b, REGION * ps, REGION * ps, flags, dst);

		if (q != dst) {
			presult("mremap", q, "dst", dst, NULL, NULL);
			break;
		}
		/* The slot moved out of is the case's again (a correct
		 * program owns what it maps over with MAP_FIXED). */
		if (!(flags & MREMAP_DONTUNMAP) &&
		    mmap(b, REGION * ps, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			 -1, 0) != b) {
			printf("slot %d: taken (%s)\n", k, errname(errno));
			break;
		}
		if (k % 3 == 0)
			mprotect(q, REGION * ps, PROT_READ);
		for (size_t i = 0; i < REGION; i += 5)
			bad += classify(q + i * ps).index != i;
		if (k % 3 == 0)
			mprotect(q, REGION * ps, PROT_READ | PROT_WRITE);
		b = q;
	}
	toucher_stop = 1;
	pthread_join(t, &tbad);
	printf("pages wrong: moved %zu, other thread's %zu\n", bad, (size_t)tbad);
	dump("region", b, REGION);
}

/* ---- mprotect ------------------------------------------------------------- */

static void case_protect_tail_plus(void)
{
	char *r = region(1), *s = place(1024 + REGION, 4, PROT_READ | PROT_WRITE);

	fill(s, 4, 2);
	result("mprotect read", mprotect(r + (REGION - 8) * ps, 12 * ps, PROT_READ));
	pressure();
	dump("region", r, REGION + 4);
	writable("region", r, REGION + 4);
	result("mprotect none", mprotect(r + (REGION - 8) * ps, 12 * ps, PROT_NONE));
	dump("region", r + (REGION - 16) * ps, 20);
	result("mprotect rw", mprotect(r + (REGION - 8) * ps, 12 * ps, PROT_READ | PROT_WRITE));
	fill(r + (REGION - 8) * ps, 12, 3);
	pressure();
	dump("region", r, REGION + 4);
	writable("region", r, REGION + 4);
	/* The region read-only first, then writable again together with
	 * the small mapping: the region's pages must take writes. */
	result("mprotect region read", mprotect(r, REGION * ps, PROT_READ));
	result("mprotect rw", mprotect(r + (REGION - 8) * ps, 12 * ps, PROT_READ | PROT_WRITE));
	pressure();
	fill(r + (REGION - 8) * ps, 12, 4);
	pressure();
	dump("region", r, REGION + 4);
	writable("region", r, REGION + 4);
}

static void case_protect_inner_fixed(void)
{
	char *r = region(1);

	presult("mmap small fixed", mmap(r + 100 * ps, 4 * ps, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
		"addr", r + 100 * ps, NULL, NULL);
	result("mprotect read", mprotect(r, REGION * ps, PROT_READ));
	pressure();
	dump("region", r, REGION);
	writable("region", r, REGION);
	result("mprotect rw", mprotect(r, REGION * ps, PROT_READ | PROT_WRITE));
	pressure();
	fill(r + 98 * ps, 8, 2);
	pressure();
	dump("region", r, REGION);
	writable("region", r, REGION);
}

static void case_protect_hole(void)
{
	char *r = region(1);

	result("munmap hole", munmap(r + 200 * ps, 4 * ps));
	result("mprotect read", mprotect(r, REGION * ps, PROT_READ));
	pressure();
	dump("region", r, REGION);
	writable("region", r, REGION);
	result("mprotect at the hole", mprotect(r + 200 * ps, 100 * ps, PROT_NONE));
	writable("region", r, REGION);
	result("mprotect bad prot", mprotect(r, 100 * ps, 0x40));
	result("mprotect unaligned", mprotect(r + 1, 100 * ps, PROT_NONE));
	writable("region", r, REGION);
}

/* ---- quiet refusals ----------------------------------------------------------- */

static void case_unaligned(void)
{
	char *r = region(1);

	result("munmap unaligned", munmap(r + 1, 16 * ps));
	result("munmap 0", munmap(r, 0));
	result("mprotect unaligned", mprotect(r + 1, 16 * ps, PROT_READ));
	result("madvise unaligned", madvise(r + 1, 16 * ps, MADV_DONTNEED));
	result("madvise free unaligned", madvise(r + 1, 16 * ps, MADV_FREE));
	dump("region", r, REGION);
	writable("region", r, REGION);
}

static const struct run_case cases[] = {
	{ "fixed-file-einval", case_fixed_file_einval },
	{ "fixed-anon-fail", case_fixed_anon_fail },
	{ "fixed-replace", case_fixed_replace },
	{ "fixed-noreplace-busy", case_fixed_noreplace_busy },
	{ "map-32bit", case_map_32bit },
	{ "remap-readonly", case_remap_readonly },
	{ "remap-none", case_remap_none },
	{ "remap-first-page-ro", case_remap_first_page_ro },
	{ "remap-fixed-overlap", case_remap_fixed_overlap },
	{ "remap-bad-args", case_remap_bad_args },
	{ "remap-dontunmap", case_remap_dontunmap },
	{ "remap-dontunmap-hint", case_remap_dontunmap_hint },
	{ "remap-multi", case_remap_multi },
	{ "remap-partial", case_remap_partial },
	{ "remap-tail-hole", case_remap_tail_hole },
	{ "remap-dontfork-split", case_remap_dontfork_split },
	{ "remap-file-gap", case_remap_file_gap },
	{ "remap-dontunmap-file-gap", case_remap_dontunmap_file_gap },
	{ "hole-stays-free", case_hole_stays_free },
	{ "remap-grow-head", case_remap_grow_head },
	{ "remap-basic", case_remap_basic },
	{ "remap-threads", case_remap_threads },
	{ "protect-tail-plus", case_protect_tail_plus },
	{ "protect-inner-fixed", case_protect_inner_fixed },
	{ "protect-hole", case_protect_hole },
	{ "unaligned", case_unaligned },
};

int main(int argc, char **argv)
{
	return cases_main("as-cases", cases, sizeof(cases) / sizeof(cases[0]), as_setup, argc, argv);
}
