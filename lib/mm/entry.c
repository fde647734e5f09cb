/* SPDX-License-Identifier: MIT */
/*
 * entry.c - the public calls: each runs its implementation (pager.c) with
 * the program's asynchronous signals blocked, so that no signal handler
 * of the program's runs while upager holds a lock its faults, its
 * allocator's mmap or upager itself would wait for (signals.h). The
 * handler runs as soon as the call returns, as after a system call.
 */
#include "mm/follow.h"
#include "mm/pager.h"
#include "os/signals.h"

int upager_open(const struct upager_options *opts, struct upager **out)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_open(opts, out);
	signals_restore(&s);
	return ret;
}

void upager_close(struct upager *p)
{
	struct signals_saved s;

	signals_block(&s);
	pager_close(p);
	signals_restore(&s);
}

int upager_map(struct upager *p, void *hint, size_t len, int prot, unsigned int flags,
	       void **addr)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_map(p, hint, len, prot, flags, addr);
	signals_restore(&s);
	return ret;
}

int upager_map_file(struct upager *p, void *hint, size_t len, int prot, unsigned int flags,
		    int fd, uint64_t offset, void **addr)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_map_file(p, hint, len, prot, flags, fd, offset, addr);
	signals_restore(&s);
	return ret;
}

int upager_sync(struct upager *p, void *addr, size_t len, unsigned int flags)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_sync(p, addr, len, flags);
	signals_restore(&s);
	return ret;
}

int upager_unmap(struct upager *p, void *addr, size_t len)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_unmap(p, addr, len);
	signals_restore(&s);
	return ret;
}

int upager_protect(struct upager *p, void *addr, size_t len, int prot)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_protect(p, addr, len, prot);
	signals_restore(&s);
	return ret;
}

int upager_discard(struct upager *p, void *addr, size_t len)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_discard(p, addr, len);
	signals_restore(&s);
	return ret;
}

int upager_query(struct upager *p, const void *addr, size_t len, int *prot)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_query(p, addr, len, prot);
	signals_restore(&s);
	return ret;
}

int upager_stats_read(struct upager *p, struct upager_stats *out)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_stats_read(p, out);
	signals_restore(&s);
	return ret;
}

int upager_advise(struct upager *p, void *addr, size_t len, int advice)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_advise(p, addr, len, advice);
	signals_restore(&s);
	return ret;
}

int upager_release(struct upager *p, void *addr, size_t len)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = pager_release(p, addr, len);
	signals_restore(&s);
	return ret;
}

/* The shim's address-space calls over regions (follow.c), like the
 * public calls: under the pager's lock for writing, so with signals
 * blocked. */
int pager_map_over(struct upager *p, void *addr, size_t len, int prot, int flags, int fd,
		   off_t off, void **out)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = follow_map_over(p, addr, len, prot, flags, fd, off, out);
	signals_restore(&s);
	return ret;
}

int pager_mprotect(struct upager *p, void *addr, size_t len, int prot)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = follow_mprotect(p, addr, len, prot);
	signals_restore(&s);
	return ret;
}

int pager_remap(struct upager *p, void *old, size_t old_len, size_t new_len, int flags,
		void *new_addr, void **out)
{
	struct signals_saved s;
	int ret;

	signals_block(&s);
	ret = follow_remap(p, old, old_len, new_len, flags, new_addr, out);
	signals_restore(&s);
	return ret;
}
