/* SPDX-License-Identifier: MIT */
/*
 * test-user-store.c - the public store interface (struct upager_store_ops)
 * end to end: upager_open() with a store written only against upager.h
 * (user-store.c), the eviction and swap-in workload through it, and the
 * store failing: a read error or a store that hands back wrong bytes is
 * SIGBUS on that page, never its bytes; failing writes keep the pages.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "pattern.h"
#include "user-store.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (256ul << 10)    /* the smallest budget: 64 pages */
#define NPAGES 512ul            /* 8x the budget */
#define SLOTS 1024u

static struct upager *open_on(struct user_store *st, struct upager_store_ops *ops)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .handler_threads = 1,
					      .store_ops = ops, .store_ctx = st);
	struct upager *pager;
	int err;

	err = upager_open(&o, &pager);
	cr_assert_eq(err, 0, "upager_open with store_ops: %s", strerror(-err));
	return pager;
}

Test(user_store, eviction_and_swapin_through_the_callers_store, .timeout = 120)
{
	struct user_store *st = user_store_new(SLOTS);
	struct upager_store_ops ops = user_store_ops(st);
	struct upager *pager = open_on(st, &ops);
	uint64_t *mem = map_rw(pager, NPAGES);
	struct upager_stats s;

	/* The table was copied: what the caller does with its own after
	 * upager_open() changes nothing. */
	memset(&ops, 0, sizeof(ops));
	pattern_evict_and_verify(mem, NPAGES, 1, test_seed(21));
	s = stats_now(pager);
	cr_assert_geq(atomic_load(&st->writes), NPAGES - BUDGET / PAGE,
		      "the evicted pages went to the caller's store (%llu writes)",
		      (unsigned long long)atomic_load(&st->writes));
	cr_assert_gt(atomic_load(&st->reads), 0, "and came back from it");
	cr_assert_eq(s.writebacks, atomic_load(&st->writes));
	cr_assert_gt(s.swapins, 0);
	cr_assert_eq(s.swap_capacity_slots, SLOTS);
	cr_assert_gt(s.slots_in_use, 0);
	cr_assert_eq(s.sigbus, 0);
	cr_assert_eq(s.checksum_failures, 0);
	cr_assert_leq(atomic_load(&st->largest_batch), UPAGER_STORE_BATCH_MAX);
	cr_assert_eq(atomic_load(&st->bad_slot_calls), 0);
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	cr_assert_eq(stats_now(pager).slots_in_use, 0, "unmapping gave every slot back");
	cr_assert_gt(atomic_load(&st->frees), 0, "and told the store");
	cr_assert_eq(atomic_load(&st->closes), 0);
	upager_close(pager);
	cr_assert_eq(atomic_load(&st->closes), 1, "close called once, at upager_close");
	user_store_free(st);
}

/* Fill every page, then find one that was evicted and its slot. */
static size_t evicted_page(uint64_t *mem, struct user_store *st, uint64_t gen, uint64_t *slot)
{
	static uint64_t want[PAGE / 8];

	for (size_t pg = 0; pg < NPAGES; pg++)
		fill_page(page_at(mem, pg), pg, gen);
	for (size_t pg = 0; pg < NPAGES; pg++) {
		if (resident_pages(page_at(mem, pg), PAGE))
			continue;
		fill_page(want, pg, gen);
		*slot = user_store_slot_of(st, want);
		if (*slot != USER_STORE_ANY)
			return pg;
	}
	cr_assert_fail("no evicted page found in the store");
	return 0;
}

/* A read of one page fails in @mode: SIGBUS on every touch of it, its
 * bytes never seen, every other page intact. */
static void bad_read(enum user_store_mode mode, bool one_slot)
{
	struct user_store *st = user_store_new(SLOTS);
	struct upager_store_ops ops = user_store_ops(st);
	struct upager *pager = open_on(st, &ops);
	uint64_t *mem = map_rw(pager, NPAGES);
	uint64_t slot, reads;
	struct access_result r;
	size_t victim = evicted_page(mem, st, 3, &slot);

	atomic_store(&st->mode_slot, one_slot ? slot : USER_STORE_ANY);
	atomic_store(&st->mode, mode);
	reads = atomic_load(&st->batches);
	r = probe_read((unsigned char *)page_at(mem, victim) + PAGE / 2);
	cr_assert_eq(r.sig, SIGBUS, "a failed read must raise SIGBUS, got signal %d value 0x%x",
		     r.sig, r.value);
	cr_assert_gt(atomic_load(&st->batches), reads, "the read went to the store");
	cr_assert_eq(probe_read((unsigned char *)page_at(mem, victim)).sig, SIGBUS,
		     "and keeps raising it");
	atomic_store(&st->mode, USER_STORE_OK);
	for (size_t pg = 0; pg < NPAGES; pg++)
		if (pg != victim && !(r = probe_read((unsigned char *)page_at(mem, pg))).sig)
			cr_assert(page_ok(page_at(mem, pg), pg, 3), "page %zu wrong", pg);
	cr_assert_eq(probe_read((unsigned char *)page_at(mem, victim) + 8).sig, SIGBUS,
		     "the page stays lost once the store reads right again");
	if (mode == USER_STORE_READ_LIES)
		cr_assert_gt(stats_now(pager).checksum_failures, 0, "the checksum caught it");
	cr_assert_gt(stats_now(pager).sigbus, 0);
	upager_close(pager);
	user_store_free(st);
}

