/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The state file, written off the event loop. The loop hands over a snapshot of the fleet
 * (taking one is cheap: it shares the published copies of unchanged workers) with the peer
 * bindings, and one thread serializes and fsyncs it, so a save of 10,000 workers (about 30 ms)
 * never delays a death's verdict. Saves are numbered; a writer that must be durable before it
 * answers (a registration's 201) waits for its number on its own thread. Only the newest pending
 * save is kept: an older one holds nothing the newer lacks. One saver per process.
 *
 * Errors: saver_start returns 0 or -errno; a save's outcome (0 or -errno from state_save)
 * reaches the loop through saver_collect, and a waiter through saver_wait.
 */
#ifndef LP_SAVER_H
#define LP_SAVER_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"
#include "sockwatch.h"

/* Starts the thread (after the sandbox is in place: a thread made before it is not filtered). */
int saver_start(const char *dir);
/* Finishes the pending save, if any, and stops the thread. */
void saver_stop(void);
/*
 * Queues a save of this snapshot (the saver takes its reference) with a copy of the bindings;
 * returns its number. 0: not queued (no saver running, out of memory), the snapshot is still
 * the caller's, who saves on its own thread.
 */
uint64_t saver_request(struct snapshot *snapshot, const struct sockwatch_binding *bindings,
		       size_t n_bindings, uint64_t last_event_id);
/* Blocks until save number `sequence` (or a later one) is written or the saver stopped;
 * its result. */
int saver_wait(uint64_t sequence);
/* Readable (an eventfd) when a save finished: the loop then calls saver_collect. */
int saver_fd(void);
/* The result of the newest finished save (0: none failed yet); clears the eventfd. */
int saver_collect(void);

#endif
