/* SPDX-License-Identifier: MIT */
/*
 * hist.c - order statistics and the generator the benchmarks share.
 */
#include "hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(v[0]), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

unsigned int bench_median_run(const double *v, unsigned int n)
{
	/* The first run whose value spans the middle rank of the sorted
	 * values: [below, below + equal) holds (n - 1) / 2. */
	for (unsigned int i = 0; i < n; i++) {
		unsigned int below = 0, equal = 0;

		for (unsigned int j = 0; j < n; j++) {
			below += v[j] < v[i];
			equal += v[j] == v[i];
		}
		if (below <= (n - 1) / 2 && (n - 1) / 2 < below + equal)
			return i;
	}
	return 0;
}

void bench_row_from(struct bench_row *h, double *pps, const double *p50, const double *p99,
		    unsigned int n)
{
	unsigned int med;

	h->valid = n > 0;
	h->n = n;
	if (!n)
		return;
	med = bench_median_run(pps, n);
	h->p50 = p50[med];
	h->p99 = p99[med];
	h->pps = bench_median(pps, n);
}

double bench_percentile(const uint64_t *v, size_t n, unsigned int permille)
{
	size_t rank = (n * permille + 999) / 1000;

	return n ? (double)v[rank ? rank - 1 : 0] : 0;
}

double bench_ratio(double num, double den)
{
	return den > 0 ? num / den : 0;
}

void bench_print_count(double v, bool show)
{
	if (show)
		printf(" %8.0f", v);
	else
		printf(" %8s", "-");
}

uint64_t bench_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

