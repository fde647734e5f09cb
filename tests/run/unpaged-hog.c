/* SPDX-License-Identifier: MIT */
/*
 * unpaged-hog.c - a program most of whose memory upager does not page:
 * UNPAGED MiB of shared anonymous memory (never paged: shared mappings
 * stay the kernel's), touched first, then PAGED MiB of private memory
 * (paged) written and read back twice. Under upager-run --max-resident,
 * the process's peak resident set must stay within the cap: the pager's
 * frames shrink to what the shared mapping leaves.
 *
 * usage: unpaged-hog UNPAGED_MIB PAGED_MIB
 * prints "wrong N peak_kib K" (N: bytes not as written; K: VmHWM)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long vm_hwm_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kib = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kib;
}

int main(int argc, char **argv)
{
	size_t unpaged, paged, page = (size_t)sysconf(_SC_PAGESIZE), wrong = 0;
	uint64_t *p;
	char *u;

	if (argc != 3) {
		fprintf(stderr, "usage: unpaged-hog UNPAGED_MIB PAGED_MIB\n");
		return 2;
	}
	unpaged = strtoul(argv[1], NULL, 10) << 20;
	paged = strtoul(argv[2], NULL, 10) << 20;
	u = mmap(NULL, unpaged, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p = mmap(NULL, paged, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u == MAP_FAILED || p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t off = 0; off < unpaged; off += page)
		u[off] = 1;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < paged / 8; i += page / 8)
			p[i] = i * 0x9e3779b97f4a7c15ull + (uint64_t)pass;
	for (size_t i = 0; i < paged / 8; i += page / 8)
		wrong += p[i] != i * 0x9e3779b97f4a7c15ull + 1;
	for (size_t off = 0; off < unpaged; off += page)
		wrong += u[off] != 1;
	printf("wrong %zu peak_kib %ld\n", wrong, vm_hwm_kib());
	return wrong != 0;
}
