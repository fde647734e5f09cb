/* SPDX-License-Identifier: MIT */
/*
 * clock.h - the clock upager's latencies are measured on: CLOCK_MONOTONIC
 * in nanoseconds (what every struct hist records, and kswapd's pacing).
 */
#ifndef UPAGER_CLOCK_H
#define UPAGER_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* UPAGER_CLOCK_H */
