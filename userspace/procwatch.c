// SPDX-License-Identifier: GPL-2.0
/* See procwatch.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "probe.h"
#include "proc.h"
#include "procwatch.h"
#include "state.h"
#include "text.h"

size_t procwatch_pidfd_budget(uint64_t nofile_limit, uint64_t open_now, uint64_t connections)
{
	uint64_t reserve = nofile_limit / 4;

	reserve = reserve < 64 ? 64 : reserve > 512 ? 512 : reserve;
	/* Connections take what they are allowed, but never more than half: under a low limit
	 * the processes watched matter more than the clients served. */
	reserve += connections < nofile_limit / 2 ? connections : nofile_limit / 2;
	return nofile_limit > open_now + reserve ? nofile_limit - open_now - reserve : 0;
}

void procwatch_init(struct procwatch *watch, struct probe *probe, const char (*comms)[16],
		    int n_comms, size_t max_pidfds)
{
	memset(watch, 0, sizeof(*watch));
	watch->probe = probe;
	watch->comms = comms;
	watch->n_comms = n_comms;
	watch->pidfds_max = max_pidfds;
}

/* A pidfd within the budget; -1 with errno EMFILE past it. */
static int open_pidfd(struct procwatch *watch, pid_t pid)
{
	int fd;

	if (watch->pidfds_open >= watch->pidfds_max) {
		watch->pidfd_limit_total++;
		errno = EMFILE;
		return -1;
	}
	fd = proc_pidfd_open(pid);
	if (fd >= 0)
		watch->pidfds_open++;
	else if (errno == EMFILE || errno == ENFILE)
		watch->pidfd_limit_total++;
	return fd;
}

static void release_pidfd(struct procwatch *watch, int fd)
{
	if (fd < 0)
		return;
	close(fd);
	watch->pidfds_open--;
}

static void close_pidfd(struct procwatch *watch, struct worker *worker)
{
	release_pidfd(watch, worker->pidfd);
	worker->pidfd = -1;
}

void procwatch_destroy(struct procwatch *watch, struct fleet *fleet)
{
	for (size_t i = 0; i < fleet->count; i++)
		close_pidfd(watch, &fleet->workers[i]);
}

static void exit_from_proc(const struct lp_proc *proc, struct worker_exit *exit,
			   enum worker_state *state)
{
	memset(exit, 0, sizeof(*exit));
	*state = fleet_classify_exit(proc->exit_code, proc->flags & LP_PROC_OOM, exit);
	exit->at_ns = proc->exit_ns;
	if (proc->flags & LP_PROC_SIGNALED) {
		exit->has_killer = true;
		exit->killer_pid = proc->killer_pid;
		exit->kill_signal = proc->kill_signal;
		text_clean(exit->killer_comm, sizeof(exit->killer_comm), proc->killer_comm,
			   sizeof(proc->killer_comm));
	}
}

/* The process is gone: the fleet gets its death, the kernel forgets the entry. */
static void end_process(struct procwatch *watch, struct fleet *fleet, struct worker *worker,
			const struct worker_exit *exit, enum worker_state state, uint64_t now_ns)
{
	fleet_apply_exit(fleet, worker, exit, state, now_ns);
	close_pidfd(watch, worker);
	probe_unwatch(watch->probe, worker->pid, worker->start_ticks);
	log_debug("worker %s: %s (%s)", worker->name, fleet_state_name(worker->state),
		  worker->reason);
}

static void record_exit(struct procwatch *watch, struct fleet *fleet, struct worker *worker,
			const struct lp_proc *proc, uint64_t now_ns)
{
	struct worker_exit exit;
	enum worker_state state;

	exit_from_proc(proc, &exit, &state);
	end_process(watch, fleet, worker, &exit, state, now_ns);
}

