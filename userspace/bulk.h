/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Bulk work: a loop over the whole fleet (a state save, a render of every worker, the metrics
 * page) or over a large body's pieces (its copy into a memfd). Such a loop calls bulk_pause()
 * once per item, and a thread other than the event loop's
 * yields its CPU once BULK_SLICE_NS have passed since it last did. A thread that takes the CPU
 * from a runnable event loop otherwise keeps it until it blocks or the next scheduler tick: on
 * a kernel that does not preempt in the kernel (preempt=none) at HZ=250, up to 4 ms, and a
 * 10,000-worker save is 30 ms of CPU. A yield costs about a microsecond when nothing else
 * waits; the clock is read every BULK_CHECK_EVERY items, about every 5 µs.
 *
 * The event loop's thread calls bulk_is_loop() once: it never yields, since it is what the
 * others yield to (it saves on its own thread at exit, or when the saver cannot start).
 */
#ifndef LP_BULK_H
#define LP_BULK_H

#define BULK_SLICE_NS	 200000
#define BULK_CHECK_EVERY 16

void bulk_is_loop(void);
void bulk_pause(void);
/* This thread's yields so far. */
unsigned long bulk_yields(void);

#endif
