/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a worker's report does to the fleet: which worker it names (worker=, LIVEPROBE_WORKER=,
 * or the sender's pid), which process it binds (pid=, else the kernel-verified sender of a Unix
 * datagram; none for a proxy's report with peer=, none over UDP), which connection it claims
 * (peer=), and then the output, hello, bye or sd_notify fields themselves. Runs on the event
 * loop's thread, for the ingest sockets and for POST /api/v1/episodes alike.
 */
#ifndef LP_FEED_H
#define LP_FEED_H

#include <sys/types.h>

#include "ingest.h"
#include "loop.h"

/* Applies one report; a report that cannot be applied is counted in dropped[]. */
void feed_apply(struct loop *loop, const struct report *report, pid_t sender, enum ingest_via via,
		uint64_t dropped[REPORT_ERR__COUNT]);

#endif
