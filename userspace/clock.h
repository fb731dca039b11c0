/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's clocks, and the rule for which decides what. CLOCK_MONOTONIC measures every
 * age, deadline and staleness decision: it never steps, so liveness never depends on a wall
 * clock. CLOCK_REALTIME places events in time for people (the SSE `at`). Event-time rates use
 * the rating clock: the wall clock as it read at start, carried forward by CLOCK_MONOTONIC, so
 * a step of the wall clock (by hand, or NTP) cannot empty or flood the rate buckets; workers'
 * clock offsets are measured against it, and clock_step_s() says how far the wall clock has
 * stepped away from it since start. None of these calls can fail on Linux.
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

/* Seconds since the epoch, by the wall clock at start plus monotonic time since. */
double clock_rating_s(void);
/* The rating clock at mono_ns, a CLOCK_MONOTONIC time already read. */
double clock_rating_at_s(uint64_t mono_ns);
/* The wall clock minus the rating clock: the sum of the wall clock's steps since start. */
double clock_step_s(void);

#endif
