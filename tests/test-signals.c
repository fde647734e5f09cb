/* SPDX-License-Identifier: MIT */
/*
 * test-signals.c - the program's signal handlers against upager's calls:
 * a 200 us interval timer whose handler reads paged memory and maps,
 * touches and unmaps memory of its own through the pager, while the main
 * thread maps and unmaps 1 MiB again and again. The handler often
 * interrupts upager_map/upager_unmap, which hold the pager's lock; it
 * must run after the call returns instead of waiting for that lock.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define MIB (1ul << 20)
#define BIG (16 * MIB)

static struct upager *pager;
static unsigned char *big;
static volatile sig_atomic_t ticks, bad;
static size_t cursor;

static unsigned char big_byte(size_t i)
{
	return (unsigned char)(i / PAGE * 7 + 3);
}

static void on_alarm(int sig)
{
	void *m;

	(void)sig;
	ticks++;
	cursor = (cursor + PAGE) % BIG;
	if (big[cursor] != big_byte(cursor))
		bad = 1;
	if (ticks % 8)
		return;
	if (upager_map(pager, NULL, 256 << 10, RW, UPAGER_MAP_PRIVATE, &m)) {
		bad = 1;
		return;
	}
	memset(m, 0x5a, 256 << 10);
	if (upager_unmap(pager, m, 256 << 10))
		bad = 1;
}

Test(signals, timer_storm_during_map_and_unmap, .timeout = 60)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 200 }, { 0, 200 } };
	struct upager_options o = UPAGER_OPTS(.max_resident = 4 * MIB);
	int err;

	err = upager_open(&o, &pager);
	cr_assert_eq(err, 0, "upager_open: %s", strerror(-err));
	cr_assert_eq(upager_map(pager, NULL, BIG, RW, UPAGER_MAP_PRIVATE, (void **)&big), 0);
	for (size_t i = 0; i < BIG; i += PAGE)
		memset(big + i, big_byte(i), PAGE);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int l = 0; l < 3000; l++) {
		unsigned char *p;

		err = upager_map(pager, NULL, MIB, RW, UPAGER_MAP_PRIVATE, (void **)&p);
		cr_assert_eq(err, 0, "upager_map: %s", strerror(-err));
		for (size_t at = 0; at < MIB; at += 16 * PAGE)
			p[at] = (unsigned char)l;
		err = upager_unmap(pager, p, MIB);
		cr_assert_eq(err, 0, "upager_unmap: %s", strerror(-err));
	}
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	cr_assert(ticks > 0, "the timer never fired");
	cr_assert(!bad, "the handler read wrong bytes or could not map");
	for (size_t i = 0; i < BIG; i++)
		if (big[i] != big_byte(i))
			cr_assert_fail("byte %zu of the paged buffer changed", i);
	upager_close(pager);
}
