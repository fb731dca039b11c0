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
};

int fleet_init(struct fleet *fleet, size_t capacity)
{
	memset(fleet, 0, sizeof(*fleet));
	fleet->workers = calloc(capacity, sizeof(*fleet->workers));
	if (!fleet->workers)
		return -ENOMEM;
	fleet->capacity = capacity;
	return 0;
}

void fleet_free(struct fleet *fleet)
{
	free(fleet->workers);
	fleet->workers = NULL;
	fleet->count = 0;
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
