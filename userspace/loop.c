// SPDX-License-Identifier: GPL-2.0
/* See loop.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "events.h"
#include "feed.h"
#include "hook.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "proc.h"
#include "render.h"
#include "sockdiag.h"
#include "state.h"

#define PUBLISH_MAX_DELAY_NS 50000000ull

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
		memcpy(exit->killer_comm, proc->killer_comm, sizeof(exit->killer_comm));
		exit->killer_comm[sizeof(exit->killer_comm) - 1] = '\0';
	}
}

static void close_pidfd(struct worker *worker)
{
	if (worker->pidfd >= 0) {
		close(worker->pidfd);
		worker->pidfd = -1;
	}
}

static void record_exit(struct loop *loop, struct worker *worker, const struct lp_proc *proc,
			uint64_t now_ns)
{
	struct worker_exit exit;
	enum worker_state state;

	exit_from_proc(proc, &exit, &state);
	fleet_apply_exit(&loop->fleet, worker, &exit, state, now_ns);
	close_pidfd(worker);
	probe_unwatch(loop->probe, worker->pid, worker->start_ticks);
	log_debug("worker %s: %s (%s)", worker->name, fleet_state_name(worker->state),
		  worker->reason);
}

/* A process the kernel adopted by comm: name it COMM-PID, or COMM-PID.N if that is taken. */
static struct worker *adopt_process(struct loop *loop, uint32_t tgid, const struct lp_proc *proc,
				    uint64_t now_ns)
{
	char comm[LP_COMM_LEN + 1] = {};
	char name[FLEET_NAME_MAX + 1];
	struct worker *worker = NULL;
	int err = -EEXIST;

	memcpy(comm, proc->comm, LP_COMM_LEN);
	for (int attempt = 1; err == -EEXIST && attempt < 100; attempt++) {
		if (attempt == 1)
			snprintf(name, sizeof(name), "%s-%u", comm, tgid);
		else
			snprintf(name, sizeof(name), "%s-%u.%d", comm, tgid, attempt);
		err = fleet_add(&loop->fleet, name, tgid, proc->start_ticks, comm, ORIGIN_COMM,
				now_ns, &worker);
	}
	if (err == -EINVAL) {
		/* The comm has characters a name may not; fall back to the pid alone. */
		snprintf(name, sizeof(name), "pid-%u", tgid);
		err = fleet_add(&loop->fleet, name, tgid, proc->start_ticks, comm, ORIGIN_COMM,
				now_ns, &worker);
	}
	if (err) {
		log_warn("cannot adopt %s[%u]: %s", comm, tgid, strerror(-err));
		probe_unwatch(loop->probe, tgid, proc->start_ticks);
		return NULL;
	}
	worker->pidfd = proc_pidfd_open(tgid);
	log_debug("adopted %s by comm", worker->name);
	return worker;
}

static void on_proc_event(struct loop *loop, const struct lp_proc_event *event, uint64_t now_ns)
{
	struct worker *worker =
		fleet_find_process(&loop->fleet, event->tgid, event->proc.start_ticks);

	if (!worker && (event->proc.flags & LP_PROC_ADOPTED))
		worker = adopt_process(loop, event->tgid, &event->proc, now_ns);
	if (!worker)
		return; /* forgotten while the event was in flight */
	if (event->header.kind == LP_EV_PROC_EXIT)
		record_exit(loop, worker, &event->proc, now_ns);
}

static void on_ring_event(void *ctx, const void *data, size_t size)
{
	const struct lp_event_header *header = data;
	struct loop *loop = ctx;

	if (size < sizeof(*header))
		return;
	loop->status.events_received++;
	switch (header->kind) {
	case LP_EV_PROC_EXIT:
	case LP_EV_PROC_NEW:
		if (size >= sizeof(struct lp_proc_event))
			on_proc_event(loop, data, http_now_ns());
		break;
	case LP_EV_CONN:
		if (size >= sizeof(struct lp_conn_event))
			sockwatch_on_event(&loop->sockets, &loop->fleet, data, http_now_ns());
		break;
	default:
		log_debug("ignoring ring-buffer event of kind %u", header->kind);
	}
}

