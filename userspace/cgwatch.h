/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Watched cgroups (--watch-cgroup, --watch-unit): each cgroup is one worker, named after the
 * unit or the directory. The kernel adopts every process that forks, execs or is moved into one
 * (lp_cgroups → lp_procs with LP_PROC_CGROUP), so a process that lives 1 ms is still seen. This
 * module owns the choice of the worker's main process (the oldest at start; after the main one
 * died, the next process to appear, which is a restart) and the other processes: their ends are
 * counted (child_exits_by_class) without changing the verdict, except an OOM kill, which is
 * reported. The twin of procwatch, which watches the main process like any other.
 *
 * Errors: 0 or -errno; cgwatch_start logs one line naming the option that failed.
 */
#ifndef LP_CGWATCH_H
#define LP_CGWATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fleet.h"
#include "lp_events.h"
#include "opts.h"
#include "probe.h"
#include "procwatch.h"

struct cgwatch_group {
	uint64_t id; /* cgroup v2 id: the directory's inode number */
	uint32_t worker_id;
	char name[WORKER_NAME_MAX + 1]; /* to make the worker again once it was forgotten */
	char dir[512];
};

struct cgwatch {
	struct probe *probe;
	char mount[512]; /* the cgroup2 mount */
	int n_groups;
	struct cgwatch_group groups[OPTS_MAX_WATCH_CGROUPS];
};

/* Resolves every --watch-cgroup/--watch-unit, makes (or finds, after a restore) its worker,
 * tells the kernel, and watches the processes already inside. */
int cgwatch_start(struct cgwatch *watch, struct probe *probe, struct procwatch *procs,
		  struct fleet *fleet, const struct opts *opts, uint64_t now_ns);
/* A ring-buffer process event: true when it was about a cgroup's other process (handled here),
 * false when it is procwatch's (a main process, or not ours). */
bool cgwatch_on_event(struct cgwatch *watch, struct procwatch *procs, struct fleet *fleet,
		      const struct lp_proc_event *event, uint64_t now_ns);
/*
 * The worker of the watched cgroup the process is (or died) in, or NULL. From its pidfd when
 * pidfd >= 0 (pid reuse and an early exit cannot fool it), else from /proc/PID/cgroup.
 */
struct worker *cgwatch_worker_of(struct cgwatch *watch, struct fleet *fleet, pid_t pid, int pidfd);
/* Resolves a --watch-cgroup PATH or --watch-unit NAME under the cgroup2 mount into dir;
 * 0, or -errno with why in err. Pure file-system reads, for the tests too. */
int cgwatch_resolve(const char *mount, const char *given, bool unit, char *dir, size_t dir_len,
		    char *err, size_t err_len);

#endif
