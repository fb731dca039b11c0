// SPDX-License-Identifier: GPL-2.0
/* See loop.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bulk.h"
#include "clock.h"
#include "events.h"
#include "feed.h"
#include "hook.h"
#include "http.h"
#include "log.h"
#include "proc.h"
#include "loop.h"
#include "saver.h"
#include "state.h"
#include "systemd.h"

#define PUBLISH_MAX_DELAY_NS 50000000ull

static void on_ring_event(void *ctx, const void *data, size_t size)
{
	const struct lp_event_header *header = data;
	struct loop *loop = ctx;

	if (size < sizeof(*header))
		return;
	loop->status.events_received++;
	switch (header->kind) {
	case LP_EV_PROC_EXIT:
	case LP_EV_PROC_NEW: {
		/* A previous daemon's backlog may end before the fields appended since: zero. */
		struct lp_proc_event event = {};

		if (size < offsetof(struct lp_proc_event, cgroup_id))
			break;
		memcpy(&event, data, size < sizeof(event) ? size : sizeof(event));
		if (!cgwatch_on_event(&loop->cgroups, &loop->procs, &loop->fleet, &event,
				      clock_mono_ns()))
			procwatch_on_event(&loop->procs, &loop->fleet, &event, clock_mono_ns());
		break;
	}
	case LP_EV_CONN:
		if (size >= sizeof(struct lp_conn_event))
			sockwatch_on_event(&loop->sockets, &loop->fleet, data, clock_mono_ns());
		break;
	default:
		log_debug("ignoring ring-buffer event of kind %u", header->kind);
	}
}

static uint64_t save_state(struct loop *loop, uint64_t now_ns, bool force);
static void publish(struct loop *loop, uint64_t now_ns, bool force);
static void kernel_facts_first(void *ctx);

void loop_forget(struct loop *loop, struct worker *worker)
{
	sockwatch_forget(&loop->sockets, &loop->fleet, loop->probe, worker);
	procwatch_forget(&loop->procs, &loop->fleet, worker);
}

static void handle_command(void *ctx, struct cmd *cmd)
{
	struct loop *loop = ctx;
	struct worker *worker;

	switch (cmd->kind) {
	case CMD_ADD_WORKER:
		cmd->result = procwatch_register(&loop->procs, &loop->fleet, cmd->name, cmd->pid,
						 ORIGIN_API, &worker, cmd->error,
						 sizeof(cmd->error));
		if (!cmd->result) {
			if (cmd->expects_output >= 0)
				fleet_set_expects_output(&loop->fleet, worker, cmd->expects_output,
							 true);
			fleet_evaluate(&loop->fleet, worker, clock_mono_ns());
			snprintf(cmd->name, sizeof(cmd->name), "%s", worker->name);
			/* Durable before its 201: a daemon killed right after still knows it. */
			cmd->durable_after = save_state(loop, clock_mono_ns(), true);
		}
		return;
	case CMD_REPORTS: {
		uint64_t before = 0, after = 0;

		for (int reason = 1; reason < REPORT_ERR__COUNT; reason++)
			before += cmd->dropped[reason];
		/* Only authorised writers reach the loop (http.c checks before queueing). */
		struct ingest_sender writer = {.via = INGEST_HTTP,
					       .uid = INGEST_NO_UID,
					       .admin = true,
					       .received_ns = clock_mono_ns()};

		for (size_t i = 0; i < cmd->n_reports; i++)
			feed_apply(&loop->fleet, &loop->procs, &loop->sockets, &loop->cgroups,
				   &cmd->reports[i],
				   &writer, cmd->dropped);
		for (int reason = 1; reason < REPORT_ERR__COUNT; reason++) {
			loop->ingest.stats.dropped[reason] += cmd->dropped[reason];
			after += cmd->dropped[reason];
		}
		loop->ingest.stats.reports += cmd->n_reports;
		cmd->accepted = cmd->n_reports - (after - before);
		return;
	}
	case CMD_FORGET_WORKER:
		worker = fleet_find(&loop->fleet, cmd->name);
		if (!worker) {
			cmd->result = -ENOENT;
			snprintf(cmd->error, sizeof(cmd->error), "no such worker");
			return;
		}
		loop_forget(loop, worker);
		return;
	}
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

	procwatch_reconcile(&loop->procs, &loop->fleet, now_ns, kernel_facts_first, loop);
	sockwatch_reconcile(&loop->sockets, &loop->fleet, loop->probe, now_ns, kernel_facts_first,
			    loop);
	loop->status.conns = loop->sockets.stats;
	loop->status.pidfds_open = loop->procs.pidfds_open;
	loop->status.pidfds_max = loop->procs.pidfds_max;
	loop->status.pidfd_limit_total = loop->procs.pidfd_limit_total;
	loop->status.recovered_total = loop->procs.recovered_total;
	loop->status.proc_map_read_errors = loop->procs.read_errors;
	loop->status.n_progs = probe_prog_stats(loop->probe, loop->status.progs);
	loop->status.tcp_states_rescued = probe_tcp_states_rescued(loop->probe);
	/* The sysctl shows only what was written to it, not a BPF_ENABLE_STATS fd like ours. */
	loop->status.bpf_stats_enabled = loop->opts->bpf_stats || bpf_stats_on();

	/* Only drops counted before this pass are covered by it. */
	if (have_stats)
		loop->status.drops_reconciled = stats[LP_STAT_RINGBUF_DROPS];
	loop->status.reconciles_total++;
	loop->status.last_reconcile_ns = now_ns;
	loop->status_changed = true;
}

