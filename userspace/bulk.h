/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bulk work: a loop over the whole fleet that runs off the event loop's thread (a state save, a
 * render of every worker, the metrics page). Such a loop calls bulk_pause() once per item, and
 * the thread yields its CPU once BULK_SLICE_NS have passed since it last did. A thread that
 * takes the CPU from a runnable event loop otherwise keeps it until it blocks or the next
 * scheduler tick: on a kernel that does not preempt in the kernel (preempt=none) at HZ=250, up
 * to 4 ms, and a 10,000-worker save is 30 ms of CPU. A yield costs about a microsecond when
 * nothing else waits; the clock is read every BULK_CHECK_EVERY items, about every 5 µs.
 */
#ifndef LP_BULK_H
#define LP_BULK_H

#include <sched.h>
#include <stdint.h>

#include "clock.h"

#define BULK_SLICE_NS	 200000
#define BULK_CHECK_EVERY 16

static inline void bulk_pause(void)
{
	static _Thread_local unsigned int items;
	static _Thread_local uint64_t yielded_ns;
	uint64_t now_ns;

	if (++items % BULK_CHECK_EVERY)
		return;
	now_ns = clock_mono_ns();
	if (now_ns - yielded_ns < BULK_SLICE_NS)
		return;
	sched_yield();
	yielded_ns = now_ns;
}

#endif
