/* SPDX-License-Identifier: MIT */
/*
 * test-swap.c - paging under a frame budget: regions far larger than the
 * budget, written and verified byte for byte through eviction and
 * swap-in, with the resident set measured from outside (smaps_rollup).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "mm/reclaim.h"
#include "store/store-zpool.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (4ul << 20)   /* 1024 pages */
#define REGION (8 * BUDGET)  /* 8x the budget */
#define NPAGES (REGION / PAGE)

/*
 * What the resident set may grow by beyond the budget once the pager is
 * open (its fixed cost, the io_uring rings and thread stacks, is in the
 * baseline): each handler's swap-in bounce buffer (128 pages), the
 * page-entry array (16 bytes a page of the region: 128 KiB here), the
 * slot tables (20 bytes a slot in use), handler threads' malloc arenas,
 * staging copies awaiting their batched discard (64 pages).
 */
#define SLACK (2ul << 20)
/* Through the compressed tier (UPAGER_TEST_COMPRESS), its own memory
 * too: 40 bytes a slot used (store-zpool.c's struct zslot) and the write-
 * back buffer, touched once the pool is full (ZSTORE_WRITEBACK_BATCH
 * pages). The pool itself is inside the budget (frames withheld). */
#define TIER_SLACK (test_compress() ? NPAGES * 40 + ZSTORE_WRITEBACK_BATCH * PAGE : 0)

static const char *swap_path;

/* A pager with options @o and a fresh swap store at swap_path. */
static struct upager *open_with_store(struct upager_options o)
{
	o.swap_path = swap_path = test_swap_path("swap");
	o.compress = test_compress();
	return test_open(&o);
}

static struct upager *open_budgeted(uint64_t budget, uint64_t swap_size, unsigned int handlers)
{
	return open_with_store(UPAGER_OPTS(.max_resident = budget, .swap_size = swap_size,
					   .handler_threads = handlers));
}

/* Anonymous resident memory of the whole process, from the kernel. */
static size_t rss_anon(void)
{
	return rollup_bytes("Anonymous");
}

Test(swap, sequential_and_random_8x_budget, .timeout = 120)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	uint64_t rng = test_seed(3);
	struct upager_stats st;
	size_t base_rss, peak = 0;
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	base_rss = rss_anon();
	for (size_t pg = 0; pg < NPAGES; pg++) {
		gen_fill(mem + pg * PAGE / 8, pg, 1);
		if (pg % 256 == 0 && rss_anon() > peak)
			peak = rss_anon();
	}
	for (size_t pg = 0; pg < NPAGES; pg++)
		if (!gen_holds(mem + pg * PAGE / 8, pg, 1))
			cr_assert_fail("sequential pass: page %zu wrong", pg);
	for (size_t i = 0; i < 4 * NPAGES; i++) {
		size_t pg = rng_next(&rng) % NPAGES;

		if (!gen_holds(mem + pg * PAGE / 8, pg, 1))
			cr_assert_fail("random pass: page %zu wrong (step %zu)", pg, i);
		if (i % 256 == 0 && rss_anon() > peak)
			peak = rss_anon();
	}
	st = stats_now(pager);
	cr_log_info("writebacks %lu swapins %lu readahead %lu clean %lu peak rss +%zu KiB",
		    (unsigned long)st.writebacks, (unsigned long)st.swapins,
		    (unsigned long)st.readahead_pages, (unsigned long)st.clean_drops,
		    (peak - base_rss) >> 10);
	cr_assert_geq(st.writebacks, NPAGES - BUDGET / PAGE, "every page beyond the budget was written");
	cr_assert_gt(st.swapins, NPAGES, "pages came back from swap");
	cr_assert_gt(st.readahead_pages, 0, "the sequential pass read ahead");
	cr_assert_leq(st.pages_resident, BUDGET / PAGE);
#ifndef __SANITIZE_ADDRESS__
	/* (ASan's shadow memory and quarantine make RSS meaningless.) */
	cr_assert_leq(peak - base_rss, BUDGET + SLACK + TIER_SLACK, "resident set %zu KiB over a %lu KiB budget",
		      (peak - base_rss) >> 10, BUDGET >> 10);
