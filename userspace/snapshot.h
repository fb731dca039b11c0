/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Published state: the event loop copies the fleet and the probe's status into an immutable,
 * reference-counted snapshot and swaps it in; HTTP threads acquire the current one, render from
 * it and release it. Readers never see half-updated state and never block the loop for longer
 * than a pointer swap.
 *
 * Errors: snapshot_take returns NULL when out of memory (readers keep the previous one).
 */
#ifndef LP_SNAPSHOT_H
#define LP_SNAPSHOT_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"
#include "lp_events.h"
#include "probe.h"
#include "ingest.h"
#include "sockwatch.h"

/* What the daemon knows about itself, beside the fleet: the probe (attachment, kernel counters,
 * drops and their reconciliation, per-program cost), ingest, connections, hooks and policy. */
struct daemon_status {
	bool attached;
	uint64_t stats[LP_STAT__COUNT];
	uint64_t drops_reconciled; /* drops that a completed reconciliation has covered */
	uint64_t reconciles_total;
	uint64_t events_received; /* ring-buffer records the loop consumed */
	uint64_t last_reconcile_ns;
	uint64_t started_ns;
	uint32_t max_workers;
	uint32_t max_connections;
	struct sockwatch_stats conns;
	struct ingest_stats ingest;
	struct output_policy policy;
	struct probe_prog_stats progs[PROBE_MAX_PROGS]; /* cumulative since load */
	int n_progs;
	bool bpf_stats_enabled;		    /* run_time_ns is counted only while it is */
	uint32_t expected_workers;	    /* --expected-workers, 0: not set */
	uint64_t exits_by_state[WS__COUNT]; /* transitions into each dead state since start */
	uint64_t forgotten_total;	    /* ended workers removed by --forget-after */
	uint64_t hooks_started, hooks_merged, hooks_failed, hooks_waiting; /* --on-transition */
	uint64_t pidfds_open, pidfds_max, pidfd_limit_total;  /* the open-file budget */
	int start_mode;		  /* enum probe_start_mode: fresh, took_over, reset */
	int save_error;		  /* the last --state-dir save's -errno; 0 when it succeeded */
	uint64_t recovered_total; /* deaths recovered from a previous daemon's pinned maps */
	uint64_t proc_map_read_errors; /* reconcile passes that could not read lp_procs */
	uint64_t tcp_states_rescued;   /* see probe_tcp_states_rescued */
	double gap_s;		  /* after a takeover: since the previous daemon's last save */
};

/*
 * The fleet's workers and connections as of one fleet generation. Each worker is an immutable,
 * reference-counted copy shared by every snapshot in which its version did not move, so a
 * publish copies only the workers that changed: memory stays near one copy of the fleet beside
 * the loop's own, and a death at 10,000 workers copies one worker, not 10,000. Snapshots taken
 * while the fleet did not change at all (only the daemon's status did) share the whole list.
 */
struct snapshot_fleet {
	int refs;
	uint64_t sequence;	     /* in build order */
	uint64_t generation, layout; /* the fleet's, when copied */
	size_t count;
	const struct worker **workers; /* in registration order, so ids are sorted */
	/* Of workers[i], so a publish, a lookup or a count reads no worker. */
	uint32_t *ids;
	uint64_t *name_hashes;
	uint32_t *n_conns_of;
	uint32_t *conn_first; /* worker i owns conns[conn_first[i] .. + its n_conns) */
	/* The connections grouped by owner, shared with the copies before it while the fleet's
	 * connections and the workers' order stood still. */
	struct snapshot_conns *grouped;
	size_t n_conns;
	uint64_t conns_generation;
	struct snapshot_fleet *older, *newer; /* among the copies still held */
};

struct snapshot {
	int refs;
	uint64_t sequence; /* 1, 2, ... in publishing order: a cache key that is never reused */
	uint64_t taken_ns;
	struct daemon_status status;
	struct snapshot_fleet *copy;
	/* Views into copy, for readers. */
	size_t count;
	const struct worker *const *workers;
	const struct conn *conns;
	size_t n_conns;
};

/* Copies what changed in fleet since its last snapshot_take and empties its list of changes. */
struct snapshot *snapshot_take(struct fleet *fleet, const struct daemon_status *status,
			       uint64_t now_ns);
/* The connections a snapshot's worker owns (worker->n_conns of them). */
const struct conn *snapshot_conns_of(const struct snapshot *snapshot, const struct worker *worker);
/* A scan of the names' hashes: for one-worker reads and write answers. */
const struct worker *snapshot_find_name(const struct snapshot *snapshot, const char *name);
/* Takes ownership of snapshot and releases the one it replaces. */
void snapshot_publish(struct snapshot *snapshot);
/* At exit, once no thread reads: publishes nothing and frees what no reader holds. */
void snapshot_forget(void);
/* The current snapshot's sequence, 0 before the first publish. */
uint64_t snapshot_sequence(void);
/* The current snapshot with a reference held, or NULL before the first publish. */
struct snapshot *snapshot_acquire(void);
void snapshot_release(struct snapshot *snapshot);
uint64_t snapshot_unreconciled_drops(const struct snapshot *snapshot);

#endif
