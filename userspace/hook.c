// SPDX-License-Identifier: GPL-2.0
/* See hook.h. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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
static int n_running; /* commands the spawner runs for us now */
static struct hook_stats stats;
static struct waiting *waiting; /* slots; queue holds their order of arrival */
static uint32_t *queue, *free_slots;
static size_t capacity, queue_head, queue_len, n_free;
static struct u64map waiting_by_name; /* name hash → slot */
static int spawner_fd = -1; /* to the spawner process */

static void spawner_main(int sock) __attribute__((noreturn));

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
	{
		int pair[2];
		pid_t pid;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair))
			return -errno;
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid == 0) {
			close(pair[0]);
			spawner_main(pair[1]);
		}
		close(pair[1]);
		spawner_fd = pair[0];
	}
	return 0;
}

/* What the daemon asks of its spawner: one transition, as the command's environment. */
struct hook_request {
	char worker[WORKER_NAME_MAX + 1];
	char from[16];
	char to[16];
	char reason[FLEET_REASON_MAX];
	double at;
};

/* Runs in the spawner process: the configured command for one request. 0 or an errno. */
static int spawner_start(const struct hook_request *request, pid_t *pid)
{
	char worker[96], from[48], to[48], reason[FLEET_REASON_MAX + 32], when[48];
	char *argv[] = {"/bin/sh", "-c", (char *)hook_command, NULL};
	char *envp[64];
	size_t n = 0;

	snprintf(worker, sizeof(worker), "LIVEPROBE_WORKER=%s", request->worker);
	snprintf(from, sizeof(from), "LIVEPROBE_FROM=%s", request->from);
	snprintf(to, sizeof(to), "LIVEPROBE_TO=%s", request->to);
	snprintf(reason, sizeof(reason), "LIVEPROBE_REASON=%s", request->reason);
	snprintf(when, sizeof(when), "LIVEPROBE_AT=%.3f", request->at);
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
	return posix_spawn(pid, "/bin/sh", NULL, NULL, argv, envp);
}

/*
 * The spawner: a process forked before the daemon gives up its privileges and installs its
 * seccomp filter, so the operator's command runs as it always did, while the daemon itself
 * cannot exec anything. It only runs the command fixed at start; the daemon sends values.
 * Each finished (or failed) command is answered with one byte: 1 ok, 0 failed.
 */
static void spawner_main(int sock)
{
	struct hook_request request;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* the daemon blocks SIGINT/SIGTERM */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	for (;;) {
		struct pollfd pfd = {.fd = sock, .events = POLLIN};
		int status;
		pid_t pid;
		char ok;

		if (poll(&pfd, 1, 100) > 0) {
			ssize_t len = recv(sock, &request, sizeof(request), 0);

			if (len <= 0)
				_exit(0); /* the daemon is gone */
			if (len == sizeof(request)) {
				request.worker[sizeof(request.worker) - 1] = '\0';
				request.from[sizeof(request.from) - 1] = '\0';
				request.to[sizeof(request.to) - 1] = '\0';
				request.reason[sizeof(request.reason) - 1] = '\0';
				if (spawner_start(&request, &pid)) {
					ok = 0;
					send(sock, &ok, 1, MSG_NOSIGNAL);
				}
			}
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			send(sock, &ok, 1, MSG_NOSIGNAL);
		}
	}
}

static void spawn_command(const char *worker_name, const char *from_state, const char *to_state,
			  const char *why, double at)
{
	struct hook_request request = {.at = at};

	snprintf(request.worker, sizeof(request.worker), "%s", worker_name);
	snprintf(request.from, sizeof(request.from), "%s", from_state);
	snprintf(request.to, sizeof(request.to), "%s", to_state);
	snprintf(request.reason, sizeof(request.reason), "%s", why);
	if (send(spawner_fd, &request, sizeof(request), MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    sizeof(request)) {
		if (stats.failed++ == 0)
			log_warn("--on-transition: the spawner does not answer: %s",
				 strerror(errno));
		return;
	}
	n_running++;
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
			      transition->from < WS__COUNT ? fleet_state_name(transition->from)
							   : "",
			      fleet_state_name(transition->to), transition->reason, at);
		return;
	}
	wait_for_slot(transition, at);
}

void hook_reap(void)
{
	char ok;

	while (spawner_fd >= 0 && recv(spawner_fd, &ok, 1, MSG_DONTWAIT) == 1) {
		if (!ok)
			stats.failed++;
		if (n_running > 0)
			n_running--;
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