#endif
	cr_assert_eq(st.sigbus, 0);
	upager_close(pager);
}

struct writer {
	uint64_t *mem;
	size_t first, count; /* pages owned */
	uint64_t gens;
	uint64_t seed;
};

/* Rewrite owned pages generation after generation while the others do the
 * same: every write races the evictions the others cause. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (uint64_t gen = 1; gen <= w->gens; gen++) {
		uint64_t rng = w->seed + gen;

		for (size_t i = 0; i < w->count; i++) {
			size_t pg = w->first + (gen % 2 ? i : (size_t)(rng_next(&rng) % w->count));

			gen_fill(w->mem + pg * PAGE / 8, pg, gen);
		}
		/* Odd generations cover every page in order; even ones a
		 * random subset, rewritten below to leave one generation. */
		if (gen % 2 == 0)
			for (size_t i = 0; i < w->count; i++)
				gen_fill(w->mem + (w->first + i) * PAGE / 8, w->first + i, gen);
	}
	return NULL;
}

Test(swap, threads_writing_while_pages_are_evicted, .timeout = 180)
{
	enum { T = 4, GENS = 4 };
	struct upager *pager = open_budgeted(BUDGET, 0, 2);
	pthread_t tid[T];
	struct writer w[T];
	uint64_t *mem, seed = test_seed(8);

	cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (int i = 0; i < T; i++) {
		w[i] = (struct writer){ mem, i * (NPAGES / T), NPAGES / T, GENS, seed + (uint64_t)i };
		cr_assert_eq(pthread_create(&tid[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(tid[i], NULL);
	for (size_t pg = 0; pg < NPAGES; pg++)
		if (!gen_holds(mem + pg * PAGE / 8, pg, GENS))
			cr_assert_fail("page %zu does not hold generation %d", pg, GENS);
	cr_assert_gt(stats_now(pager).writebacks, 0);
	upager_close(pager);
}

Test(swap, clean_pages_are_evicted_without_io, .timeout = 120)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	struct upager_stats before, after;
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, 2 * BUDGET, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < 2 * BUDGET / PAGE; pg++)
		gen_fill(mem + pg * PAGE / 8, pg, 7);
	/* The first read pass writes back what was still dirty in memory. */
	for (size_t pg = 0; pg < 2 * BUDGET / PAGE; pg++)
		cr_assert(gen_holds(mem + pg * PAGE / 8, pg, 7));
	before = stats_now(pager);
	/* Now every page in swap is also clean in memory once read. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < 2 * BUDGET / PAGE; pg++)
			if (!gen_holds(mem + pg * PAGE / 8, pg, 7))
				cr_assert_fail("page %zu wrong", pg);
	after = stats_now(pager);
	cr_assert_eq(after.writebacks, before.writebacks,
		     "re-evicting unmodified pages wrote %lu pages",
		     (unsigned long)(after.writebacks - before.writebacks));
	cr_assert_gt(after.clean_drops, before.clean_drops);
	cr_assert_gt(after.swapins, before.swapins);
	upager_close(pager);
}

Test(swap, zero_pages_take_no_slot, .timeout = 60)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	struct upager_stats st;
	unsigned char *mem;

	cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		mem[pg * PAGE] = 0; /* a write fault, all zeros */
	for (size_t pg = 0; pg < NPAGES; pg += 7)
		cr_assert_eq(mem[pg * PAGE + 5], 0);
	st = stats_now(pager);
	cr_assert_gt(st.zero_drops, 0);
	cr_assert_eq(st.writebacks, 0);
	cr_assert_eq(st.slots_in_use, 0);
	upager_close(pager);
}

/*
 * The store file is unlinked as soon as it is created (so a killed
 * process leaves nothing behind); the test reaches it through the
 * pager's descriptor. Returns an fd of our own for it, or -1 when no
 * descriptor of this process refers to it any more.
 */
static int open_store_file(void)
{
	char want[128], link[128], path[300];

	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	/* Every descriptor, wherever it is: upager keeps its own far above
	 * the program's (lib/os/fdreg.h). */
	snprintf(want, sizeof(want), "%s (deleted)", swap_path);
	while (dir && found < 0 && (de = readdir(dir))) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, want))
			found = open(path, O_RDWR | O_CLOEXEC);
	}
	if (dir)
		closedir(dir);
	return found;
}

