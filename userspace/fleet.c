// SPDX-License-Identifier: GPL-2.0
/* See fleet.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "opts.h"

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
};

int fleet_init(struct fleet *fleet, size_t capacity, size_t conn_capacity)
{
	memset(fleet, 0, sizeof(*fleet));
	fleet->workers = calloc(capacity, sizeof(*fleet->workers));
	fleet->conns = calloc(conn_capacity ?: 1, sizeof(*fleet->conns));
	if (!fleet->workers || !fleet->conns) {
		fleet_free(fleet);
		return -ENOMEM;
	}
	fleet->capacity = capacity;
	fleet->conn_capacity = conn_capacity;
	fleet->next_id = 1;
	return 0;
}

void fleet_free(struct fleet *fleet)
{
	free(fleet->workers);
	free(fleet->conns);
	fleet->workers = NULL;
	fleet->conns = NULL;
	fleet->count = 0;
	fleet->n_conns = 0;
}

const char *fleet_state_name(enum worker_state state)
{
	return state < WS__COUNT ? state_names[state] : "invalid";
}

const char *fleet_health_name(enum worker_health health)
{
	switch (health) {
	case HEALTH_GREEN:
		return "green";
	case HEALTH_AMBER:
		return "amber";
	default:
		return "red";
	}
}

enum worker_health fleet_state_health(enum worker_state state)
{
	switch (state) {
	case WS_WORKING:
		return HEALTH_GREEN;
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
	for (size_t i = 0; i < fleet->count; i++) {
		if (!strcmp(fleet->workers[i].name, name))
			return &fleet->workers[i];
	}
	return NULL;
}

struct worker *fleet_find_process(struct fleet *fleet, uint32_t pid, uint64_t start_ticks)
{
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

	if (!opts_valid_worker_name(name))
		return -EINVAL;
	if (fleet_find(fleet, name))
		return -EEXIST;
	if (fleet->count == fleet->capacity)
		return -ENOSPC;
	worker = &fleet->workers[fleet->count++];
	memset(worker, 0, sizeof(*worker));
	worker->id = fleet->next_id++;
	snprintf(worker->name, sizeof(worker->name), "%s", name);
	snprintf(worker->comm, sizeof(worker->comm), "%s", comm ? comm : "");
	worker->pid = pid;
	worker->start_ticks = start_ticks;
	worker->origin = origin;
	worker->state = WS_STARTING;
	worker->state_since_ns = now_ns;
	worker->registered_ns = now_ns;
	worker->pidfd = -1;
	snprintf(worker->reason, sizeof(worker->reason), "no output seen yet");
	fleet->generation++;
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

int fleet_remove(struct fleet *fleet, const char *name)
{
	struct worker *worker = fleet_find(fleet, name);
	size_t index;

	if (!worker)
		return -ENOENT;
	/* Its connections go with it. */
	for (size_t i = fleet->n_conns; i-- > 0;) {
		if (fleet->conns[i].worker_id == worker->id)
			fleet->conns[i] = fleet->conns[--fleet->n_conns];
	}
	index = worker - fleet->workers;
	/* Order is registration order; keep it so listings are stable. */
	memmove(worker, worker + 1, (fleet->count - index - 1) * sizeof(*worker));
	fleet->count--;
	fleet->generation++;
	return 0;
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
	if (exit->has_killer && exit->kill_signal == exit->signal && exit->signal != 0) {
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

	if (from == state && !strncmp(worker->reason, reason, sizeof(worker->reason) - 1))
		return;
	snprintf(worker->reason, sizeof(worker->reason), "%s", reason);
	fleet->generation++;
	if (from == state)
		return;
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

void fleet_apply_exit(struct fleet *fleet, struct worker *worker, const struct worker_exit *exit,
		      enum worker_state state, uint64_t now_ns)
{
	char reason[FLEET_REASON_MAX];

	if (worker->has_exit)
		return;
	worker->has_exit = true;
	worker->exit = *exit;
	describe_exit(exit, reason, sizeof(reason));
	fleet_set_state(fleet, worker, state, reason, now_ns);
}

struct worker *fleet_find_id(struct fleet *fleet, uint32_t id)
{
	for (size_t i = 0; i < fleet->count; i++) {
		if (fleet->workers[i].id == id)
			return &fleet->workers[i];
	}
	return NULL;
}

struct conn *fleet_conn_find(struct fleet *fleet, uint64_t cookie)
{
	for (size_t i = 0; i < fleet->n_conns; i++) {
		if (fleet->conns[i].cookie == cookie)
			return &fleet->conns[i];
	}
	return NULL;
}

struct conn *fleet_conn_add(struct fleet *fleet, uint64_t cookie, struct worker *worker,
			    uint64_t now_ns)
{
	struct conn *conn;

	if (fleet->n_conns == fleet->conn_capacity)
		return NULL;
	conn = &fleet->conns[fleet->n_conns++];
	conn_init(conn, cookie, now_ns);
	conn->worker_id = worker->id;
	worker->n_conns++;
	fleet->generation++;
	return conn;
}

void fleet_conn_move(struct fleet *fleet, struct conn *conn, struct worker *to)
{
	struct worker *from = fleet_find_id(fleet, conn->worker_id);

	if (from == to)
		return;
	if (from)
		from->n_conns--;
	conn->worker_id = to->id;
	to->n_conns++;
	fleet->generation++;
}

void fleet_conn_remove(struct fleet *fleet, struct conn *conn)
{
	struct worker *owner = fleet_find_id(fleet, conn->worker_id);

	if (owner)
		owner->n_conns--;
	*conn = fleet->conns[--fleet->n_conns];
	fleet->generation++;
}

bool fleet_prune_dead_conn(struct fleet *fleet, struct worker *worker, uint64_t *cookie)
{
	struct conn *oldest = NULL;
	size_t dead = 0;

	for (size_t i = 0; i < fleet->n_conns; i++) {
		struct conn *conn = &fleet->conns[i];

		if (conn->worker_id != worker->id || !conn_is_dead(conn))
			continue;
		dead++;
		if (!oldest || conn->dead_ns < oldest->dead_ns)
			oldest = conn;
	}
	if (dead <= FLEET_DEAD_CONNS_KEPT)
		return false;
	*cookie = oldest->cookie;
	fleet_conn_remove(fleet, oldest);
	return true;
}

void fleet_evaluate(struct fleet *fleet, struct worker *worker, uint64_t now_ns)
{
	const struct conn *last_dead = NULL, *suspect = NULL;
	char reason[FLEET_REASON_MAX], peer[CONN_ENDPOINT_MAX];
	size_t total = 0, dead = 0;

	if (worker->has_exit)
		return;
	for (size_t i = 0; i < fleet->n_conns; i++) {
		const struct conn *conn = &fleet->conns[i];

		if (conn->worker_id != worker->id)
			continue;
		total++;
		if (conn_is_dead(conn)) {
			dead++;
			if (!last_dead || conn->dead_ns > last_dead->dead_ns)
				last_dead = conn;
		} else if (conn->suspect && !suspect) {
			suspect = conn;
		}
	}
	if (total && dead == total) {
		conn_format_endpoint(last_dead->family, last_dead->peer_addr, last_dead->peer_port,
				     peer, sizeof(peer));
		if (worker->pid)
			snprintf(reason, sizeof(reason),
				 "process %u alive, but every connection is dead: %s %s",
				 worker->pid, peer, conn_reason_name(last_dead->reason));
		else
			snprintf(reason, sizeof(reason), "every connection is dead: %s %s", peer,
				 conn_reason_name(last_dead->reason));
		fleet_set_state(fleet, worker, WS_DISCONNECTED, reason, now_ns);
	} else if (suspect) {
		conn_format_endpoint(suspect->family, suspect->peer_addr, suspect->peer_port, peer,
				     sizeof(peer));
		snprintf(reason, sizeof(reason), "connection %s: sent data is not acknowledged",
			 peer);
		fleet_set_state(fleet, worker, WS_SUSPECT, reason, now_ns);
	} else if (worker->state == WS_DISCONNECTED || worker->state == WS_SUSPECT) {
		fleet_set_state(fleet, worker, WS_STARTING, "no output seen yet", now_ns);
	}
}
