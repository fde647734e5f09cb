/* SPDX-License-Identifier: MIT */
/*
 * fake-aspace.h - an address space for the tests, behind the same seam as
 * the calling process's (os/aspace.h), that fails on demand: every call
 * goes to the calling process's own implementation unless the test set
 * an error for its kind, which is then answered instead (nothing done).
 * It counts every call, so a test can tell the engine did go through it.
 */
#ifndef UPAGER_TESTS_FAKE_ASPACE_H
#define UPAGER_TESTS_FAKE_ASPACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "os/aspace.h"

enum fake_aspace_call {
	FA_MAP,
	FA_UNMAP,
	FA_PROTECT,
	FA_REMAP,
	FA_ADVISE,
	FA_ZAP,
	FA_BREAK_COW,
	FA_READ,
	FA_WRITE,
	FA_PAGES,
	FA_RESIDENT,
	FA_RSS,
	FA_MAPPINGS,
	FA_CALLS,
};

struct fake_aspace {
	struct aspace base;      /* first: what the engine holds */
	struct aspace *real;     /* the calling process's */

	/* Injection, changed by the test at any time: -errno to answer
	 * for calls of that kind, 0 to pass them on. */
	_Atomic int fail[FA_CALLS];

	/* pages() answers for the present pages of [migrating_lo,
	 * migrating_hi) what pagemap says of a page the kernel is migrating
	 * (compaction): a swap-type entry, not present, no frame number. */
	_Atomic uintptr_t migrating_lo, migrating_hi;

	/* mappings() answers ASPACE_SHARED for the mappings that start in
	 * [shared_lo, shared_hi), whatever the kernel's are. */
	_Atomic uintptr_t shared_lo, shared_hi;

	_Atomic uint64_t calls[FA_CALLS];   /* every call, failed ones too */
	_Atomic uint64_t failed[FA_CALLS];  /* answered with fail[] */
	_Atomic bool closed;                /* the pager let go of it */
};

/* A fake over the calling process, with its /proc files open. */
struct fake_aspace *fake_aspace_new(void);

struct upager;
struct upager_options;

/* A pager on a fresh fake (*@fake) with the userfaultfd backend, opened
 * with signals blocked as pager_open() has its threads start: 0 or
 * -errno (*@fake then NULL). */
int fake_aspace_pager(const struct upager_options *o, struct fake_aspace **fake,
		      struct upager **out);

/* After the pager that held it closed. */
void fake_aspace_free(struct fake_aspace *f);

#endif
