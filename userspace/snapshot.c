// SPDX-License-Identifier: GPL-2.0
/* See snapshot.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *current;

struct snapshot *snapshot_take(const struct fleet *fleet, const struct probe_status *probe,
			       uint64_t now_ns)
{
	struct snapshot *snapshot;

	snapshot = malloc(sizeof(*snapshot) + fleet->count * sizeof(struct worker));
	if (!snapshot)
		return NULL;
	snapshot->refs = 1;
	snapshot->taken_ns = now_ns;
	snapshot->probe = *probe;
	snapshot->count = fleet->count;
	memcpy(snapshot->workers, fleet->workers, fleet->count * sizeof(struct worker));
	return snapshot;
}

void snapshot_publish(struct snapshot *snapshot)
{
	struct snapshot *old;

	pthread_mutex_lock(&current_lock);
	old = current;
	current = snapshot;
	pthread_mutex_unlock(&current_lock);
	snapshot_release(old);
}

struct snapshot *snapshot_acquire(void)
{
	struct snapshot *snapshot;

	pthread_mutex_lock(&current_lock);
	snapshot = current;
	if (snapshot)
		__atomic_add_fetch(&snapshot->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&current_lock);
	return snapshot;
}

void snapshot_release(struct snapshot *snapshot)
{
	if (snapshot && __atomic_sub_fetch(&snapshot->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(snapshot);
}

uint64_t snapshot_unreconciled_drops(const struct snapshot *snapshot)
{
	uint64_t drops = snapshot->probe.stats[LP_STAT_RINGBUF_DROPS];

	return drops > snapshot->probe.drops_reconciled ? drops - snapshot->probe.drops_reconciled
							: 0;
}
