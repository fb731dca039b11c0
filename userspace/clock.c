// SPDX-License-Identifier: GPL-2.0
/* See clock.h. */
#include <pthread.h>

#include "clock.h"

static double anchor_s; /* wall minus monotonic, once */
static pthread_once_t anchored = PTHREAD_ONCE_INIT;

static void anchor(void)
{
	anchor_s = clock_wall_s() - clock_mono_ns() / 1e9;
}

double clock_rating_at_s(uint64_t mono_ns)
{
	pthread_once(&anchored, anchor);
	return anchor_s + mono_ns / 1e9;
}

double clock_rating_s(void)
{
	return clock_rating_at_s(clock_mono_ns());
}

double clock_step_s(void)
{
	double step = clock_wall_s() - clock_rating_s();

	/* Slews and the two reads' distance are not steps. */
	return step > -0.5 && step < 0.5 ? 0 : step;
}
