/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's two clocks, and the rule for which decides what. CLOCK_MONOTONIC measures every
 * age, deadline and staleness decision: it never steps, so liveness never depends on a wall
 * clock. CLOCK_REALTIME only places events in time for people and for event-time rates
 * (`completed_at` buckets, the SSE `at`). Neither call can fail on Linux.
 */
#ifndef LP_CLOCK_H
#define LP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static inline double clock_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
