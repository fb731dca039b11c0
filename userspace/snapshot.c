// SPDX-License-Identifier: GPL-2.0
/* See snapshot.h. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot.h"

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot *current;

/* One published version of one worker, shared by the snapshots it is current in. */
struct worker_copy {
	int refs;
	struct worker worker;
};

static struct worker_copy *copy_of(const struct worker *worker)
{
	return (struct worker_copy *)((char *)worker - offsetof(struct worker_copy, worker));
}

static void worker_release(const struct worker *worker)
{
	struct worker_copy *copy = copy_of(worker);

	if (__atomic_sub_fetch(&copy->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		fleet_extras_release(copy->worker.extras);
		fleet_reason_release(copy->worker.reason);
		free(copy);
	}
}

static void fleet_copy_release(struct snapshot_fleet *copy)
{
	if (!copy || __atomic_sub_fetch(&copy->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < copy->count; i++)
		worker_release(copy->workers[i]);
	free(copy->workers);
	free(copy->name_hashes);
	free(copy->conn_first);
	free(copy->conns);
	free(copy);
}

#ifdef LP_CHECK_SHARING
/*
 * Test builds check the sharing rule on every publish: a worker whose version did not move must
 * equal its shared copy in everything readers see. A miss is a fleet_* change that forgot
 * changed(), which would publish stale facts: abort, so the suite names it.
 */
static void check_unchanged(const struct worker *live, const struct worker *shared)
{
	struct worker a = *live, b = *shared;

	a.pidfd = b.pidfd = 0;
	a.due_slot = b.due_slot = 0;
	if (memcmp(&a, &b, sizeof(a))) {
		log_error("snapshot: worker %s changed without a new version", live->name);
		abort();
	}
}
#endif

static const struct worker *worker_take(const struct worker *worker)
{
	struct worker_copy *copy = malloc(sizeof(*copy));

	if (!copy)
		return NULL;
	copy->refs = 1;
	copy->worker = *worker;
	fleet_extras_hold(copy->worker.extras);
	fleet_reason_hold(copy->worker.reason);
	return &copy->worker;
}

/*
 * The fleet as of now, sharing with prev every worker whose version is the one prev holds. Both
 * lists are in id order, so one merge walk pairs them.
 */
static struct snapshot_fleet *fleet_copy_take(const struct fleet *fleet,
					      const struct snapshot_fleet *prev)
{
	struct snapshot_fleet *copy = calloc(1, sizeof(*copy));
	size_t j = 0, next = 0;

	if (!copy)
		return NULL;
	copy->refs = 1;
	copy->generation = fleet->generation;
	copy->workers = malloc((fleet->count ?: 1) * sizeof(*copy->workers));
	copy->name_hashes = malloc((fleet->count ?: 1) * sizeof(*copy->name_hashes));
	copy->conn_first = malloc((fleet->count ?: 1) * sizeof(*copy->conn_first));
	copy->conns = calloc(fleet->n_conns ?: 1, sizeof(*copy->conns));
	if (!copy->workers || !copy->name_hashes || !copy->conn_first || !copy->conns)
		goto cleanup;
	for (size_t i = 0; i < fleet->count; i++) {
		const struct worker *worker = &fleet->workers[i];
		const struct worker *shared = NULL;
		uint64_t name_hash;

		while (prev && j < prev->count && prev->workers[j]->id < worker->id)
			j++;
		if (prev && j < prev->count && prev->workers[j]->id == worker->id &&
		    prev->workers[j]->version == worker->version) {
			shared = prev->workers[j];
#ifdef LP_CHECK_SHARING
			check_unchanged(worker, shared);
#endif
			__atomic_add_fetch(&copy_of(shared)->refs, 1, __ATOMIC_RELAXED);
			name_hash = prev->name_hashes[j];
		} else {
			shared = worker_take(worker);
			if (!shared)
				goto cleanup;
			name_hash = u64map_hash_string(worker->name);
		}
		copy->name_hashes[copy->count] = name_hash;
		copy->workers[copy->count++] = shared;
		copy->conn_first[i] = next;
		next += worker->n_conns;
	}
	/* Group connections by owner so each worker's list is one slice. */
	{
		uint32_t *filled = calloc(fleet->count ?: 1, sizeof(*filled));

		if (!filled)
			goto cleanup;
		for (size_t i = 0; i < fleet->n_conns; i++) {
			const struct conn *conn = &fleet->conns[i];
			const struct worker *owner = fleet_find_id((struct fleet *)fleet,
								   conn->worker_id);
			size_t index = owner ? (size_t)(owner - fleet->workers) : 0;

			if (owner && filled[index] < owner->n_conns)
				copy->conns[copy->conn_first[index] + filled[index]++] = *conn;
		}
		free(filled);
	}
	copy->n_conns = next;
	return copy;
cleanup:
	fleet_copy_release(copy);
	return NULL;
}

struct snapshot *snapshot_take(const struct fleet *fleet, const struct daemon_status *status,
			       uint64_t now_ns)
{
	struct snapshot *snapshot = malloc(sizeof(*snapshot));
	struct snapshot_fleet *copy = NULL, *prev = NULL;
	static uint64_t taken;

	if (!snapshot)
		return NULL;
	/* Only this thread publishes, so `current` cannot be released under us; a reference
	 * keeps its copy while we read it. */
	pthread_mutex_lock(&current_lock);
	if (current) {
		prev = current->copy;
		__atomic_add_fetch(&prev->refs, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&current_lock);
	if (prev && prev->generation == fleet->generation && prev->count == fleet->count)
		copy = prev; /* the fleet did not change: share it whole */
	else {
		copy = fleet_copy_take(fleet, prev);
		fleet_copy_release(prev);
	}
	if (!copy) {
		free(snapshot);
		return NULL;
	}
	snapshot->refs = 1;
	snapshot->sequence = ++taken; /* the loop's thread only */
	snapshot->taken_ns = now_ns;
	snapshot->status = *status;
	snapshot->copy = copy;
	snapshot->count = copy->count;
	snapshot->workers = copy->workers;
	snapshot->conns = copy->conns;
	snapshot->n_conns = copy->n_conns;
	return snapshot;
}

static size_t index_of(const struct snapshot *snapshot, uint32_t id)
{
	size_t low = 0, high = snapshot->count;

	/* Ids grow with registration and the fleet keeps registration order. */
	while (low < high) {
		size_t mid = low + (high - low) / 2;
		uint32_t mid_id = snapshot->workers[mid]->id;

		if (mid_id == id)
			return mid;
		if (mid_id < id)
			low = mid + 1;
		else
			high = mid;
	}
	return SIZE_MAX;
}

const struct conn *snapshot_conns_of(const struct snapshot *snapshot, const struct worker *worker)
{
	size_t index = index_of(snapshot, worker->id);

	return snapshot->conns + (index == SIZE_MAX ? 0 : snapshot->copy->conn_first[index]);
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

uint64_t snapshot_sequence(void)
{
	uint64_t sequence;

	pthread_mutex_lock(&current_lock);
	sequence = current ? current->sequence : 0;
	pthread_mutex_unlock(&current_lock);
	return sequence;
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
	fleet_copy_release(snapshot->copy);
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
	uint64_t hash = u64map_hash_string(name);

	for (size_t i = 0; i < snapshot->count; i++) {
		if (snapshot->copy->name_hashes[i] == hash && !strcmp(snapshot->workers[i]->name, name))
			return snapshot->workers[i];
	}
	return NULL;
}