/* A saved worker: its process through procwatch, the peers its reports named through sockwatch. */
static void restore_worker(void *ctx, const struct state_worker *saved)
{
	struct loop *loop = ctx;
	uint64_t now_ns = clock_mono_ns();
	struct worker *worker = procwatch_restore(&loop->procs, &loop->fleet, saved, now_ns);

	for (int i = 0; worker && i < saved->n_peers; i++) {
		uint16_t family, port;
		uint8_t addr[16];
		uint32_t id = worker->id;

		if (!report_parse_endpoint(saved->peers[i], &family, addr, &port))
			sockwatch_bind_peer(&loop->sockets, &loop->fleet, family, addr, port,
					    worker, NULL, NULL, now_ns);
		worker = fleet_find_id(&loop->fleet, id);
	}
}

/* What a finished save means for the daemon's status: a failure is shown, and logged once. */
static void save_finished(struct loop *loop, int err)
{
	if (loop->status.save_error != err) {
		loop->status.save_error = err;
		loop->status_changed = true;
	}
	if (err) {
		if (!loop->save_failed)
			log_warn("cannot save state in %s: %s", loop->opts->state_dir,
				 strerror(-err));
		loop->save_failed = true;
		loop->saved_lifecycle = loop->fleet.lifecycle - 1; /* try again at the interval */
		return;
	}
	loop->save_failed = false;
}

/*
 * Saves what changed, at most once per STATE_INTERVAL_NS unless forced: on the saver's thread
 * from the published snapshot (a 10,000-worker fleet takes 30 ms to write), or here when it has
 * none (at exit). Published first, so the save shares the readers' copies instead of making
 * its own. Returns the save's number for saver_wait, 0 when it was written here or not at all.
 */
