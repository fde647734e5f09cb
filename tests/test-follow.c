/* SPDX-License-Identifier: MIT */
/*
 * test-follow.c - calls the kernel refuses leave upager's memory as they
 * leave the kernel's: a MAP_FIXED mmap the kernel answers ENOMEM (its
 * range runs past the end of the address space) over part of a region
 * changes nothing, side by side with the kernel's own mapping.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/mman.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)

static void fixed_refused(struct mem *m, struct transcript *t)
{
	unsigned char *p;
	void *out;
	int err;

	cr_assert_eq(mem_map(m, NULL, 64 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	for (size_t i = 0; i < 64; i++)
		p[i * PAGE + 5] = (unsigned char)(i + 1);
	/* Past the end of the address space: the kernel checks that before
	 * it replaces anything. */
	err = mem_map(m, p + 16 * PAGE, (size_t)1 << 47, RW, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED,
		      &out);
	transcript_printf(t, "fixed past the end: %d\n", err);
	for (size_t i = 0; i < 64; i += 3)
		transcript_access(t, "read back", p, probe_read(p + i * PAGE + 5));
	cr_assert_eq(mem_unmap(m, p, 64 * PAGE), 0);
}

Test(follow, refused_map_fixed_keeps_the_old_memory, .timeout = 20)
{
	differential(fixed_refused);
}