static void store_file_stat(struct stat *sb)
{
	int fd = open_store_file();

	cr_assert_geq(fd, 0, "the pager holds its store file open");
	cr_assert_eq(fstat(fd, sb), 0);
	close(fd);
}

Test(swap, unmap_frees_slots_and_disk, .timeout = 120)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	struct upager_stats st;
	struct stat sb;
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < NPAGES; pg++)
		gen_fill(mem + pg * PAGE / 8, pg, 2);
	st = stats_now(pager);
	cr_assert_gt(st.slots_in_use, NPAGES / 2);
	cr_assert_neq(access(swap_path, F_OK), 0, "the store's name is gone while it is in use");
	store_file_stat(&sb);
	cr_assert_geq((uint64_t)sb.st_blocks * 512, st.slots_in_use * PAGE / 2,
		      "the store holds the evicted pages on disk");
	cr_assert_eq((sb.st_mode & 0777), 0600, "the store is private to its owner");
	/* Unmap the middle half: its slots go, the rest stays intact. */
	cr_assert_eq(upager_unmap(pager, mem + NPAGES / 4 * PAGE / 8, REGION / 2), 0);
	for (size_t pg = 0; pg < NPAGES / 4; pg++)
		cr_assert(gen_holds(mem + pg * PAGE / 8, pg, 2), "page %zu", pg);
	cr_assert_eq(upager_unmap(pager, mem, REGION), 0);
	st = stats_now(pager);
	cr_assert_eq(st.slots_in_use, 0);
	cr_assert_eq(st.pages_resident, 0);
	store_file_stat(&sb);
	cr_assert_leq((uint64_t)sb.st_blocks * 512, 2 * 64 * PAGE,
		      "%lu KiB still allocated to the store", (unsigned long)sb.st_blocks / 2);
	upager_close(pager);
	cr_assert_eq(open_store_file(), -1, "nothing holds the store after close");
}

Test(swap, corrupt_slot_is_detected_not_served, .timeout = 60)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	struct access_result r;
	uint64_t *mem;
	char junk[PAGE];
	int fd;

	cr_assert_eq(upager_map(pager, NULL, 4 * BUDGET, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < 4 * BUDGET / PAGE; pg++)
		gen_fill(mem + pg * PAGE / 8, pg, 5);
	/* Page 0 was evicted long ago: smash every slot on disk. */
	fd = open_store_file();
	cr_assert_geq(fd, 0);
	memset(junk, 0x5a, sizeof(junk));
	for (off_t off = 0; off < (off_t)(4 * BUDGET); off += PAGE)
		cr_assert_eq(pwrite(fd, junk, PAGE, off), (ssize_t)PAGE);
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	r = probe_read((unsigned char *)mem + 100);
	cr_assert_eq(r.sig, SIGBUS, "a corrupt slot must raise SIGBUS, got signal %d value 0x%x",
		     r.sig, r.value);
	cr_assert_eq(probe_read((unsigned char *)mem + 200).sig, SIGBUS, "and keep raising it");
	cr_assert_gt(stats_now(pager).checksum_failures, 0);
	upager_close(pager);
}

