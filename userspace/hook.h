/* SPDX-License-Identifier: GPL-2.0 */
/*
 * --on-transition COMMAND: runs COMMAND with /bin/sh for every worker state transition, with
 * the transition in its environment (LIVEPROBE_WORKER, LIVEPROBE_FROM, LIVEPROBE_TO,
 * LIVEPROBE_REASON, LIVEPROBE_AT), like keepalived's notify scripts. posix_spawn never blocks
 * the event loop; finished commands are reaped on the loop's tick; at most HOOK_MAX_RUNNING run
 * at once, and what does not fit is counted, not queued.
 *
 * Errors: a command that cannot start, or fails, is counted (failed), and the first such
 * failure and the first skip are logged; the loop never waits for a command.
 */
#ifndef LP_HOOK_H
#define LP_HOOK_H

#include <stdint.h>

#include "fleet.h"

#define HOOK_MAX_RUNNING 16

struct hook_stats {
	uint64_t started;
	uint64_t skipped; /* HOOK_MAX_RUNNING were already running */
	uint64_t failed;  /* could not be started, or exited non-zero */
};

void hook_init(const char *command); /* NULL or empty: no hook */
void hook_run(const struct fleet_transition *transition, double at);
/* Reaps finished commands; call from the loop's tick. */
void hook_reap(void);
struct hook_stats hook_stats(void);

#endif
