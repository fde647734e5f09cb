/* SPDX-License-Identifier: MIT */
/*
 * user-store.c - see user-store.h. Only <upager.h> and the C library:
 * what an application's own store can see.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "user-store.h"

#ifdef UPAGER_STORE_H
#error "user-store.c must see only the public header"
#endif

static unsigned char *slot_data(struct user_store *st, uint64_t slot)
{
	return st->data + slot * st->page_size;
}

static bool counted(struct user_store *st, struct upager_store_req *reqs, unsigned int n)
{
	bool ok = true;

	atomic_fetch_add(&st->batches, 1);
	for (uint64_t big = atomic_load(&st->largest_batch); n > big;)
		if (atomic_compare_exchange_weak(&st->largest_batch, &big, n))
			break;
	for (unsigned int i = 0; i < n; i++)
		if (reqs[i].slot >= st->capacity) {
			atomic_fetch_add(&st->bad_slot_calls, 1);
			ok = false;
		}
	return ok;
}

static int us_write(void *ctx, struct upager_store_req *reqs, unsigned int n)
{
	struct user_store *st = ctx;
	bool fails = atomic_load(&st->mode) == USER_STORE_WRITE_FAILS;

	if (!counted(st, reqs, n))
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		if (fails) {
			reqs[i].result = -EIO;
			continue;
		}
		memcpy(slot_data(st, reqs[i].slot), reqs[i].page, st->page_size);
		atomic_fetch_add(&st->writes, 1);
		reqs[i].result = 0;
	}
	return 0;
}

static int us_read(void *ctx, struct upager_store_req *reqs, unsigned int n)
{
	struct user_store *st = ctx;
	int mode = atomic_load(&st->mode);
	uint64_t target = atomic_load(&st->mode_slot);

	if (!counted(st, reqs, n))
		return -EINVAL;
	if (mode == USER_STORE_READ_BATCH_EIO) {
		for (unsigned int i = 0; i < n; i++)
			memset(reqs[i].page, 0, st->page_size);
		return -EIO;
	}
	for (unsigned int i = 0; i < n; i++) {
		unsigned char *page = reqs[i].page;
		bool hit = target == USER_STORE_ANY || target == reqs[i].slot;

		atomic_fetch_add(&st->reads, 1);
		memcpy(page, slot_data(st, reqs[i].slot), st->page_size);
		reqs[i].result = 0;
		if (hit && mode == USER_STORE_READ_EIO) {
			memset(page, 0, st->page_size);
			reqs[i].result = -EIO;
		} else if (hit && mode == USER_STORE_READ_LIES) {
			page[st->page_size / 2] ^= 0x40; /* says 0: only a checksum sees it */
		}
	}
	return 0;
}

static void us_free(void *ctx, uint64_t slot)
{
	struct user_store *st = ctx;

	atomic_fetch_add(&st->frees, 1);
	if (slot < st->capacity)
		memset(slot_data(st, slot), 0, st->page_size);
	else
		atomic_fetch_add(&st->bad_slot_calls, 1);
}

static void us_close(void *ctx)
{
	struct user_store *st = ctx;

	atomic_fetch_add(&st->closes, 1);
}

struct upager_store_ops user_store_ops(const struct user_store *st)
{
	return UPAGER_STORE_OPS(.capacity = st->capacity, .write = us_write, .read = us_read, .free = us_free,
				.close = us_close);
}

struct user_store *user_store_new(uint64_t capacity)
{
	struct user_store *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->capacity = capacity;
	st->page_size = (size_t)sysconf(_SC_PAGESIZE);
	st->mode_slot = USER_STORE_ANY;
	st->data = mmap(NULL, capacity * st->page_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st->data == MAP_FAILED) {
		free(st);
		return NULL;
	}
	return st;
}

void user_store_free(struct user_store *st)
{
	if (!st)
		return;
	munmap(st->data, st->capacity * st->page_size);
	free(st);
}

uint64_t user_store_slot_of(struct user_store *st, const void *page)
{
	for (uint64_t s = 0; s < st->capacity; s++)
		if (!memcmp(slot_data(st, s), page, st->page_size))
			return s;
	return USER_STORE_ANY;
}
