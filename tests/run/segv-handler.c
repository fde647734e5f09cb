/* SPDX-License-Identifier: MIT */
/*
 * segv-handler - a program with its own SIGSEGV handler, for running
 * under upager-run: it fills a paged heap, then touches a guard page on
 * purpose a few times, recovering each time in its handler (which checks
 * si_addr), and verifies the heap afterwards. Exits 0 when all is as
 * the kernel alone would have it.
 *
 * usage: segv-handler SIZE_MIB
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static sigjmp_buf back;
static void *volatile expected;
static volatile int caught;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_addr == expected && si->si_code == SEGV_ACCERR)
		caught++;
	siglongjmp(back, 1);
}

/* Write to @addr, where the handler is expected to take over. */
static void poke(char *addr)
{
	expected = addr;
	if (!sigsetjmp(back, 1))
		*(volatile char *)addr = 1; /* PROT_NONE: SEGV_ACCERR */
}

int main(int argc, char **argv)
{
	size_t n = (argc > 1 ? strtoull(argv[1], NULL, 10) : 64) << 20;
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };
	uint64_t *heap = malloc(n);
	char *guard = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t bad = 0;

	if (!heap || guard == MAP_FAILED)
		return 1;
	sigaction(SIGSEGV, &sa, NULL);
	for (size_t i = 0; i < n / 8; i++)
		heap[i] = i * 2654435761u;
	for (int k = 0; k < 5; k++)
		poke(guard + k * 4096 + 17);
	for (size_t i = 0; i < n / 8; i++)
		bad += heap[i] != i * 2654435761u;
	printf("segv-handler: caught %d of 5, %zu words wrong\n", caught, bad);
	return caught == 5 && !bad ? 0 : 1;
}