/* A process the kernel adopted by comm: name it COMM-PID, or COMM-PID.N if that is taken. */
static struct worker *adopt_process(struct procwatch *watch, struct fleet *fleet, uint32_t tgid,
				    const struct lp_proc *proc, uint64_t now_ns)
{
	char comm[LP_COMM_LEN + 1] = {};
	char name[WORKER_NAME_MAX + 1];
	struct worker *worker = NULL;
	int err = -EEXIST;

	text_clean(comm, sizeof(comm), proc->comm, LP_COMM_LEN);
	for (int attempt = 1; err == -EEXIST && attempt < 100; attempt++) {
		if (attempt == 1)
			snprintf(name, sizeof(name), "%s-%u", comm, tgid);
		else
			snprintf(name, sizeof(name), "%s-%u.%d", comm, tgid, attempt);
		err = fleet_add(fleet, name, tgid, proc->start_ticks, comm, ORIGIN_COMM, now_ns,
				&worker);
	}
	if (err == -EINVAL) {
		/* The comm has characters a name may not; fall back to the pid alone. */
		snprintf(name, sizeof(name), "pid-%u", tgid);
		err = fleet_add(fleet, name, tgid, proc->start_ticks, comm, ORIGIN_COMM, now_ns,
				&worker);
	}
	if (err) {
		log_warn("cannot adopt %s[%u]: %s", comm, tgid, strerror(-err));
		probe_unwatch(watch->probe, tgid, proc->start_ticks);
		return NULL;
	}
	/* Past the pidfd budget the kernel map alone watches it: no fact is lost, only the
	 * second witness. */
	fleet_bind_process(fleet, worker, tgid, proc->start_ticks, comm, open_pidfd(watch, tgid),
			   now_ns);
	fleet_set_owner(fleet, worker, AUTHORITY_ADMIN, proc_read_uid(tgid));
	log_debug("adopted %s by comm", worker->name);
	return worker;
}

void procwatch_on_event(struct procwatch *watch, struct fleet *fleet,
			const struct lp_proc_event *event, uint64_t now_ns)
{
	struct worker *worker = fleet_find_process(fleet, event->tgid, event->proc.start_ticks);

	if (!worker && (event->proc.flags & LP_PROC_ADOPTED))
		worker = adopt_process(watch, fleet, event->tgid, &event->proc, now_ns);
	if (!worker)
		return; /* forgotten while the event was in flight */
	if (event->header.kind == LP_EV_PROC_EXIT)
		record_exit(watch, fleet, worker, &event->proc, now_ns);
}

/*
 * Opens a pidfd on pid (which pins what /proc says about it) and reads its identity; a zombie
 * or a vanished process is -ESRCH. On success the caller owns *pidfd.
 */
static int limit_error(struct procwatch *watch, int64_t pid, char *err, size_t err_len)
{
	if (errno != EMFILE || watch->pidfds_open < watch->pidfds_max)
		watch->pidfd_limit_total++; /* the kernel's limit, not our budget (counted there) */
	snprintf(err, err_len,
		 "cannot watch pid %lld: open-file limit reached (%zu pidfds open, RLIMIT_NOFILE "
		 "leaves %zu); raise LimitNOFILE",
		 (long long)pid, watch->pidfds_open, watch->pidfds_max);
	return -ENOSPC;
}

/*
 * Opens a pidfd on pid (which pins what /proc says about it) and reads its identity; a zombie
 * or a vanished process is -ESRCH, and running out of descriptors is a limit (-ENOSPC), never
 * a dead process. On success the caller owns *pidfd.
 */
