/* SPDX-License-Identifier: MIT */
/*
 * fake-store.h - a store in memory for the tests, behind the same seam as
 * the file store (store.h), that fails on demand: a full store (ENOSPC),
 * failed writes (EIO), and reads that fail (EIO), come back short or come
 * back corrupt (a bad checksum), for every slot or one. It counts every
 * call, so a test can tell the engine did go through it.
 *
 * A failed read leaves the engine's buffer holding what a careless
 * engine would serve (zeros, half a page, flipped bytes): a test that sees
 * those bytes instead of SIGBUS caught the engine serving them.
 */
#ifndef UPAGER_TESTS_FAKE_STORE_H
#define UPAGER_TESTS_FAKE_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

enum fake_read {
	FAKE_READ_OK = 0,
	FAKE_READ_EIO,          /* -EIO, buffer zeroed */
	FAKE_READ_SHORT,        /* -EIO, only the first half copied */
	FAKE_READ_CORRUPT,      /* -EBADMSG, the data with one byte flipped */
};

struct fake_store {
	struct store base;      /* first: what the engine holds */

	/* Injection, changed by the test at any time. */
	_Atomic bool full;              /* alloc answers -ENOSPC */
	_Atomic bool write_fails;       /* write answers -EIO */
	_Atomic int read_mode;          /* enum fake_read */
	_Atomic uint64_t read_slot;     /* the slot read_mode applies to; STORE_NO_SLOT: all */

	/* Calls counted (pages, for reads and writes). */
	_Atomic uint64_t allocs, alloc_refused, gets, puts;
	_Atomic uint64_t pages_written, writes_failed;
	_Atomic uint64_t pages_read, reads_failed, checksum_failures;
	_Atomic uint64_t ios_open;      /* store_io contexts not freed yet */
};

/* A fake store of @slots page-sized slots (PAGE bytes). */
struct fake_store *fake_store_new(uint64_t slots);

/* The slot whose last good write holds exactly @page, or STORE_NO_SLOT. */
uint64_t fake_store_slot_of(struct fake_store *f, const void *page);

/* Slots allocated and not freed. */
uint64_t fake_store_in_use(struct fake_store *f);

#endif
