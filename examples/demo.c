/* SPDX-License-Identifier: MIT */
/*
 * demo.c - upager's first job, end to end: map a region far larger than
 * memory, touch a sliver of it sequentially and at random, check every
 * byte, and print what the pager did.
 *
 * Usage: upager-demo [REGION_GIB [TOUCH_MIB]]   (default 64 GiB, 256 MiB)
 * With UPAGER_MAX_RESIDENT=64M (say), the pages touched outnumber the
 * frame budget and the excess goes through upager's swap store.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "upager.h"

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t region = (size_t)(argc > 1 ? strtoul(argv[1], NULL, 10) : 64) << 30;
	size_t touch = (size_t)(argc > 2 ? strtoul(argv[2], NULL, 10) : 256) << 20;
	struct upager_options opts = UPAGER_OPTS(.flags = UPAGER_OPEN_FROM_ENV);
	struct upager_stats st = UPAGER_STATS();
	struct upager *pager;
	struct rusage ru;
	size_t page = 4096, random_pages = 4096, bad = 0;
	unsigned char *mem;
	uint64_t seed = 42;
	double t0, t_seq, t_rand;
	int err;

	if (!region || !touch || touch > region / 2) {
		fprintf(stderr, "usage: %s [REGION_GIB [TOUCH_MIB]] (touch <= region / 2)\n", argv[0]);
		return 2;
	}
	err = upager_open(&opts, &pager);
	if (err) {
		fprintf(stderr, "upager_open: %s\n", strerror(-err));
		return 1;
	}
	err = upager_map(pager, NULL, region, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, (void **)&mem);
	if (err) {
		fprintf(stderr, "upager_map(%zu GiB): %s\n", region >> 30, strerror(-err));
		upager_close(pager);
		return 1;
	}
	printf("mapped %zu GiB at %p through upager\n", region >> 30, (void *)mem);

	/* Sequential first touch of the first TOUCH bytes. */
	t0 = seconds();
	for (size_t off = 0; off < touch; off += page)
		mem[off] = (unsigned char)(off / page);
	t_seq = seconds() - t0;

	/* Scattered touches across the second half of the region. */
	t0 = seconds();
	for (size_t i = 0; i < random_pages; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		size_t off = region / 2 + (size_t)(seed >> 20) % (region / 2 / page) * page;

		mem[off + 1] = (unsigned char)(seed >> 56);
		if (mem[off + 2] != 0)
			bad++;
	}
	t_rand = seconds() - t0;

	for (size_t off = 0; off < touch; off += page)
		if (mem[off] != (unsigned char)(off / page) || mem[off + 1] != 0)
			bad++;

	upager_stats_read(pager, &st);
	getrusage(RUSAGE_SELF, &ru);
	printf("sequential: %zu MiB first-touched in %.3f s (%.0f pages/s)\n",
	       touch >> 20, t_seq, (double)(touch / page) / t_seq);
	printf("random:     %zu pages first-touched in %.3f s (%.0f pages/s)\n",
	       random_pages, t_rand, (double)random_pages / t_rand);
	printf("verified:   %s\n", bad ? "MISMATCH" : "every byte as written");
	printf("\nupager statistics\n");
	printf("  faults            %" PRIu64 " (read %" PRIu64 ", write %" PRIu64 ")\n",
	       st.faults, st.faults_read, st.faults_write);
	printf("  zero-filled pages %" PRIu64 " (%" PRIu64 " of them ahead of a fault)\n",
	       st.zero_fills, st.fault_around_pages);
	printf("  pages resident    %" PRIu64 " (%.1f MiB of a %zu GiB region)\n",
	       st.pages_resident, (double)st.pages_resident * (double)page / 1048576.0,
	       region >> 30);
	printf("  regions           %" PRIu64 "\n", st.regions);
	printf("  service time      p50 %.1f us, p99 %.1f us, max %.1f us\n",
	       (double)st.service_ns_p50 / 1e3, (double)st.service_ns_p99 / 1e3,
	       (double)st.service_ns_max / 1e3);
	if (st.budget_pages) {
		printf("  frame budget      %.1f MiB\n", (double)st.budget_pages * (double)page / 1048576.0);
		printf("  evicted           %" PRIu64 " written, %" PRIu64 " clean (no I/O), %" PRIu64
		       " zero (no I/O)\n", st.writebacks, st.clean_drops, st.zero_drops);
		printf("  second chances    %" PRIu64 " of %" PRIu64 " staged pages touched again\n",
		       st.reactivations, st.staged);
		printf("  swapped in        %" PRIu64 " (%" PRIu64 " read ahead), %" PRIu64 " slots in use\n",
		       st.swapins, st.readahead_pages, st.slots_in_use);
		printf("  swap I/O          read p50 %.1f us, p99 %.1f us; write p50 %.1f us, p99 %.1f us\n",
		       (double)st.swap_read_ns_p50 / 1e3, (double)st.swap_read_ns_p99 / 1e3,
		       (double)st.swap_write_ns_p50 / 1e3, (double)st.swap_write_ns_p99 / 1e3);
	}
	printf("  process peak RSS  %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
	upager_close(pager);
	return bad ? 1 : 0;
}
