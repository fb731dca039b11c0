/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --on-transition COMMAND: runs COMMAND with /bin/sh for every worker state transition, with
 * the transition in its environment (LIVEPROBE_WORKER, LIVEPROBE_FROM, LIVEPROBE_TO,
 * LIVEPROBE_REASON, LIVEPROBE_AT), like keepalived's notify scripts. The commands are started
 * by a spawner process forked at hook_init, before the daemon drops its privileges and forbids
 * itself exec: the daemon only sends it the transition's values, never a command. Nothing
 * blocks the event loop; results are read on the loop's tick; at most HOOK_MAX_RUNNING run
 * at once. What does not fit waits, one entry per worker: a newer transition of a waiting
 * worker merges into its entry (from the first state to the latest, with the latest reason),
 * so a flood of transitions can delay a command but never silence a worker's latest one.
 *
 * Errors: a command that cannot start, or fails, is counted (failed), and the first such
 * failure is logged; merged transitions are counted; the loop never waits for a command.
 */
#ifndef LP_HOOK_H
#define LP_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include "fleet.h"

#define HOOK_MAX_RUNNING 16

struct hook_stats {
	uint64_t started;
	uint64_t merged; /* transitions folded into a waiting one of the same worker */
	uint64_t failed; /* could not be started, or exited non-zero */
	uint64_t waiting; /* workers with a transition waiting for a free slot, now */
};

/* NULL or empty command: no hook. max_workers bounds the waiting entries. Call before any
 * other descriptor is opened (the spawner inherits what is open). 0 or -errno. */
int hook_init(const char *command, size_t max_workers);
void hook_run(const struct fleet_transition *transition, double at);
/* Reaps finished commands and starts waiting ones; call from the loop's tick. */
void hook_reap(void);
struct hook_stats hook_stats(void);

#endif
