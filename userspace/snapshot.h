/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Published state: the event loop copies the fleet and the probe's status into an immutable,
 * reference-counted snapshot and swaps it in; HTTP threads acquire the current one, render from
 * it and release it. Readers never see half-updated state and never block the loop for longer
 * than a pointer swap.
 */
#ifndef LP_SNAPSHOT_H
#define LP_SNAPSHOT_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"
#include "lp_events.h"

struct probe_status {
	bool attached;
	uint64_t stats[LP_STAT__COUNT];
	uint64_t drops_reconciled; /* drops that a completed reconciliation has covered */
	uint64_t reconciles_total;
	uint64_t events_received; /* ring-buffer records the loop consumed */
	uint64_t last_reconcile_ns;
	uint64_t started_ns;
	uint32_t max_workers;
};

struct snapshot {
	int refs;
	uint64_t taken_ns;
	struct probe_status probe;
	size_t count;
	struct worker workers[];
};

struct snapshot *snapshot_take(const struct fleet *fleet, const struct probe_status *probe,
			       uint64_t now_ns);
/* Takes ownership of snapshot and releases the one it replaces. */
void snapshot_publish(struct snapshot *snapshot);
/* The current snapshot with a reference held, or NULL before the first publish. */
struct snapshot *snapshot_acquire(void);
void snapshot_release(struct snapshot *snapshot);
uint64_t snapshot_unreconciled_drops(const struct snapshot *snapshot);

#endif