Test(user_store, read_error_is_sigbus, .timeout = 60)
{
	bad_read(USER_STORE_READ_EIO, true);
}

Test(user_store, batch_error_is_sigbus, .timeout = 60)
{
	bad_read(USER_STORE_READ_BATCH_EIO, false);
}

Test(user_store, wrong_bytes_are_sigbus_never_served, .timeout = 60)
{
	bad_read(USER_STORE_READ_LIES, true);
}

Test(user_store, failed_writes_keep_the_pages, .timeout = 60)
{
	struct user_store *st = user_store_new(SLOTS);
	struct upager_store_ops ops = user_store_ops(st);
	struct upager *pager = open_on(st, &ops);
	uint64_t *mem = map_rw(pager, NPAGES);
	struct access_result r = { 0 };
	size_t pg;

	atomic_store(&st->mode, USER_STORE_WRITE_FAILS);
	for (pg = 0; pg < NPAGES; pg++) {
		r = probe_write((unsigned char *)page_at(mem, pg), 1);
		if (r.sig)
			break;
		fill_page(page_at(mem, pg), pg, 2);
	}
	cr_assert_eq(r.sig, SIGBUS, "a store that takes nothing ends in SIGBUS (signal %d "
		     "after %zu pages)", r.sig, pg);
	cr_assert_gt(atomic_load(&st->batches), 0, "the engine tried to write");
	cr_assert_eq(atomic_load(&st->writes), 0);
	for (size_t i = 0; i < pg; i++)
		cr_assert(page_ok(page_at(mem, i), i, 2), "page %zu lost to a failed write", i);
	upager_close(pager);
	user_store_free(st);
}

/* A forked child never calls the caller's store: its resident pages are
 * its own, its pages in the store raise SIGBUS. */
Test(user_store, forked_child_keeps_resident_pages_and_leaves_the_store_alone, .timeout = 60)
{
	struct user_store *st = user_store_new(SLOTS);
	struct upager_store_ops ops = user_store_ops(st);
	struct upager *pager = open_on(st, &ops);
	uint64_t *mem = map_rw(pager, NPAGES);
	uint64_t slot;
	size_t victim = evicted_page(mem, st, 4, &slot), kept = NPAGES;
	int status;
	pid_t pid;

	for (size_t pg = NPAGES; pg-- > 0 && kept == NPAGES;)
		if (resident_pages(page_at(mem, pg), PAGE))
			kept = pg;
	cr_assert_lt(kept, NPAGES, "some page is resident");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		uint64_t calls = atomic_load(&st->batches) + atomic_load(&st->frees) +
				 atomic_load(&st->closes);
		int bad = 0;

		if (!page_ok(page_at(mem, kept), kept, 4))
			bad |= 1;
		if (probe_read((unsigned char *)page_at(mem, victim)).sig != SIGBUS)
			bad |= 2;
		upager_close(pager);
		if (atomic_load(&st->batches) + atomic_load(&st->frees) +
		    atomic_load(&st->closes) != calls)
			bad |= 4;
		_exit(bad);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child: %s%s%s",
		     WEXITSTATUS(status) & 1 ? "resident page wrong; " : "",
		     WEXITSTATUS(status) & 2 ? "a page in the store did not raise SIGBUS; " : "",
		     WEXITSTATUS(status) & 4 ? "the child called the store" : "");
	pattern_evict_and_verify(mem, NPAGES, 5, 7);
	upager_close(pager);
	user_store_free(st);
}

static int open_with(struct upager_store_ops ops, uint64_t budget)
{
	static struct user_store dummy;
	struct upager_options o = UPAGER_OPTS(.max_resident = budget, .store_ops = &ops,
					      .store_ctx = &dummy);
	struct upager *pager = NULL;
	int err = upager_open(&o, &pager);

	if (!err)
		upager_close(pager);
	return err;
}

Test(user_store, bad_tables_are_refused)
{
	struct user_store *st = user_store_new(SLOTS);
	struct upager_store_ops good = user_store_ops(st), ops;
	unsigned char bigger[sizeof(struct upager_store_ops) + 16] = { 0 };

	cr_assert_eq(open_with(good, BUDGET), 0);
	cr_assert_eq(open_with(good, 0), -EINVAL, "a store without a budget");
	ops = good;
	ops.read = NULL;
	cr_assert_eq(open_with(ops, BUDGET), -EINVAL, "no read");
	ops = good;
	ops.write = NULL;
	cr_assert_eq(open_with(ops, BUDGET), -EINVAL, "no write");
	ops = good;
	ops.capacity = 63;
	cr_assert_eq(open_with(ops, BUDGET), -EINVAL, "fewer than 64 slots");
	ops = good;
	ops.sz = 0;
	cr_assert_eq(open_with(ops, BUDGET), -EINVAL, "sz unset");
	/* A newer caller's table: a member this library does not know. */
	memcpy(bigger, &good, sizeof(good));
	((struct upager_store_ops *)bigger)->sz = sizeof(bigger);
	{
		struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET,
						      .store_ops = (void *)bigger, .store_ctx = st);
		struct upager *pager;

		cr_assert_eq(upager_open(&o, &pager), 0, "zeros past the known end are fine");
		upager_close(pager);
		bigger[sizeof(good) + 3] = 1;
		cr_assert_eq(upager_open(&o, &pager), -EINVAL, "an unknown member set");
	}
	user_store_free(st);
}
