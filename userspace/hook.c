// SPDX-License-Identifier: GPL-2.0
/* See hook.h. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "hook.h"
#include "log.h"

extern char **environ;

static const char *hook_command;
static pid_t running[HOOK_MAX_RUNNING];
static int n_running;
static struct hook_stats stats;

void hook_init(const char *command)
{
	hook_command = command && command[0] ? command : NULL;
}

void hook_run(const struct fleet_transition *transition, double at)
{
	char worker[96], from[48], to[48], reason[FLEET_REASON_MAX + 32], when[48];
	char *argv[] = {"/bin/sh", "-c", (char *)hook_command, NULL};
	char *envp[64];
	posix_spawnattr_t attr;
	sigset_t none;
	size_t n = 0;
	pid_t pid;
	int err;

	if (!hook_command)
		return;
	if (n_running == HOOK_MAX_RUNNING) {
		if (stats.skipped++ == 0)
			log_warn("--on-transition: %d commands still running; skipping transitions",
				 HOOK_MAX_RUNNING);
		return;
	}
	snprintf(worker, sizeof(worker), "LIVEPROBE_WORKER=%s", transition->worker);
	snprintf(from, sizeof(from), "LIVEPROBE_FROM=%s",
		 transition->from < WS__COUNT ? fleet_state_name(transition->from) : "");
	snprintf(to, sizeof(to), "LIVEPROBE_TO=%s", fleet_state_name(transition->to));
	snprintf(reason, sizeof(reason), "LIVEPROBE_REASON=%s", transition->reason);
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
}

struct hook_stats hook_stats(void)
{
	return stats;
}
