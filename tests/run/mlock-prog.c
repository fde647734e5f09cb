/* SPDX-License-Identifier: MIT */
/*
 * mlock-prog.c - locked memory, as a program uses it.
 *
 *   mlock-prog mlock MIB      map MIB MiB, fill it, mlock it; then fill
 *                             48 MiB more (unlocked) and check the
 *                             locked range stayed resident and intact
 *   mlock-prog mlockall MIB   mlockall(MCL_CURRENT | MCL_FUTURE), then
 *                             map 64 KiB and MIB MiB: resident from the
 *                             mmap on
 *
 * Prints what each call answered and what mincore(2) saw, one line each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIB (1ul << 20)
#define PAGE 4096ul

static size_t resident(const unsigned char *p, size_t len)
{
	static unsigned char vec[1 << 16];
	size_t n = 0;

	if (len / PAGE > sizeof(vec) || mincore((void *)p, len, vec))
		return 0;
	for (size_t i = 0; i < len / PAGE; i++)
		n += vec[i] & 1;
	return n;
}

static unsigned char *map(size_t len)
{
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	if (p == MAP_FAILED) {
		printf("mmap %zu MiB: %s\n", len / MIB, strerror(errno));
		return NULL;
	}
	return p;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i += 64)
		p[i] = (unsigned char)(i / PAGE * 13 + seed);
}

static size_t bad_bytes(const unsigned char *p, size_t len, unsigned seed)
{
	size_t bad = 0;

	for (size_t i = 0; i < len; i += 64)
		bad += p[i] != (unsigned char)(i / PAGE * 13 + seed);
	return bad;
}

int main(int argc, char **argv)
{
	size_t len = (argc > 2 ? strtoul(argv[2], NULL, 0) : 4) * MIB;
	unsigned char *p, *q;

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "mlock")) {
		p = map(len);
		if (!p)
			return 1;
		fill(p, len, 1);
		if (mlock(p, len)) {
			printf("mlock %zu MiB: %s\n", len / MIB, strerror(errno));
			/* Nothing locked, nothing lost: the range reads back
			 * and pages as before. */
			q = map(48 * MIB);
			if (!q)
				return 1;
			fill(q, 48 * MIB, 2);
			printf("after the failed mlock: %zu bad bytes, the other %zu\n",
			       bad_bytes(p, len, 1), bad_bytes(q, 48 * MIB, 2));
			return 0;
		}
		printf("mlock %zu MiB: ok, resident %zu of %zu pages\n", len / MIB,
		       resident(p, len), len / PAGE);
		q = map(48 * MIB);
		if (!q)
			return 1;
		fill(q, 48 * MIB, 2);
		printf("after 48 MiB more: locked range resident %zu of %zu pages, %zu bad bytes; "
		       "the other %zu bad bytes\n", resident(p, len), len / PAGE,
		       bad_bytes(p, len, 1), bad_bytes(q, 48 * MIB, 2));
		if (munlock(p, len))
			printf("munlock: %s\n", strerror(errno));
		return 0;
	}
	if (!strcmp(argv[1], "mlockall")) {
		if (mlockall(MCL_CURRENT | MCL_FUTURE)) {
			printf("mlockall: %s\n", strerror(errno));
			return 0;
		}
		printf("mlockall: ok\n");
		/* Too small for upager: the kernel's, filled at the mmap. */
		q = map(64 << 10);
		if (q)
			printf("mmap 64 KiB: resident at once %zu of 16 pages\n",
			       resident(q, 64 << 10));
		p = map(len);
		if (!p)
			return 0;
		printf("mmap %zu MiB: resident at once %zu of %zu pages\n", len / MIB,
		       resident(p, len), len / PAGE);
		fill(p, len, 3);
		printf("filled: %zu bad bytes\n", bad_bytes(p, len, 3));
		munlockall();
		return 0;
	}
	return 2;
}
