/* SPDX-License-Identifier: MIT */
/*
 * test-objects.c - memory objects: shared and private mappings of files
 * and shared anonymous memory, each scenario run side by side on the
 * kernel's own mmap of a file and on upager's, with the same
 * observations (bytes through every mapping, the file's bytes after
 * sync and unmap, signals), plus what only upager reports (statistics)
 * and what both must show physically (one page frame per shared page,
 * read from /proc/self/pagemap: the tests run as root).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "objects-helpers.h"

/* Whether scenarios check physical frames: not under a tiny budget, where
 * a page may be evicted between the touch and the look. */
static bool check_pfns = true;

/* Under a tiny budget, scenarios call churn() between their steps: on
 * upager it writes a private region 8x the budget, which evicts every
 * page the scenario had in memory, so the next step reads them back
 * (from the file, the swap store or the object). On the kernel, nothing. */
static bool churning;
static volatile uint64_t *churn_mem;
static struct upager *churn_pager;

static void churn(struct mem *m)
{
	if (!churning || !m->pager)
		return;
	if (churn_pager != m->pager) {
		cr_assert_eq(upager_map(m->pager, NULL, 8 * TINY_BUDGET, RW, PRIVATE,
					(void **)&churn_mem), 0);
		churn_pager = m->pager;
	}
	for (size_t pg = 0; pg < 8 * TINY_BUDGET / PAGE; pg++)
		churn_mem[pg * PAGE / 8]++;
}

/* What upager evicted in the last scenario run on it (see note_evictions()). */
static uint64_t evicted_objects;

/* At the end of a scenario on upager: how many pages of objects left
 * memory (written to their file or slot, or dropped unchanged). */
static void note_evictions(struct mem *m)
{
	struct upager_stats st = UPAGER_STATS();

	if (!m->pager)
		return;
	cr_assert_eq(upager_stats_read(m->pager, &st), 0);
	evicted_objects = st.file_writes + st.writebacks + st.clean_drops + st.zero_drops;
}

/* The physical frame behind @p (0: not present). Needs root. */
static uint64_t pfn(const volatile void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &e, 8, (off_t)((uintptr_t)p / PAGE * 8)), 8);
	close(fd);
	return e >> 63 ? e & ((1ull << 55) - 1) : 0;
}

/* A checksum of the file's bytes [0, len), and its size: what a reader
 * of the file sees. */
static void transcript_file(struct transcript *t, const char *what, int fd)
{
	struct stat st;
	uint64_t h = 1469598103934665603ull, buf[8192];
	ssize_t n;
	off_t off = 0;

	cr_assert_eq(fstat(fd, &st), 0);
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		if (n % 8)
			memset((char *)buf + n, 0, 8 - (size_t)n % 8);
		for (ssize_t i = 0; i < (n + 7) / 8; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
		off += n;
	}
	transcript_printf(t, "%s: file size %lld, fnv %016llx\n", what, (long long)st.st_size,
			  (unsigned long long)h);
}

/* ---- shared file mappings ----------------------------------------------- */

/* Two shared mappings of one file: each sees the other's writes at once,
 * through the same physical page; msync and munmap take them to the file. */