static uint64_t save_state(struct loop *loop, uint64_t now_ns, bool force)
{
	struct snapshot *snapshot;
	uint64_t sequence;

	/* A start that failed, or a daemon that never ran, writes nothing: the file stays as the
	 * last daemon that ran left it. */
	if (!loop->opts->state_dir[0] || !loop->probe || !loop->running)
		return 0;
	if (!force &&
	    (loop->fleet.lifecycle == loop->saved_lifecycle || now_ns < loop->next_save_ns))
		return 0;
	publish(loop, now_ns, true);
	snapshot = loop->published_generation == loop->fleet.generation
			   ? snapshot_acquire()
			   : snapshot_take(&loop->fleet, &loop->status, now_ns);
	if (!snapshot) {
		save_finished(loop, -ENOMEM);
		return 0;
	}
	loop->next_save_ns = now_ns + STATE_INTERVAL_NS;
	loop->saved_lifecycle = loop->fleet.lifecycle;
	loop->saved_next_id = loop->fleet.next_id;
	sequence = saver_request(snapshot, loop->sockets.bindings, loop->sockets.n_bindings,
				 events_last_id());
	if (sequence)
		return sequence;
	save_finished(loop, state_save(loop->opts->state_dir, snapshot, loop->sockets.bindings,
				       loop->sockets.n_bindings, events_last_id()));
	snapshot_release(snapshot);
	return 0;
}

/*
 * A worker that registered itself by a report has no 201 to wait for: it is durable once the
 * batch that created it is saved, one fsync per batch at most, so a daemon killed 50 ms later
 * still knows its full name (the kernel map keeps only 31 bytes of it).
 */
static void save_new_workers(struct loop *loop)
{
	if (loop->fleet.next_id != loop->saved_next_id && !loop->save_failed)
		save_state(loop, clock_mono_ns(), true);
}

/* Every transition goes to the SSE log and the --on-transition hook, and is counted. */
static void on_transition(void *ctx, const struct fleet_transition *transition)
{
	struct loop *loop = ctx;
	double at = clock_wall_s();

	/* Restoring replays states the previous daemon already announced: not again. */
	if (loop->restoring)
		return;
	if (fleet_state_is_ended(transition->to) || transition->to == WS_DISCONNECTED) {
		loop->status.exits_by_state[transition->to]++;
		/* A death is what readers wait for: published at the end of this turn, not after
		 * the throttle that keeps big fleets from copying themselves all the time. */
		loop->next_publish_ns = 0;
	}
	if (log_wants(LOG_LEVEL_INFO)) {
		const char *from = transition->from < WS__COUNT ? fleet_state_name(transition->from)
								 : "none";
		char reason[2 * FLEET_REASON_MAX + 3];

		/* One line per transition: words for people, a key=value tail for shippers. */
		log_info("worker %s %s -> %s: %s | event=transition worker=%s from=%s to=%s "
			 "reason=%s",
			 transition->worker, from, fleet_state_name(transition->to),
			 transition->reason, transition->worker, from,
			 fleet_state_name(transition->to),
			 log_value(reason, sizeof(reason), transition->reason));
	}
	events_publish(transition, at);
	hook_run(transition, at);
}

static void on_report(void *ctx, const struct report *report, const struct ingest_sender *sender)
{
	struct loop *loop = ctx;

	feed_apply(&loop->fleet, &loop->procs, &loop->sockets, &loop->cgroups, report, sender,
		   loop->ingest.stats.dropped);
}

/* How long an ended worker is kept: --forget-after, else 600 s for adopted ones, else ever. */
static uint64_t forget_after_ns(const struct loop *loop, const struct worker *worker)
{
	if (loop->opts->forget_after_s > 0)
		return loop->opts->forget_after_s * 1e9;
	if (worker->origin == ORIGIN_COMM || worker->origin == ORIGIN_CGROUP)
		return OPTS_DEFAULT_FORGET_ADOPTED_S * 1000000000ull;
	return 0;
}

static void forget_ended(struct loop *loop, uint64_t now_ns)
{
	for (size_t i = 0; i < loop->fleet.count;) {
		struct worker *worker = &loop->fleet.workers[i];
		uint64_t after = forget_after_ns(loop, worker);

		if (after && fleet_state_is_ended(worker->state) &&
		    now_ns - worker->state_since_ns >= after) {
			log_debug("forgetting %s: %s for %.0f s", worker->name,
				  fleet_state_name(worker->state),
				  (now_ns - worker->state_since_ns) / 1e9);
			loop_forget(loop, worker); /* workers move down: i stays */
			loop->status.forgotten_total++;
			loop->status_changed = true;
			continue;
		}
		i++;
	}
}

