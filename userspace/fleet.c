// SPDX-License-Identifier: GPL-2.0
/* See fleet.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

/* A reason's text with its count of holders: the fleet and each snapshot copy of the worker. */
struct reason_text {
	int refs;
	char text[];
};

/* What a worker says when its reason could not be stored; never freed. */
static struct {
	int refs;
	char text[40];
} reason_oom = {INT32_MAX / 2, "(reason not kept: out of memory)"};

static struct reason_text *reason_of(const char *text)
{
	return (struct reason_text *)(text - offsetof(struct reason_text, text));
}

void fleet_reason_hold(const char *reason)
{
	if (reason)
		__atomic_add_fetch(&reason_of(reason)->refs, 1, __ATOMIC_RELAXED);
}

void fleet_reason_release(const char *reason)
{
	if (reason && __atomic_sub_fetch(&reason_of(reason)->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(reason_of(reason));
}

static void set_reason(struct worker *worker, const char *reason)
{
	size_t len = strnlen(reason, FLEET_REASON_MAX - 1);
	struct reason_text *text = malloc(sizeof(*text) + len + 1);

	fleet_reason_release(worker->reason);
	if (!text) {
		worker->reason = reason_oom.text;
		return;
	}
	text->refs = 1;
	memcpy(text->text, reason, len);
	text->text[len] = '\0';
	worker->reason = text->text;
}

/* What readers see of it changed: the next snapshot copies it. */
static void changed(struct fleet *fleet, struct worker *worker)
{
	if (worker->version <= fleet->changed_since) {
		if (fleet->n_changed < fleet->capacity)
			fleet->changed[fleet->n_changed++] = worker - fleet->workers;
		else /* cannot happen while each is listed once: void the list */
			fleet->layout++;
	}
	worker->version = ++fleet->generation;
}

/* Connections are copied whole into each snapshot that follows a change to any of them. */
static void conns_changed(struct fleet *fleet)
{
	fleet->generation++;
	fleet->conns_generation++;
}

/* The deadline heap: a binary min-heap on at_ns whose workers know their slot. */
static void due_place(struct fleet *fleet, size_t slot, struct fleet_deadline entry)
{
	fleet->due[slot] = entry;
	fleet->workers[entry.index].due_slot = slot + 1;
}

static void due_sift(struct fleet *fleet, size_t slot)
{
	struct fleet_deadline entry = fleet->due[slot];

	while (slot > 0 && fleet->due[(slot - 1) / 2].at_ns > entry.at_ns) {
		due_place(fleet, slot, fleet->due[(slot - 1) / 2]);
		slot = (slot - 1) / 2;
	}
	for (;;) {
		size_t child = 2 * slot + 1;

		if (child >= fleet->n_due)
			break;
		if (child + 1 < fleet->n_due &&
		    fleet->due[child + 1].at_ns < fleet->due[child].at_ns)
			child++;
		if (fleet->due[child].at_ns >= entry.at_ns)
			break;
		due_place(fleet, slot, fleet->due[child]);
		slot = child;
	}
	due_place(fleet, slot, entry);
}

static void due_remove(struct fleet *fleet, struct worker *worker)
{
	size_t slot = worker->due_slot - 1;

	if (!worker->due_slot)
		return;
	worker->due_slot = 0;
	if (slot != --fleet->n_due) {
		fleet->due[slot] = fleet->due[fleet->n_due];
		due_sift(fleet, slot);
	}
}

/* Sets when time alone could next change its verdict; UINT64_MAX: never. */
static void schedule(struct fleet *fleet, struct worker *worker, uint64_t at_ns)
{
	if (at_ns == UINT64_MAX) {
		due_remove(fleet, worker);
		return;
	}
	if (!worker->due_slot) /* the heap holds at most one entry per worker: never full */
		worker->due_slot = ++fleet->n_due;
	fleet->due[worker->due_slot - 1] =
		(struct fleet_deadline){.at_ns = at_ns, .index = worker - fleet->workers};
	due_sift(fleet, worker->due_slot - 1);
}

/* Its verdict may have changed: judged again at the next tick. */
static void mark_due(struct fleet *fleet, struct worker *worker)
{
	schedule(fleet, worker, 0);
}

static const char *const state_names[WS__COUNT] = {
	[WS_STARTING] = "starting",
	[WS_WORKING] = "working",
	[WS_STALE] = "stale",
	[WS_EXITED] = "exited",
	[WS_CRASHED] = "crashed",
	[WS_KILLED] = "killed",
	[WS_DISCONNECTED] = "disconnected",
	[WS_UNKNOWN] = "unknown",
	[WS_SUSPECT] = "suspect",
	[WS_STOPPED] = "stopped",
	[WS_RUNNING] = "running",
};

int fleet_init(struct fleet *fleet, size_t capacity, size_t conn_capacity)
{
	static uint64_t instances;

	memset(fleet, 0, sizeof(*fleet));
	fleet->instance = ++instances;
	fleet->workers = calloc(capacity, sizeof(*fleet->workers));
	fleet->changed = calloc(capacity ?: 1, sizeof(*fleet->changed));
	fleet->due = calloc(capacity ?: 1, sizeof(*fleet->due));
	fleet->conns = calloc(conn_capacity ?: 1, sizeof(*fleet->conns));
	fleet->dead_conns = calloc(conn_capacity ?: 1, sizeof(*fleet->dead_conns));
	if (!fleet->workers || !fleet->changed || !fleet->conns || !fleet->due ||
	    !fleet->dead_conns || u64map_init(&fleet->conn_by_cookie, conn_capacity) ||
	    u64map_init(&fleet->worker_by_name, capacity) ||
	    u64map_init(&fleet->worker_by_pid, capacity)) {
		fleet_free(fleet);
		return -ENOMEM;
	}
	fleet->capacity = capacity;
	fleet->conn_capacity = conn_capacity;
	fleet->next_id = 1;
	fleet->policy.start_grace_s = 60;
	return 0;
}

void fleet_free(struct fleet *fleet)
{
	for (size_t i = 0; i < fleet->count; i++) {
		fleet_extras_release(fleet->workers[i].extras);
		fleet_reason_release(fleet->workers[i].reason);
	}
	free(fleet->workers);
	free(fleet->changed);
	free(fleet->due);
	free(fleet->conns);
	free(fleet->dead_conns);
	u64map_free(&fleet->conn_by_cookie);
	u64map_free(&fleet->worker_by_name);
	u64map_free(&fleet->worker_by_pid);
	fleet->workers = NULL;
	fleet->changed = NULL;
	fleet->n_changed = 0;
	fleet->due = NULL;
	fleet->n_due = 0;
	fleet->conns = NULL;
	fleet->dead_conns = NULL;
	fleet->count = 0;
	fleet->n_conns = 0;
}

const char *fleet_state_name(enum worker_state state)
{
	return state < WS__COUNT ? state_names[state] : "invalid";
}

int fleet_state_from_name(const char *name)
{
	for (int state = 0; state < WS__COUNT; state++) {
		if (!strcmp(state_names[state], name))
			return state;
	}
	return -1;
}

static const char *const origin_names[] = {
	[ORIGIN_FLAG] = "flag", [ORIGIN_API] = "api",	    [ORIGIN_COMM] = "comm",
	[ORIGIN_PEER] = "peer", [ORIGIN_REPORT] = "report", [ORIGIN_CGROUP] = "cgroup",
};

const char *fleet_origin_name(enum worker_origin origin)
{
	return origin <= ORIGIN_CGROUP ? origin_names[origin] : "api";
}

int fleet_origin_from_name(const char *name)
{
	for (int origin = 0; origin <= ORIGIN_CGROUP; origin++) {
		if (!strcmp(origin_names[origin], name))
			return origin;
	}
	return -1;
}

static const char *const authority_names[AUTHORITY__COUNT] = {
	[AUTHORITY_ADMIN] = "admin",
	[AUTHORITY_UID] = "uid",
	[AUTHORITY_UDP] = "udp",
};

const char *fleet_authority_name(enum worker_authority authority)
{
	return authority < AUTHORITY__COUNT ? authority_names[authority] : "admin";
}

int fleet_authority_from_name(const char *name)
{
	for (int authority = 0; authority < AUTHORITY__COUNT; authority++) {
		if (!strcmp(authority_names[authority], name))
			return authority;
	}
	return -1;
}

const char *fleet_health_name(enum worker_health health)
{
	switch (health) {
	case HEALTH_GREEN:
		return "green";
	case HEALTH_AMBER:
		return "amber";
	case HEALTH_GREY:
		return "grey";
	default:
		return "red";
	}
}

enum worker_health fleet_state_health(enum worker_state state)
{
	switch (state) {
	case WS_WORKING:
	case WS_RUNNING:
		return HEALTH_GREEN;
	case WS_STOPPED:
		return HEALTH_GREY;
	case WS_STARTING:
	case WS_STALE:
	case WS_SUSPECT:
		return HEALTH_AMBER;
	default:
		return HEALTH_RED;
	}
}

bool fleet_state_is_dead(enum worker_state state)
{
	return state == WS_EXITED || state == WS_CRASHED || state == WS_KILLED ||
	       state == WS_UNKNOWN;
}

bool fleet_state_is_ended(enum worker_state state)
{
	return fleet_state_is_dead(state) || state == WS_STOPPED;
}

bool fleet_state_is_exit_class(enum worker_state state)
{
	return fleet_state_is_ended(state);
}

bool fleet_crashlooping(const struct worker *worker, uint64_t now_ns)
{
	return worker->crashloop_until_ns && now_ns < worker->crashloop_until_ns;
}

enum worker_health fleet_worker_health(const struct worker *worker, enum worker_state state,
				       uint64_t now_ns)
{
	enum worker_health health = fleet_state_health(state);

	if (fleet_crashlooping(worker, now_ns))
		return HEALTH_RED;
	if (worker->child_oom_ns &&
	    now_ns - worker->child_oom_ns < FLEET_CHILD_OOM_AMBER_S * 1000000000ull &&
	    (health == HEALTH_GREEN || health == HEALTH_GREY))
		return HEALTH_AMBER;
	return health;
}

const char *fleet_signal_name(int signal)
{
	static const char *const names[] = {
		[SIGHUP] = "SIGHUP",	   [SIGINT] = "SIGINT",	      [SIGQUIT] = "SIGQUIT",
		[SIGILL] = "SIGILL",	   [SIGTRAP] = "SIGTRAP",     [SIGABRT] = "SIGABRT",
		[SIGBUS] = "SIGBUS",	   [SIGFPE] = "SIGFPE",	      [SIGKILL] = "SIGKILL",
		[SIGUSR1] = "SIGUSR1",	   [SIGSEGV] = "SIGSEGV",     [SIGUSR2] = "SIGUSR2",
		[SIGPIPE] = "SIGPIPE",	   [SIGALRM] = "SIGALRM",     [SIGTERM] = "SIGTERM",
		[SIGSTKFLT] = "SIGSTKFLT", [SIGCHLD] = "SIGCHLD",     [SIGCONT] = "SIGCONT",
		[SIGSTOP] = "SIGSTOP",	   [SIGTSTP] = "SIGTSTP",     [SIGTTIN] = "SIGTTIN",
		[SIGTTOU] = "SIGTTOU",	   [SIGURG] = "SIGURG",	      [SIGXCPU] = "SIGXCPU",
		[SIGXFSZ] = "SIGXFSZ",	   [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF",
		[SIGWINCH] = "SIGWINCH",   [SIGIO] = "SIGIO",	      [SIGPWR] = "SIGPWR",
		[SIGSYS] = "SIGSYS",
	};

	if (signal > 0 && (size_t)signal < sizeof(names) / sizeof(names[0]) && names[signal])
		return names[signal];
	if (signal >= 32 && signal <= 64)
		return "SIGRT";
	return NULL;
}

struct worker *fleet_find(struct fleet *fleet, const char *name)
{
	uint32_t id;

	if (u64map_get(&fleet->worker_by_name, u64map_hash_string(name), &id)) {
		struct worker *worker = fleet_find_id(fleet, id);

		if (worker && !strcmp(worker->name, name))
			return worker;
	}
	if (!fleet->name_collisions)
		return NULL;
	for (size_t i = 0; i < fleet->count; i++) {
		if (!strcmp(fleet->workers[i].name, name))
			return &fleet->workers[i];
	}
	return NULL;
}

struct worker *fleet_find_process(struct fleet *fleet, uint32_t pid, uint64_t start_ticks)
{
	struct worker *live = fleet_find_live_pid(fleet, pid);

	/* Exit events are about live processes: the index answers them; the dead need a scan. */
	if (live && live->start_ticks == start_ticks)
		return live;
	for (size_t i = 0; i < fleet->count; i++) {
		struct worker *worker = &fleet->workers[i];

		if (worker->pid == pid && worker->start_ticks == start_ticks)
			return worker;
	}
	return NULL;
}

int fleet_add(struct fleet *fleet, const char *name, uint32_t pid, uint64_t start_ticks,
	      const char *comm, enum worker_origin origin, uint64_t now_ns, struct worker **out)
{
	struct worker *worker;

	if (!worker_name_valid(name))
		return -EINVAL;
	if (fleet_find(fleet, name))
		return -EEXIST;
	if (fleet->count == fleet->capacity)
		return -ENOSPC;
	worker = &fleet->workers[fleet->count++];
	memset(worker, 0, sizeof(*worker));
	worker->id = fleet->next_id++;
	{
		uint64_t hash = u64map_hash_string(name);
		uint32_t taken;

		/* Two names with one hash: the second is found by scan, never mistaken. */
		if (u64map_get(&fleet->worker_by_name, hash, &taken))
			fleet->name_collisions++;
		else
			u64map_put(&fleet->worker_by_name, hash, worker->id);
	}
	snprintf(worker->name, sizeof(worker->name), "%s", name);
	snprintf(worker->comm, sizeof(worker->comm), "%s", comm ? comm : "");
	worker->pid = pid;
	worker->start_ticks = start_ticks;
	worker->origin = origin;
	worker->authority = AUTHORITY_ADMIN;
	worker->owner_uid = FLEET_NO_OWNER;
	worker->state = WS_STARTING;
	worker->state_since_ns = now_ns;
	worker->registered_ns = now_ns;
	worker->pidfd = -1;
	worker->expects_output = origin == ORIGIN_REPORT;
	mark_due(fleet, worker); /* judged at the next tick */
	set_reason(worker, "no output seen yet");
	changed(fleet, worker);
	fleet->lifecycle++;
	if (fleet->on_transition) {
		struct fleet_transition transition = {
			.worker = worker->name,
			.from = WS__COUNT,
			.to = WS_STARTING,
			.reason = "registered",
			.at_ns = now_ns,
		};
		fleet->on_transition(fleet->ctx, &transition);
	}
	*out = worker;
	return 0;
}

void fleet_remove(struct fleet *fleet, struct worker *worker)
{
	uint64_t hash = u64map_hash_string(worker->name);
	size_t index;
	uint32_t id;

	/* Its connections go with it. */
	for (size_t i = fleet->n_conns; i-- > 0;) {
		if (fleet->conns[i].worker_id == worker->id)
			fleet_conn_remove(fleet, &fleet->conns[i]);
	}
	if (u64map_get(&fleet->worker_by_name, hash, &id) && id == worker->id)
		u64map_del(&fleet->worker_by_name, hash);
	fleet_unindex_pid(fleet, worker);
	fleet_extras_release(worker->extras);
	fleet_reason_release(worker->reason);
	due_remove(fleet, worker);
	index = worker - fleet->workers;
	/* Order is registration order; keep it so listings are stable (and ids sorted). */
	memmove(worker, worker + 1, (fleet->count - index - 1) * sizeof(*worker));
	fleet->count--;
	fleet->layout++;
	fleet->n_changed = 0; /* indices moved: the next publish walks the whole fleet */
	for (size_t i = 0; i < fleet->n_due; i++)
		fleet->due[i].index -= fleet->due[i].index > index;
	fleet->generation++;
	fleet->lifecycle++;
}

enum worker_state fleet_classify_exit(uint32_t status, bool oom, struct worker_exit *exit)
{
	int signal = status & 0x7f;

	exit->core_dumped = status & 0x80;
	exit->oom = oom;
	exit->status_known = true;
	if (signal == 0) {
		exit->code = (status >> 8) & 0xff;
		exit->signal = 0;
		return exit->code == 0 ? WS_EXITED : WS_CRASHED;
	}
	exit->code = -1;
	exit->signal = signal;
	if (signal == SIGKILL)
		return WS_KILLED;
	if (signal == SIGTERM || signal == SIGINT)
		return WS_EXITED;
	return WS_CRASHED;
}

bool fleet_exit_by_sender(const struct worker_exit *exit)
{
	return exit->has_killer && exit->signal != 0 && exit->kill_signal == exit->signal;
}

static void describe_exit(const struct worker_exit *exit, char *out, size_t len)
{
	const char *signal_name = fleet_signal_name(exit->signal);
	int used;

	if (!exit->status_known) {
		snprintf(out, len, "process gone; exit status not observed");
		return;
	}
	if (exit->oom) {
		snprintf(out, len, "killed by the OOM killer");
		return;
	}
	if (exit->signal == 0)
		used = snprintf(out, len, "exit code %d", exit->code);
	else
		used = snprintf(out, len, "%s%s", signal_name ? signal_name : "signal",
				exit->core_dumped ? " (core dumped)" : "");
	if (used < 0 || (size_t)used >= len)
		return;
	if (fleet_exit_by_sender(exit)) {
		if (exit->killer_pid == 0)
			snprintf(out + used, len - used, " from the kernel");
		else
			snprintf(out + used, len - used, " from %s[%u]", exit->killer_comm,
				 exit->killer_pid);
	}
}

void fleet_set_state(struct fleet *fleet, struct worker *worker, enum worker_state state,
		     const char *reason, uint64_t now_ns)
{
	enum worker_state from = worker->state;

	if (from == state && !strncmp(worker->reason, reason, FLEET_REASON_MAX - 1))
		return;
	set_reason(worker, reason);
	changed(fleet, worker);
	if (from == state)
		return;
	fleet->lifecycle++;
	worker->state = state;
	worker->state_since_ns = now_ns;
	if (fleet->on_transition) {
		struct fleet_transition transition = {
			.worker = worker->name,
			.from = from,
			.to = state,
			.reason = worker->reason,
			.at_ns = now_ns,
		};
		fleet->on_transition(fleet->ctx, &transition);
	}
}

/*
 * --crash-loop COUNT,SECONDS: COUNT crashes or kills within SECONDS make it crash-looping, and it
 * stays so until it has stayed up for SECONDS after its last one.
 */
static void count_crash(struct fleet *fleet, struct worker *worker, const char *how,
			uint64_t at_ns)
{
	uint64_t window = fleet->crashloop_window_ns;
	uint32_t in_window = 0, kept;
	struct worker_extras *extras;

	/* Without --crash-loop there is no window to count in. */
	if (!fleet->crashloop_count || !window)
		return;
	extras = fleet_extras_edit(fleet, worker);
	if (!extras)
		return;
	extras->crash_ns[extras->n_crashes++ % FLEET_CRASHES_KEPT] = at_ns;
	kept = extras->n_crashes < FLEET_CRASHES_KEPT ? extras->n_crashes : FLEET_CRASHES_KEPT;
	for (uint32_t i = 0; i < kept; i++)
		in_window += at_ns - extras->crash_ns[i] <= window;
	if (in_window >= fleet->crashloop_count || fleet_crashlooping(worker, at_ns)) {
		worker->crashloop_until_ns = at_ns + window;
		snprintf(extras->crashloop_reason, sizeof(extras->crashloop_reason),
			 "crash loop: %u crashes in %.0f s (last: %.*s)", in_window,
			 (double)window / 1e9, FLEET_REASON_MAX - 48, how);
	}
}

void fleet_apply_exit(struct fleet *fleet, struct worker *worker, const struct worker_exit *exit,
		      enum worker_state state, uint64_t now_ns)
{
	char reason[FLEET_REASON_MAX];

	if (worker->has_exit)
		return;
	fleet_unindex_pid(fleet, worker);
	changed(fleet, worker);
	worker->has_exit = true;
	worker->exit = *exit;
	describe_exit(exit, reason, sizeof(reason));
	/* It said it would stop, and it did so cleanly (code 0, SIGTERM, SIGINT): grey. A crash
	 * after a bye is still a crash. */
	if (worker->bye && state == WS_EXITED) {
		char said[FLEET_REASON_MAX];

		snprintf(said, sizeof(said), "stopped after bye (%.*s)", FLEET_REASON_MAX - 24,
			 reason);
		state = WS_STOPPED;
		snprintf(reason, sizeof(reason), "%s", said);
	}
	if (state < WS__COUNT)
		worker->exits_by_class[state]++;
	if (state == WS_CRASHED || state == WS_KILLED)
		count_crash(fleet, worker, reason, exit->at_ns ?: now_ns);
	fleet_set_state(fleet, worker, state, reason, now_ns);
}

struct worker *fleet_find_id(struct fleet *fleet, uint32_t id)
{
	size_t low = 0, high = fleet->count;

	while (low < high) {
		size_t mid = low + (high - low) / 2;

		if (fleet->workers[mid].id == id)
			return &fleet->workers[mid];
		if (fleet->workers[mid].id < id)
			low = mid + 1;
		else
			high = mid;
	}
	return NULL;
}

struct conn *fleet_conn_find(struct fleet *fleet, uint64_t cookie)
{
	uint32_t index;

	return u64map_get(&fleet->conn_by_cookie, cookie, &index) ? &fleet->conns[index] : NULL;
}

/* Adds (sign 1) or takes away (sign -1) a connection's status from its owner's counts. */
static void count_status(struct fleet *fleet, struct worker *owner, const struct conn *conn,
			 int sign)
{
	mark_due(fleet, owner); /* its connections changed */
	changed(fleet, owner);
	owner->n_conns += sign;
	if (conn_is_dead(conn))
		owner->n_conns_dead += sign;
	else if (conn->suspect)
		owner->n_conns_suspect += sign;
}

struct conn *fleet_conn_add(struct fleet *fleet, uint64_t cookie, struct worker *worker,
			    uint64_t now_ns)
{
	struct conn *conn;

	if (fleet->n_conns == fleet->conn_capacity ||
	    u64map_put(&fleet->conn_by_cookie, cookie, fleet->n_conns))
		return NULL;
	conn = &fleet->conns[fleet->n_conns++];
	conn_init(conn, cookie, now_ns);
	conn->worker_id = worker->id;
	count_status(fleet, worker, conn, 1);
	conns_changed(fleet);
	return conn;
}

bool fleet_conn_changed(struct fleet *fleet, const struct conn *conn, bool was_dead,
			bool was_suspect)
{
	struct worker *owner = fleet_find_id(fleet, conn->worker_id);
	bool dead = conn_is_dead(conn), suspect = !dead && conn->suspect;

	was_suspect = !was_dead && was_suspect;
	if (dead == was_dead && suspect == was_suspect)
		return false;
	conns_changed(fleet);
	if (!owner)
		return true;
	mark_due(fleet, owner);
	changed(fleet, owner);
	owner->n_conns_dead += (int)dead - (int)was_dead;
	owner->n_conns_suspect += (int)suspect - (int)was_suspect;
	if (dead && !was_dead)
		owner->last_dead_cookie = conn->cookie;
	if (suspect && !was_suspect)
		owner->suspect_cookie = conn->cookie;
	return true;
}

void fleet_conn_move(struct fleet *fleet, struct conn *conn, struct worker *to)
{
	struct worker *from = fleet_find_id(fleet, conn->worker_id);

	if (from == to)
		return;
	if (from)
		count_status(fleet, from, conn, -1);
	conn->worker_id = to->id;
	count_status(fleet, to, conn, 1);
	if (conn_is_dead(conn))
		to->last_dead_cookie = conn->cookie;
	else if (conn->suspect)
		to->suspect_cookie = conn->cookie;
	conns_changed(fleet);
}

void fleet_conn_remove(struct fleet *fleet, struct conn *conn)
{
	struct worker *owner = fleet_find_id(fleet, conn->worker_id);
	struct conn *last = &fleet->conns[fleet->n_conns - 1];

	if (owner)
		count_status(fleet, owner, conn, -1);
	u64map_del(&fleet->conn_by_cookie, conn->cookie);
	if (conn != last) {
		*conn = *last;
		u64map_put(&fleet->conn_by_cookie, conn->cookie, conn - fleet->conns);
	}
	fleet->n_conns--;
	conns_changed(fleet);
}

/* By owner, then newest first, so each owner's first FLEET_DEAD_CONNS_KEPT are the ones kept. */
static int compare_dead_conns(const void *a, const void *b)
{
	const struct fleet_dead_conn *x = a, *y = b;

	if (x->worker_id != y->worker_id)
		return x->worker_id < y->worker_id ? -1 : 1;
	if (x->dead_ns != y->dead_ns)
		return x->dead_ns > y->dead_ns ? -1 : 1;
	return x->cookie > y->cookie ? -1 : x->cookie < y->cookie;
}

size_t fleet_prune_dead_conns(struct fleet *fleet, const struct fleet_dead_conn **pruned)
{
	struct fleet_dead_conn *dead = fleet->dead_conns;
	size_t n_dead = 0, n_pruned = 0, kept = 0;
	bool any = false;

	*pruned = dead;
	for (size_t i = 0; i < fleet->count && !any; i++)
		any = fleet->workers[i].n_conns_dead > FLEET_DEAD_CONNS_KEPT;
	if (!any)
		return 0;
	for (size_t i = 0; i < fleet->n_conns; i++) {
		const struct conn *conn = &fleet->conns[i];
		const struct worker *owner;

		if (!conn_is_dead(conn))
			continue;
		owner = fleet_find_id(fleet, conn->worker_id);
		if (owner && owner->n_conns_dead > FLEET_DEAD_CONNS_KEPT)
			dead[n_dead++] = (struct fleet_dead_conn){conn->cookie, conn->dead_ns,
								  conn->worker_id};
	}
	qsort(dead, n_dead, sizeof(*dead), compare_dead_conns);
	/* The ones to drop are packed at the front of the same array, which then lists them. */
	for (size_t i = 0; i < n_dead; i++) {
		kept = i && dead[i].worker_id == dead[i - 1].worker_id ? kept + 1 : 1;
		if (kept > FLEET_DEAD_CONNS_KEPT)
			dead[n_pruned++] = dead[i];
	}
	for (size_t i = 0; i < n_pruned; i++)
		fleet_conn_remove(fleet, fleet_conn_find(fleet, dead[i].cookie));
	return n_pruned;
}

/* "10.0.0.2:6000 reset_received" for the connection with this cookie, if it is still known. */
static void describe_conn(struct fleet *fleet, uint64_t cookie, bool with_reason, char *out,
			  size_t len)
{
	const struct conn *conn = fleet_conn_find(fleet, cookie);
	char peer[CONN_ENDPOINT_MAX];

	if (!conn) {
		snprintf(out, len, "a connection");
		return;
	}
	conn_format_endpoint(conn->family, conn->peer_addr, conn->peer_port, peer, sizeof(peer));
	if (with_reason && conn_is_dead(conn))
		snprintf(out, len, "%s %s", peer, conn_reason_name(conn->reason));
	else
		snprintf(out, len, "%s", peer);
}

enum worker_state fleet_output_state(const struct worker *worker,
				     const struct output_policy *policy, uint64_t now_ns,
				     char *reason, size_t reason_len)
{
	double age = output_age(&worker->output, now_ns);
	double after = output_stale_after(&worker->output, policy);

	/* Not expected to report: the kernel's word is the evidence, a live process or a live
	 * connection; with neither there is none yet, which is amber. */
	if (!worker->expects_output) {
		uint32_t alive = worker->n_conns - worker->n_conns_dead;

		if (worker->pid && !worker->has_exit) {
			snprintf(reason, reason_len, "process %u alive (not expected to report)",
				 worker->pid);
			return WS_RUNNING;
		}
		if (alive) {
			snprintf(reason, reason_len,
				 "%u connection%s alive (not expected to report)", alive,
				 alive == 1 ? "" : "s");
			return WS_RUNNING;
		}
		snprintf(reason, reason_len, "no process or connection seen yet");
		return WS_STARTING;
	}
	if (age < 0) {
		double waited =
			now_ns > worker->registered_ns ? (now_ns - worker->registered_ns) / 1e9 : 0;

		if (waited <= policy->start_grace_s) {
			snprintf(reason, reason_len, "no output seen yet");
			return WS_STARTING;
		}
		snprintf(reason, reason_len, "no output within %.0f s of registration",
			 policy->start_grace_s);
		return WS_STALE;
	}
	if (age <= after) {
		snprintf(reason, reason_len, "producing");
		return WS_WORKING;
	}
	if (worker->output.n_gaps >= OUTPUT_MIN_GAPS && policy->stale_after_s <= 0)
		snprintf(reason, reason_len, "no output for over %.1f s (its rhythm: every %.1f s)",
			 after, worker->output.gap_mean_s);
	else
		snprintf(reason, reason_len, "no output for over %.1f s", after);
	return WS_STALE;
}

/* When the output-based state could change with no event: grace or staleness running out. */
static uint64_t output_deadline(const struct worker *worker, const struct output_policy *policy,
				uint64_t now_ns)
{
	double seconds;
	uint64_t deadline;

	if (!worker->expects_output)
		return UINT64_MAX;
	if (!worker->output.last_ns)
		deadline = worker->registered_ns + (uint64_t)(policy->start_grace_s * 1e9) + 1;
	else {
		seconds = output_stale_after(&worker->output, policy);
		deadline = worker->output.last_ns + (uint64_t)(seconds * 1e9) + 1;
	}
	/* Past it already: stale until new output arrives, which is an event. */
	return deadline > now_ns ? deadline : UINT64_MAX;
}

void fleet_evaluate_due(struct fleet *fleet, uint64_t now_ns, bool all)
{
	if (all) {
		for (size_t i = 0; i < fleet->count; i++)
			fleet_evaluate(fleet, &fleet->workers[i], now_ns);
		return;
	}
	/* Each evaluation takes its worker off the top or moves it past now, so this ends. */
	while (fleet->n_due && fleet->due[0].at_ns <= now_ns)
		fleet_evaluate(fleet, &fleet->workers[fleet->due[0].index], now_ns);
}


void fleet_evaluate(struct fleet *fleet, struct worker *worker, uint64_t now_ns)
{
	char reason[FLEET_REASON_MAX], conn[CONN_ENDPOINT_MAX + 24];
	enum worker_state state;

	schedule(fleet, worker, UINT64_MAX); /* only the output-based verdict below ages */
	if (worker->has_exit)
		return;
	/* A connection the kernel recorded, alive or dead (its death kept in lp_conns while no
	 * daemon ran), is evidence as much as a report is. */
	if (worker->awaiting_evidence) {
		if (!worker->output.last_ns && worker->n_conns == 0)
			return;
		worker->awaiting_evidence = false;
		changed(fleet, worker);
	}
	if (worker->n_conns && worker->n_conns_dead == worker->n_conns) {
		describe_conn(fleet, worker->last_dead_cookie, true, conn, sizeof(conn));
		if (worker->bye)
			snprintf(reason, sizeof(reason), "stopped after bye (connection %s)", conn);
		else if (worker->pid)
			snprintf(reason, sizeof(reason),
				 "process %u alive, but every connection is dead: %s", worker->pid,
				 conn);
		else
			snprintf(reason, sizeof(reason), "every connection is dead: %s", conn);
		fleet_set_state(fleet, worker, worker->bye ? WS_STOPPED : WS_DISCONNECTED, reason,
				now_ns);
		return;
	}
	if (worker->bye && !worker->pid && worker->n_conns == 0) {
		fleet_set_state(fleet, worker, WS_STOPPED, "stopped after bye", now_ns);
		return;
	}
	if (worker->n_conns_suspect) {
		const struct conn *named = fleet_conn_find(fleet, worker->suspect_cookie);

		/* The one named may have recovered while another is still suspect: name that one.
		 */
		for (size_t i = 0;
		     (!named || !named->suspect || conn_is_dead(named)) && i < fleet->n_conns;
		     i++) {
			if (fleet->conns[i].worker_id == worker->id && fleet->conns[i].suspect &&
			    !conn_is_dead(&fleet->conns[i]))
				named = &fleet->conns[i];
		}
		if (named && named->cookie != worker->suspect_cookie) {
			worker->suspect_cookie = named->cookie;
			changed(fleet, worker);
		}
		describe_conn(fleet, worker->suspect_cookie, false, conn, sizeof(conn));
		snprintf(reason, sizeof(reason), "connection %s: sent data is not acknowledged",
			 conn);
		fleet_set_state(fleet, worker, WS_SUSPECT, reason, now_ns);
		return;
	}
	/* A worker that was declared exited by its bye and then reported again came back. */
	state = fleet_output_state(worker, &fleet->policy, now_ns, reason, sizeof(reason));
	fleet_set_state(fleet, worker, state, reason, now_ns);
	schedule(fleet, worker, output_deadline(worker, &fleet->policy, now_ns));
}

struct worker *fleet_find_live_pid(struct fleet *fleet, uint32_t pid)
{
	struct worker *worker;
	uint32_t id;

	if (!pid || !u64map_get(&fleet->worker_by_pid, pid, &id))
		return NULL;
	worker = fleet_find_id(fleet, id);
	return worker && worker->pid == pid && !worker->has_exit ? worker : NULL;
}

void fleet_bind_process(struct fleet *fleet, struct worker *worker, uint32_t pid,
			uint64_t start_ticks, const char *comm, int pidfd, uint64_t now_ns)
{
	/* A dead worker in a new process: a restart; the previous end stays as last_exit. */
	if (worker->has_exit) {
		struct worker_extras *extras = fleet_extras_edit(fleet, worker);

		worker->restarts_total++;
		if (extras) {
			extras->has_last_exit = true;
			extras->last_exit = worker->exit;
			extras->last_exit_state = worker->state;
		}
	}
	worker->pid = pid;
	worker->start_ticks = start_ticks;
	snprintf(worker->comm, sizeof(worker->comm), "%s", comm ? comm : "");
	worker->pidfd = pidfd;
	worker->has_exit = false;
	mark_due(fleet, worker); /* a new process */
	memset(&worker->exit, 0, sizeof(worker->exit));
	worker->registered_ns = now_ns;
	if (pid)
		u64map_put(&fleet->worker_by_pid, pid, worker->id);
	changed(fleet, worker);
	fleet->lifecycle++;
}

void fleet_set_owner(struct fleet *fleet, struct worker *worker, enum worker_authority authority,
		     uint32_t owner_uid)
{
	if (worker->authority == authority && worker->owner_uid == owner_uid)
		return;
	worker->authority = authority;
	worker->owner_uid = owner_uid;
	changed(fleet, worker);
	fleet->lifecycle++;
}

void fleet_set_expects_output(struct fleet *fleet, struct worker *worker, bool expects,
			      bool explicit)
{
	if (worker->expects_output_set && !explicit)
		return;
	if (explicit && !worker->expects_output_set) {
		worker->expects_output_set = true;
		changed(fleet, worker);
	}
	if (worker->expects_output == expects)
		return;
	worker->expects_output = expects;
	mark_due(fleet, worker);
	changed(fleet, worker);
	fleet->lifecycle++;
}

void fleet_set_bye(struct fleet *fleet, struct worker *worker, bool bye)
{
	if (worker->bye == bye)
		return;
	worker->bye = bye;
	mark_due(fleet, worker);
	changed(fleet, worker);
	fleet->lifecycle++;
}

void fleet_touch(struct fleet *fleet, struct worker *worker)
{
	changed(fleet, worker);
}

void fleet_touch_conns(struct fleet *fleet)
{
	conns_changed(fleet);
}

void fleet_touch_saved(struct fleet *fleet, struct worker *worker)
{
	if (worker)
		changed(fleet, worker);
	else
		fleet->generation++;
	fleet->lifecycle++;
}

void fleet_unindex_pid(struct fleet *fleet, struct worker *worker)
{
	uint32_t id;

	if (worker->pid && u64map_get(&fleet->worker_by_pid, worker->pid, &id) && id == worker->id)
		u64map_del(&fleet->worker_by_pid, worker->pid);
}

int fleet_rename(struct fleet *fleet, struct worker *worker, const char *name)
{
	uint64_t hash = u64map_hash_string(worker->name);
	uint32_t id;

	if (!worker_name_valid(name))
		return -EINVAL;
	if (fleet_find(fleet, name))
		return -EEXIST;
	if (u64map_get(&fleet->worker_by_name, hash, &id) && id == worker->id)
		u64map_del(&fleet->worker_by_name, hash);
	snprintf(worker->name, sizeof(worker->name), "%s", name);
	hash = u64map_hash_string(name);
	if (u64map_get(&fleet->worker_by_name, hash, &id))
		fleet->name_collisions++;
	else
		u64map_put(&fleet->worker_by_name, hash, worker->id);
	changed(fleet, worker);
	fleet->lifecycle++;
	return 0;
}

const struct worker_extras *fleet_extras(const struct worker *worker)
{
	static const struct worker_extras none;

	return worker->extras ?: &none;
}

struct worker_extras *fleet_extras_edit(struct fleet *fleet, struct worker *worker)
{
	struct worker_extras *extras = worker->extras;

	/* Only the loop takes references, so one reference is ours alone: change it in place. */
	if (!extras || __atomic_load_n(&extras->refs, __ATOMIC_ACQUIRE) > 1) {
		extras = malloc(sizeof(*extras));
		if (!extras)
			return NULL;
		if (worker->extras)
			*extras = *worker->extras;
		else
			memset(extras, 0, sizeof(*extras));
		extras->refs = 1;
		fleet_extras_release(worker->extras);
		worker->extras = extras;
	}
	changed(fleet, worker);
	return extras;
}

void fleet_extras_hold(struct worker_extras *extras)
{
	if (extras)
		__atomic_add_fetch(&extras->refs, 1, __ATOMIC_RELAXED);
}

void fleet_extras_release(struct worker_extras *extras)
{
	if (extras && __atomic_sub_fetch(&extras->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(extras);
}
