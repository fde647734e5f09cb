/* SPDX-License-Identifier: MIT */
/*
 * handle.c - pager handles carved in order from reserved address space,
 * never reused (see handle.h).
 */
#define _GNU_SOURCE
#include "mm/handle.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* Reserved at a time: address space only (PROT_NONE, MAP_NORESERVE), so
 * a process may open and close pagers for as long as it likes. */
#define HANDLE_RESERVE (1ul << 30)

static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;
static char *handle_next, *handle_end; /* [next, end): reserved, never used */

static size_t handle_len(size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (size + pg - 1) & ~(pg - 1);
}

void *handle_alloc(size_t size)
{
	size_t len = handle_len(size);
	char *h = NULL;

	pthread_mutex_lock(&handle_lock);
	if ((size_t)(handle_end - handle_next) < len) {
		size_t want = len > HANDLE_RESERVE ? len : HANDLE_RESERVE;
		char *m = mmap(NULL, want, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED)
			goto out_unlock;
		handle_next = m;
		handle_end = m + want;
	}
	if (mprotect(handle_next, len, PROT_READ | PROT_WRITE))
		goto out_unlock;
	h = handle_next;
	handle_next += len;
out_unlock:
	pthread_mutex_unlock(&handle_lock);
	return h;
}

void handle_free(void *h, size_t size)
{
	if (!h)
		return;
	/* Fresh inaccessible pages in its place: the memory goes back, the
	 * address stays taken. */
	mmap(h, handle_len(size), PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

void handle_fork_child(void)
{
	pthread_mutex_init(&handle_lock, NULL);
}