static void on_tick(struct loop *loop, uint64_t now_ns)
{
	/* WatchdogSec=: proof of life from the event loop itself, twice per period. */
	if (loop->watchdog_ns && now_ns >= loop->next_watchdog_ns) {
		systemd_notify("WATCHDOG=1");
		loop->next_watchdog_ns = now_ns + loop->watchdog_ns / 2;
	}
	uint64_t stats[LP_STAT__COUNT];

	/* Staleness is a matter of time passing: re-judge the workers whose deadline came (none:
	 * no pass at all), and every worker once every LOOP_FULL_SWEEP_TICKS as a safety net.
	 * Judging every worker on every tick took 19 % of a core idle at 100,000 workers. */
	fleet_evaluate_due(&loop->fleet, now_ns, ++loop->ticks % LOOP_FULL_SWEEP_TICKS == 0);
	/* Forgetting is a matter of minutes: once a second is on time, at a tenth of the cost. */
	if (loop->ticks % 10 == 0)
		forget_ended(loop, now_ns);
	save_state(loop, now_ns, false);
	hook_reap();
	{
		struct hook_stats hooks = hook_stats();

		if (hooks.started != loop->status.hooks_started ||
		    hooks.failed != loop->status.hooks_failed ||
		    hooks.merged != loop->status.hooks_merged ||
		    hooks.waiting != loop->status.hooks_waiting) {
			loop->status.hooks_started = hooks.started;
			loop->status.hooks_failed = hooks.failed;
			loop->status.hooks_merged = hooks.merged;
			loop->status.hooks_waiting = hooks.waiting;
			loop->status_changed = true;
		}
	}
	{
		struct ingest_stats ingest = loop->ingest.stats;

		for (int reason = 1; reason < REPORT_ERR__COUNT; reason++)
			ingest.dropped[reason] += atomic_load(&loop->commands.refused[reason]);
		if (memcmp(&loop->status.ingest, &ingest, sizeof(ingest))) {
			loop->status.ingest = ingest;
			loop->status_changed = true;
		}
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
static void publish(struct loop *loop, uint64_t now_ns, bool force)
{
	struct snapshot *snapshot;
	uint64_t took_ns;

	if (!publish_pending(loop) || (!force && now_ns < loop->next_publish_ns))
		return;
	snapshot = snapshot_take(&loop->fleet, &loop->status, now_ns);
	took_ns = clock_mono_ns() - now_ns;
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

/* A write's answer waits for a snapshot that holds its effect: read-your-writes. */
static void publish_now(void *ctx)
{
	struct loop *loop = ctx;

	publish(loop, clock_mono_ns(), true);
}

static int epoll_add(int epoll_fd, int fd, uint32_t tag)
{
	struct epoll_event event = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) ? -errno : 0;
}

enum {
	TAG_RINGBUF,
	TAG_SIGNAL,
	TAG_TIMER,
	TAG_COMMANDS,
	TAG_INGEST_UNIX,
	TAG_INGEST_UDP,
	TAG_SAVER,
};

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
		.watch_cgroups = opts->n_watch_cgroups > 0,
		.ports = opts->watch_ports,
		.n_ports = opts->n_watch_ports,
		.max_conns = opts->max_connections,
		.keepalive_idle_s = opts->keepalive_idle_s,
		.keepalive_intvl_s = opts->keepalive_intvl_s,
		.keepalive_cnt = opts->keepalive_cnt,
		.bpf_stats = opts->bpf_stats,
		.reset_pins = opts->reset_pins,
		.on_event = on_ring_event,
		.ctx = loop,
	};
	sigset_t signals;
	char err[160];
	int ret;

	bulk_is_loop(); /* the thread the bulk threads yield to */
	memset(loop, 0, sizeof(*loop));
	loop->opts = opts;
	loop->epoll_fd = loop->signal_fd = loop->timer_fd = loop->state_lock_fd = -1;
	loop->commands.wake_fd = -1;
	loop->sockets.diag_fd = -1;
	loop->ingest.unix_fd = loop->ingest.udp_fd = -1;
	loop->status.started_ns = clock_mono_ns();
	loop->status.max_workers = opts->max_workers;
	loop->status.max_connections = opts->max_connections;
	loop->published_generation = UINT64_MAX;
	loop->watchdog_ns = systemd_watchdog_usec() * 1000;

	ret = fleet_init(&loop->fleet, opts->max_workers, opts->max_connections);
	loop->fleet.policy.stale_after_s = opts->stale_after_s;
	loop->fleet.policy.start_grace_s = opts->start_grace_s;
	loop->fleet.crashloop_count = opts->crashloop_count;
	loop->fleet.crashloop_window_ns = opts->crashloop_window_s * 1e9;
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
	{
		struct rlimit nofile = {.rlim_cur = 1024};

		getrlimit(RLIMIT_NOFILE, &nofile);
		procwatch_init(&loop->procs, loop->probe, (const char(*)[16])opts->watch_comms,
			       opts->n_watch_comms,
			       procwatch_pidfd_budget(nofile.rlim_cur, proc_count_open_fds(),
						      opts->http_connections +
							      HTTP_CONTROL_CONNECTIONS_RESERVE +
							      HTTP_BODY_FDS_MAX));
	}
	loop->status.attached = true;
	loop->status.start_mode = probe_start_mode(loop->probe);

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
		/* A cgroup's process may speak for it: its pidfd says where it was. */
		if (opts->n_watch_cgroups)
			ingest_want_pidfds(&loop->ingest);
		ret = epoll_add(loop->epoll_fd, loop->ingest.unix_fd, TAG_INGEST_UNIX);
		if (!ret && loop->ingest.udp_fd >= 0)
			ret = epoll_add(loop->epoll_fd, loop->ingest.udp_fd, TAG_INGEST_UDP);
		if (ret) {
			log_error("cannot set up the event loop: %s", strerror(-ret));
			return ret;
		}
	}

	if (opts->state_dir[0]) {
		struct state_header header = {};

		ret = state_prepare(opts->state_dir, &loop->state_lock_fd);
		loop->restoring = true;
		if (!ret)
			ret = state_load(opts->state_dir, restore_worker, loop, &header, err,
					 sizeof(err));
		loop->restoring = false;
		/* Event ids go on from the last daemon's, so a resumed stream misses nothing. */
		events_continue_after(header.last_event_id);
		if (header.saved_at && probe_start_mode(loop->probe) == PROBE_TOOK_OVER)
			loop->status.gap_s = clock_wall_s() - header.saved_at;
		if (ret) {
			if (ret == -EINVAL)
				log_error("--state-dir: %s", err);
			return ret;
		}
	}
	if (probe_start_mode(loop->probe) == PROBE_TOOK_OVER)
		procwatch_adopt_orphans(&loop->procs, &loop->fleet, clock_mono_ns());
	ret = cgwatch_start(&loop->cgroups, loop->probe, &loop->procs, &loop->fleet, opts,
			    clock_mono_ns());
	if (ret)
		return ret;
	for (int i = 0; i < opts->n_watch_pids; i++) {
		const struct opts_watch_pid *watch = &opts->watch_pids[i];

		struct worker *worker;

		ret = procwatch_claim(&loop->procs, &loop->fleet, watch->name, watch->pid, err,
				      sizeof(err));
		if (ret) {
			log_error("--watch-pid %s%s%d: %s", watch->name, watch->name[0] ? "=" : "",
				  watch->pid, err);
			return ret;
		}
		worker = fleet_find_live_pid(&loop->fleet, watch->pid);
		if (worker && watch->expects_output) {
			fleet_set_expects_output(&loop->fleet, worker, true, true);
			fleet_evaluate(&loop->fleet, worker, clock_mono_ns());
		}
	}
	loop_reconcile(loop, clock_mono_ns());
	loop->next_reconcile_ns = clock_mono_ns() + opts->reconcile_ms * 1000000ull;
	publish(loop, clock_mono_ns(), false);
	return 0;
}

