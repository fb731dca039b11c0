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

/*
 * One published version of one worker. It is in every fleet copy from the one it was taken for
 * (born) until the one built without it (until), and only there, so it can go once no copy in
 * that range is left. No per-copy reference count: sharing 10,000 workers costs copies of four
 * arrays, not 10,000 atomic writes to as many cache lines.
 */
struct worker_copy {
	uint64_t born;
	struct worker worker;
};

/*
 * A fleet's connections as published, grouped by owner. Consecutive fleet copies share it while
 * no connection changed: at 10,000 connections a fresh one is 2 MB written on each publish,
 * which a death would otherwise wait for.
 */
struct snapshot_conns {
	int refs;
	struct conn conns[];
};

struct retired_copy {
	struct worker_copy *copy;
	uint64_t until;
};

static struct worker_copy *copy_of(const struct worker *worker)
{
	return (struct worker_copy *)((char *)worker - offsetof(struct worker_copy, worker));
}

/*
 * The loop thread's chain of fleet copies: the last one built, the base of the next for the same
 * fleet, and the worker copies replaced since, waiting for the copies that hold them.
 */
static struct {
	uint64_t fleet_instance;
	struct snapshot_fleet *last;
	uint64_t sequence; /* of the last fleet copy built */
	struct retired_copy *retired;
	size_t n_retired, retired_cap;
} chain;

