/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a worker's report does to the fleet: which worker it names (worker=, LIVEPROBE_WORKER=,
 * or the sender's pid), which process it binds (pid=, else the kernel-verified sender of a Unix
 * datagram; none for a proxy's report with peer=, none over UDP), which connection it claims
 * (peer=), and then the output, hello, bye or sd_notify fields themselves. Runs on the event
 * loop's thread, for the ingest sockets and for POST /api/v1/episodes alike.
 *
 * Who may say what (the security model) is decided here too, in may_speak_for(): root and
 * authorised API writers anything, a reporter only for what its uid owns or its own process,
 * UDP only for workers UDP created, and pid= only for the sender or its descendants.
 *
 * Errors: a report is applied whole or dropped whole; a dropped one is counted under its
 * reason in the caller's dropped[] (logged at debug level only: reporters are many, logs few).
 */
#ifndef LP_FEED_H
#define LP_FEED_H

#include <sys/types.h>

#include "cgwatch.h"
#include "fleet.h"
#include "ingest.h"
#include "procwatch.h"
#include "sockwatch.h"

/* completed_at must be within a day of the daemon's clock, either way. */
#define FEED_COMPLETED_AT_WINDOW_S 86400.0

/*
 * Applies one report under the security model. A process inside a watched cgroup speaks for
 * that cgroup's worker (its identity is the cgroup, read from the kernel), and an sd_notify
 * message from one that names no worker is that worker's, as systemd's NotifyAccess=all.
 */
void feed_apply(struct fleet *fleet, struct procwatch *procs, struct sockwatch *sockets,
		struct cgwatch *cgroups, const struct report *report,
		const struct ingest_sender *sender, uint64_t dropped[REPORT_ERR__COUNT]);

#endif
