/* SPDX-License-Identifier: MIT */
/*
 * user-store.h - a store for the tests written only against the public
 * header (tests/meson.build compiles user-store.c with include/ alone on
 * the include path): pages kept in memory, and failures on demand — a
 * read error for one slot or all, a store that lies (answers 0 with one
 * byte of the page changed), failing writes. It counts its calls.
 */
#ifndef UPAGER_TESTS_USER_STORE_H
#define UPAGER_TESTS_USER_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <upager.h>

#define USER_STORE_ANY UINT64_MAX

enum user_store_mode {
	USER_STORE_OK = 0,
	USER_STORE_READ_EIO,      /* the request's result is -EIO, the page zeroed */
	USER_STORE_READ_BATCH_EIO, /* the whole batch answers -EIO */
	USER_STORE_READ_LIES,     /* result 0, one byte of the page changed */
	USER_STORE_WRITE_FAILS,   /* every write's result is -EIO */
};

struct user_store {
	uint64_t capacity;
	size_t page_size;
	unsigned char *data;            /* [capacity * page_size] */
	_Atomic int mode;               /* enum user_store_mode */
	_Atomic uint64_t mode_slot;     /* the slot a read mode applies to, or USER_STORE_ANY */
	_Atomic uint64_t writes, reads, frees, closes, batches, largest_batch;
	_Atomic uint64_t bad_slot_calls; /* a request for a slot past capacity */
};

/* The ops of @st (its capacity; ctx must be @st). */
struct upager_store_ops user_store_ops(const struct user_store *st);
struct user_store *user_store_new(uint64_t capacity);
void user_store_free(struct user_store *st);

/* The slot whose last write holds exactly @page, or USER_STORE_ANY. */
uint64_t user_store_slot_of(struct user_store *st, const void *page);

#endif
