/* SPDX-License-Identifier: MIT */
/*
 * statm.c - reading /proc/self/statm (statm.h).
 */
#include "os/statm.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int statm_resident(int fd, uint64_t *pages)
{
	char buf[128], *p, *end;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* "size resident shared text lib data dt" */
	strtoull(buf, &p, 10);
	*pages = strtoull(p, &end, 10);
	return end == p ? -EIO : 0;
}
