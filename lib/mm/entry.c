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

/* @call, an int expression, evaluated with the asynchronous signals
 * blocked; its value. */
#define WITH_SIGNALS_BLOCKED(call)                                             \
	__extension__({                                                        \
		struct signals_saved saved_;                                   \
		signals_block(&saved_);                                        \
		int ret_ = (call);                                             \
		signals_restore(&saved_);                                      \
		ret_;                                                          \
	})

int upager_open(const struct upager_options *opts, struct upager **out)
{
	return WITH_SIGNALS_BLOCKED(pager_open(opts, out));
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
	return WITH_SIGNALS_BLOCKED(pager_map(p, hint, len, prot, flags, addr));
}

int upager_map_file(struct upager *p, void *hint, size_t len, int prot, unsigned int flags,
		    int fd, uint64_t offset, void **addr)
{
	return WITH_SIGNALS_BLOCKED(pager_map_file(p, hint, len, prot, flags, fd, offset, addr));
}

int upager_sync(struct upager *p, void *addr, size_t len, unsigned int flags)
{
	return WITH_SIGNALS_BLOCKED(pager_sync(p, addr, len, flags));
}

int upager_unmap(struct upager *p, void *addr, size_t len)
{
	return WITH_SIGNALS_BLOCKED(pager_unmap(p, addr, len));
}

int upager_protect(struct upager *p, void *addr, size_t len, int prot)
{
	return WITH_SIGNALS_BLOCKED(pager_protect(p, addr, len, prot));
}

int upager_discard(struct upager *p, void *addr, size_t len)
{
	return WITH_SIGNALS_BLOCKED(pager_discard(p, addr, len));
}

int upager_query(struct upager *p, const void *addr, size_t len, int *prot)
{
	return WITH_SIGNALS_BLOCKED(pager_query(p, addr, len, prot));
}

int upager_stats_read(struct upager *p, struct upager_stats *out)
{
	return WITH_SIGNALS_BLOCKED(pager_stats_read(p, out));
}

int upager_stats_hist(struct upager *p, int which, struct upager_hist *out)
{
	return WITH_SIGNALS_BLOCKED(pager_stats_hist(p, which, out));
}

int upager_advise(struct upager *p, void *addr, size_t len, int advice)
{
	return WITH_SIGNALS_BLOCKED(pager_advise(p, addr, len, advice));
}

int upager_release(struct upager *p, void *addr, size_t len)
{
	return WITH_SIGNALS_BLOCKED(pager_release(p, addr, len));
}

/* The shim's address-space calls over regions (follow.c), like the
 * public calls: under the pager's lock for writing, so with signals
 * blocked. */
int pager_map_over(struct upager *p, void *addr, size_t len, int prot, int flags, int fd,
		   off_t off, void **out)
{
	return WITH_SIGNALS_BLOCKED(follow_map_over(p, addr, len, prot, flags, fd, off, out));
}

int pager_mprotect(struct upager *p, void *addr, size_t len, int prot)
{
	return WITH_SIGNALS_BLOCKED(follow_mprotect(p, addr, len, prot));
}

int pager_remap(struct upager *p, void *old, size_t old_len, size_t new_len, int flags,
		void *new_addr, void **out)
{
	return WITH_SIGNALS_BLOCKED(follow_remap(p, old, old_len, new_len, flags, new_addr, out));
}
