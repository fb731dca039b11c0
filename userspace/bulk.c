// SPDX-License-Identifier: GPL-2.0
/* See bulk.h. The counters are per thread: each bulk thread has its own 0.2 ms. */
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "bulk.h"
#include "clock.h"

static _Thread_local bool loop_thread;
static _Thread_local unsigned int items;
static _Thread_local uint64_t yielded_ns;
static _Thread_local unsigned long yields;

void bulk_is_loop(void)
{
	loop_thread = true;
}

void bulk_pause(void)
{
	uint64_t now_ns;

	if (loop_thread || ++items % BULK_CHECK_EVERY)
		return;
	now_ns = clock_mono_ns();
	if (now_ns - yielded_ns < BULK_SLICE_NS)
		return;
	sched_yield();
	yielded_ns = now_ns;
	yields++;
}

unsigned long bulk_yields(void)
{
	return yields;
}