/*
 * Opens a pidfd on pid (which pins what /proc says about it) and reads its identity; a zombie
 * or a vanished process is -ESRCH. On success the caller owns *pidfd.
 */
static int open_process(int64_t pid, struct proc_identity *id, int *pidfd, char *err,
			size_t err_len)
{
	int ret;

	*pidfd = proc_pidfd_open(pid);
	if (*pidfd < 0 && errno == ESRCH) {
		snprintf(err, err_len, "no process with pid %lld", (long long)pid);
		return -ESRCH;
	}
	if (*pidfd < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot open pid %lld: %s", (long long)pid, strerror(errno));
		return ret == -EMFILE || ret == -ENFILE ? -ENOSPC : ret;
	}
	ret = proc_read_identity(pid, id);
	if (ret || id->state == 'Z' || proc_pidfd_exited(*pidfd)) {
		snprintf(err, err_len, "process %lld has already exited", (long long)pid);
		close(*pidfd);
		*pidfd = -1;
		return -ESRCH;
	}
	return 0;
}

/* Puts an opened process under a worker, in the kernel map first. */
static int watch_process(struct loop *loop, struct worker *worker, int64_t pid,
			 const struct proc_identity *id, int pidfd, char *err, size_t err_len)
{
	struct lp_proc proc = {};
	int ret;

	proc.start_ticks = id->start_ticks;
	memcpy(proc.comm, id->comm, sizeof(proc.comm));
	snprintf(proc.name, sizeof(proc.name), "%.*s", (int)sizeof(proc.name) - 1, worker->name);
	ret = probe_watch(loop->probe, pid, &proc);
	if (ret) {
		snprintf(err, err_len, "cannot watch pid %lld in the kernel: %s", (long long)pid,
			 strerror(-ret));
		return ret;
	}
	/* Died between the checks and the map insert: the kernel could not have seen it. */
	if (proc_pidfd_exited(pidfd) && probe_lookup(loop->probe, pid, &proc) == 0 &&
	    !(proc.flags & LP_PROC_EXITED)) {
		snprintf(err, err_len, "process %lld exited during registration", (long long)pid);
		probe_unwatch(loop->probe, pid, id->start_ticks);
		return -ESRCH;
	}
	worker->pid = pid;
	worker->start_ticks = id->start_ticks;
	snprintf(worker->comm, sizeof(worker->comm), "%s", id->comm);
	worker->pidfd = pidfd;
	fleet_index_pid(&loop->fleet, worker);
	loop->fleet.generation++;
	return 0;
}

int loop_register(struct loop *loop, const char *name, int64_t pid, enum worker_origin origin,
		  struct worker **out, char *err, size_t err_len)
{
	struct proc_identity id;
	struct worker *worker;
	char default_name[FLEET_NAME_MAX + 1];
	int pidfd, ret;

