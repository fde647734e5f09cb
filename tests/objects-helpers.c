/* SPDX-License-Identifier: MIT */
/*
 * objects-helpers.c - what the objects test files share: test files of a
 * known pattern, pagers under a budget, pages of a known generation.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objects-helpers.h"

/* The byte a test file holds at offset @i of page @pg. */
unsigned char pat(size_t pg, size_t i)
{
	return (unsigned char)(pg * 131 + i * 7 + 1);
}

/* A fresh file under /var/tmp (ext4 here, like the swap store) of @pages
 * pages and @tail bytes, filled with pat(); unlinked at once, returned
 * open with @oflags (O_RDWR or O_RDONLY). */
int make_file(size_t pages, size_t tail, int oflags)
{
	char path[96];
	size_t len = pages * PAGE + tail;
	unsigned char *buf = malloc(len + 1);
	int fd;

	cr_assert_not_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = pat(i / PAGE, i % PAGE);
	snprintf(path, sizeof(path), "/var/tmp/upager-test-obj-%d-XXXXXX", getpid());
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(pwrite(fd, buf, len, 0), (ssize_t)len);
	free(buf);
	if (oflags != O_RDWR) {
		int ro = open(path, oflags | O_CLOEXEC);

		cr_assert_geq(ro, 0);
		close(fd);
		fd = ro;
	}
	unlink(path);
	return fd;
}

/* A pager with a frame budget of @budget bytes (0 handlers: the default). */
struct upager *open_with_budget(uint64_t budget, unsigned int handlers)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = budget,
					      .swap_path = test_swap_path("objswap"),
					      .handler_threads = handlers);

	return test_open(&o);
}

/* The 8-byte word @w of page @pg in generation @gen (0: the file's own
 * bytes, see pat()). */
uint64_t word(size_t pg, size_t w, uint64_t gen)
{
	uint64_t x;

	if (!gen) {
		unsigned char b[8];

		for (int i = 0; i < 8; i++)
			b[i] = pat(pg, w * 8 + (size_t)i);
		memcpy(&x, b, 8);
		return x;
	}
	x = pg * 0x9e3779b97f4a7c15ull ^ (w + 1) * 0xbf58476d1ce4e5b9ull ^ gen;
	return x ^ (x >> 29);
}

bool page_is(const volatile uint64_t *p, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		if (p[w] != word(pg, w, gen))
			return false;
	return true;
}

void page_fill(volatile uint64_t *p, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		p[w] = word(pg, w, gen);
}