static int open_process(struct procwatch *watch, int64_t pid, struct proc_identity *id,
			int *pidfd, char *err, size_t err_len)
{
	int ret;

	*pidfd = open_pidfd(watch, pid);
	if (*pidfd < 0 && errno == ESRCH) {
		snprintf(err, err_len, "no process with pid %lld", (long long)pid);
		return -ESRCH;
	}
	if (*pidfd < 0 && (errno == EMFILE || errno == ENFILE))
		return limit_error(watch, pid, err, err_len);
	if (*pidfd < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot open pid %lld: %s", (long long)pid, strerror(errno));
		return ret;
	}
	/* The pidfd, not the leader's state: a leader that called pthread_exit is a zombie in
	 * /proc while its process lives on in other threads. */
	ret = proc_read_identity(pid, id);
	if (ret == -EMFILE || ret == -ENFILE) {
		release_pidfd(watch, *pidfd);
		*pidfd = -1;
		return limit_error(watch, pid, err, err_len);
	}
	if (ret || proc_pidfd_exited(*pidfd)) {
		snprintf(err, err_len, "process %lld has already exited", (long long)pid);
		release_pidfd(watch, *pidfd);
		*pidfd = -1;
		return -ESRCH;
	}
	return 0;
}

/* Puts an opened process under a worker, in the kernel map first; on success owns pidfd. */
static int watch_process(struct procwatch *watch, struct fleet *fleet, struct worker *worker,
			 int64_t pid, const struct proc_identity *id, int pidfd, char *err,
			 size_t err_len)
{
	struct lp_proc proc = {};
	int ret = 0;

	/* Taken over from a previous daemon: its entry already holds what the kernel saw. */
	if (probe_lookup(watch->probe, pid, &proc) == 0 && proc.start_ticks == id->start_ticks)
		goto watched;
	memset(&proc, 0, sizeof(proc));
	proc.start_ticks = id->start_ticks;
	memcpy(proc.comm, id->comm, sizeof(proc.comm));
	snprintf(proc.name, sizeof(proc.name), "%.*s", (int)sizeof(proc.name) - 1, worker->name);
	ret = probe_watch(watch->probe, pid, &proc);
watched:
	if (ret) {
		snprintf(err, err_len, "cannot watch pid %lld in the kernel: %s", (long long)pid,
			 strerror(-ret));
		return ret;
	}
	/* Died between the checks and the map insert: the kernel could not have seen it. */
	if (proc_pidfd_exited(pidfd) && probe_lookup(watch->probe, pid, &proc) == 0 &&
	    !(proc.flags & LP_PROC_EXITED)) {
		snprintf(err, err_len, "process %lld exited during registration", (long long)pid);
		probe_unwatch(watch->probe, pid, id->start_ticks);
		return -ESRCH;
	}
	fleet_bind_process(fleet, worker, pid, id->start_ticks, id->comm, pidfd, clock_mono_ns());
	/* A worker an admin named is spoken for by its process's own uid (its reports, its bye). */
	if (worker->authority == AUTHORITY_ADMIN)
		fleet_set_owner(fleet, worker, AUTHORITY_ADMIN, proc_read_uid(pid));
	return 0;
}

static void set_name_error(struct fleet *fleet, int ret, const char *name, char *err,
			   size_t err_len)
{
	if (ret == -EEXIST)
		snprintf(err, err_len, "a worker named %s exists already", name);
	else if (ret == -ENOSPC)
		snprintf(err, err_len, "worker limit reached (--max-workers %zu)", fleet->capacity);
	else
		snprintf(err, err_len, WORKER_NAME_RULE);
}

int procwatch_register(struct procwatch *watch, struct fleet *fleet, const char *name, int64_t pid,
		       enum worker_origin origin, struct worker **out, char *err, size_t err_len)
{
	struct proc_identity id;
	struct worker *worker;
	char default_name[WORKER_NAME_MAX + 1];
	int pidfd, ret;

