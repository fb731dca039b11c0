/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event loop, the one owner of the state. epoll waits on the ring buffer, a signalfd, a
 * timerfd and the command queue; each wake-up applies what arrived to the fleet, and publishes a
 * new snapshot when anything changed. Reconciliation (lp_procs and pidfds, lp_conns and
 * sock_diag against the fleet) runs on the timer and at once after the kernel reports a
 * ring-buffer drop.
 *
 * Errors: loop_init returns -errno after one logged line; at run time nothing stops the
 * loop but a signal: failures are logged once and shown in /healthz and /api/v1/host.
 */
#ifndef LP_LOOP_H
#define LP_LOOP_H

#include "cmdq.h"
#include "fleet.h"
#include "ingest.h"
#include "opts.h"
#include "probe.h"
#include "cgwatch.h"
#include "procwatch.h"
#include "snapshot.h"
#include "sockwatch.h"

#define LOOP_TICK_MS 100
#define LOOP_FULL_SWEEP_TICKS 600 /* every worker re-judged once a minute, due or not */
/* Descriptors kept aside for the control socket's connections and event streams. */
#define HTTP_CONTROL_CONNECTIONS_RESERVE 64

struct loop {
	const struct opts *opts;
	struct probe *probe;
	struct fleet fleet;
	struct cmdq commands;
	struct procwatch procs;
	struct cgwatch cgroups;
	struct sockwatch sockets;
	struct ingest ingest;
	struct daemon_status status;
	int epoll_fd;
	int signal_fd;
	int timer_fd;
	int state_lock_fd; /* flock on --state-dir, held while running */
	uint64_t published_generation;
	uint64_t next_publish_ns; /* earliest time of the next snapshot copy */
	uint64_t ticks;
	uint64_t saved_lifecycle; /* fleet.lifecycle at the last state save */
	uint32_t saved_next_id;	  /* fleet.next_id at the last state save: new workers since */
	uint64_t next_save_ns;
	bool save_failed; /* logged once per failing stretch */
	bool status_changed;
	uint64_t next_reconcile_ns;
	uint64_t watchdog_ns, next_watchdog_ns; /* systemd's WatchdogSec=, 0: none */
	bool stopping;
	bool running; /* loop_run began: from then on the state file is this daemon's to write */
	bool restoring;	 /* replaying the state file: its transitions were announced before */
};

/* Loads the probe and registers the --watch-pid workers; 0 or -errno after one logged line. */
int loop_init(struct loop *loop, const struct opts *opts);
int loop_run(struct loop *loop);
void loop_destroy(struct loop *loop);

/* Forgets a worker with everything it held: connections, bindings, its process and pid. */
void loop_forget(struct loop *loop, struct worker *worker);

/* Exposed for the kernel tests, which drive the loop's pieces directly. */
void loop_reconcile(struct loop *loop, uint64_t now_ns);
void loop_poll_once(struct loop *loop, int timeout_ms);

#endif