	if (name[0] && !opts_valid_worker_name(name)) {
		snprintf(err, err_len, "worker name must be 1..63 letters, digits and ._-:@[]+");
		return -EINVAL;
	}
	if (name[0] && fleet_find(&loop->fleet, name)) {
		snprintf(err, err_len, "a worker named %s exists already", name);
		return -EEXIST;
	}
	ret = open_process(pid, &id, &pidfd, err, err_len);
	if (ret)
		return ret;
	worker = fleet_find_process(&loop->fleet, pid, id.start_ticks);
	if (worker && !worker->has_exit) {
		snprintf(err, err_len, "process %lld is already watched as %s", (long long)pid,
			 worker->name);
		ret = -EEXIST;
		goto cleanup;
	}
	if (!name[0]) {
		snprintf(default_name, sizeof(default_name), "%s-%lld", id.comm, (long long)pid);
		if (!opts_valid_worker_name(default_name))
			snprintf(default_name, sizeof(default_name), "pid-%lld", (long long)pid);
		name = default_name;
	}
	ret = fleet_add(&loop->fleet, name, 0, 0, id.comm, origin, http_now_ns(), &worker);
	if (ret) {
		if (ret == -EEXIST)
			snprintf(err, err_len, "a worker named %s exists already", name);
		else if (ret == -ENOSPC)
			snprintf(err, err_len, "worker limit reached (--max-workers %zu)",
				 loop->fleet.capacity);
		else
			snprintf(err, err_len,
				 "worker name must be 1..63 letters, digits and ._-:@[]+");
		goto cleanup;
	}
	ret = watch_process(loop, worker, pid, &id, pidfd, err, err_len);
	if (ret) {
		fleet_remove(&loop->fleet, name);
		goto cleanup;
	}
	log_debug("watching %s (pid %lld)", name, (long long)pid);
	if (out)
		*out = worker;
	return 0;

cleanup:
	close(pidfd);
	return ret;
}

int loop_rebind(struct loop *loop, struct worker *worker, int64_t pid, char *err, size_t err_len)
{
	struct proc_identity id;
	struct worker *other;
	int pidfd, ret;

	ret = open_process(pid, &id, &pidfd, err, err_len);
	if (ret)
		return ret;
	other = fleet_find_process(&loop->fleet, pid, id.start_ticks);
	if (other && other != worker && !other->has_exit) {
		snprintf(err, err_len, "process %lld is already watched as %s", (long long)pid,
			 other->name);
		close(pidfd);
		return -EEXIST;
	}
	if (worker->pid && !worker->has_exit)
		probe_unwatch(loop->probe, worker->pid, worker->start_ticks);
	fleet_unindex_pid(&loop->fleet, worker);
	close_pidfd(worker);
	ret = watch_process(loop, worker, pid, &id, pidfd, err, err_len);
	if (ret) {
		close(pidfd);
		return ret;
	}
	/* A new incarnation: the old death stays in the log of transitions, not in the facts. */
	worker->has_exit = false;
	memset(&worker->exit, 0, sizeof(worker->exit));
	worker->registered_ns = http_now_ns();
	log_debug("worker %s now watches pid %lld", worker->name, (long long)pid);
	return 0;
}

static int http_status_of(int err)
{
	switch (err) {
	case 0:
		return 201;
	case -EEXIST:
		return 409;
	case -ENOSPC:
		return 503;
	default:
		return 400;
	}
}

static void handle_command(void *ctx, struct cmd *cmd)
{
	struct loop *loop = ctx;
	char err[160];
	int ret;

	switch (cmd->kind) {
	case CMD_ADD_WORKER: {
		struct worker *worker;

		ret = loop_register(loop, cmd->name, cmd->pid, ORIGIN_API, &worker, err,
				    sizeof(err));
		cmd->http_status = http_status_of(ret);
		if (ret) {
			cmd->body = render_error(err);
			return;
		}
		{
			struct render_view view = {.now_ns = http_now_ns(),
						   .policy = loop->fleet.policy};

			cmd->body = render_worker(worker, NULL, &view);
		}
		return;
	}
	case CMD_REPORTS: {
		uint64_t parse_dropped = 0, dropped = 0;

		for (int reason = 1; reason < REPORT_ERR__COUNT; reason++)
			parse_dropped += cmd->dropped[reason];
		for (size_t i = 0; i < cmd->n_reports; i++)
			feed_apply(loop, &cmd->reports[i], 0, INGEST_HTTP, cmd->dropped);
		for (int reason = 1; reason < REPORT_ERR__COUNT; reason++) {
			loop->ingest.stats.dropped[reason] += cmd->dropped[reason];
			dropped += cmd->dropped[reason];
		}
		loop->ingest.stats.reports += cmd->n_reports;
		cmd->http_status = 200;
		cmd->body = render_batch_answer(cmd->n_reports - (dropped - parse_dropped),
						cmd->dropped);
		return;
	}
	case CMD_FORGET_WORKER: {
		struct worker *worker = fleet_find(&loop->fleet, cmd->name);

		if (!worker) {
			cmd->http_status = 404;
			cmd->body = render_error("no such worker");
			return;
		}
		if (worker->pid && !worker->has_exit)
			probe_unwatch(loop->probe, worker->pid, worker->start_ticks);
		close_pidfd(worker);
		sockwatch_forget(&loop->sockets, &loop->fleet, loop->probe, worker);
		fleet_remove(&loop->fleet, cmd->name);
		cmd->http_status = 200;
		cmd->body = strdup("{\"forgotten\":true}");
		return;
	}
	}
}