	if (name[0] && !worker_name_valid(name)) {
		set_name_error(fleet, -EINVAL, name, err, err_len);
		return -EINVAL;
	}
	if (name[0] && fleet_find(fleet, name)) {
		set_name_error(fleet, -EEXIST, name, err, err_len);
		return -EEXIST;
	}
	ret = open_process(watch, pid, &id, &pidfd, err, err_len);
	if (ret)
		return ret;
	worker = fleet_find_process(fleet, pid, id.start_ticks);
	if (worker && !worker->has_exit) {
		snprintf(err, err_len, "process %lld is already watched as %s", (long long)pid,
			 worker->name);
		ret = -EEXIST;
		goto cleanup;
	}
	if (!name[0]) {
		snprintf(default_name, sizeof(default_name), "%s-%lld", id.comm, (long long)pid);
		if (!worker_name_valid(default_name))
			snprintf(default_name, sizeof(default_name), "pid-%lld", (long long)pid);
		name = default_name;
	}
	ret = fleet_add(fleet, name, 0, 0, id.comm, origin, clock_mono_ns(), &worker);
	if (ret) {
		set_name_error(fleet, ret, name, err, err_len);
		goto cleanup;
	}
	ret = watch_process(watch, fleet, worker, pid, &id, pidfd, err, err_len);
	if (ret) {
		fleet_remove(fleet, worker);
		goto cleanup;
	}
	log_debug("watching %s (pid %lld)", name, (long long)pid);
	if (out)
		*out = worker;
	return 0;

cleanup:
	release_pidfd(watch, pidfd);
	return ret;
}

int procwatch_rebind(struct procwatch *watch, struct fleet *fleet, struct worker *worker,
		     int64_t pid, char *err, size_t err_len)
{
	struct proc_identity id;
	struct worker *other;
	int pidfd, ret;

	ret = open_process(watch, pid, &id, &pidfd, err, err_len);
	if (ret)
		return ret;
	other = fleet_find_process(fleet, pid, id.start_ticks);
	if (other && other != worker && !other->has_exit) {
		snprintf(err, err_len, "process %lld is already watched as %s", (long long)pid,
			 other->name);
		release_pidfd(watch, pidfd);
		return -EEXIST;
	}
	if (worker->pid && !worker->has_exit)
		probe_unwatch(watch->probe, worker->pid, worker->start_ticks);
	fleet_unindex_pid(fleet, worker);
	close_pidfd(watch, worker);
	ret = watch_process(watch, fleet, worker, pid, &id, pidfd, err, err_len);
	if (ret) {
		release_pidfd(watch, pidfd);
		return ret;
	}
	log_debug("worker %s now watches pid %lld", worker->name, (long long)pid);
	return 0;
}

int procwatch_claim(struct procwatch *watch, struct fleet *fleet, const char *name, int64_t pid,
		    char *err, size_t err_len)
{
	struct worker *known = name[0] ? fleet_find(fleet, name) : NULL;

	if (!known || (known->pid != (uint32_t)pid && known->pid && !known->has_exit))
		return procwatch_register(watch, fleet, name, pid, ORIGIN_FLAG, NULL, err,
					  err_len);
	if (known->pid == (uint32_t)pid && !known->has_exit)
		return 0; /* the same process, watched again by the restore */
	return procwatch_rebind(watch, fleet, known, pid, err, err_len);
}

/* Pidfds polled per system call, and processes a /proc scan reads between two between() calls. */
#define RECONCILE_BATCH 256

/*
 * One read of lp_procs, a batch a system call: the processes the kernel adopted while their
 * event was dropped, and the deaths it recorded whose event was lost.
 */
static void reconcile_kernel(struct procwatch *watch, struct fleet *fleet, uint64_t now_ns,
			     void (*between)(void *ctx), void *ctx)
{
	uint32_t tgids[PROBE_READ_BATCH];
	struct lp_proc procs[PROBE_READ_BATCH];
	struct probe_cursor cursor = {0};
	int n;

	while ((n = probe_proc_read(watch->probe, &cursor, tgids, procs, PROBE_READ_BATCH)) > 0) {
		for (int i = 0; i < n; i++) {
			struct worker *worker =
				fleet_find_process(fleet, tgids[i], procs[i].start_ticks);

			if (!worker && watch->n_comms && (procs[i].flags & LP_PROC_ADOPTED))
				worker = adopt_process(watch, fleet, tgids[i], &procs[i], now_ns);
			if (worker && !worker->has_exit && (procs[i].flags & LP_PROC_EXITED)) {
				log_debug("reconcile: %s exited while its event was lost",
					  worker->name);
				record_exit(watch, fleet, worker, &procs[i], now_ns);
			}
		}
		if (between)
			between(ctx);
	}
	if (n < 0 && watch->read_errors++ == 0)
		log_warn("cannot read lp_procs: %s; pidfds alone repair lost exits", strerror(-n));
}