Test(swap, full_store_fails_loudly_and_loses_nothing, .timeout = 60)
{
	/* 256 KiB of budget, 256 KiB of swap: 128 pages fit, the rest not. */
	struct upager *pager = open_budgeted(256 << 10, 256 << 10, 1);
	struct access_result r = { 0 };
	size_t pg, written;
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, 1024 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (pg = 0; pg < 1024; pg++) {
		r = probe_write((unsigned char *)(mem + pg * PAGE / 8), 1);
		if (r.sig)
			break;
		gen_fill(mem + pg * PAGE / 8, pg, 9);
	}
	written = pg;
	cr_log_info("full after %zu pages; region at %p", written, (void *)mem);
	cr_assert_eq(r.sig, SIGBUS, "a full store answers with SIGBUS, not a zero page");
	cr_assert_geq(written, 100, "only %zu pages fit", written);
	cr_assert_gt(stats_now(pager).swap_full, 0);
	/* Free room, then every page written before is still there. */
	cr_assert_eq(upager_unmap(pager, mem + (written - 64) * PAGE / 8, 64 * PAGE), 0);
	for (pg = 0; pg < written - 64; pg++) {
		r = probe_read((unsigned char *)(mem + pg * PAGE / 8));
		cr_assert_eq(r.sig, 0, "page %zu unreadable", pg);
		cr_assert(gen_holds(mem + pg * PAGE / 8, pg, 9), "page %zu lost", pg);
	}
	/* The failure lasted only as long as its cause: with room again, the
	 * page that got SIGBUS can be written. */
	r = probe_write((unsigned char *)(mem + written * PAGE / 8), 1);
	cr_assert_eq(r.sig, 0, "page %zu still refused once there is room", written);
	upager_close(pager);
}

Test(swap, protection_changes_on_swapped_pages, .timeout = 60)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, 4 * BUDGET, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < 4 * BUDGET / PAGE; pg++)
		gen_fill(mem + pg * PAGE / 8, pg, 4);
	cr_assert_eq(upager_protect(pager, mem, 2 * BUDGET, UPAGER_PROT_READ), 0);
	/* Read-only pages go through swap too (copied out, not moved). */
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < 4 * BUDGET / PAGE; pg++)
			if (!gen_holds(mem + pg * PAGE / 8, pg, 4))
				cr_assert_fail("pass %d page %zu wrong", pass, pg);
	cr_assert_eq(probe_write((unsigned char *)mem, 1).code, SEGV_ACCERR);
	cr_assert_eq(upager_protect(pager, mem, 2 * BUDGET, RW), 0);
	gen_fill(mem, 0, 6);
	cr_assert(gen_holds(mem, 0, 6));
	upager_close(pager);
}

Test(swap, invalid_budget_is_refused)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = 4096);
	struct upager *pager;

	cr_assert_eq(upager_open(&o, &pager), -EINVAL);
	o = UPAGER_OPTS(.max_resident = BUDGET, .swap_path = "/nonexistent-dir/swap");
	cr_assert_eq(upager_open(&o, &pager), -ENOENT);
}

Test(swap, read_faults_beyond_the_budget, .timeout = 60)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	struct upager_stats st;
	unsigned char *mem;

	/* Read faults map the shared zero page; those must be evictable too. */
	cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < NPAGES; pg++)
			if (mem[pg * PAGE + 9])
				cr_assert_fail("page %zu not zero", pg);
	mem[5] = 1;
	st = stats_now(pager);
	cr_assert_eq(st.sigbus, 0);
	cr_assert_leq(st.pages_resident, BUDGET / PAGE);
	cr_assert_eq(st.writebacks, 0, "zero pages need no write");
	cr_assert_eq(mem[5], 1);
	upager_close(pager);
}

/* swap_readahead_max caps every swap-in (the kernel's page-cluster): 1
 * reads only the page faulted on, 8 at most 8 pages an operation; every
 * byte comes back either way. */
