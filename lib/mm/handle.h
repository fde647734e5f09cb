/* SPDX-License-Identifier: MIT */
/*
 * handle.h - memory for pager handles at addresses never used twice.
 *
 * A handle is the pager's address, and the live-pager set (pager.c) can
 * only compare addresses: if a new pager could sit where a closed one
 * was, the closed handle would pass as the new pager. So each handle
 * takes address space of its own, which stays reserved (PROT_NONE, no
 * memory) after it is freed.
 */
#ifndef UPAGER_HANDLE_H
#define UPAGER_HANDLE_H

#include <stddef.h>

/* @size zeroed bytes at an address no handle had before; NULL when out of
 * memory or address space. */
void *handle_alloc(size_t size);

/* Give @h's memory back and keep its address from ever being reused. */
void handle_free(void *h, size_t size);

/* In a forked child: the lock may have been held by another thread. */
void handle_fork_child(void);

#endif /* UPAGER_HANDLE_H */