/*
 * Between two datagrams of a flood (a turn of ingest may hold thousands of reports), or two
 * batches of a reconcile pass over thousands of connections: the kernel's facts first, and a
 * death among them published at once.
 */
static void kernel_facts_first(void *ctx)
{
	struct loop *loop = ctx;

	if (probe_consume(loop->probe) > 0)
		publish(loop, clock_mono_ns(), false);
}

void loop_poll_once(struct loop *loop, int timeout_ms)
{
	struct epoll_event events[8];
	int n = epoll_wait(loop->epoll_fd, events, 8, timeout_ms);

	/* Kernel facts first, whatever woke us: a death must not queue behind a report flood, and
	 * is published before any slower work of this turn (a save, a sweep). */
	if (n > 0 && probe_consume(loop->probe) > 0)
		publish(loop, clock_mono_ns(), false);
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
				on_tick(loop, clock_mono_ns());
			break;
		}
		case TAG_COMMANDS:
			cmdq_drain(&loop->commands, handle_command, publish_now, loop);
			save_new_workers(loop);
			break;
		case TAG_INGEST_UNIX:
			ingest_drain(&loop->ingest, loop->ingest.unix_fd, on_report,
				     kernel_facts_first, loop);
			save_new_workers(loop);
			break;
		case TAG_INGEST_UDP:
			ingest_drain(&loop->ingest, loop->ingest.udp_fd, on_report,
				     kernel_facts_first, loop);
			break;
		case TAG_SAVER:
			save_finished(loop, saver_collect());
			break;
		}
	}
	publish(loop, clock_mono_ns(), false);
}

