/* SPDX-License-Identifier: MIT */
/*
 * bench-sigmask.c - what blocking the program's signals across upager's
 * calls costs (lib/os/signals.h): upager_map + upager_unmap of 1 MiB
 * (untouched) through the public calls, which block and restore the
 * mask, against the same pair through their implementations (pager_map,
 * pager_unmap: lib/upager-internal.h),
 * which do not; and one block + restore alone. Rounds alternate, the
 * minimum of each is printed (the machine is shared).
 *
 * usage: bench-sigmask [PAIRS [ROUNDS]]   (default 20000, 15)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "upager-internal.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)

static double clock_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
	int pairs = argc > 1 ? atoi(argv[1]) : 20000, rounds = argc > 2 ? atoi(argv[2]) : 15;
	struct upager_options o = UPAGER_OPTS(.max_resident = 16 << 20);
	double best[3] = { 1e30, 1e30, 1e30 };
	struct upager *p;
	void *m;
	int err = upager_open(&o, &p);

	if (err || pairs <= 0) {
		fprintf(stderr, "bench-sigmask: cannot open a pager\n");
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		double t[4];

		t[0] = clock_ns();
		for (int i = 0; i < pairs; i++) {
			err |= pager_map(p, NULL, 1 << 20, RW, UPAGER_MAP_PRIVATE, &m);
			err |= pager_unmap(p, m, 1 << 20);
		}
		t[1] = clock_ns();
		for (int i = 0; i < pairs; i++) {
			err |= upager_map(p, NULL, 1 << 20, RW, UPAGER_MAP_PRIVATE, &m);
			err |= upager_unmap(p, m, 1 << 20);
		}
		t[2] = clock_ns();
		for (int i = 0; i < pairs; i++) {
			struct signals_saved s;

			signals_block(&s);
			signals_restore(&s);
		}
		t[3] = clock_ns();
		for (int k = 0; k < 3; k++)
			if ((t[k + 1] - t[k]) / pairs < best[k])
				best[k] = (t[k + 1] - t[k]) / pairs;
	}
	upager_close(p);
	if (err) {
		fprintf(stderr, "bench-sigmask: a map or unmap failed\n");
		return 1;
	}
	printf("map+unmap 1 MiB: %.2f us without the mask, %.2f us with it (+%.2f us); "
	       "one block+restore %.3f us (minimum of %d rounds of %d)\n", best[0] / 1e3,
	       best[1] / 1e3, (best[1] - best[0]) / 1e3, best[2] / 1e3, rounds, pairs);
	return 0;
}
