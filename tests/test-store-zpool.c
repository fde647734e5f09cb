/* SPDX-License-Identifier: MIT */
/*
 * test-store-zpool.c - the compressed tier (store/store-zpool.h) under the
 * real engine, with the fake store (fake-store.h) as its lower store, so
 * a test sees which pages reached the lower store and can make it fail:
 * pages that compress stay in memory, pages that do not pass through,
 * same-filled pages take no space, a full pool writes its coldest pages
 * back, a corrupt compressed page is SIGBUS, a full lower store is SIGBUS
 * (never a zero page), and the budget gives up frames while the pool
 * holds memory.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "fake-store.h"
#include "backend/backend.h"
#include "mm/pager.h"
#include "os/signals.h"
#include "store/store-zpool.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (256ul << 10)    /* the smallest budget: 64 pages */
#define NPAGES 256ul            /* 4x the budget */

enum content {
	TEXTLIKE,       /* compresses about 8:1, never same-filled */
	RANDOM,         /* does not compress */
	SAME,           /* one word, a different one per page */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x | 1;
}

static uint64_t word(enum content c, size_t pg, size_t w, uint64_t gen)
{
	switch (c) {
	case TEXTLIKE:
		/* Runs of 16 equal words: lz4 finds them; two runs per page differ. */
		return mix(pg << 20 | gen << 12 | (w / 16) % 2) + (w / 256);
	case RANDOM:
		return mix(pg << 32 | w << 8 | gen);
	default:
		return mix(pg << 8 | gen);
	}
}

static void fill_page(uint64_t *p, enum content c, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		p[w] = word(c, pg, w, gen);
}

static bool page_ok(const uint64_t *p, enum content c, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		if (p[w] != word(c, pg, w, gen))
			return false;
	return true;
}

static uint64_t *page_at(uint64_t *mem, size_t pg)
{
	return mem + pg * PAGE / 8;
}

struct tier {
	struct upager *pager;
	struct fake_store *fake;
	struct store *store;
	uint64_t *mem;
};

/* A pager with a 64-page budget paging through a compressed tier of
 * @pool_max bytes over a fake store of @slots slots. */
static struct tier open_tier_with(enum zstore_codec codec, uint64_t slots, size_t pool_max)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .handler_threads = 1);
	struct zstore_config zc = { .codec = codec, .pool_max = pool_max };
	struct signals_saved saved;
	struct tier t = { 0 };
	void *mem;
	int err;

	t.fake = fake_store_new(slots);
	cr_assert_not_null(t.fake);
	cr_assert_eq(zpool_store_open(&zc, &t.fake->base, PAGE, &t.store), 0);
	signals_block(&saved);
	err = pager_open_on(&o, &uffd_backend_ops, t.store, NULL, &t.pager);
	signals_restore(&saved);
	cr_assert_eq(err, 0, "pager_open_on: %s", strerror(-err));
	cr_assert_eq(upager_map(t.pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, &mem), 0);
	t.mem = mem;
	return t;
}

static struct tier open_tier(uint64_t slots, size_t pool_max)
{
	return open_tier_with(ZSTORE_LZ4, slots, pool_max);
}

/* Write every page, then read them all back twice. */
static void round_trip(struct tier *t, enum content c)
{
	for (size_t pg = 0; pg < NPAGES; pg++)
		fill_page(page_at(t->mem, pg), c, pg, 1);
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < NPAGES; pg++)
			cr_assert(page_ok(page_at(t->mem, pg), c, pg, 1), "pass %d: page %zu wrong",
				  pass, pg);
}

/* Write pages of @c in order until a write is SIGBUS (nothing can leave
 * any more, so no frame is free): returns how many were written. */
static size_t fill_until_sigbus(struct tier *t, enum content c)
{
	struct access_result r = { 0 };
	size_t pg;

	for (pg = 0; pg < NPAGES; pg++) {
		r = probe_write((unsigned char *)page_at(t->mem, pg), 1);
		if (r.sig)
			break;
		fill_page(page_at(t->mem, pg), c, pg, 2);
	}
	cr_assert_eq(r.sig, SIGBUS, "got signal %d after %zu pages", r.sig, pg);
	return pg;
}