/* Fleet copies that readers or the chain still hold, oldest first: what a retired worker copy
 * waits for. Released on any thread. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct snapshot_fleet *live_oldest, *live_newest;

static void worker_free(struct worker_copy *copy)
{
	fleet_extras_release(copy->worker.extras);
	fleet_reason_release(copy->worker.reason);
	free(copy);
}

/* Its arrays, not the worker copies they point to: those go with free_unheld. */
static void fleet_copy_free(struct snapshot_fleet *copy)
{
	free(copy->workers);
	free(copy->ids);
	free(copy->name_hashes);
	free(copy->n_conns_of);
	free(copy->conn_first);
	if (copy->grouped && __atomic_sub_fetch(&copy->grouped->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(copy->grouped);
	free(copy);
}

static void fleet_copy_release(struct snapshot_fleet *copy)
{
	if (!copy || __atomic_sub_fetch(&copy->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_lock(&live_lock);
	if (copy->older)
		copy->older->newer = copy->newer;
	else
		live_oldest = copy->newer;
	if (copy->newer)
		copy->newer->older = copy->older;
	else
		live_newest = copy->older;
	pthread_mutex_unlock(&live_lock);
	fleet_copy_free(copy);
}

/* Frees the retired worker copies that no live fleet copy holds. The loop's thread only. */
static void free_unheld(void)
{
	size_t kept = 0;

	pthread_mutex_lock(&live_lock);
	for (size_t i = 0; i < chain.n_retired; i++) {
		struct retired_copy entry = chain.retired[i];
		const struct snapshot_fleet *live = live_oldest;

		while (live && live->sequence < entry.copy->born)
			live = live->newer;
		if (live && live->sequence < entry.until)
			chain.retired[kept++] = entry;
		else
			worker_free(entry.copy);
	}
	pthread_mutex_unlock(&live_lock);
	chain.n_retired = kept;
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

/* A copy of worker, born with fleet copy sequence; NULL without memory. */
static const struct worker *worker_take(const struct worker *worker, uint64_t sequence)
{
	struct worker_copy *copy = malloc(sizeof(*copy));

	if (!copy)
		return NULL;
	copy->born = sequence;
	copy->worker = *worker;
	fleet_extras_hold(copy->worker.extras);
	fleet_reason_hold(copy->worker.reason);
	return &copy->worker;
}

/* Room for every worker of the base to be retired, so a build never fails among them. */
static bool reserve_retired(size_t more)
{
	size_t cap = chain.retired_cap ?: 1024;
	struct retired_copy *grown;

	while (cap < chain.n_retired + more)
		cap *= 2;
	if (cap == chain.retired_cap)
		return true;
	grown = realloc(chain.retired, cap * sizeof(*grown));
	if (!grown)
		return false;
	chain.retired = grown;
	chain.retired_cap = cap;
	return true;
}

static void retire(const struct worker *worker, uint64_t until)
{
	chain.retired[chain.n_retired++] = (struct retired_copy){copy_of(worker), until};
}

/* Slot i of copy takes a new copy of worker; false without memory. */
static bool take_into(struct snapshot_fleet *copy, size_t i, const struct worker *worker)
{
	copy->workers[i] = worker_take(worker, copy->sequence);
	if (!copy->workers[i])
		return false;
	copy->ids[i] = worker->id;
	copy->name_hashes[i] = u64map_hash_string(worker->name);
	copy->n_conns_of[i] = worker->n_conns;
	return true;
}

/* Slot i of copy shares slot j of prev. */
static void share_into(struct snapshot_fleet *copy, size_t i, const struct snapshot_fleet *prev,
		       size_t j)
{
	copy->workers[i] = prev->workers[j];
	copy->ids[i] = prev->ids[j];
	copy->name_hashes[i] = prev->name_hashes[j];
	copy->n_conns_of[i] = prev->n_conns_of[j];
}

static size_t index_in(const uint32_t *ids, size_t count, uint32_t id)
{
	size_t low = 0, high = count;

	/* Ids grow with registration and the fleet keeps registration order. */
	while (low < high) {
		size_t mid = low + (high - low) / 2;

		if (ids[mid] == id)
			return mid;
		if (ids[mid] < id)
			low = mid + 1;
		else
			high = mid;
	}
	return SIZE_MAX;
}

#ifdef LP_CHECK_SHARING
/* Test builds check that shared connections are the fleet's, in all that readers see. */
static void check_conns_unchanged(const struct snapshot_fleet *copy, const struct fleet *fleet)
{
	uint32_t *filled = calloc(copy->count ?: 1, sizeof(*filled));

	for (size_t i = 0; filled && i < fleet->n_conns; i++) {
		struct conn live = fleet->conns[i], shared;
		size_t index = index_in(copy->ids, copy->count, live.worker_id);

		if (index == SIZE_MAX || filled[index] >= copy->n_conns_of[index])
			continue;
		shared = copy->grouped->conns[copy->conn_first[index] + filled[index]++];
		/* What only the loop reads, which a pass rewrites without a change readers see. */
		live.diag_pass = shared.diag_pass = 0;
		live.diag_ns = shared.diag_ns = 0;
		live.inode = shared.inode = 0;
		if (memcmp(&live, &shared, sizeof(live))) {
			log_error("snapshot: connection %llx changed without fleet_touch_conns",
				  (unsigned long long)live.cookie);
			abort();
		}
	}
	free(filled);
}
#endif

/*
 * Groups the fleet's connections by owner, so each worker's list is one slice; or shares prev's
 * grouping, when no connection changed and no worker moved since (workers added at the end own
 * none yet, or a connection would have changed).
 */
static bool group_conns(struct snapshot_fleet *copy, const struct fleet *fleet,
			const struct snapshot_fleet *prev)
{
	uint32_t *filled;
	size_t total = 0;

	for (size_t i = 0; i < copy->count; i++) {
		copy->conn_first[i] = total;
		total += copy->n_conns_of[i];
	}
	copy->conns_generation = fleet->conns_generation;
	copy->n_conns = total;
	if (prev && prev->grouped && prev->conns_generation == fleet->conns_generation &&
	    prev->layout == fleet->layout && prev->n_conns == total) {
		copy->grouped = prev->grouped;
		__atomic_add_fetch(&copy->grouped->refs, 1, __ATOMIC_RELAXED);
#ifdef LP_CHECK_SHARING
		check_conns_unchanged(copy, fleet);
#endif
		return true;
	}
	filled = calloc(copy->count ?: 1, sizeof(*filled));
	copy->grouped = calloc(1, sizeof(*copy->grouped) + (total ?: 1) * sizeof(struct conn));
	if (!filled || !copy->grouped) {
		free(filled);
		free(copy->grouped);
		copy->grouped = NULL;
		return false;
	}
	copy->grouped->refs = 1;
	for (size_t i = 0; i < fleet->n_conns; i++) {
		const struct conn *conn = &fleet->conns[i];
		size_t index = index_in(copy->ids, copy->count, conn->worker_id);

		if (index != SIZE_MAX && filled[index] < copy->n_conns_of[index])
			copy->grouped->conns[copy->conn_first[index] + filled[index]++] = *conn;
	}
	free(filled);
	return true;
}

/* In place: prev is this fleet's last copy and no index moved since, so only the workers the
 * fleet listed as changed and those added at the end are new. */
static bool copy_in_place(struct snapshot_fleet *copy, const struct fleet *fleet,
			  const struct snapshot_fleet *prev)
{
	memcpy(copy->workers, prev->workers, prev->count * sizeof(*copy->workers));
	memcpy(copy->ids, prev->ids, prev->count * sizeof(*copy->ids));
	memcpy(copy->name_hashes, prev->name_hashes, prev->count * sizeof(*copy->name_hashes));
	memcpy(copy->n_conns_of, prev->n_conns_of, prev->count * sizeof(*copy->n_conns_of));
	for (size_t k = 0; k < fleet->n_changed; k++) {
		size_t i = fleet->changed[k];

		if (i >= prev->count)
			continue;
		copy->workers[i] = NULL; /* prev's until replaced: not this copy's to free */
		if (!take_into(copy, i, &fleet->workers[i]))
			return false;
		retire(prev->workers[i], copy->sequence);
	}
	for (size_t i = prev->count; i < fleet->count; i++)
		if (!take_into(copy, i, &fleet->workers[i]))
			return false;
	return true;
}

/* By merge: both lists are in id order; a worker whose version is the one prev holds is shared. */
static bool copy_by_merge(struct snapshot_fleet *copy, const struct fleet *fleet,
			  const struct snapshot_fleet *prev)
{
	size_t j = 0, prev_count = prev ? prev->count : 0;

	for (size_t i = 0; i < fleet->count; i++) {
		const struct worker *worker = &fleet->workers[i];

		while (j < prev_count && prev->ids[j] < worker->id)
			retire(prev->workers[j++], copy->sequence);
		if (j < prev_count && prev->ids[j] == worker->id &&
		    prev->workers[j]->version == worker->version) {
			share_into(copy, i, prev, j++);
			continue;
		}
		if (!take_into(copy, i, worker))
			return false;
		if (j < prev_count && prev->ids[j] == worker->id)
			retire(prev->workers[j++], copy->sequence);
	}
	while (j < prev_count)
		retire(prev->workers[j++], copy->sequence);
	return true;
}

/*
 * The fleet as of now, sharing with prev, the chain's last copy of this fleet, every worker
 * whose version did not move. NULL without memory, with nothing retired.
 */
static struct snapshot_fleet *fleet_copy_take(const struct fleet *fleet,
					      const struct snapshot_fleet *prev)
{
	struct snapshot_fleet *copy = calloc(1, sizeof(*copy));
	size_t count = fleet->count ?: 1, retired_before = chain.n_retired;
	bool built, in_place;

	if (!copy || !reserve_retired(prev ? prev->count : 0)) {
		free(copy);
		return NULL;
	}
	copy->refs = 1;
	copy->sequence = chain.sequence + 1;
	copy->generation = fleet->generation;
	copy->layout = fleet->layout;
	copy->count = fleet->count;
	copy->workers = calloc(count, sizeof(*copy->workers));
	copy->ids = malloc(count * sizeof(*copy->ids));
	copy->name_hashes = malloc(count * sizeof(*copy->name_hashes));
	copy->n_conns_of = malloc(count * sizeof(*copy->n_conns_of));
	copy->conn_first = malloc(count * sizeof(*copy->conn_first));
	built = copy->workers && copy->ids && copy->name_hashes && copy->n_conns_of &&
		copy->conn_first;
	/* Only a removal shrinks the fleet, and it moves the layout; the count check keeps the
	 * copies below inside both arrays even if that ever changed. */
	in_place = prev && prev->layout == fleet->layout &&
		   prev->generation == fleet->changed_since && fleet->count >= prev->count;
	if (built)
		built = in_place ? copy_in_place(copy, fleet, prev)
				 : copy_by_merge(copy, fleet, prev);
	if (built)
		built = group_conns(copy, fleet, prev);
	if (!built) {
		for (size_t i = 0; copy->workers && i < copy->count; i++)
			if (copy->workers[i] && copy_of(copy->workers[i])->born == copy->sequence)
				worker_free(copy_of(copy->workers[i]));
		chain.n_retired = retired_before;
		fleet_copy_free(copy);
		return NULL;
	}
#ifdef LP_CHECK_SHARING
	for (size_t i = 0; i < copy->count; i++)
		if (copy_of(copy->workers[i])->born != copy->sequence)
			check_unchanged(&fleet->workers[i], copy->workers[i]);
#endif
	return copy;
}

/* The chain forgets its last copy: its workers leave with the next sequence. */
static bool drop_chain(void)
{
	struct snapshot_fleet *last = chain.last;

	if (!last)
		return true;
	if (!reserve_retired(last->count))
		return false;
	for (size_t i = 0; i < last->count; i++)
		retire(last->workers[i], last->sequence + 1);
	chain.last = NULL;
	fleet_copy_release(last);
	return true;
}

struct snapshot *snapshot_take(struct fleet *fleet, const struct daemon_status *status,
			       uint64_t now_ns)
{
	struct snapshot *snapshot = malloc(sizeof(*snapshot));
	struct snapshot_fleet *copy, *prev;
	static uint64_t taken;

	if (!snapshot)
		return NULL;
	if (chain.last && chain.fleet_instance != fleet->instance && !drop_chain()) {
		free(snapshot);
		return NULL;
	}
	prev = chain.last;
	if (prev && prev->generation == fleet->generation) {
		copy = prev; /* every change bumps the generation: share it whole */
	} else {
		copy = fleet_copy_take(fleet, prev);
		if (!copy) {
			free(snapshot);
			return NULL;
		}
		pthread_mutex_lock(&live_lock);
		copy->older = live_newest;
		if (live_newest)
			live_newest->newer = copy;
		else
			live_oldest = copy;
		live_newest = copy;
		pthread_mutex_unlock(&live_lock);
		chain.fleet_instance = fleet->instance;
		chain.sequence = copy->sequence;
		chain.last = copy;
		fleet->changed_since = fleet->generation;
		fleet->n_changed = 0;
		fleet_copy_release(prev);
		free_unheld();
	}
	__atomic_add_fetch(&copy->refs, 1, __ATOMIC_RELAXED);
	snapshot->refs = 1;
	snapshot->sequence = ++taken; /* the loop's thread only */
	snapshot->taken_ns = now_ns;
	snapshot->status = *status;
	snapshot->copy = copy;
	snapshot->count = copy->count;
	snapshot->workers = copy->workers;
	snapshot->conns = copy->grouped->conns;
	snapshot->n_conns = copy->n_conns;
	return snapshot;
}

void snapshot_forget(void)
{
	snapshot_publish(NULL);
	drop_chain();
	free_unheld();
	if (!chain.n_retired) {
		free(chain.retired);
		chain.retired = NULL;
		chain.retired_cap = 0;
	}
}

const struct conn *snapshot_conns_of(const struct snapshot *snapshot, const struct worker *worker)
{
	size_t index = index_in(snapshot->copy->ids, snapshot->count, worker->id);

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
		if (snapshot->copy->name_hashes[i] == hash &&
		    !strcmp(snapshot->workers[i]->name, name))
			return snapshot->workers[i];
	}
	return NULL;
}