static void two_shared(struct mem *m, struct transcript *t)
{
	int fd = make_file(16, 0, O_RDWR);
	volatile unsigned char *a, *b;

	cr_assert_eq(mem_map_file(m, NULL, 16 * PAGE, RW, SHARED, fd, 0, (void **)&a), 0);
	cr_assert_eq(mem_map_file(m, NULL, 8 * PAGE, RW, SHARED, fd, 4 * PAGE, (void **)&b), 0);
	for (size_t pg = 0; pg < 16; pg += 3)
		if (a[pg * PAGE + 100] != pat(pg, 100))
			transcript_printf(t, "a page %zu: %u, not the file's\n", pg, a[pg * PAGE + 100]);
	a[5 * PAGE + 1] = 0xa5;          /* page 5 of the file is page 1 of b */
	churn(m);
	b[2 * PAGE + 2] = 0xb6;          /* page 6 */
	churn(m);
	transcript_printf(t, "b sees a's write: %02x; a sees b's: %02x\n", b[PAGE + 1],
			  a[6 * PAGE + 2]);
	if (check_pfns) {
		cr_assert_neq(pfn(a + 5 * PAGE), 0);
		cr_assert_eq(pfn(a + 5 * PAGE), pfn(b + PAGE), "%s: one physical page", m->name);
		cr_assert_eq(pfn(a + 6 * PAGE), pfn(b + 2 * PAGE), "%s: one physical page",
			     m->name);
	}
	transcript_file(t, "before sync", fd);
	cr_assert_eq(mem_sync(m, (void *)b, 8 * PAGE), 0);
	transcript_file(t, "after syncing b", fd);
	a[15 * PAGE + 15] = 0xff;        /* reaches the file at unmap */
	b[7 * PAGE + 7] = 0x77;          /* page 11 */
	churn(m);
	cr_assert_eq(mem_unmap(m, (void *)a, 16 * PAGE), 0);
	cr_assert_eq(mem_unmap(m, (void *)b, 8 * PAGE), 0);
	transcript_file(t, "after unmap", fd);
	close(fd);
	note_evictions(m);
}

/* The kernel may or may not write a shared page before msync; what both
 * must agree on is the file after msync and after munmap. The transcript
 * leaves out "before sync" for that reason. */
static void two_shared_synced(struct mem *m, struct transcript *t)
{
	struct transcript scratch = { 0 };

	two_shared(m, &scratch);
	for (char *line = strtok(scratch.text, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, "before sync", 11))
			transcript_printf(t, "%s\n", line);
	transcript_free(&scratch);
}

Test(objects, shared_file_mappings_see_each_other, .timeout = 60)
{
	differential(two_shared_synced);
}

Test(objects, shared_file_pages_counted_once, .timeout = 60)
{
	struct upager *pager;
	volatile unsigned char *a, *b;
	int fd = make_file(32, 0, O_RDWR);
	struct upager_stats st;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map_file(pager, NULL, 32 * PAGE, RW, SHARED, fd, 0, (void **)&a), 0);
	cr_assert_eq(upager_map_file(pager, NULL, 32 * PAGE, RO, SHARED, fd, 0, (void **)&b), 0);
	for (size_t pg = 0; pg < 32; pg++)
		cr_assert_eq(a[pg * PAGE], pat(pg, 0));
	for (size_t pg = 0; pg < 32; pg++)
		cr_assert_eq(b[pg * PAGE + 9], pat(pg, 9));
	st = stats_now(pager);
	cr_assert_eq(st.file_reads, 32, "each page read from the file once: %llu",
		     (unsigned long long)st.file_reads);
	cr_assert_eq(st.cache_pages, 32, "one copy of each page: %llu",
		     (unsigned long long)st.cache_pages);
	cr_assert_geq(st.faults_minor, 1, "b's pages came from memory, not the file");
	cr_assert_eq(st.file_writes, 0);
	/* Unchanged pages are not written back. */
	cr_assert_eq(upager_unmap(pager, (void *)a, 32 * PAGE), 0);
	cr_assert_eq(stats_now(pager).file_writes, 0);
	cr_assert_eq(upager_unmap(pager, (void *)b, 32 * PAGE), 0);
	cr_assert_eq(stats_now(pager).cache_pages, 0, "unmapped: the object's pages are freed");
	upager_close(pager);
	close(fd);
}

/* ---- private file mappings ---------------------------------------------- */

/* A file of @pages pages and @tail bytes, mapped read-write over @len
 * pages both shared (*@s) and private (*@p) in @m. Returns its fd. */