Test(swap, swap_readahead_max_caps_each_read, .timeout = 120)
{
	const unsigned int caps[] = { 1, 8 };

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		struct upager *pager = open_with_store(UPAGER_OPTS(.max_resident = BUDGET,
								   .swap_readahead_max = caps[c]));
		struct upager_stats before, after;
		uint64_t pages, ahead;
		uint64_t *mem;

		cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)&mem),
			     0);
		for (size_t pg = 0; pg < NPAGES; pg++)
			gen_fill(mem + pg * PAGE / 8, pg, 1);
		before = stats_now(pager);
		for (size_t pg = 0; pg < NPAGES; pg++)
			cr_assert(gen_holds(mem + pg * PAGE / 8, pg, 1), "page %zu (cap %u)", pg,
				  caps[c]);
		after = stats_now(pager);
		pages = after.swapins - before.swapins;
		ahead = after.readahead_pages - before.readahead_pages;
		cr_assert_gt(pages, NPAGES / 2, "cap %u: %lu pages read", caps[c],
			     (unsigned long)pages);
		if (caps[c] == 1)
			cr_assert_eq(ahead, 0);
		else
			cr_assert(ahead > 0 && pages <= (pages - ahead) * caps[c],
				  "cap %u: %lu pages in %lu reads", caps[c], (unsigned long)pages,
				  (unsigned long)(pages - ahead));
		upager_close(pager);
	}
}

/* Pages written in order past a budget, once: a quarter more. */
#define STAGED_NPAGES (BUDGET / PAGE + BUDGET / PAGE / 4)

/*
 * A pager without background reclaim (what is staged is what the faults
 * left) and STAGED_NPAGES pages written in order at *@mem (generation 1),
 * with a staged page *@t and the aligned 16-page (64 KiB) window *@w
 * around it, all staged.
 */
static struct upager *open_with_staged_window(uint64_t **mem, size_t *t, size_t *w)
{
	_Static_assert(REACTIVATE_AROUND == 16, "the window the tests lay out");
	struct upager *pager;
	size_t mapped = 0;

	cr_assert_eq(setenv("UPAGER_DIRECT_RECLAIM", "1", 1), 0);
	pager = open_budgeted(BUDGET, 0, 1);
	cr_assert_eq(upager_map(pager, NULL, STAGED_NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)mem), 0);
	for (size_t pg = 0; pg < STAGED_NPAGES; pg++)
		gen_fill(*mem + pg * PAGE / 8, pg, 1);
	/* The oldest pages were staged in runs, the oldest of those then
	 * evicted: the staged ones lie just below the lowest page still
	 * mapped (an eighth of the budget, at least half of it left). */
	while (mapped < STAGED_NPAGES && !resident_pages(*mem + mapped * PAGE / 8, PAGE))
		mapped++;
	cr_assert_geq(mapped, 64, "only %zu pages left memory", mapped);
	*t = mapped - 24;
	*w = ((((uintptr_t)*mem + *t * PAGE) & ~(16 * PAGE - 1)) - (uintptr_t)*mem) / PAGE;
	return pager;
}

/*
 * A staged page touched again comes back with the pages staged beside it,
 * in one UFFDIO_MOVE (as the kernel maps the cached pages around a file
 * fault): touching those next costs no fault, and every byte is there.
 */
Test(swap, staged_neighbours_come_back_with_a_touched_page, .timeout = 60)
{
	struct upager_stats before, touched, after;
	struct upager *pager;
	uint64_t *mem;
	size_t t, w;

	pager = open_with_staged_window(&mem, &t, &w);
	before = stats_now(pager);
	cr_assert(gen_holds(mem + t * PAGE / 8, t, 1), "page %zu", t);
	touched = stats_now(pager);
	cr_assert_eq(touched.swapins, before.swapins, "page %zu was not staged", t);
	cr_assert_eq(touched.reactivations - before.reactivations, 1);
	cr_assert_eq(touched.reactivated_around - before.reactivated_around, 15);
	cr_assert_eq(resident_pages(mem + w * PAGE / 8, 16 * PAGE), 16);
	for (size_t pg = w; pg < w + 16; pg++)
		cr_assert(gen_holds(mem + pg * PAGE / 8, pg, 1), "page %zu", pg);
	after = stats_now(pager);
	cr_assert_eq(after.faults, touched.faults, "neighbours faulted on their own");
	upager_close(pager);
}

/*
 * Pages a soft fault brought back (the touched page and its staged run)
 * are hot: when they are the oldest active pages again they go round once
 * more, so that pages that came in after them, untouched since, are
 * staged first. Untouched after that, they are staged in their turn.
 */
