// SPDX-License-Identifier: GPL-2.0
/* See cgwatch.h. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgwatch.h"
#include "log.h"
#include "paths.h"
#include "proc.h"
#include "text.h"
#include "worker_name.h"

/* How deep a unit's cgroup is looked for when it is not under system.slice. */
#define UNIT_SEARCH_DEPTH 4

static bool is_cgroup_dir(const char *dir)
{
	char procs[600];
	struct stat st;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(procs, R_OK) == 0;
}

static bool find_unit(const char *dir, const char *unit, int depth, char *out, size_t out_len)
{
	struct dirent *entry;
	bool found = false;
	DIR *handle;

	if (depth > UNIT_SEARCH_DEPTH || !(handle = opendir(dir)))
		return false;
	while (!found && (entry = readdir(handle))) {
		char path[512];

		if (entry->d_type != DT_DIR || entry->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name) >= (int)sizeof(path))
			continue;
		if (!strcmp(entry->d_name, unit)) {
			snprintf(out, out_len, "%s", path);
			found = true;
		} else {
			found = find_unit(path, unit, depth + 1, out, out_len);
		}
	}
	closedir(handle);
	return found;
}

/* The canonical path, so it compares equal to mount + /proc/PID/cgroup's path. */
static int canonical(char *dir, size_t dir_len)
{
	char real[PATH_MAX];

	if (!realpath(dir, real))
		return -errno;
	if (snprintf(dir, dir_len, "%s", real) >= (int)dir_len)
		return -ENAMETOOLONG;
	return 0;
}

int cgwatch_resolve(const char *mount, const char *given, bool unit, char *dir, size_t dir_len,
		    char *err, size_t err_len)
{
	size_t mount_len = strlen(mount);
	int used;

	if (unit) {
		/* Where systemd puts services, else wherever a slice holds it. */
		used = snprintf(dir, dir_len, "%s/system.slice/%s", mount, given);
		if ((used >= (int)dir_len || !is_cgroup_dir(dir)) &&
		    !find_unit(mount, given, 0, dir, dir_len)) {
			snprintf(err, err_len,
				 "--watch-unit %s: no cgroup of that name under %s (is it "
				 "running?)",
				 given, mount);
			return -ENOENT;
		}
		return canonical(dir, dir_len);
	}
	if (given[0] == '/') {
		if (strncmp(given, mount, mount_len) ||
		    (given[mount_len] && given[mount_len] != '/')) {
			snprintf(err, err_len, "--watch-cgroup %s: not under the cgroup2 mount %s",
				 given, mount);
			return -EINVAL;
		}
		used = snprintf(dir, dir_len, "%s", given);
	} else {
		used = snprintf(dir, dir_len, "%s/%s", mount, given);
	}
	if (used >= (int)dir_len || !is_cgroup_dir(dir)) {
		snprintf(err, err_len, "--watch-cgroup %s: %s is not a cgroup v2 directory", given,
			 dir);
		return -ENOENT;
	}
	return canonical(dir, dir_len);
}

/* An entry in lp_procs for one of the cgroup's other processes. */
static void watch_member(struct cgwatch *watch, pid_t pid, const struct proc_identity *id,
			 const char *name)
{
	struct lp_proc proc = {};

	if (probe_lookup(watch->probe, pid, &proc) == 0 && proc.start_ticks == id->start_ticks)
		return; /* adopted by the kernel already, or the main process */
	memset(&proc, 0, sizeof(proc));
	proc.start_ticks = id->start_ticks;
	proc.flags = LP_PROC_CGROUP;
	memcpy(proc.comm, id->comm, sizeof(proc.comm));
	snprintf(proc.name, sizeof(proc.name), "%.*s", (int)sizeof(proc.name) - 1, name);
	if (probe_watch(watch->probe, pid, &proc))
		log_warn("cannot watch pid %d of cgroup worker %s: lp_procs is full", pid, name);
}

