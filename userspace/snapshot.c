// SPDX-License-Identifier: GPL-2.0
/* See snapshot.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *current;
/*
 * The last released fleet copy, kept to carry the next one: a large fleet's copy then lands in
 * pages already faulted in (a fresh 16 MB allocation at 10,000 workers costs milliseconds of
 * page faults on every publish, which a death waits for).
 */
static struct snapshot_fleet *spare;

static void copy_release(struct snapshot_fleet *copy)
{
	if (!copy || __atomic_sub_fetch(&copy->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&current_lock);
	if (!spare || spare->bytes < copy->bytes) {
		struct snapshot_fleet *smaller = spare;

		spare = copy;
		copy = smaller;
	}
	pthread_mutex_unlock(&current_lock);
	free(copy);
}

static struct snapshot_fleet *copy_take(const struct fleet *fleet)
{
	size_t bytes = sizeof(struct snapshot_fleet) + fleet->count * sizeof(struct worker) +
		       fleet->n_conns * sizeof(struct conn);
	struct snapshot_fleet *copy;
	size_t next = 0;

	pthread_mutex_lock(&current_lock);
	copy = spare;
	spare = NULL;
	pthread_mutex_unlock(&current_lock);
	/* Too small, or much too large (the fleet shrank): a new one that fits. */
	if (copy && (copy->bytes < bytes || copy->bytes > 2 * bytes + 65536)) {
		free(copy);
		copy = NULL;
	}
	if (!copy) {
		copy = malloc(bytes);
		if (!copy)
			return NULL;
		copy->bytes = bytes;
	}
	copy->refs = 1;
	copy->generation = fleet->generation;
	memcpy(copy->workers, fleet->workers, fleet->count * sizeof(struct worker));
	copy->conns = (struct conn *)(copy->workers + fleet->count);

	/* Group connections by owner so each worker's list is one slice. */
	for (size_t i = 0; i < fleet->count; i++) {
		copy->workers[i].conn_first = next;
		next += copy->workers[i].n_conns;
		copy->workers[i].n_conns = 0;
	}
	for (size_t i = 0; i < fleet->n_conns; i++) {
		const struct conn *conn = &fleet->conns[i];
		struct worker *owner = fleet_find_id((struct fleet *)fleet, conn->worker_id);
		struct worker *copied = owner ? &copy->workers[owner - fleet->workers] : NULL;

		if (copied)
			copy->conns[copied->conn_first + copied->n_conns++] = *conn;
	}
	return copy;
}

struct snapshot *snapshot_take(const struct fleet *fleet, const struct daemon_status *status,
			       uint64_t now_ns)
{
	struct snapshot *snapshot = malloc(sizeof(*snapshot));
	struct snapshot_fleet *copy = NULL;
	static uint64_t taken;

	if (!snapshot)
		return NULL;
	/* The fleet as the current snapshot has it, unless it changed since (only this thread
	 * publishes, so `current` cannot be released under us). */
	pthread_mutex_lock(&current_lock);
	if (current && current->copy->generation == fleet->generation &&
	    current->count == fleet->count) {
		copy = current->copy;
		__atomic_add_fetch(&copy->refs, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&current_lock);
	if (!copy)
		copy = copy_take(fleet);
	if (!copy) {
		free(snapshot);
		return NULL;
	}
	snapshot->refs = 1;
	snapshot->sequence = ++taken; /* the loop's thread only */
	snapshot->taken_ns = now_ns;
	snapshot->status = *status;
	snapshot->copy = copy;
	snapshot->count = fleet->count;
	snapshot->workers = copy->workers;
	snapshot->conns = copy->conns;
	snapshot->n_conns = fleet->n_conns;
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
	copy_release(snapshot->copy);
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