static int map_both_ways(struct mem *m, size_t pages, size_t tail, size_t len,
			 volatile unsigned char **s, volatile unsigned char **p)
{
	int fd = make_file(pages, tail, O_RDWR);

	cr_assert_eq(mem_map_file(m, NULL, len * PAGE, RW, SHARED, fd, 0, (void **)s), 0);
	cr_assert_eq(mem_map_file(m, NULL, len * PAGE, RW, PRIVATE, fd, 0, (void **)p), 0);
	return fd;
}

/* map_both_ways()'s undone: both unmapped, then the file as they left it. */
static void unmap_both_ways(struct mem *m, struct transcript *t, int fd, size_t len,
			    volatile unsigned char *s, volatile unsigned char *p)
{
	cr_assert_eq(mem_unmap(m, (void *)p, len * PAGE), 0);
	cr_assert_eq(mem_unmap(m, (void *)s, len * PAGE), 0);
	transcript_file(t, "after unmap", fd);
	close(fd);
	note_evictions(m);
}

/* A private mapping sees the file until its first write to a page; until
 * then the page is the shared mapping's own physical page; the write
 * makes a copy that nobody else sees and that never reaches the file. */
static void private_cow(struct mem *m, struct transcript *t)
{
	volatile unsigned char *s, *p;
	int fd = map_both_ways(m, 8, 0, 8, &s, &p);

	transcript_printf(t, "s[3]=%02x p[3]=%02x\n", s[3 * PAGE], p[3 * PAGE]);
	if (check_pfns) {
		cr_assert_neq(pfn(p + 3 * PAGE), 0);
		cr_assert_eq(pfn(p + 3 * PAGE), pfn(s + 3 * PAGE),
			     "%s: before the first write, the private page is the file's page",
			     m->name);
	}
	churn(m);
	s[3 * PAGE + 1] = 0x11;          /* through the shared mapping */
	churn(m);
	transcript_printf(t, "private sees the shared write before its own: %02x\n",
			  p[3 * PAGE + 1]);
	p[3 * PAGE + 2] = 0x22;          /* copy-on-write */
	churn(m);
	if (check_pfns)
		cr_assert_neq(pfn(p + 3 * PAGE), pfn(s + 3 * PAGE),
			      "%s: after the first write, a copy", m->name);
	s[3 * PAGE + 1] = 0x33;
	transcript_printf(t, "after cow: p %02x %02x, s %02x %02x\n", p[3 * PAGE + 1],
			  p[3 * PAGE + 2], s[3 * PAGE + 1], s[3 * PAGE + 2]);
	p[5 * PAGE + 5] = 0x55;          /* a first touch that writes */
	churn(m);
	transcript_printf(t, "p[5] %02x %02x, s[5] %02x\n", p[5 * PAGE + 5], p[5 * PAGE + 6],
			  s[5 * PAGE + 5]);
	cr_assert_eq(mem_sync(m, (void *)s, 8 * PAGE), 0);
	transcript_file(t, "after sync", fd);
	unmap_both_ways(m, t, fd, 8, s, p);
}

Test(objects, private_file_mapping_copies_on_write, .timeout = 60)
{
	differential(private_cow);
}

Test(objects, private_mapping_counts_shared_pages_and_cow_breaks, .timeout = 60)
{
	struct upager *pager;
	volatile unsigned char *p;
	int fd = make_file(16, 0, O_RDONLY);
	struct upager_stats st;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	/* Writable private mapping of a read-only file, as mmap allows. */
	cr_assert_eq(upager_map_file(pager, NULL, 16 * PAGE, RW, PRIVATE, fd, 0, (void **)&p), 0);
	for (size_t pg = 0; pg < 16; pg++)
		cr_assert_eq(p[pg * PAGE + 3], pat(pg, 3));
	st = stats_now(pager);
	cr_assert_eq(st.private_shared_pages, 16);
	cr_assert_eq(st.cow_breaks, 0);
	for (size_t pg = 0; pg < 16; pg += 4)
		p[pg * PAGE] = 0xee;
	st = stats_now(pager);
	cr_assert_eq(st.cow_breaks, 4);
	cr_assert_eq(st.private_shared_pages, 12);
	for (size_t pg = 0; pg < 16; pg++)
		cr_assert_eq(p[pg * PAGE], pg % 4 ? pat(pg, 0) : 0xee, "page %zu", pg);
	/* Discarding the private copies brings the file's pages back. */
	cr_assert_eq(upager_discard(pager, (void *)p, 16 * PAGE), 0);
	cr_assert_eq(stats_now(pager).private_shared_pages, 0);
	for (size_t pg = 0; pg < 16; pg++)
		cr_assert_eq(p[pg * PAGE], pat(pg, 0), "page %zu after discard", pg);
	upager_close(pager);
	close(fd);
}