/* The @written pages fill_until_sigbus() wrote are all still there. */
static void check_kept(struct tier *t, enum content c, size_t written)
{
	for (size_t k = 0; k < written; k++)
		cr_assert(page_ok(page_at(t->mem, k), c, k, 2), "page %zu lost", k);
}

Test(store_zpool, compressible_pages_stay_in_the_pool, .timeout = 60)
{
	struct tier t = open_tier(1024, 1u << 20);
	struct upager_stats st;

	round_trip(&t, TEXTLIKE);
	st = stats_now(t.pager);
	cr_assert_gt(st.writebacks, NPAGES / 2, "pages were evicted (%llu)",
		     (unsigned long long)st.writebacks);
	cr_assert_geq(st.pool_stored, st.writebacks, "every one was stored compressed");
	cr_assert_eq(atomic_load(&t.fake->pages_written), 0, "none reached the lower store");
	cr_assert_eq(atomic_load(&t.fake->pages_read), 0);
	cr_assert_gt(st.pool_pages, 0);
	cr_assert_gt(st.compress_ratio_pct, 200, "text-like pages compress (ratio %llu%%)",
		     (unsigned long long)st.compress_ratio_pct);
	cr_assert_eq(st.compress_rejected, 0);
	cr_assert_eq(upager_unmap(t.pager, t.mem, NPAGES * PAGE), 0);
	cr_assert_eq(stats_now(t.pager).pool_pages, 0, "unmapping emptied the pool");
	cr_assert_eq(stats_now(t.pager).pool_bytes, 0);
	cr_assert_eq(fake_store_in_use(t.fake), 0, "and gave every lower slot back");
	upager_close(t.pager);
}

Test(store_zpool, zstd_round_trip, .timeout = 60)
{
	struct tier t;
	struct upager_stats st;

	if (!zpool_store_has_codec(ZSTORE_ZSTD))
		cr_skip_test("built without zstd (libzstd-dev)");
	t = open_tier_with(ZSTORE_ZSTD, 1024, 1u << 20);
	round_trip(&t, TEXTLIKE);
	st = stats_now(t.pager);
	cr_assert_geq(st.pool_stored, st.writebacks);
	cr_assert_gt(st.compress_ratio_pct, 200);
	cr_assert_eq(atomic_load(&t.fake->pages_written), 0);
	upager_close(t.pager);
}

Test(store_zpool, the_budget_gives_up_a_frame_per_pool_page, .timeout = 60)
{
	struct tier t = open_tier(1024, 96u << 10);
	struct upager_stats st;

	round_trip(&t, TEXTLIKE);
	st = stats_now(t.pager);
	cr_assert_gt(st.pool_bytes, 0);
	/* The pool holds pool_bytes of the cap: the frames left are the
	 * rest, and pages in memory stay within them. */
	cr_assert_eq(st.budget_pages * PAGE + st.pool_bytes, BUDGET,
		     "budget %llu pages + pool %llu bytes is not the cap of %lu bytes",
		     (unsigned long long)st.budget_pages, (unsigned long long)st.pool_bytes,
		     BUDGET);
	cr_assert_leq(st.pages_resident, st.budget_pages);
	cr_assert_eq(upager_unmap(t.pager, t.mem, NPAGES * PAGE), 0);
	/* The next reclaim gives the frames back; touch enough to make one. */
	{
		void *mem;

		cr_assert_eq(upager_map(t.pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
					&mem), 0);
		t.mem = mem;
	}
	round_trip(&t, RANDOM);
	st = stats_now(t.pager);
	cr_assert_eq(st.pool_bytes, 0, "incompressible pages: nothing in the pool");
	cr_assert_eq(st.budget_pages * PAGE, BUDGET, "and the whole cap is frames again");
	upager_close(t.pager);
}

Test(store_zpool, incompressible_pages_pass_through, .timeout = 60)
{
	struct tier t = open_tier(1024, 1u << 20);
	struct upager_stats st;

	round_trip(&t, RANDOM);
	st = stats_now(t.pager);
	cr_assert_gt(st.compress_rejected, NPAGES / 2, "random pages were refused (%llu)",
		     (unsigned long long)st.compress_rejected);
	/* Only a page eviction caught half-written (its second half still
	 * zeros, under load) compresses; the program's next write brings it
	 * back and frees its pool copy. */
	cr_assert_lt(st.pool_stored, NPAGES / 32, "%llu random pages were stored compressed",
		     (unsigned long long)st.pool_stored);
	cr_assert_eq(st.pool_pages, 0);
	cr_assert_geq(atomic_load(&t.fake->pages_written), st.compress_rejected,
		      "and written to the lower store");
	cr_assert_gt(atomic_load(&t.fake->pages_read), 0, "and read back from it");
	upager_close(t.pager);
}