/* Adopt what the kernel adopted while its event was dropped. */
static void reconcile_adopted(struct loop *loop, uint64_t now_ns)
{
	uint32_t tgid, *prev = NULL;
	struct lp_proc proc;

	while (probe_next_proc(loop->probe, prev, &tgid) == 0) {
		prev = &tgid;
		if (probe_lookup(loop->probe, tgid, &proc) || !(proc.flags & LP_PROC_ADOPTED))
			continue;
		if (!fleet_find_process(&loop->fleet, tgid, proc.start_ticks))
			adopt_process(loop, tgid, &proc, now_ns);
	}
}

static void adopt_running(pid_t pid, const struct proc_identity *id, void *ctx)
{
	struct loop *loop = ctx;
	struct worker *worker = fleet_find_process(&loop->fleet, pid, id->start_ticks);
	char err[160];

	if (worker || pid == getpid())
		return;
	if (loop_register(loop, "", pid, ORIGIN_COMM, NULL, err, sizeof(err)))
		log_debug("comm scan: %s", err);
}

static bool bpf_stats_on(void)
{
	FILE *file = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	int value = 0;

	if (file) {
		if (fscanf(file, "%d", &value) != 1)
			value = 0;
		fclose(file);
	}
	return value != 0;
}

void loop_reconcile(struct loop *loop, uint64_t now_ns)
{
	uint64_t stats[LP_STAT__COUNT];
	bool have_stats = probe_read_stats(loop->probe, stats) == 0;

	if (loop->opts->n_watch_comms)
		reconcile_adopted(loop, now_ns);
	for (size_t i = 0; i < loop->fleet.count; i++) {
		struct worker *worker = &loop->fleet.workers[i];
		struct lp_proc proc;

		if (!worker->pid || worker->has_exit)
			continue;
		if (probe_lookup(loop->probe, worker->pid, &proc) == 0 &&
		    proc.start_ticks == worker->start_ticks && (proc.flags & LP_PROC_EXITED)) {
			log_debug("reconcile: %s exited while its event was lost", worker->name);
			record_exit(loop, worker, &proc, now_ns);
		} else if (worker->pidfd >= 0 && proc_pidfd_exited(worker->pidfd)) {
			struct worker_exit exit = {.code = -1, .at_ns = now_ns};

			/* Gone, and the kernel never recorded how: say so, in red. */
			fleet_apply_exit(&loop->fleet, worker, &exit, WS_UNKNOWN, now_ns);
			close_pidfd(worker);
			probe_unwatch(loop->probe, worker->pid, worker->start_ticks);
		}
	}
	for (int i = 0; i < loop->opts->n_watch_comms; i++)
		proc_for_each_with_comm(loop->opts->watch_comms[i], adopt_running, loop);
	sockwatch_reconcile(&loop->sockets, &loop->fleet, loop->probe, now_ns);
	loop->status.conns = loop->sockets.stats;
	loop->status.n_progs = probe_prog_stats(loop->probe, loop->status.progs);
	/* The sysctl shows only what was written to it, not a BPF_ENABLE_STATS fd like ours. */
	loop->status.bpf_stats_enabled = loop->opts->bpf_stats || bpf_stats_on();

	/* Only drops counted before this pass are covered by it. */
	if (have_stats)
		loop->status.drops_reconciled = stats[LP_STAT_RINGBUF_DROPS];
	loop->status.reconciles_total++;
	loop->status.last_reconcile_ns = now_ns;
	loop->status_changed = true;
}