/* The processes inside now: the oldest is the main one unless the worker has a live one. */
static void scan_members(struct cgwatch *watch, struct procwatch *procs, struct fleet *fleet,
			 struct worker *worker, const struct cgwatch_group *group)
{
	char path[600], err[160];
	struct proc_identity id, oldest_id = {};
	pid_t pid, oldest = 0;
	FILE *file;

	snprintf(path, sizeof(path), "%s/cgroup.procs", group->dir);
	file = fopen(path, "re");
	if (!file)
		return;
	while (fscanf(file, "%d", &pid) == 1) {
		if (pid <= 0 || proc_read_identity(pid, &id))
			continue;
		if (!oldest || id.start_ticks < oldest_id.start_ticks) {
			oldest = pid;
			oldest_id = id;
		}
		watch_member(watch, pid, &id, worker->name);
	}
	fclose(file);
	if (oldest && (!worker->pid || worker->has_exit) &&
	    procwatch_rebind(procs, fleet, worker, oldest, err, sizeof(err)))
		log_warn("cgroup worker %s: cannot watch its main process %d: %s", worker->name,
			 oldest, err);
}

int cgwatch_start(struct cgwatch *watch, struct probe *probe, struct procwatch *procs,
		  struct fleet *fleet, const struct opts *opts, uint64_t now_ns)
{
	char *mount = watch->mount, err[300];
	int ret;

	watch->probe = probe;
	watch->n_groups = 0;
	if (!opts->n_watch_cgroups)
		return 0;
	ret = paths_cgroup2_mount(mount, sizeof(watch->mount));
	if (ret) {
		log_error("--watch-cgroup/--watch-unit need cgroup v2, and none is mounted");
		return ret;
	}
	for (int i = 0; i < opts->n_watch_cgroups; i++) {
		struct cgwatch_group *group = &watch->groups[watch->n_groups];
		const char *given = opts->watch_cgroups[i];
		bool unit = opts->watch_cgroup_is_unit[i];
		const char *name, *slash;
		struct worker *worker;
		struct stat st;

		ret = cgwatch_resolve(mount, given, unit, group->dir, sizeof(group->dir), err,
				      sizeof(err));
		if (ret) {
			log_error("%s", err);
			return ret;
		}
		if (stat(group->dir, &st)) {
			ret = -errno;
			log_error("--watch-%s %s: %s", unit ? "unit" : "cgroup", given,
				  strerror(-ret));
			return ret;
		}
		group->id = st.st_ino;
		slash = strrchr(group->dir, '/');
		name = unit ? given : slash ? slash + 1 : group->dir;
		if (!worker_name_valid(name)) {
			log_error("--watch-cgroup %s: its directory's name is not a worker name (" WORKER_NAME_RULE ")",
				  given);
			return -EINVAL;
		}
		worker = fleet_find(fleet, name); /* restored from the state file */
		if (worker && worker->origin != ORIGIN_CGROUP) {
			log_error("--watch-%s %s: the name %s is another worker's",
				  unit ? "unit" : "cgroup", given, name);
			return -EEXIST;
		}
		if (!worker) {
			ret = fleet_add(fleet, name, 0, 0, NULL, ORIGIN_CGROUP, now_ns, &worker);
			if (ret) {
				log_error("--watch-%s %s: %s", unit ? "unit" : "cgroup", given,
					  strerror(-ret));
				return ret;
			}
		}
		group->worker_id = worker->id;
		snprintf(group->name, sizeof(group->name), "%s", name);
		ret = probe_watch_cgroup(probe, group->id, name);
		if (ret) {
			log_error("--watch-%s %s: cannot add it to lp_cgroups: %s",
				  unit ? "unit" : "cgroup", given, strerror(-ret));
			return ret;
		}
		watch->n_groups++;
		scan_members(watch, procs, fleet, worker, group);
		fleet_evaluate(fleet, fleet_find_id(fleet, group->worker_id), now_ns);
		log_info("watching cgroup %s as worker %s", group->dir, name);
	}
	return 0;
}