/*
 * Deaths only a pidfd saw, with one poll for up to 256 workers. The kernel records an exit
 * before it makes the pidfd readable, so a readable one is looked up in lp_procs once more:
 * only a death the kernel did not record is `unknown`.
 */
static void reconcile_pidfds(struct procwatch *watch, struct fleet *fleet, uint64_t now_ns,
			     void (*between)(void *ctx), void *ctx)
{
	struct pollfd polled[RECONCILE_BATCH];
	uint32_t ids[RECONCILE_BATCH];

	for (size_t next = 0; next < fleet->count;) {
		int n = 0;

		for (; next < fleet->count && n < RECONCILE_BATCH; next++) {
			const struct worker *worker = &fleet->workers[next];

			if (!worker->pid || worker->has_exit || worker->pidfd < 0)
				continue;
			polled[n] = (struct pollfd){.fd = worker->pidfd, .events = POLLIN};
			ids[n++] = worker->id;
		}
		if (n && poll(polled, n, 0) > 0) {
			for (int i = 0; i < n; i++) {
				struct worker *worker = fleet_find_id(fleet, ids[i]);
				struct worker_exit exit = {.code = -1, .at_ns = now_ns};
				struct lp_proc proc;

				if (!(polled[i].revents & (POLLIN | POLLHUP)) || !worker ||
				    worker->has_exit || worker->pidfd != polled[i].fd)
					continue;
				if (probe_lookup(watch->probe, worker->pid, &proc) == 0 &&
				    proc.start_ticks == worker->start_ticks &&
				    (proc.flags & LP_PROC_EXITED)) {
					record_exit(watch, fleet, worker, &proc, now_ns);
					continue;
				}
				/* Gone, and the kernel never recorded how: say so, in red. */
				end_process(watch, fleet, worker, &exit, WS_UNKNOWN, now_ns);
			}
		}
		if (between && next < fleet->count)
			between(ctx);
	}
}

struct comm_scan {
	struct procwatch *watch;
	struct fleet *fleet;
	void (*between)(void *ctx);
	void *ctx;
	unsigned int seen;
};

static bool comm_watched(const struct procwatch *watch, const char *comm)
{
	for (int i = 0; i < watch->n_comms; i++)
		if (!strncmp(watch->comms[i], comm, 16))
			return true;
	return false;
}

/* A running process with a watched comm that no worker holds yet (started before the daemon,
 * or renamed since its exec). A process the fleet watches costs no system call. */
static void scan_process(pid_t pid, void *arg)
{
	struct comm_scan *scan = arg;
	struct proc_identity id;
	char comm[16], err[160];

	if (pid != getpid() && !fleet_find_live_pid(scan->fleet, pid) &&
	    proc_read_comm(pid, comm) == 0 && comm_watched(scan->watch, comm) &&
	    proc_read_identity(pid, &id) == 0 && id.state != 'Z' &&
	    comm_watched(scan->watch, id.comm) &&
	    !fleet_find_process(scan->fleet, pid, id.start_ticks) &&
	    procwatch_register(scan->watch, scan->fleet, "", pid, ORIGIN_COMM, NULL, err,
			       sizeof(err)))
		log_debug("comm scan: %s", err);
	if (scan->between && ++scan->seen % RECONCILE_BATCH == 0)
		scan->between(scan->ctx);
}