/* One saved worker comes back, never greener than the evidence allows. */
static void restore_worker(void *ctx, const struct state_worker *saved)
{
	struct worker_exit unobserved = {.code = -1};
	struct loop *loop = ctx;
	uint64_t now_ns = http_now_ns();
	struct proc_identity id;
	struct worker *worker;
	char err[160];
	int pidfd;

	if (fleet_add(&loop->fleet, saved->name, 0, 0, saved->comm, saved->origin, now_ns,
		      &worker)) {
		if (loop->restore_failures++ == 0)
			log_warn("state: cannot restore worker %s (and maybe more): over "
				 "--max-workers "
				 "%zu, or a duplicate name",
				 saved->name, loop->fleet.capacity);
		return;
	}
	worker->output.episodes_total = saved->episodes_total;
	worker->output.heartbeats_total = saved->heartbeats_total;
	worker->bye = saved->bye;
	for (int i = 0; i < saved->n_peers; i++) {
		uint16_t family, port;
		uint8_t addr[16];

		if (!report_parse_endpoint(saved->peers[i], &family, addr, &port))
			sockwatch_bind_peer(&loop->sockets, &loop->fleet, family, addr, port,
					    worker, now_ns);
	}
	worker = fleet_find(&loop->fleet, saved->name);
	if (saved->has_exit) {
		worker->pid = saved->pid;
		worker->start_ticks = saved->start_ticks;
		worker->has_exit = true;
		worker->exit = saved->exit;
		fleet_set_state(&loop->fleet, worker, saved->state, saved->reason, now_ns);
		return;
	}
	if (saved->pid) {
		if (open_process(saved->pid, &id, &pidfd, err, sizeof(err)) == 0 &&
		    id.start_ticks == saved->start_ticks &&
		    watch_process(loop, worker, saved->pid, &id, pidfd, err, sizeof(err)) == 0)
			return; /* the same process: watched again, amber until it reports */
		if (pidfd >= 0 && worker->pidfd != pidfd)
			close(pidfd);
		unobserved.at_ns = now_ns;
		worker->pid = saved->pid;
		worker->start_ticks = saved->start_ticks;
		fleet_apply_exit(&loop->fleet, worker, &unobserved, WS_UNKNOWN, now_ns);
		fleet_set_state(&loop->fleet, worker, WS_UNKNOWN,
				"gone while the daemon was down; exit status not observed", now_ns);
		return;
	}
	worker->awaiting_evidence = true;
	fleet_set_state(&loop->fleet, worker, WS_UNKNOWN, "not seen since the daemon restarted",
			now_ns);
}

