/* SPDX-License-Identifier: MIT */
/*
 * test-store-seam.c - the real engine paging to the fake store
 * (fake-store.h) under a small budget, with the store failing on demand:
 * what the program sees must be the right bytes or SIGBUS, never a zero
 * or corrupt page, and a page the store would not take stays in memory.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "fake-store.h"
#include "pattern.h"
#include "backend/backend.h"
#include "mm/pager.h"
#include "os/signals.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define BUDGET (256ul << 10)    /* the smallest budget: 64 pages */
#define NPAGES 256ul            /* 4x the budget */

/* A pager with a 64-page budget paging to a fresh fake store of @slots. */
static struct upager *open_on_fake(uint64_t slots, struct fake_store **fake)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .handler_threads = 1);
	struct signals_saved saved;
	struct upager *pager;
	int err;

	*fake = fake_store_new(slots);
	cr_assert_not_null(*fake);
	signals_block(&saved);
	err = pager_open_on(&o, &uffd_backend_ops, &(*fake)->base, NULL, &pager);
	signals_restore(&saved);
	cr_assert_eq(err, 0, "pager_open_on: %s", strerror(-err));
	return pager;
}

Test(store_seam, pages_round_trip_through_the_fake, .timeout = 60)
{
	struct fake_store *f;
	struct upager *pager = open_on_fake(1024, &f);
	uint64_t *mem = map_rw(pager, NPAGES);

	for (size_t pg = 0; pg < NPAGES; pg++)
		gen_fill(page_at(mem, pg), pg, 1);
	for (int pass = 0; pass < 2; pass++)
		for (size_t pg = 0; pg < NPAGES; pg++)
			cr_assert(gen_holds(page_at(mem, pg), pg, 1), "pass %d: page %zu wrong",
				  pass, pg);
	cr_assert_geq(atomic_load(&f->pages_written), NPAGES - BUDGET / PAGE,
		      "the evicted pages went to the fake store");
	cr_assert_gt(atomic_load(&f->pages_read), 0, "and came back from it");
	cr_assert_gt(stats_now(pager).slots_in_use, 0);
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	cr_assert_eq(fake_store_in_use(f), 0, "unmapping gave every slot back");
	upager_close(pager);
}

/* Fill pages until a fault answers SIGBUS; returns how many were written,
 * having checked it did. */
static size_t fill_until_sigbus(uint64_t *mem, uint64_t gen)
{
	struct access_result r = { 0 };
	size_t pg;

	for (pg = 0; pg < NPAGES; pg++) {
		r = probe_write((unsigned char *)page_at(mem, pg), 1);
		if (r.sig)
			break;
		gen_fill(page_at(mem, pg), pg, gen);
	}
	cr_assert_eq(r.sig, SIGBUS, "a store that takes nothing must end in SIGBUS "
		     "(got signal %d after %zu pages)", r.sig, pg);
	cr_assert_geq(pg, BUDGET / PAGE / 2, "only %zu pages fit in a %lu-page budget", pg,
		      BUDGET / PAGE);
	return pg;
}

/* A pager on a fake store that refused pages, filled until SIGBUS. */
struct refused {
	struct upager *pager;
	struct fake_store *f;
	uint64_t *mem;
	size_t written; /* pages written before the SIGBUS */
};

/* The store refused the pages (full, or its writes fail): every page
 * written keeps its bytes, and once the store works again, everything
 * goes on. */
static void check_refusal_lost_nothing(const struct refused *r)
{
	for (size_t pg = 0; pg < r->written; pg++)
		cr_assert(gen_holds(page_at(r->mem, pg), pg, 2), "page %zu lost while the store "
			  "refused pages", pg);
	cr_assert_gt(stats_now(r->pager).sigbus, 0);
	atomic_store(&r->f->full, false);
	atomic_store(&r->f->write_fails, false);
	/* Pages that got SIGBUS stay poisoned until frames are freed
	 * (reclaim_poison_transient()): unmapping a few frees them. */
	cr_assert_eq(upager_unmap(r->pager, r->mem, 16 * PAGE), 0);
	cr_assert_eq(probe_write((unsigned char *)page_at(r->mem, r->written), 1).sig, 0,
		     "page %zu still refused once the store takes pages", r->written);
	for (size_t pg = r->written; pg < NPAGES; pg++)
		gen_fill(page_at(r->mem, pg), pg, 2);
	for (size_t pg = 16; pg < NPAGES; pg++)
		cr_assert(gen_holds(page_at(r->mem, pg), pg, 2), "page %zu wrong afterwards", pg);
}

/* A fresh pager on a fake store that refuses pages (full, or with
 * failing writes when @full is false), filled until SIGBUS. */
static struct refused fill_refused(bool full)
{
	struct refused r;

	r.pager = open_on_fake(1024, &r.f);
	r.mem = map_rw(r.pager, NPAGES);
	atomic_store(full ? &r.f->full : &r.f->write_fails, true);
	r.written = fill_until_sigbus(r.mem, 2);
	return r;
}

Test(store_seam, full_store_is_sigbus_and_keeps_pages, .timeout = 60)
{
	struct refused r = fill_refused(true);

	cr_assert_gt(atomic_load(&r.f->alloc_refused), 0, "the engine asked for slots");
	cr_assert_eq(atomic_load(&r.f->pages_written), 0);
	cr_assert_gt(stats_now(r.pager).swap_full, 0);
	check_refusal_lost_nothing(&r);
	upager_close(r.pager);
}

Test(store_seam, failed_writes_are_sigbus_and_keep_pages, .timeout = 60)
{
	struct refused r = fill_refused(false);

	cr_assert_gt(atomic_load(&r.f->writes_failed), 0, "the engine wrote to the store");
	check_refusal_lost_nothing(&r);
	upager_close(r.pager);
}

