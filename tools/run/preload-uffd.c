/* SPDX-License-Identifier: MIT */
/*
 * preload-uffd.c - a program's own userfaultfd over memory upager pages.
 *
 * The kernel lets one userfaultfd watch a range: the program's
 * UFFDIO_REGISTER over upager's memory was refused (EBUSY). The ioctl is
 * interposed, and such a range is given up to the program first
 * (upager_release: what upager holds of it elsewhere is brought back, its
 * untouched pages stay untouched, and upager stops paging it), then the
 * registration goes to the kernel, which answers as it would without
 * upager. Giving up only what the program registers, rather than no longer
 * paging a program that opens a userfaultfd at all, keeps the rest of its
 * memory paged: a runtime that watches one arena (a garbage collector, a
 * live-migration client) still has its other memory under the cap.
 */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "upager.h"
#include "preload.h"

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == UFFDIO_REGISTER && arg && preload_pager &&
	    !preload_from_self((uintptr_t)__builtin_return_address(0))) {
		const struct uffdio_register *reg = arg;
		void *start = (void *)(uintptr_t)reg->range.start;
		size_t len = (size_t)reg->range.len;
		int err;

		if (len && upager_query(preload_pager, start, len, NULL) > UPAGER_QUERY_NONE &&
		    (err = upager_release(preload_pager, start, len)))
			/* The kernel answers EBUSY for what upager still has. */
			preload_say("UFFDIO_REGISTER(%p, %zu): upager cannot give the range up: %s",
				    start, len, strerror(-err));
	}
	return (int)syscall(SYS_ioctl, fd, request, arg);
}
