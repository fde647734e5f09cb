/* SPDX-License-Identifier: MIT */
/*
 * benchutil.c - order statistics and the generator the benchmarks share.
 */
#include "benchutil.h"

#include <stdlib.h>

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

double bench_percentile(const uint64_t *v, size_t n, unsigned int permille)
{
	size_t rank = (n * permille + 999) / 1000;

	return n ? (double)v[rank ? rank - 1 : 0] : 0;
}

double bench_ratio(double num, double den)
{
	return den > 0 ? num / den : 0;
}

uint64_t bench_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
