// SPDX-License-Identifier: GPL-2.0
/* See snapshot.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *current;
/*
 * The last released snapshot, kept to carry the next one: a large fleet's copy then lands in
 * pages already faulted in (a fresh 16 MB allocation at 10,000 workers costs milliseconds of
 * page faults on every publish, which a death waits for).
 */
static struct snapshot *spare;

struct snapshot *snapshot_take(const struct fleet *fleet, const struct daemon_status *status,
			       uint64_t now_ns)
{
	size_t bytes = sizeof(struct snapshot) + fleet->count * sizeof(struct worker) +
		       fleet->n_conns * sizeof(struct conn);
	struct snapshot *snapshot;
	size_t next = 0;

	pthread_mutex_lock(&current_lock);
	snapshot = spare;
	spare = NULL;
	pthread_mutex_unlock(&current_lock);
	/* Too small, or much too large (the fleet shrank): a new one that fits. */
	if (snapshot && (snapshot->bytes < bytes || snapshot->bytes > 2 * bytes + 65536)) {
		free(snapshot);
		snapshot = NULL;
	}
	if (!snapshot) {
		snapshot = malloc(bytes);
		if (!snapshot)
			return NULL;
		snapshot->bytes = bytes;
	}
	static uint64_t taken;

	snapshot->refs = 1;
	snapshot->sequence = ++taken; /* the loop's thread only */
	snapshot->taken_ns = now_ns;
	snapshot->status = *status;
	snapshot->count = fleet->count;
	memcpy(snapshot->workers, fleet->workers, fleet->count * sizeof(struct worker));
	snapshot->conns = (struct conn *)(snapshot->workers + fleet->count);
	snapshot->n_conns = fleet->n_conns;

	/* Group connections by owner so each worker's list is one slice. */
	for (size_t i = 0; i < snapshot->count; i++) {
		snapshot->workers[i].conn_first = next;
		next += snapshot->workers[i].n_conns;
		snapshot->workers[i].n_conns = 0;
	}
	for (size_t i = 0; i < fleet->n_conns; i++) {
		const struct conn *conn = &fleet->conns[i];
		struct worker *owner = snapshot_find_id(snapshot, conn->worker_id);

		if (owner)
			snapshot->conns[owner->conn_first + owner->n_conns++] = *conn;
	}
	return snapshot;
}

struct worker *snapshot_find_id(const struct snapshot *snapshot, uint32_t id)
{
	size_t low = 0, high = snapshot->count;

	/* Ids grow with registration and the fleet keeps registration order. */
	while (low < high) {
		size_t mid = low + (high - low) / 2;
		uint32_t mid_id = snapshot->workers[mid].id;

		if (mid_id == id)
			return (struct worker *)&snapshot->workers[mid];
		if (mid_id < id)
			low = mid + 1;
		else
			high = mid;
	}
	return NULL;
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
	if (!snapshot || __atomic_sub_fetch(&snapshot->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&current_lock);
	if (!spare || spare->bytes < snapshot->bytes) {
		struct snapshot *smaller = spare;

		spare = snapshot;
		snapshot = smaller;
	}
	pthread_mutex_unlock(&current_lock);
	free(snapshot);
}

uint64_t snapshot_unreconciled_drops(const struct snapshot *snapshot)
{
	uint64_t drops = snapshot->status.stats[LP_STAT_RINGBUF_DROPS];

	return drops > snapshot->status.drops_reconciled ? drops - snapshot->status.drops_reconciled
							: 0;
}

const struct worker *snapshot_find_name(const struct snapshot *snapshot, const char *name)
{
	for (size_t i = 0; i < snapshot->count; i++) {
		if (!strcmp(snapshot->workers[i].name, name))
			return &snapshot->workers[i];
	}
	return NULL;
}
