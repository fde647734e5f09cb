/* SPDX-License-Identifier: MIT */
/*
 * follow.h - the program's address-space calls over upager's memory as
 * the kernel answers them, the region tree following (follow.c). The
 * shim calls them through pager_map_over(), pager_mprotect() and
 * pager_remap() (entry.c), which block the program's asynchronous
 * signals around them as around every public call.
 */
#ifndef UPAGER_FOLLOW_H
#define UPAGER_FOLLOW_H

#include <stddef.h>
#include <sys/types.h>

struct upager;

int follow_map_over(struct upager *p, void *addr, size_t len, int prot, int flags, int fd,
		    off_t off, void **out);
int follow_mprotect(struct upager *p, void *addr, size_t len, int prot);
int follow_remap(struct upager *p, void *old, size_t old_len, size_t new_len, int flags,
		 void *new_addr, void **out);

#endif