struct worker *cgwatch_worker_of(struct cgwatch *watch, struct fleet *fleet, pid_t pid, int pidfd)
{
	char path[64], line[600], dir[1200];
	struct worker *worker = NULL;
	uint64_t id;
	FILE *file;
	int err;

	if (pidfd >= 0) {
		err = proc_pidfd_cgroup_id(pidfd, &id);
		if (!err) {
			for (int i = 0; i < watch->n_groups; i++)
				if (watch->groups[i].id == id)
					return fleet_find_id(fleet, watch->groups[i].worker_id);
			return NULL;
		}
		if (err != -ENOTTY && err != -EINVAL)
			return NULL;
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	file = fopen(path, "re");
	if (!file)
		return NULL;
	while (!worker && fgets(line, sizeof(line), file)) {
		/* The unified hierarchy's line: "0::/path". */
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(dir, sizeof(dir), "%s%s", watch->mount, line + 3);
		for (int i = 0; i < watch->n_groups; i++)
			if (!strcmp(dir, watch->groups[i].dir))
				worker = fleet_find_id(fleet, watch->groups[i].worker_id);
	}
	fclose(file);
	return worker;
}

/*
 * The worker of cgroup id; with `remake`, made again if --forget-after removed it while the
 * cgroup was empty (the watch outlives its worker: the next process there is a new start).
 */
static struct worker *group_worker(struct cgwatch *watch, struct fleet *fleet, uint64_t id,
				   bool remake, uint64_t now_ns)
{
	for (int i = 0; i < watch->n_groups; i++) {
		struct cgwatch_group *group = &watch->groups[i];
		struct worker *worker;

		if (group->id != id)
			continue;
		worker = fleet_find_id(fleet, group->worker_id);
		if (!worker && remake &&
		    fleet_add(fleet, group->name, 0, 0, NULL, ORIGIN_CGROUP, now_ns, &worker) == 0)
			group->worker_id = worker->id;
		return worker;
	}
	return NULL;
}

bool cgwatch_on_event(struct cgwatch *watch, struct procwatch *procs, struct fleet *fleet,
		      const struct lp_proc_event *event, uint64_t now_ns)
{
	const struct lp_proc *proc = &event->proc;
	struct worker_extras *extras;
	struct worker_exit exit = {};
	enum worker_state state;
	struct worker *worker;
	char err[160];

	if (!(proc->flags & LP_PROC_CGROUP) ||
	    fleet_find_process(fleet, event->tgid, proc->start_ticks))
		return false; /* not a cgroup's, or its main process: procwatch's */
	worker = group_worker(watch, fleet, event->cgroup_id,
			      event->header.kind == LP_EV_PROC_NEW, now_ns);
	if (event->header.kind == LP_EV_PROC_NEW) {
		/* The main process died: the next to appear is the next incarnation. */
		if (worker && (!worker->pid || worker->has_exit) &&
		    procwatch_rebind(procs, fleet, worker, event->tgid, err, sizeof(err)) == 0)
			log_info("cgroup worker %s: main process is now %u", worker->name,
				 event->tgid);
		return true;
	}
	if (event->header.kind != LP_EV_PROC_EXIT)
		return true;
	probe_unwatch(watch->probe, event->tgid, proc->start_ticks);
	if (!worker)
		return true;
	state = fleet_classify_exit(proc->exit_code, proc->flags & LP_PROC_OOM, &exit);
	extras = fleet_extras_edit(fleet, worker);
	if (!extras) {
		log_error("cgroup worker %s: out of memory counting the exit of %u", worker->name,
			  event->tgid);
		return true;
	}
	extras->child_exits_by_class[state]++;
	if (exit.oom) {
		worker->child_oom_ns = now_ns;
		extras->child_oom_pid = event->tgid;
		text_clean(extras->child_oom_comm, sizeof(extras->child_oom_comm), proc->comm,
			   LP_COMM_LEN);
		log_warn("cgroup worker %s: the OOM killer killed %s[%u] inside it", worker->name,
			 extras->child_oom_comm, event->tgid);
	}
	fleet_touch_saved(fleet, worker);
	return true;
}