/* ---- the end of the file --------------------------------------------------- */

/* A file of 2 pages and 100 bytes, mapped over 4 pages: the tail of its
 * last page reads as zeros and writes there never reach the file; a page
 * wholly past the end gets SIGBUS, shared or private. */
static void past_eof(struct mem *m, struct transcript *t)
{
	volatile unsigned char *s, *p;
	int fd = map_both_ways(m, 2, 100, 4, &s, &p);

	transcript_printf(t, "last page: %02x at 99, %02x at 100\n", s[2 * PAGE + 99],
			  s[2 * PAGE + 100]);
	/* A write past the end of the file in its last page never reaches
	 * the file; once the page leaves memory it is gone (under the kernel
	 * too, under memory pressure), so only untouched bytes are read. */
	s[2 * PAGE + 500] = 0x50;
	churn(m);
	transcript_access(t, "shared read past the end", (void *)s, probe_read(s + 3 * PAGE));
	transcript_access(t, "shared write past the end", (void *)s,
			  probe_write(s + 3 * PAGE + 8, 1));
	transcript_access(t, "private read past the end", (void *)p, probe_read(p + 3 * PAGE));
	transcript_access(t, "private write past the end", (void *)p,
			  probe_write(p + 3 * PAGE + 8, 1));
	transcript_access(t, "private read of the tail", (void *)p, probe_read(p + 2 * PAGE + 600));
	unmap_both_ways(m, t, fd, 4, s, p);
}

Test(objects, access_past_the_end_of_the_file, .timeout = 60)
{
	differential(past_eof);
}

/* ---- what mmap refuses -------------------------------------------------------- */