int loop_run(struct loop *loop)
{
	/* Here, not at init: the sandbox is in place now, and a thread made before it would not
	 * be filtered. Without a saver, saves are written on this thread. */
	if (loop->opts->state_dir[0]) {
		int err = saver_start(loop->opts->state_dir);

		if (!err) {
			err = epoll_add(loop->epoll_fd, saver_fd(), TAG_SAVER);
			if (err)
				saver_stop();
		}
		if (err)
			log_warn("state saves run on the event loop: cannot start the saver: %s",
				 strerror(-err));
	}
	loop->running = true;
	while (!loop->stopping) {
		int timeout_ms = -1;

		if (publish_pending(loop)) {
			uint64_t now_ns = clock_mono_ns();

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
	if (loop->running && loop->probe)
		log_info("stopped; the probe keeps recording under %s (liveprobed --unload removes it)",
			 loop->opts->pin_root);
	/* The last save is written here, after the saver's pending one. */
	saver_stop();
	save_state(loop, clock_mono_ns(), true);
	cmdq_stop(&loop->commands);
	procwatch_destroy(&loop->procs, &loop->fleet);
	{
		/* A start that failed leaves nothing attached, unless it took over pins that still
		 * hold a previous daemon's facts. */
		bool drop = loop->probe && !loop->running &&
			    probe_start_mode(loop->probe) != PROBE_TOOK_OVER;

		probe_stop(loop->probe);
		if (drop)
			probe_unload(loop->opts->pin_root);
	}
	loop->probe = NULL;
	sockwatch_destroy(&loop->sockets);
	ingest_close(&loop->ingest);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	if (loop->signal_fd >= 0)
		close(loop->signal_fd);
	if (loop->timer_fd >= 0)
		close(loop->timer_fd);
	if (loop->state_lock_fd >= 0)
		close(loop->state_lock_fd);
	cmdq_destroy(&loop->commands);
	snapshot_forget(); /* the HTTP threads and the saver are stopped */
	fleet_free(&loop->fleet);
}