static void save_state(struct loop *loop, uint64_t now_ns, bool force)
{
	int err;

	if (!loop->opts->state_dir[0] || !loop->probe)
		return;
	if (!force &&
	    (loop->fleet.lifecycle == loop->saved_lifecycle || now_ns < loop->next_save_ns))
		return;
	err = state_save(loop->opts->state_dir, &loop->fleet, &loop->sockets);
	loop->next_save_ns = now_ns + STATE_INTERVAL_NS;
	if (err) {
		if (!loop->save_failed)
			log_warn("cannot save state in %s: %s", loop->opts->state_dir,
				 strerror(-err));
		loop->save_failed = true;
		return;
	}
	loop->save_failed = false;
	loop->saved_lifecycle = loop->fleet.lifecycle;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every transition goes to the SSE log and the --on-transition hook, and is counted. */
static void on_transition(void *ctx, const struct fleet_transition *transition)
{
	struct loop *loop = ctx;
	double at = wall_now();

	if (fleet_state_is_dead(transition->to) || transition->to == WS_DISCONNECTED)
		loop->status.exits_by_state[transition->to]++;
	events_publish(transition, at);
	hook_run(transition, at);
}

static void on_report(void *ctx, const struct report *report, pid_t sender, enum ingest_via via)
{
	struct loop *loop = ctx;

	feed_apply(loop, report, sender, via, loop->ingest.stats.dropped);
}

static void on_tick(struct loop *loop, uint64_t now_ns)
{
	uint64_t stats[LP_STAT__COUNT];

	/* Staleness is a matter of time passing: re-judge every live worker. */
	for (size_t i = 0; i < loop->fleet.count; i++)
		fleet_evaluate(&loop->fleet, &loop->fleet.workers[i], now_ns);
	save_state(loop, now_ns, false);
	hook_reap();
	{
		struct hook_stats hooks = hook_stats();

		if (hooks.started != loop->status.hooks_started ||
		    hooks.failed != loop->status.hooks_failed ||
		    hooks.skipped != loop->status.hooks_skipped) {
			loop->status.hooks_started = hooks.started;
			loop->status.hooks_failed = hooks.failed;
			loop->status.hooks_skipped = hooks.skipped;
			loop->status_changed = true;
		}
	}
	if (memcmp(&loop->status.ingest, &loop->ingest.stats, sizeof(loop->ingest.stats))) {
		loop->status.ingest = loop->ingest.stats;
		loop->status_changed = true;
	}

	if (probe_read_stats(loop->probe, stats) == 0) {
		if (memcmp(stats, loop->status.stats, sizeof(stats)))
			loop->status_changed = true;
		memcpy(loop->status.stats, stats, sizeof(stats));
	}
	if (loop->status.stats[LP_STAT_RINGBUF_DROPS] > loop->status.drops_reconciled ||
	    now_ns >= loop->next_reconcile_ns) {
		/* Events already in the ring buffer are not lost: apply them first. */
		probe_consume(loop->probe);
		loop_reconcile(loop, now_ns);
		loop->next_reconcile_ns = now_ns + loop->opts->reconcile_ms * 1000000ull;
	}
}

static bool publish_pending(const struct loop *loop)
{
	return loop->published_generation != loop->fleet.generation || loop->status_changed;
}

/*
 * A copy costs time in proportion to the fleet; under an event storm a large fleet would spend
 * all of it copying. So the next copy waits ten times as long as the last one took: immediate
 * for a small fleet, a few milliseconds of extra latency for a huge one, never a busy loop.
 */
static void publish(struct loop *loop, uint64_t now_ns)
{
	struct snapshot *snapshot;
	uint64_t took_ns;

	if (!publish_pending(loop) || now_ns < loop->next_publish_ns)
		return;
	snapshot = snapshot_take(&loop->fleet, &loop->status, now_ns);
	took_ns = http_now_ns() - now_ns;
	loop->next_publish_ns =
		now_ns +
		(took_ns * 10 < PUBLISH_MAX_DELAY_NS ? took_ns * 10 : PUBLISH_MAX_DELAY_NS);
	if (!snapshot) {
		log_warn("out of memory publishing a snapshot; readers see the previous one");
		return;
	}
	snapshot_publish(snapshot);
	loop->published_generation = loop->fleet.generation;
	loop->status_changed = false;
}

static int epoll_add(int epoll_fd, int fd, uint32_t tag)
{
	struct epoll_event event = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) ? -errno : 0;
}

enum { TAG_RINGBUF, TAG_SIGNAL, TAG_TIMER, TAG_COMMANDS, TAG_INGEST_UNIX, TAG_INGEST_UDP };