static void refusals(struct mem *m, struct transcript *t)
{
	int ro = make_file(4, 0, O_RDONLY), wo = make_file(4, 0, O_WRONLY);
	int dir = open("/var/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	void *a = NULL;
	int err;

	transcript_printf(t, "shared writable, read-only fd: %d\n",
			  mem_map_file(m, NULL, PAGE, RW, SHARED, ro, 0, &a));
	transcript_printf(t, "private, write-only fd: %d\n",
			  mem_map_file(m, NULL, PAGE, RO, PRIVATE, wo, 0, &a));
	transcript_printf(t, "directory: %d\n", mem_map_file(m, NULL, PAGE, RO, SHARED, dir, 0, &a));
	transcript_printf(t, "unaligned offset: %d\n",
			  mem_map_file(m, NULL, PAGE, RO, SHARED, ro, 10, &a));
	err = mem_map_file(m, NULL, 2 * PAGE, RO, SHARED, ro, 0, &a);
	transcript_printf(t, "shared read-only: %d\n", err);
	cr_assert_eq(err, 0);
	transcript_printf(t, "made writable: %d\n", mem_protect(m, a, PAGE, RW));
	transcript_access(t, "write to it", a, probe_write(a, 1));
	cr_assert_eq(mem_unmap(m, a, 2 * PAGE), 0);
	err = mem_map_file(m, NULL, 2 * PAGE, RW, PRIVATE, ro, 0, &a);
	transcript_printf(t, "private writable, read-only fd: %d\n", err);
	transcript_access(t, "write to it", a, probe_write(a, 1));
	cr_assert_eq(mem_unmap(m, a, 2 * PAGE), 0);
	close(ro);
	close(wo);
	close(dir);
}

Test(objects, refusals_match_mmap, .timeout = 60)
{
	differential(refusals);
}

/* ---- shared anonymous memory ------------------------------------------------ */

static void shared_anon(struct mem *m, struct transcript *t)
{
	volatile unsigned char *a;

	cr_assert_eq(mem_map(m, NULL, 16 * PAGE, RW, SHARED, (void **)&a), 0);
	transcript_printf(t, "zero: %u %u\n", a[0], a[15 * PAGE + 5]);
	for (size_t pg = 0; pg < 16; pg++)
		a[pg * PAGE + pg] = (unsigned char)(pg + 1);
	churn(m);
	for (size_t pg = 0; pg < 16; pg++)
		if (a[pg * PAGE + pg] != pg + 1)
			transcript_printf(t, "page %zu lost its write\n", pg);
	cr_assert_eq(mem_unmap(m, (void *)(a + 4 * PAGE), 4 * PAGE), 0);
	transcript_access(t, "read of the unmapped part", (void *)a, probe_read(a + 5 * PAGE));
	transcript_printf(t, "the rest: %u %u\n", a[3 * PAGE + 3], a[8 * PAGE + 8]);
	cr_assert_eq(mem_unmap(m, (void *)a, 16 * PAGE), 0);
	note_evictions(m);
}

Test(objects, shared_anonymous_memory, .timeout = 60)
{
	differential(shared_anon);
}

/* ---- under a frame budget: pages evicted and read back mid-test ------------ */

#define BUDGET (4ul << 20)      /* 1024 pages */
#define BIG_PAGES (8 * BUDGET / PAGE) /* objects 8x the budget */
/* Beyond the budget the resident set may hold: bounce buffers of the
 * handler and reclaim threads (128 pages each), page-entry arrays and
 * checksums (32 bytes a page of the object), slot tables. */
#define SLACK (3ul << 20)

static struct upager *open_budgeted(unsigned int handlers)
{
	return open_with_budget(BUDGET, handlers);
}

/* Resident memory of the whole process, anonymous and shared, from the
 * kernel (smaps_rollup's Rss counts each page once per mapping of it). */
static size_t rss(void)
{
	return rollup_bytes("Rss");
}

/* Every page of the file holds generation gen(pg). */
static void file_check(int fd, uint64_t (*gen)(size_t pg))
{
	uint64_t buf[PAGE / 8];

	for (size_t pg = 0; pg < BIG_PAGES; pg++) {
		cr_assert_eq(pread(fd, buf, PAGE, (off_t)(pg * PAGE)), (ssize_t)PAGE);
		if (!page_is(buf, pg, gen(pg)))
			cr_assert_fail("file page %zu does not hold generation %llu", pg,
				       (unsigned long long)gen(pg));
	}
}

static uint64_t gen_all_2(size_t pg)
{
	(void)pg;
	return 2;
}

static uint64_t gen_file(size_t pg)
{
	(void)pg;
	return 0;
}

Test(objects, shared_file_8x_the_budget, .timeout = 180)
{
	struct upager *pager = open_budgeted(0);
	int fd = make_file(BIG_PAGES, 0, O_RDWR);
	volatile uint64_t *m;
	struct upager_stats st;
	size_t base, peak = 0;

	cr_assert_eq(upager_map_file(pager, NULL, BIG_PAGES * PAGE, RW, SHARED, fd, 0,
				     (void **)&m), 0);
	base = rss();
	for (size_t pg = 0; pg < BIG_PAGES; pg++) {
		if (!page_is(m + pg * PAGE / 8, pg, 0))
			cr_assert_fail("read pass: page %zu is not the file's", pg);
		if (pg % 512 == 0 && rss() > peak)
			peak = rss();
	}
	st = stats_now(pager);
	cr_assert_geq(st.clean_drops, BIG_PAGES - BUDGET / PAGE,
		      "unchanged pages were dropped, not written: %llu",
		      (unsigned long long)st.clean_drops);
	cr_assert_eq(st.file_writes, 0);
	for (size_t pg = 0; pg < BIG_PAGES; pg++) {
		page_fill(m + pg * PAGE / 8, pg, 1);
		if (pg % 512 == 0 && rss() > peak)
			peak = rss();
	}
	for (size_t pg = 0; pg < BIG_PAGES; pg++)
		if (!page_is(m + pg * PAGE / 8, pg, 1))
			cr_assert_fail("write pass: page %zu lost its write", pg);
	st = stats_now(pager);
	cr_assert_geq(st.file_writes, BIG_PAGES - BUDGET / PAGE, "evicted pages reached the file");
	cr_assert_leq(st.cache_pages, BUDGET / PAGE);
	/* Generation 2 in every page; sync, and the file holds it all. */
	for (size_t pg = 0; pg < BIG_PAGES; pg++)
		page_fill(m + pg * PAGE / 8, pg, 2);
	cr_assert_eq(upager_sync(pager, (void *)m, BIG_PAGES * PAGE, UPAGER_SYNC_DURABLE), 0);
	file_check(fd, gen_all_2);
	cr_log_info("file reads %llu, writes %llu, clean drops %llu, reactivations %llu, "
		    "peak rss +%zu KiB", (unsigned long long)st.file_reads,
		    (unsigned long long)st.file_writes, (unsigned long long)st.clean_drops,
		    (unsigned long long)st.reactivations, (peak - base) >> 10);
#ifndef __SANITIZE_ADDRESS__
	cr_assert_leq(peak - base, BUDGET + SLACK, "resident set +%zu KiB over a %lu KiB budget",
		      (peak - base) >> 10, BUDGET >> 10);
#endif
	cr_assert_eq(upager_unmap(pager, (void *)m, BIG_PAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).cache_pages, 0);
	cr_assert_eq(stats_now(pager).pages_resident, 0);
	upager_close(pager);
	close(fd);
}

Test(objects, private_file_8x_the_budget, .timeout = 180)
{
	struct upager *pager = open_budgeted(0);
	int fd = make_file(BIG_PAGES, 0, O_RDONLY);
	volatile uint64_t *p, *s;
	struct upager_stats st;

	cr_assert_eq(upager_map_file(pager, NULL, BIG_PAGES * PAGE, RW, PRIVATE, fd, 0,
				     (void **)&p), 0);
	cr_assert_eq(upager_map_file(pager, NULL, BIG_PAGES * PAGE, RO, SHARED, fd, 0,
				     (void **)&s), 0);
	/* Private copies of the even pages, written; the odd ones read. */
	for (size_t pg = 0; pg < BIG_PAGES; pg++) {
		if (pg % 2)
			cr_assert(page_is(p + pg * PAGE / 8, pg, 0), "page %zu", pg);
		else
			page_fill(p + pg * PAGE / 8, pg, 3);
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < BIG_PAGES; pg++) {
			if (!page_is(p + pg * PAGE / 8, pg, pg % 2 ? 0 : 3))
				cr_assert_fail("pass %d: private page %zu wrong", pass, pg);
			if (!page_is(s + pg * PAGE / 8, pg, 0))
				cr_assert_fail("pass %d: shared page %zu is not the file's", pass, pg);
		}
	st = stats_now(pager);
	cr_assert_eq(st.cow_breaks, BIG_PAGES / 2, "one copy per written page: %llu",
		     (unsigned long long)st.cow_breaks);
	cr_assert_gt(st.writebacks, 0, "private copies went to swap");
	cr_assert_gt(st.swapins, 0, "and came back");
	cr_assert_eq(st.file_writes, 0, "a private mapping never writes the file");
	cr_assert_eq(st.sigbus, 0);
	cr_assert_eq(upager_unmap(pager, (void *)p, BIG_PAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0, "the private copies' slots are free");
	cr_assert_eq(upager_unmap(pager, (void *)s, BIG_PAGES * PAGE), 0);
	file_check(fd, gen_file);
	upager_close(pager);
	close(fd);
}

Test(objects, shared_anonymous_8x_the_budget, .timeout = 180)
{
	struct upager *pager = open_budgeted(0);
	volatile uint64_t *m;
	struct upager_stats st;

	cr_assert_eq(upager_map(pager, NULL, BIG_PAGES * PAGE, RW, SHARED, (void **)&m), 0);
	for (size_t pg = 0; pg < BIG_PAGES; pg++)
		page_fill(m + pg * PAGE / 8, pg, 5);
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < BIG_PAGES; pg++)
			if (!page_is(m + pg * PAGE / 8, pg, 5))
				cr_assert_fail("pass %d: page %zu wrong", pass, pg);
	st = stats_now(pager);
	cr_assert_geq(st.writebacks, BIG_PAGES - BUDGET / PAGE);
	cr_assert_gt(st.swapins, BIG_PAGES);
	cr_assert_gt(st.clean_drops, 0, "pages read back and evicted unchanged: no write");
	cr_assert_eq(upager_unmap(pager, (void *)m, BIG_PAGES * PAGE), 0);
	st = stats_now(pager);
	cr_assert_eq(st.slots_in_use, 0);
	cr_assert_eq(st.cache_pages, 0);
	upager_close(pager);
}

struct racer {
	volatile uint64_t *m;
	unsigned int t, nthreads;
	uint64_t gens;
};

/* Every thread writes its own words of every page, so all threads write
 * every page while eviction takes pages out from under them. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;

	for (uint64_t gen = 1; gen <= r->gens; gen++)
		for (size_t pg = 0; pg < BIG_PAGES; pg++)
			for (size_t w = r->t; w < PAGE / 8; w += r->nthreads)
				r->m[pg * PAGE / 8 + w] = word(pg, w, gen);
	return NULL;
}

Test(objects, threads_writing_one_shared_file_while_it_is_evicted, .timeout = 240)
{
	enum { T = 4, GENS = 3 };
	struct upager *pager = open_budgeted(2);
	int fd = make_file(BIG_PAGES, 0, O_RDWR);
	volatile uint64_t *m;
	struct racer r[T];
	pthread_t tid[T];

	cr_assert_eq(upager_map_file(pager, NULL, BIG_PAGES * PAGE, RW, SHARED, fd, 0,
				     (void **)&m), 0);
	for (unsigned int i = 0; i < T; i++) {
		r[i] = (struct racer){ m, i, T, GENS };
		cr_assert_eq(pthread_create(&tid[i], NULL, racer_main, &r[i]), 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(tid[i], NULL);
	for (size_t pg = 0; pg < BIG_PAGES; pg++)
		if (!page_is(m + pg * PAGE / 8, pg, GENS))
			cr_assert_fail("page %zu lost a write", pg);
	cr_assert_gt(stats_now(pager).file_writes, 0);
	cr_assert_eq(upager_unmap(pager, (void *)m, BIG_PAGES * PAGE), 0);
	for (size_t pg = 0; pg < BIG_PAGES; pg++) {
		uint64_t buf[PAGE / 8];

		cr_assert_eq(pread(fd, buf, PAGE, (off_t)(pg * PAGE)), (ssize_t)PAGE);
		if (!page_is(buf, pg, GENS))
			cr_assert_fail("file page %zu lost a write", pg);
	}
	upager_close(pager);
	close(fd);
}

/* ---- the same scenarios with a budget 8x smaller than the data ---------- */

Test(objects, scenarios_with_pages_evicted_between_steps, .timeout = 120)
{
	const struct upager_options tiny = {
		.sz = sizeof(struct upager_options), .max_resident = TINY_BUDGET,
	};
	scenario_fn scenarios[] = { two_shared_synced, private_cow, past_eof, shared_anon };

	check_pfns = false;
	churning = true;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		churn_pager = NULL;
		evicted_objects = 0;
		differential_with(scenarios[i], &tiny);
		cr_assert_gt(evicted_objects, 0, "scenario %zu: no object page was evicted", i);
	}
}

