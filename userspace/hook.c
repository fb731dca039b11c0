// SPDX-License-Identifier: GPL-2.0
/* See hook.h. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hook.h"
#include "log.h"
#include "u64map.h"

extern char **environ;

/* A transition waiting for a slot; one per worker. */
struct waiting {
	char worker[WORKER_NAME_MAX + 1];
	char from[16];
	char to[16];
	char reason[FLEET_REASON_MAX];
	double at;
};

static const char *hook_command;
static pid_t running[HOOK_MAX_RUNNING];
static int n_running;
static struct hook_stats stats;
static struct waiting *waiting; /* slots; queue holds their order of arrival */
static uint32_t *queue, *free_slots;
static size_t capacity, queue_head, queue_len, n_free;
static struct u64map waiting_by_name; /* name hash → slot */

int hook_init(const char *command, size_t max_workers)
{
	hook_command = command && command[0] ? command : NULL;
	if (!hook_command)
		return 0;
	capacity = max_workers ? max_workers : 1;
	waiting = calloc(capacity, sizeof(*waiting));
	queue = calloc(capacity, sizeof(*queue));
	free_slots = calloc(capacity, sizeof(*free_slots));
	if (!waiting || !queue || !free_slots || u64map_init(&waiting_by_name, capacity))
		return -ENOMEM;
	for (n_free = 0; n_free < capacity; n_free++)
		free_slots[n_free] = capacity - 1 - n_free;
	return 0;
}

static void spawn_command(const char *worker_name, const char *from_state, const char *to_state,
			  const char *why, double at)
{
	char worker[96], from[48], to[48], reason[FLEET_REASON_MAX + 32], when[48];
	char *argv[] = {"/bin/sh", "-c", (char *)hook_command, NULL};
	char *envp[64];
	posix_spawnattr_t attr;
	sigset_t none;
	size_t n = 0;
	pid_t pid;
	int err;

	snprintf(worker, sizeof(worker), "LIVEPROBE_WORKER=%s", worker_name);
	snprintf(from, sizeof(from), "LIVEPROBE_FROM=%s", from_state);
	snprintf(to, sizeof(to), "LIVEPROBE_TO=%s", to_state);
	snprintf(reason, sizeof(reason), "LIVEPROBE_REASON=%s", why);
	snprintf(when, sizeof(when), "LIVEPROBE_AT=%.3f", at);
	envp[n++] = worker;
	envp[n++] = from;
	envp[n++] = to;
	envp[n++] = reason;
	envp[n++] = when;
	/* The daemon's own environment (PATH and friends) follows, minus our names. */
	for (char **var = environ; *var && n < sizeof(envp) / sizeof(envp[0]) - 1; var++)
		if (strncmp(*var, "LIVEPROBE_", 10))
			envp[n++] = *var;
	envp[n] = NULL;

	/* The loop blocks SIGINT/SIGTERM for its signalfd; the command must not inherit that. */
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	err = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	if (err) {
		if (stats.failed++ == 0)
			log_warn("--on-transition: cannot start /bin/sh: %s", strerror(err));
		return;
	}
	running[n_running++] = pid;
	stats.started++;
}

/* Queues the transition, or folds it into the worker's waiting one. */
static void wait_for_slot(const struct fleet_transition *transition, double at)
{
	uint64_t key = u64map_hash_string(transition->worker);
	struct waiting *entry;
	uint32_t slot;

	bool found = u64map_get(&waiting_by_name, key, &slot);

	if (found && !strcmp(waiting[slot].worker, transition->worker)) {
		entry = &waiting[slot]; /* keeps its from and its place in the queue */
		stats.merged++;
	} else if (found || n_free == 0 ||
		   u64map_put(&waiting_by_name, key, free_slots[n_free - 1])) {
		/* Two names with one hash, or more waiting than --max-workers: counted, and the
		 * worker's next transition tries again. */
		stats.merged++;
		return;
	} else {
		slot = free_slots[--n_free];
		entry = &waiting[slot];
		snprintf(entry->worker, sizeof(entry->worker), "%s", transition->worker);
		snprintf(entry->from, sizeof(entry->from), "%s",
			 transition->from < WS__COUNT ? fleet_state_name(transition->from) : "");
		queue[(queue_head + queue_len++) % capacity] = slot;
	}
	snprintf(entry->to, sizeof(entry->to), "%s", fleet_state_name(transition->to));
	snprintf(entry->reason, sizeof(entry->reason), "%s", transition->reason);
	entry->at = at;
}

void hook_run(const struct fleet_transition *transition, double at)
{
	if (!hook_command)
		return;
	if (n_running < HOOK_MAX_RUNNING && queue_len == 0) {
		spawn_command(transition->worker,
			      transition->from < WS__COUNT ? fleet_state_name(transition->from) : "",
			      fleet_state_name(transition->to), transition->reason, at);
		return;
	}
	wait_for_slot(transition, at);
}

void hook_reap(void)
{
	for (int i = 0; i < n_running;) {
		int status;
		pid_t done = waitpid(running[i], &status, WNOHANG);

		if (done == 0) {
			i++;
			continue;
		}
		if (done < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			stats.failed++;
		running[i] = running[--n_running];
	}
	while (n_running < HOOK_MAX_RUNNING && queue_len) {
		uint32_t slot = queue[queue_head];
		struct waiting *entry = &waiting[slot];

		queue_head = (queue_head + 1) % capacity;
		queue_len--;
		u64map_del(&waiting_by_name, u64map_hash_string(entry->worker));
		free_slots[n_free++] = slot;
		spawn_command(entry->worker, entry->from, entry->to, entry->reason, entry->at);
	}
}

struct hook_stats hook_stats(void)
{
	stats.waiting = queue_len;
	return stats;
}
