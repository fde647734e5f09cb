/* SPDX-License-Identifier: MIT */
/*
 * trace-target.c - a known amount of userfaultfd faults for upager-trace's
 * test: map 1024 pages through upager (fault-around off, so one fault per
 * page), write to 256 of them in a fixed random order, and print what
 * upager counted.
 *
 * Usage: trace-target [ADDRESS]
 * With ADDRESS (hex), the region is placed there (MAP_FIXED_NOREPLACE), so
 * the tracer can be given the range before the target runs.
 * Prints "region=0xSTART-0xEND" and "upager_faults=N". Exit status 0, 1 on
 * failure, 77 when userfaultfd is not available here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upager.h"

#define PAGES 1024u
#define TOUCHES 256u
#define SEED 0x7ace5eedull

static uint64_t rng_next(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

int main(int argc, char **argv)
{
	struct upager_options opts = UPAGER_OPTS(.fault_around_max = 1);
	struct upager_stats st = UPAGER_STATS();
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	unsigned int flags = UPAGER_MAP_PRIVATE;
	uint32_t order[PAGES];
	uint64_t seed = SEED;
	void *hint = NULL;
	struct upager *pager;
	volatile char *mem;
	void *addr;
	int err;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [ADDRESS]\n", argv[0]);
		return 2;
	}
	if (argc == 2) {
		hint = (void *)(uintptr_t)strtoull(argv[1], NULL, 16);
		flags |= UPAGER_MAP_FIXED_NOREPLACE;
	}
	err = upager_open(&opts, &pager);
	if (err) {
		fprintf(stderr, "trace-target: upager_open: %s\n", strerror(-err));
		return err == -EPERM || err == -ENOSYS ? 77 : 1;
	}
	err = upager_map(pager, hint, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE, flags, &addr);
	if (err) {
		fprintf(stderr, "trace-target: upager_map: %s\n", strerror(-err));
		upager_close(pager);
		return 1;
	}
	printf("region=0x%" PRIxPTR "-0x%" PRIxPTR "\n", (uintptr_t)addr, (uintptr_t)addr + len);

	/* A fixed random permutation; its first TOUCHES pages are written. */
	for (uint32_t i = 0; i < PAGES; i++)
		order[i] = i;
	for (uint32_t i = PAGES - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng_next(&seed) % (i + 1));
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	mem = addr;
	for (uint32_t i = 0; i < TOUCHES; i++)
		mem[(size_t)order[i] * page] = 1;

	err = upager_stats_read(pager, &st);
	if (err) {
		fprintf(stderr, "trace-target: upager_stats_read: %s\n", strerror(-err));
		upager_close(pager);
		return 1;
	}
	printf("upager_faults=%" PRIu64 "\n", st.faults);
	upager_close(pager);
	return 0;
}