Test(swap, pages_brought_back_by_a_soft_fault_are_spared_one_round, .timeout = 60)
{
	const size_t npages = STAGED_NPAGES, push_pages = 4 * BUDGET / PAGE;
	const size_t later = 16; /* pages that come in just after the window */
	struct upager_stats before, after;
	struct upager *pager;
	size_t t, w, pushed;
	uint64_t *mem, *push;

	pager = open_with_staged_window(&mem, &t, &w);
	cr_assert_eq(upager_map(pager, NULL, push_pages * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)&push), 0);
	before = stats_now(pager);
	cr_assert(gen_holds(mem + t * PAGE / 8, t, 1), "page %zu", t);
	after = stats_now(pager);
	cr_assert_eq(after.reactivations - before.reactivations, 1, "page %zu was not staged", t);
	cr_assert_eq(resident_pages(mem + w * PAGE / 8, 16 * PAGE), 16);
	for (pushed = 0; pushed < later; pushed++)
		gen_fill(push + pushed * PAGE / 8, pushed, 2);

	/* New pages push the window, then the later pages, to the head of
	 * the active list: until the later pages are staged. */
	while (resident_pages(push, later * PAGE) && pushed < push_pages / 2)
		gen_fill(push + pushed * PAGE / 8, pushed, 2), pushed++;
	cr_assert_eq(resident_pages(push, later * PAGE), 0, "%zu pages pushed", pushed);
	cr_assert_eq(resident_pages(mem + w * PAGE / 8, 16 * PAGE), 16,
		     "the window was staged before pages younger than it");

	/* Spared once, not for good: another round stages it. */
	for (size_t end = pushed + npages; pushed < end; pushed++)
		gen_fill(push + pushed * PAGE / 8, pushed, 2);
	cr_assert_eq(resident_pages(mem + w * PAGE / 8, 16 * PAGE), 0, "still mapped after a round");
	for (size_t pg = 0; pg < npages; pg++)
		cr_assert(gen_holds(mem + pg * PAGE / 8, pg, 1), "page %zu", pg);
	for (size_t pg = 0; pg < pushed; pg++)
		cr_assert(gen_holds(push + pg * PAGE / 8, pg, 2), "pushed page %zu", pg);
	upager_close(pager);
}

/* madvise(MADV_DONTNEED) semantics through upager_discard, side by side
 * with the kernel's: discarded pages read as zeros (resident, staged or in
 * swap before), their slots are freed at once, the rest is untouched. */