void procwatch_reconcile(struct procwatch *watch, struct fleet *fleet, uint64_t now_ns,
			 void (*between)(void *ctx), void *ctx)
{
	struct comm_scan scan = {watch, fleet, between, ctx, 0};

	reconcile_kernel(watch, fleet, now_ns, between, ctx);
	reconcile_pidfds(watch, fleet, now_ns, between, ctx);
	if (watch->n_comms)
		proc_for_each(scan_process, &scan);
}

static bool child_exits(const struct state_worker *saved)
{
	for (int state = 0; state < WS__COUNT; state++)
		if (saved->child_exits_by_class[state])
			return true;
	return false;
}

struct worker *procwatch_restore(struct procwatch *watch, struct fleet *fleet,
				 const struct state_worker *saved, uint64_t now_ns)
{
	struct worker_exit unobserved = {.code = -1, .at_ns = now_ns};
	struct proc_identity id;
	struct worker *worker;
	char err[160];
	int pidfd;

	if (fleet_add(fleet, saved->name, 0, 0, saved->comm, saved->origin, now_ns, &worker)) {
		if (watch->restore_failures++ == 0)
			log_warn("state: cannot restore worker %s (and maybe more): over "
				 "--max-workers %zu, or a duplicate name",
				 saved->name, fleet->capacity);
		return NULL;
	}
	fleet_set_owner(fleet, worker, saved->authority, saved->owner_uid);
	worker->output.episodes_total = saved->episodes_total;
	worker->output.heartbeats_total = saved->heartbeats_total;
	fleet_set_bye(fleet, worker, saved->bye);
	worker->expects_output = saved->expects_output;
	worker->expects_output_set = saved->expects_output_set;
	worker->restarts_total = saved->restarts_total;
	memcpy(worker->exits_by_class, saved->exits_by_class, sizeof(worker->exits_by_class));
	if (saved->has_last_exit || saved->crashloop_left_s > 0 || child_exits(saved)) {
		struct worker_extras *extras = fleet_extras_edit(fleet, worker);

		if (!extras) {
			fleet_remove(fleet, worker);
			log_error("state: out of memory restoring worker %s", saved->name);
			return NULL;
		}
		memcpy(extras->child_exits_by_class, saved->child_exits_by_class,
		       sizeof(extras->child_exits_by_class));
		extras->has_last_exit = saved->has_last_exit;
		extras->last_exit = saved->last_exit;
		extras->last_exit_state = saved->last_exit_state;
		if (saved->crashloop_left_s > 0) {
			worker->crashloop_until_ns =
				now_ns + (uint64_t)(saved->crashloop_left_s * 1e9);
			memcpy(extras->crashloop_reason, saved->crashloop_reason,
			       sizeof(extras->crashloop_reason));
		}
	}
	fleet_touch(fleet, worker);
	if (saved->has_exit) {
		worker->pid = saved->pid;
		worker->start_ticks = saved->start_ticks;
		worker->has_exit = true;
		worker->exit = saved->exit;
		fleet_touch(fleet, worker);
		fleet_set_state(fleet, worker, saved->state, saved->reason, now_ns);
		return worker;
	}
	if (saved->pid) {
		struct lp_proc proc;

		/* Died while no daemon ran, and the kernel, still watching, recorded how: bound to
		 * its dead process, the first reconciliation applies the exact facts as a new
		 * transition (the restore itself fires none). */
		if (probe_lookup(watch->probe, saved->pid, &proc) == 0 &&
		    proc.start_ticks == saved->start_ticks && (proc.flags & LP_PROC_EXITED)) {
			fleet_bind_process(fleet, worker, saved->pid, saved->start_ticks,
					   saved->comm, -1, now_ns);
			watch->recovered_total++;
			return worker;
		}
		if (open_process(watch, saved->pid, &id, &pidfd, err, sizeof(err)) == 0) {
			if (id.start_ticks == saved->start_ticks &&
			    watch_process(watch, fleet, worker, saved->pid, &id, pidfd, err,
					  sizeof(err)) == 0)
				return worker; /* the same process: watched again, amber until it
						  reports */
			release_pidfd(watch, pidfd);
		}
		worker->pid = saved->pid;
		worker->start_ticks = saved->start_ticks;
		fleet_touch(fleet, worker);
		fleet_apply_exit(fleet, worker, &unobserved, WS_UNKNOWN, now_ns);
		fleet_set_state(fleet, worker, WS_UNKNOWN,
				"gone while the daemon was down; exit status not observed", now_ns);
		return worker;
	}
	worker->awaiting_evidence = true;
	fleet_touch(fleet, worker);
	fleet_set_state(fleet, worker, WS_UNKNOWN, "not seen since the daemon restarted", now_ns);
	return worker;
}

