/* SPDX-License-Identifier: MIT */
/*
 * signal-storm.c - a 200 us interval timer whose handler allocates,
 * writes what it allocated and reads pages of a large heap buffer, while
 * the main thread maps, touches and unmaps 1 MiB again and again: the
 * handler often interrupts the main thread inside mmap or munmap. Run
 * natively it finishes; under upager it must too, with the same output.
 *
 * usage: signal-storm [BUFFER_MIB [LOOPS]]   (default 48, 3000)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>

#define MIB (1ul << 20)
#define PAGE 4096ul

static unsigned char *big;
static size_t big_len;
static volatile sig_atomic_t ticks;
static volatile uint64_t handler_sum;
static volatile int handler_bad;
static uint64_t rng = 88172645463325252ull;
static size_t cursor;

static unsigned char big_byte(size_t i)
{
	return (unsigned char)(i / PAGE * 7 + i % 251);
}

static void on_alarm(int sig)
{
	size_t n;
	unsigned char *m;

	(void)sig;
	ticks++;
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	n = 1 + (size_t)(rng % (16 * 1024));
	m = malloc(n);
	if (m) {
		memset(m, (int)(rng & 0xff), n);
		if (m[n - 1] != (unsigned char)(rng & 0xff))
			handler_bad = 1;
		free(m);
	}
	/* Along the buffer, a page a tick: under a budget mostly read
	 * ahead, so a tick stays shorter than the interval. */
	cursor = (cursor + PAGE + (size_t)(rng % 64)) % big_len;
	if (big[cursor] != big_byte(cursor))
		handler_bad = 1;
	handler_sum += big[cursor];
}

int main(int argc, char **argv)
{
	size_t loops = argc > 2 ? strtoul(argv[2], NULL, 0) : 3000;
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	uint64_t sum = 0;

	big_len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 48) * MIB;
	big = malloc(big_len);
	if (!big) {
		perror("malloc");
		return 1;
	}
	for (size_t i = 0; i < big_len; i++)
		big[i] = big_byte(i);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (size_t l = 0; l < loops; l++) {
		unsigned char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		for (size_t o = 0; o < MIB; o += PAGE)
			p[o] = (unsigned char)(l + o / PAGE);
		for (size_t o = 0; o < MIB; o += PAGE)
			sum += p[o];
		if (munmap(p, MIB)) {
			perror("munmap");
			return 1;
		}
	}
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	for (size_t i = 0; i < big_len; i++)
		if (big[i] != big_byte(i)) {
			fprintf(stderr, "byte %zu of the buffer changed\n", i);
			return 1;
		}
	if (handler_bad) {
		fprintf(stderr, "the signal handler read or wrote wrong bytes\n");
		return 1;
	}
	if (!ticks) {
		fprintf(stderr, "the timer never fired\n");
		return 1;
	}
	fprintf(stderr, "signal-storm: %d timer signals\n", (int)ticks);
	printf("loops %zu, sum %llu, buffer %zu MiB intact\n", loops, (unsigned long long)sum,
	       big_len / MIB);
	return 0;
}