int loop_init(struct loop *loop, const struct opts *opts)
{
	struct itimerspec tick = {
		.it_interval = {.tv_nsec = LOOP_TICK_MS * 1000000L},
		.it_value = {.tv_nsec = LOOP_TICK_MS * 1000000L},
	};
	struct probe_config config = {
		.pin_root = opts->pin_root,
		.ringbuf_bytes = opts->ringbuf_bytes,
		.max_procs = opts->max_workers,
		.comms = (const char(*)[16])opts->watch_comms,
		.n_comms = opts->n_watch_comms,
		.ports = opts->watch_ports,
		.n_ports = opts->n_watch_ports,
		.max_conns = opts->max_connections,
		.keepalive_idle_s = opts->keepalive_idle_s,
		.keepalive_intvl_s = opts->keepalive_intvl_s,
		.keepalive_cnt = opts->keepalive_cnt,
		.bpf_stats = opts->bpf_stats,
		.on_event = on_ring_event,
		.ctx = loop,
	};
	sigset_t signals;
	char err[160];
	int ret;

	memset(loop, 0, sizeof(*loop));
	loop->opts = opts;
	loop->epoll_fd = loop->signal_fd = loop->timer_fd = -1;
	loop->commands.wake_fd = -1;
	loop->sockets.diag_fd = -1;
	loop->ingest.unix_fd = loop->ingest.udp_fd = -1;
	loop->status.started_ns = http_now_ns();
	loop->status.max_workers = opts->max_workers;
	loop->status.max_connections = opts->max_connections;
	loop->published_generation = UINT64_MAX;

	ret = fleet_init(&loop->fleet, opts->max_workers, opts->max_connections);
	loop->fleet.policy.stale_after_s = opts->stale_after_s;
	loop->fleet.policy.start_grace_s = opts->start_grace_s;
	loop->status.policy = loop->fleet.policy;
	loop->status.expected_workers = opts->expected_workers;
	loop->fleet.on_transition = on_transition;
	loop->fleet.ctx = loop;
	if (!ret)
		ret = cmdq_init(&loop->commands);
	if (ret) {
		log_error("cannot allocate state for %u workers: %s", opts->max_workers,
			  strerror(-ret));
		return ret;
	}
	ret = sockwatch_init(&loop->sockets, opts->watch_ports, opts->n_watch_ports,
			     opts->group_by_peer_ip, opts->all_netns, opts->max_connections);
	if (ret)
		return ret;
	config.netns_cookie = opts->all_netns ? 0 : loop->sockets.netns_cookie;
	ret = probe_start(&config, &loop->probe);
	if (ret)
		return ret;
	loop->status.attached = true;

	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	sigprocmask(SIG_BLOCK, &signals, NULL);
	loop->signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	loop->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->signal_fd < 0 || loop->timer_fd < 0 || loop->epoll_fd < 0 ||
	    timerfd_settime(loop->timer_fd, 0, &tick, NULL)) {
		ret = -errno;
		log_error("cannot set up the event loop: %s", strerror(errno));
		return ret;
	}
	ret = epoll_add(loop->epoll_fd, probe_epoll_fd(loop->probe), TAG_RINGBUF);
	if (!ret)
		ret = epoll_add(loop->epoll_fd, loop->signal_fd, TAG_SIGNAL);
	if (!ret)
		ret = epoll_add(loop->epoll_fd, loop->timer_fd, TAG_TIMER);
	if (!ret)
		ret = epoll_add(loop->epoll_fd, loop->commands.wake_fd, TAG_COMMANDS);
	if (ret) {
		log_error("cannot set up the event loop: %s", strerror(-ret));
		return ret;
	}
	if (opts->ingest_path[0]) {
		ret = ingest_open(&loop->ingest, opts->ingest_path, opts->ingest_group,
				  opts->ingest_udp_host, opts->ingest_udp_port);
		if (ret)
			return ret;
		ret = epoll_add(loop->epoll_fd, loop->ingest.unix_fd, TAG_INGEST_UNIX);
		if (!ret && loop->ingest.udp_fd >= 0)
			ret = epoll_add(loop->epoll_fd, loop->ingest.udp_fd, TAG_INGEST_UDP);
		if (ret) {
			log_error("cannot set up the event loop: %s", strerror(-ret));
			return ret;
		}
	}

	if (opts->state_dir[0]) {
		ret = state_prepare(opts->state_dir);
		if (!ret)
			ret = state_load(opts->state_dir, restore_worker, loop, err, sizeof(err));
		if (ret) {
			if (ret == -EINVAL)
				log_error("--state-dir: %s", err);
			return ret;
		}
	}
	for (int i = 0; i < opts->n_watch_pids; i++) {
		const struct opts_watch_pid *watch = &opts->watch_pids[i];
		struct worker *known =
			watch->name[0] ? fleet_find(&loop->fleet, watch->name) : NULL;

		/* A worker known from before the restart takes its (new) process back. */
		if (known && (known->pid == (uint32_t)watch->pid || !known->pid || known->has_exit))
			ret = known->pid == (uint32_t)watch->pid && !known->has_exit
				      ? 0
				      : loop_rebind(loop, known, watch->pid, err, sizeof(err));
		else
			ret = loop_register(loop, watch->name, watch->pid, ORIGIN_FLAG, NULL, err,
					    sizeof(err));
		if (ret) {
			log_error("--watch-pid %s%s%d: %s", watch->name, watch->name[0] ? "=" : "",
				  watch->pid, err);
			return ret;
		}
	}
	loop_reconcile(loop, http_now_ns());
	loop->next_reconcile_ns = http_now_ns() + opts->reconcile_ms * 1000000ull;
	publish(loop, http_now_ns());
	return 0;
}