/* An lp_procs entry no worker stands for: registered after the last save, or its save lost. */
static void adopt_orphan(struct procwatch *watch, struct fleet *fleet, uint32_t tgid,
			 const struct lp_proc *proc, uint64_t now_ns)
{
	char name[LP_NAME_LEN + 1] = {};
	struct worker *worker;
	char comm[LP_COMM_LEN + 1];
	int err;

	memcpy(name, proc->name, LP_NAME_LEN);
	text_clean(comm, sizeof(comm), proc->comm, LP_COMM_LEN);
	if (!worker_name_valid(name) || fleet_find(fleet, name))
		snprintf(name, sizeof(name), "pid-%u", tgid);
	err = fleet_add(fleet, name, 0, 0, comm, ORIGIN_API, now_ns, &worker);
	if (err) {
		/* Never silently: the kernel's record of it is given up here. */
		log_warn("cannot take over %s (pid %u) from the kernel map: %s", name, tgid,
			 err == -ENOSPC ? "over --max-workers" : strerror(-err));
		probe_unwatch(watch->probe, tgid, proc->start_ticks);
		return;
	}
	log_info("took over %s (pid %u) from the kernel map: registered after the last save", name,
		 tgid);
	/* A dead one's exact facts come with the first reconciliation; one that dies after this
	 * read is seen by its pidfd, and lp_procs is read again for its facts. */
	fleet_bind_process(fleet, worker, tgid, proc->start_ticks, comm,
			   proc->flags & LP_PROC_EXITED ? -1 : open_pidfd(watch, tgid), now_ns);
	if (proc->flags & LP_PROC_EXITED)
		watch->recovered_total++;
	else
		fleet_set_owner(fleet, worker, AUTHORITY_ADMIN, proc_read_uid(tgid));
}

void procwatch_adopt_orphans(struct procwatch *watch, struct fleet *fleet, uint64_t now_ns)
{
	uint32_t tgids[PROBE_READ_BATCH];
	struct lp_proc procs[PROBE_READ_BATCH];
	struct probe_cursor cursor = {0};
	int n;

	/* One read of the map, a batch a system call: the cursor is a hash bucket, so the entries
	 * an adoption failure deletes do not restart the walk. */
	while ((n = probe_proc_read(watch->probe, &cursor, tgids, procs, PROBE_READ_BATCH)) > 0)
		for (int i = 0; i < n; i++)
			if (!(procs[i].flags & (LP_PROC_ADOPTED | LP_PROC_CGROUP)) &&
			    !fleet_find_process(fleet, tgids[i], procs[i].start_ticks))
				adopt_orphan(watch, fleet, tgids[i], &procs[i], now_ns);
	if (n < 0 && watch->read_errors++ == 0)
		log_warn("cannot read lp_procs to take over its processes: %s", strerror(-n));
}

void procwatch_forget(struct procwatch *watch, struct fleet *fleet, struct worker *worker)
{
	if (worker->pid && !worker->has_exit)
		probe_unwatch(watch->probe, worker->pid, worker->start_ticks);
	close_pidfd(watch, worker);
	fleet_remove(fleet, worker);
}