Test(store_zpool, same_filled_pages_take_no_space, .timeout = 60)
{
	struct tier t = open_tier(1024, 1u << 20);
	struct upager_stats st;

	round_trip(&t, SAME);
	st = stats_now(t.pager);
	cr_assert_gt(st.same_filled, NPAGES / 2, "same-filled pages seen (%llu)",
		     (unsigned long long)st.same_filled);
	cr_assert_eq(st.pool_stored, 0);
	cr_assert_eq(st.pool_bytes, 0);
	cr_assert_eq(atomic_load(&t.fake->pages_written), 0);
	upager_close(t.pager);
}

Test(store_zpool, a_full_pool_writes_its_coldest_pages_back, .timeout = 60)
{
	/* One chunk: room for a few dozen pages of 4:1. */
	struct tier t = open_tier(1024, 16u << 10);
	struct upager_stats st;

	round_trip(&t, TEXTLIKE);
	st = stats_now(t.pager);
	cr_assert_gt(st.pool_written_back, 0, "the pool filled and wrote pages back");
	cr_assert_geq(atomic_load(&t.fake->pages_written), st.pool_written_back,
		      "to the lower store");
	cr_assert_gt(atomic_load(&t.fake->pages_read), 0, "and they came back from it");
	cr_assert_leq(st.pool_bytes, 16u << 10);
	upager_close(t.pager);
}

Test(store_zpool, a_corrupt_compressed_page_is_sigbus, .timeout = 60)
{
	struct tier t = open_tier(1024, 1u << 20);
	unsigned char *bytes = NULL;
	size_t len = 0, bad = 0, victim = NPAGES;

	for (size_t pg = 0; pg < NPAGES; pg++)
		fill_page(page_at(t.mem, pg), TEXTLIKE, pg, 3);
	for (uint64_t slot = 0; slot < 1024 && !bytes; slot++)
		bytes = zpool_store_slot_bytes(t.store, slot, &len);
	cr_assert_not_null(bytes, "some page is in the pool");
	/* What a stray write into the pool would do, where lz4 cannot
	 * notice: its last five bytes are always literals, copied as they
	 * are, so the page decompresses, to the wrong bytes. */
	bytes[len - 1] ^= 0x5a;
	for (size_t pg = 0; pg < NPAGES; pg++) {
		if (resident_pages(page_at(t.mem, pg), PAGE))
			continue;
		struct access_result r = probe_read((unsigned char *)page_at(t.mem, pg));

		if (r.sig) {
			cr_assert_eq(r.sig, SIGBUS, "page %zu: signal %d", pg, r.sig);
			bad++;
			victim = pg;
			continue;
		}
		cr_assert(page_ok(page_at(t.mem, pg), TEXTLIKE, pg, 3), "page %zu wrong", pg);
	}
	cr_assert_eq(bad, 1, "exactly the corrupt page is refused (%zu were)", bad);
	cr_assert_eq(probe_read((unsigned char *)page_at(t.mem, victim) + 64).sig, SIGBUS,
		     "and stays refused");
	cr_assert_gt(stats_now(t.pager).checksum_failures, 0);
	upager_close(t.pager);
}

Test(store_zpool, a_full_lower_store_is_sigbus_not_zeros, .timeout = 60)
{
	struct tier t = open_tier(1024, 1u << 20);
	size_t written;

	/* Slots are the lower store's: none to be had, nothing can leave. */
	atomic_store(&t.fake->full, true);
	written = fill_until_sigbus(&t, TEXTLIKE);
	cr_assert_gt(stats_now(t.pager).swap_full, 0);
	check_kept(&t, TEXTLIKE, written);
	upager_close(t.pager);
}

/* The lower store takes slots but its writes fail: a page the pool cannot
 * take (incompressible) stays in memory, and the program gets SIGBUS once
 * nothing can leave, never a zero page afterwards. */