/*
 * An evicted page whose read fails in @mode: SIGBUS on every touch, the
 * failed bytes never seen, every other page intact, and the slot's data
 * left as it was.
 */
static void bad_read(enum fake_read mode)
{
	struct fake_store *f;
	struct upager *pager = open_on_fake(1024, &f);
	uint64_t *mem = map_rw(pager, NPAGES);
	static uint64_t want[PAGE / 8];
	struct access_result r;
	size_t victim = NPAGES;
	uint64_t slot;

	for (size_t pg = 0; pg < NPAGES; pg++)
		gen_fill(page_at(mem, pg), pg, 3);
	for (size_t pg = 0; pg < NPAGES && victim == NPAGES; pg++)
		if (!resident_pages(page_at(mem, pg), PAGE))
			victim = pg;
	cr_assert_lt(victim, NPAGES, "some page was evicted");
	gen_fill(want, victim, 3);
	slot = fake_store_slot_of(f, want);
	cr_assert_neq(slot, STORE_NO_SLOT, "page %zu is in the store", victim);
	atomic_store(&f->read_slot, slot);
	atomic_store(&f->read_mode, mode);

	r = probe_read((unsigned char *)page_at(mem, victim) + PAGE / 3);
	cr_assert_eq(r.sig, SIGBUS, "a failed read (mode %d) must raise SIGBUS, got signal %d "
		     "value 0x%x", (int)mode, r.sig, r.value);
	cr_assert_gt(atomic_load(&f->reads_failed), 0, "the read went to the store");
	cr_assert_eq(probe_read((unsigned char *)page_at(mem, victim)).sig, SIGBUS,
		     "and keeps raising it");
	for (size_t pg = 0; pg < NPAGES; pg++)
		if (pg != victim)
			cr_assert(gen_holds(page_at(mem, pg), pg, 3), "page %zu wrong", pg);
	cr_assert_eq(probe_read((unsigned char *)page_at(mem, victim) + 8).sig, SIGBUS,
		     "after all that, still SIGBUS");
	if (mode == FAKE_READ_CORRUPT)
		cr_assert_gt(stats_now(pager).checksum_failures, 0);
	upager_close(pager);
}

/* Each mode a test of its own (its own process), as the three were. */
ParameterizedTestParameters(store_seam, failed_read_is_sigbus)
{
	static enum fake_read modes[] = { FAKE_READ_EIO, FAKE_READ_SHORT, FAKE_READ_CORRUPT };

	return cr_make_param_array(enum fake_read, modes, sizeof(modes) / sizeof(modes[0]));
}

ParameterizedTest(enum fake_read *mode, store_seam, failed_read_is_sigbus, .timeout = 60)
{
	bad_read(*mode);
}

/* Log lines saying a page was refused for want of memory. */
static _Atomic unsigned int oom_lines;

static void count_oom_lines(enum upager_log_level level, const char *fmt, va_list ap)
{
	char line[512];

	(void)level;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (strstr(line, "SIGBUS: out of memory") || strstr(line, "stays poisoned"))
		atomic_fetch_add(&oom_lines, 1);
}

/*
 * A full store with a full budget: first touches of untouched pages can
 * get no frame, so each is SIGBUS, said once in the log. Once memory is
 * free again, every one of them is an ordinary untouched page (zeros,
 * writable), however many there were: never a lasting, silent SIGBUS.
 */
Test(store_seam, pages_refused_while_full_are_zero_pages_after, .timeout = 60)
{
	const size_t refused = 48; /* more than the engine can remember one by one */
	struct fake_store *f;
	struct upager *pager = open_on_fake(1024, &f);
	uint64_t *mem = map_rw(pager, NPAGES);
	upager_log_fn old;
	size_t written;

	atomic_store(&f->full, true);
	old = upager_set_log(count_oom_lines);
	written = fill_until_sigbus(mem, 2);
	cr_assert_lt(written + refused, NPAGES);
	for (size_t pg = written + 1; pg < written + refused; pg++)
		cr_assert_eq(probe_write((unsigned char *)page_at(mem, pg), 1).sig, SIGBUS,
			     "untouched page %zu with the budget and the store full", pg);
	upager_set_log(old);
	cr_assert_eq(atomic_load(&oom_lines), 1, "%zu pages refused for want of memory: one "
		     "log line saying why, not %u", refused, atomic_load(&oom_lines));
	cr_assert_eq(stats_now(pager).sigbus, refused);

	/* Memory again: frames freed, and the store takes pages. */
	atomic_store(&f->full, false);
	cr_assert_eq(upager_unmap(pager, mem, 16 * PAGE), 0);
	for (size_t pg = written; pg < written + refused; pg++) {
		struct access_result r = probe_read((unsigned char *)page_at(mem, pg) + 8);

		cr_assert_eq(r.sig, 0, "page %zu, refused while memory was full, still raises "
			     "signal %d", pg, r.sig);
		cr_assert_eq(r.value, 0, "page %zu reads %u, not zeros", pg, r.value);
		cr_assert_eq(probe_write((unsigned char *)page_at(mem, pg), 1).sig, 0);
		gen_fill(page_at(mem, pg), pg, 2);
	}
	for (size_t pg = 16; pg < written + refused; pg++)
		cr_assert(gen_holds(page_at(mem, pg), pg, 2), "page %zu wrong afterwards", pg);
	cr_assert_eq(stats_now(pager).sigbus, refused, "no SIGBUS after memory came back");
	upager_close(pager);
}