/* ---- random operations, side by side ----------------------------------------- */

#define RND_PAGES 512ul   /* the file; upager's budget is 64 pages */
#define RND_OPS 10000

/* Random writes, reads, syncs and discards through two shared mappings
 * (at different offsets) and a private one of the same file; every read
 * goes into a running hash, written to the transcript every 250
 * operations, with the file's contents at each sync and at the end. */
static uint64_t rnd_seed;

static void random_ops(struct mem *m, struct transcript *t)
{
	int fd = make_file(RND_PAGES, 0, O_RDWR);
	volatile unsigned char *map[3];
	const size_t off[3] = { 0, 128, 0 }, len[3] = { RND_PAGES, 256, RND_PAGES };
	const unsigned int flags[3] = { SHARED, SHARED, PRIVATE };
	uint64_t rng = rnd_seed, h = 0;

	for (int i = 0; i < 3; i++)
		cr_assert_eq(mem_map_file(m, NULL, len[i] * PAGE, RW, flags[i], fd, off[i] * PAGE,
					  (void **)&map[i]), 0);
	for (int op = 0; op < RND_OPS; op++) {
		uint64_t r = rng_next(&rng);
		int i = (int)(r % 3);
		/* Mostly near a moving hot spot, sometimes anywhere. */
		size_t pg = (r >> 8) % 8 ? ((size_t)op / 40 + (r >> 16) % 32) % len[i]
					 : (size_t)(r >> 16) % len[i];
		size_t at = pg * PAGE + (r >> 32) % PAGE;

		switch ((r >> 4) % 16) {
		case 0:
			if ((r >> 20) % 16)
				break; /* a sync in 256 operations */
			cr_assert_eq(mem_sync(m, (void *)map[0], len[0] * PAGE), 0);
			transcript_file(t, "sync", fd);
			break;
		case 1: {
			size_t n = 1 + (r >> 40) % 8;

			if (pg + n > len[2])
				n = len[2] - pg;
			cr_assert_eq(mem_discard(m, (void *)(map[2] + pg * PAGE), n * PAGE), 0);
			break;
		}
		case 2: case 3: case 4: case 5: case 6:
			map[i][at] = (unsigned char)(r >> 56);
			break;
		default:
			h = (h ^ map[i][at]) * 1099511628211ull;
			break;
		}
		if (op % 250 == 249)
			transcript_printf(t, "op %d: reads %016llx\n", op, (unsigned long long)h);
	}
	for (int i = 0; i < 3; i++) {
		for (size_t b = 0; b < len[i] * PAGE; b += 64)
			h = (h ^ map[i][b]) * 1099511628211ull;
		transcript_printf(t, "mapping %d: %016llx\n", i, (unsigned long long)h);
	}
	for (int i = 0; i < 3; i++)
		cr_assert_eq(mem_unmap(m, (void *)map[i], len[i] * PAGE), 0);
	transcript_file(t, "after unmap", fd);
	close(fd);
	note_evictions(m);
}

Test(objects, random_operations_match_the_kernel, .timeout = 180)
{
	const struct upager_options budget = {
		.sz = sizeof(struct upager_options), .max_resident = 64 * PAGE,
	};

	rnd_seed = test_seed(11);
	differential(random_ops);
	evicted_objects = 0;
	differential_with(random_ops, &budget);
	cr_assert_gt(evicted_objects, 1000, "pages were evicted and read back: %llu",
		     (unsigned long long)evicted_objects);
}