void loop_poll_once(struct loop *loop, int timeout_ms)
{
	struct epoll_event events[8];
	int n = epoll_wait(loop->epoll_fd, events, 8, timeout_ms);

	for (int i = 0; i < n; i++) {
		switch (events[i].data.u32) {
		case TAG_RINGBUF:
			probe_consume(loop->probe);
			break;
		case TAG_SIGNAL: {
			struct signalfd_siginfo info;

			if (read(loop->signal_fd, &info, sizeof(info)) == sizeof(info))
				loop->stopping = true;
			break;
		}
		case TAG_TIMER: {
			uint64_t expirations;

			if (read(loop->timer_fd, &expirations, sizeof(expirations)) > 0)
				on_tick(loop, http_now_ns());
			break;
		}
		case TAG_COMMANDS:
			cmdq_drain(&loop->commands, handle_command, loop);
			break;
		case TAG_INGEST_UNIX:
			ingest_drain(&loop->ingest, loop->ingest.unix_fd, on_report, loop);
			break;
		case TAG_INGEST_UDP:
			ingest_drain(&loop->ingest, loop->ingest.udp_fd, on_report, loop);
			break;
		}
	}
	publish(loop, http_now_ns());
}

int loop_run(struct loop *loop)
{
	while (!loop->stopping) {
		int timeout_ms = -1;

		if (publish_pending(loop)) {
			uint64_t now_ns = http_now_ns();

			timeout_ms = loop->next_publish_ns > now_ns
					     ? (int)((loop->next_publish_ns - now_ns) / 1000000 + 1)
					     : 0;
		}
		loop_poll_once(loop, timeout_ms);
	}
	return 0;
}

void loop_destroy(struct loop *loop)
{
	save_state(loop, http_now_ns(), true);
	cmdq_stop(&loop->commands);
	for (size_t i = 0; i < loop->fleet.count; i++)
		close_pidfd(&loop->fleet.workers[i]);
	probe_stop(loop->probe);
	loop->probe = NULL;
	sockwatch_destroy(&loop->sockets);
	ingest_close(&loop->ingest);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	if (loop->signal_fd >= 0)
		close(loop->signal_fd);
	if (loop->timer_fd >= 0)
		close(loop->timer_fd);
	cmdq_destroy(&loop->commands);
	fleet_free(&loop->fleet);
}