Test(swap, discard_reads_zeros_and_frees_slots, .timeout = 60)
{
	struct upager *pager = open_budgeted(BUDGET, 0, 0);
	uint64_t *mem, *ref, before;
	size_t lo = NPAGES / 4, hi = NPAGES / 2;
	int prot = 0;

	ref = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(ref, MAP_FAILED);
	cr_assert_eq(upager_map(pager, NULL, REGION, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < NPAGES; pg++) {
		gen_fill(mem + pg * PAGE / 8, pg, 4);
		gen_fill(ref + pg * PAGE / 8, pg, 4);
	}
	before = stats_now(pager).slots_in_use;
	cr_assert_gt(before, NPAGES / 2);
	cr_assert_eq(upager_query(pager, mem + lo * PAGE / 8, 1, &prot), UPAGER_QUERY_ALL);
	cr_assert_eq(prot, RW);
	cr_assert_eq(upager_query(pager, ref, PAGE, NULL), UPAGER_QUERY_NONE);
	cr_assert_eq(upager_query(pager, (char *)mem - PAGE, 2 * PAGE, NULL), UPAGER_QUERY_PART);
	cr_assert_eq(upager_discard(pager, (char *)mem + 1, PAGE), -EINVAL);
	cr_assert_eq(upager_discard(pager, mem + lo * PAGE / 8, (hi - lo) * PAGE), 0);
	cr_assert_eq(madvise(ref + lo * PAGE / 8, (hi - lo) * PAGE, MADV_DONTNEED), 0);
	cr_assert_leq(stats_now(pager).slots_in_use, before - (hi - lo) + (hi - lo) / 4,
		      "the discarded pages' slots are free");
	for (size_t pg = 0; pg < NPAGES; pg++) {
		const uint64_t *p = mem + pg * PAGE / 8, *k = ref + pg * PAGE / 8;

		if (memcmp(p, k, PAGE))
			cr_assert_fail("page %zu differs from the kernel's after discard", pg);
		if (pg >= lo && pg < hi && (p[0] || p[PAGE / 8 - 1]))
			cr_assert_fail("page %zu: not zero after discard", pg);
	}
	munmap(ref, REGION);
	cr_assert_eq(upager_unmap(pager, mem, REGION), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0);
	upager_close(pager);
}

/* Ask the kernel to compact memory, over and over: it migrates the pages
 * reclaim is moving, and UFFDIO_MOVE then meets folios it cannot lock. */
static void compact_round(void *arg)
{
	const int *fd = arg;

	(void)!pwrite(*fd, "1", 1, 0);
	usleep(2000);
}

struct sweeper {
	uint64_t *mem;
	size_t first, count; /* pages owned */
	uint64_t passes;
};

/* Sequential passes over owned pages, each checking the last pass's
 * generation and writing the next: runs of neighbouring pages fault in
 * together and are staged together, many pages to one UFFDIO_MOVE. */
static void *sweeper_main(void *arg)
{
	struct sweeper *s = arg;

	for (uint64_t gen = 2; gen <= s->passes + 1; gen++)
		for (size_t pg = s->first; pg < s->first + s->count; pg++) {
			uint64_t *p = s->mem + pg * PAGE / 8;

			if (!gen_holds(p, pg, gen - 1))
				cr_assert_fail("page %zu lost generation %lu (word 0: %#lx)", pg,
					 (unsigned long)(gen - 1), (unsigned long)p[0]);
			gen_fill(p, pg, gen);
		}
	return NULL;
}

/*
 * Reclaim moves runs of pages out with UFFDIO_MOVE while the kernel
 * migrates them (compaction). Linux 6.18 can then move more pages than it
 * reports; a page counted as not moved but gone from its place read as
 * zeros (found under sort; reclaim.c, move_counted()). Every generation
 * must come back intact.
 */
Test(swap, runs_moved_out_survive_compaction, .timeout = 180)
{
	enum { T = 2, PASSES = 4 };
	const uint64_t budget = 8 * BUDGET, npages = 4 * budget / PAGE;
	int compact_fd = open("/proc/sys/vm/compact_memory", O_WRONLY);
	struct upager *pager;
	struct upager_stats st;
	struct loop_thread compact;
	pthread_t tid[T];
	struct sweeper s[T];
	uint64_t *mem;

	if (compact_fd < 0)
		cr_skip_test("cannot ask for compaction: %s", strerror(errno));
	pager = open_budgeted(budget, 0, 2);
	cr_assert_eq(upager_map(pager, NULL, npages * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	for (size_t pg = 0; pg < npages; pg++)
		gen_fill(mem + pg * PAGE / 8, pg, 1);
	loop_start(&compact, compact_round, &compact_fd);
	for (int i = 0; i < T; i++) {
		s[i] = (struct sweeper){ mem, i * (npages / T), npages / T, PASSES };
		cr_assert_eq(pthread_create(&tid[i], NULL, sweeper_main, &s[i]), 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(tid[i], NULL);
	loop_stop(&compact);
	close(compact_fd);
	for (size_t pg = 0; pg < npages; pg++)
		if (!gen_holds(mem + pg * PAGE / 8, pg, PASSES + 1))
			cr_assert_fail("page %zu does not hold generation %d", pg, PASSES + 1);
	st = stats_now(pager);
	cr_log_info("staged %lu, moves under-counted by the kernel %lu",
		    (unsigned long)st.staged, (unsigned long)st.moves_undercounted);
	cr_assert_gt(st.writebacks, (uint64_t)PASSES * (npages - budget / PAGE) / 2);
	cr_assert_eq(st.sigbus, 0);
	upager_close(pager);
}