Test(store_zpool, failed_lower_writes_keep_pages, .timeout = 60)
{
	struct tier t = open_tier(1024, 1u << 20);

	atomic_store(&t.fake->write_fails, true);
	check_kept(&t, RANDOM, fill_until_sigbus(&t, RANDOM));
	upager_close(t.pager);
}

/* A forked child sees every page: those in its copy of the pool, those
 * written back, those kept as a word. */
Test(store_zpool, a_child_sees_every_page, .timeout = 60)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .handler_threads = 1,
					      .compress = UPAGER_COMPRESS_LZ4,
					      .compress_pool_pct = 10);
	struct upager *pager;
	void *mem;
	pid_t pid;
	int status;

	cr_assert_eq(upager_open(&o, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 3 * NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE, &mem), 0);
	for (size_t pg = 0; pg < 3 * NPAGES; pg++)
		fill_page(page_at(mem, pg), (enum content)(pg % 3), pg, 4);
	cr_assert_gt(stats_now(pager).pool_pages, 0);
	cr_assert_gt(stats_now(pager).pool_written_back, 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (size_t pg = 0; pg < 3 * NPAGES; pg++)
			if (!page_ok(page_at(mem, pg), (enum content)(pg % 3), pg, 4))
				_exit(10 + (int)(pg % 3));
		/* The child's writes do not reach its parent's pages. */
		for (size_t pg = 0; pg < 3 * NPAGES; pg++)
			fill_page(page_at(mem, pg), (enum content)(pg % 3), pg, 5);
		for (size_t pg = 0; pg < 3 * NPAGES; pg++)
			if (!page_ok(page_at(mem, pg), (enum content)(pg % 3), pg, 5))
				_exit(20 + (int)(pg % 3));
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "child: status 0x%x (10+kind: a page wrong, 20+kind: after its writes)",
		  status);
	for (size_t pg = 0; pg < 3 * NPAGES; pg++)
		cr_assert(page_ok(page_at(mem, pg), (enum content)(pg % 3), pg, 4),
			  "parent's page %zu changed", pg);
	upager_close(pager);
}

/* Through the seam, no pager: a pool too small for the pages written one
 * by one writes back its coldest first, so the pages it still holds are
 * the last ones written, and every page reads back right from wherever
 * it is. */
Test(store_zpool, write_back_takes_the_coldest_first, .timeout = 60)
{
	enum { N = 256 };
	struct zstore_config zc = { .codec = ZSTORE_LZ4, .pool_max = 16u << 10 };
	struct fake_store *fake = fake_store_new(1024);
	uint64_t slots[N], *page = aligned_alloc(PAGE, PAGE);
	struct store *s;
	struct store_io *io;
	unsigned int got = 0, first_kept = N;
	size_t len;
	int res;

	cr_assert_not_null(fake);
	cr_assert_not_null(page);
	cr_assert_eq(zpool_store_open(&zc, &fake->base, PAGE, &s), 0);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	while (got < N) {
		int n = store_alloc(s, N - got, slots + got);

		cr_assert_gt(n, 0, "store_alloc: %d", n);
		got += (unsigned int)n;
	}
	for (unsigned int k = 0; k < N; k++) {
		fill_page(page, TEXTLIKE, k, 1);
		cr_assert_eq(store_write(io, &slots[k], (void *const *)&page, 1), 0, "page %u", k);
	}
	for (unsigned int k = 0; k < N; k++) {
		bool kept = zpool_store_slot_bytes(s, slots[k], &len) != NULL;

		if (kept && first_kept == N)
			first_kept = k;
		cr_assert(kept == (first_kept < N), "page %u %s the pool, page %u was kept", k,
			  kept ? "is still in" : "is not in", first_kept);
	}
	cr_assert_gt(first_kept, 0, "the pool wrote pages back");
	cr_assert_lt(first_kept, N, "and kept the last ones");
	cr_assert_geq(atomic_load(&fake->pages_written), first_kept);
	for (unsigned int k = 0; k < N; k++) {
		cr_assert_eq(store_read(io, &slots[k], (void *const *)&page, 1, &res), 0,
			     "page %u: %d", k, res);
		cr_assert(page_ok(page, TEXTLIKE, k, 1), "page %u read back wrong", k);
	}
	for (unsigned int k = 0; k < N; k++)
		store_put(s, slots[k]);
	store_io_free(io);
	store_close(s);
	free(page);
}
