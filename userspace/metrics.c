// SPDX-License-Identifier: GPL-2.0
/* See metrics.h. open_memstream collects the text; each family is written whole, in order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <sys/utsname.h>

#include "bulk.h"
#include "metrics.h"
#include "version.h"

struct out {
	FILE *file;
};

static void family(struct out *out, const char *name, const char *type, const char *help)
{
	fprintf(out->file, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct out *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sample(struct out *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(out->file, fmt, ap);
	va_end(ap);
	fputc('\n', out->file);
	bulk_pause();
}

static const char *const health_names[] = {"green", "amber", "red", "grey"};

/* A counter family with one uint64_t of struct output per worker. */
static void per_worker_counter(struct out *out, const struct snapshot *snapshot, const char *name,
			       const char *help, size_t field)
{
	family(out, name, "counter", help);
	for (size_t i = 0; i < snapshot->count; i++) {
		const char *output = (const char *)&snapshot->workers[i]->output;
		uint64_t value;

		memcpy(&value, output + field, sizeof(value));
		sample(out, "%s{worker=\"%s\"} %llu", name, snapshot->workers[i]->name,
		       (unsigned long long)value);
	}
}

/* Now on the wall clock, as Prometheus compares timestamps with time(). */
static double wall_s(const struct render_view *view)
{
	return view->now_real_s + view->wall_step_s;
}

static double age_s(uint64_t since_ns, uint64_t now_ns)
{
	return now_ns > since_ns ? (now_ns - since_ns) / 1e9 : 0;
}

static void worker_families(struct out *out, const struct snapshot *snapshot,
			    const struct render_view *view, enum worker_state *states)
{
	family(out, "liveprobe_worker_state", "gauge",
	       "1 for the state each worker is in, 0 for the others.");
	for (size_t i = 0; i < snapshot->count; i++)
		for (int state = 0; state < WS__COUNT; state++)
			sample(out, "liveprobe_worker_state{worker=\"%s\",state=\"%s\"} %d",
			       snapshot->workers[i]->name, fleet_state_name(state),
			       states[i] == (enum worker_state)state);
	family(out, "liveprobe_worker_health", "gauge",
	       "1 for each worker's health (green, amber, red, grey), 0 for the others.");
	for (size_t i = 0; i < snapshot->count; i++) {
		enum worker_health health =
			fleet_worker_health(snapshot->workers[i], states[i], view->now_ns);

		for (int level = HEALTH_GREEN; level <= HEALTH_GREY; level++)
			sample(out, "liveprobe_worker_health{worker=\"%s\",health=\"%s\"} %d",
			       snapshot->workers[i]->name, health_names[level],
			       health == (enum worker_health)level);
	}
	family(out, "liveprobe_worker_crashlooping", "gauge",
	       "1 while the worker is crash-looping (--crash-loop COUNT,SECONDS).");
	for (size_t i = 0; i < snapshot->count; i++)
		sample(out, "liveprobe_worker_crashlooping{worker=\"%s\"} %d",
		       snapshot->workers[i]->name,
		       fleet_crashlooping(snapshot->workers[i], view->now_ns));
	family(out, "liveprobe_worker_restarts_total", "counter",
	       "Times the worker came back in a new process after its process ended.");
	for (size_t i = 0; i < snapshot->count; i++)
		sample(out, "liveprobe_worker_restarts_total{worker=\"%s\"} %u",
		       snapshot->workers[i]->name, snapshot->workers[i]->restarts_total);
	family(out, "liveprobe_worker_exits_total", "counter",
	       "How the worker's processes ended, by class (exited, crashed, killed, unknown, "
	       "stopped).");
	for (size_t i = 0; i < snapshot->count; i++)
		for (int state = 0; state < WS__COUNT; state++)
			if (fleet_state_is_exit_class(state))
				sample(out,
				       "liveprobe_worker_exits_total{worker=\"%s\",class=\"%s\"} %u",
				       snapshot->workers[i]->name, fleet_state_name(state),
				       snapshot->workers[i]->exits_by_class[state]);
	per_worker_counter(out, snapshot, "liveprobe_worker_episodes_total",
			   "Episodes the worker reported (its count= summed).",
			   offsetof(struct output, episodes_total));
	per_worker_counter(out, snapshot, "liveprobe_worker_heartbeats_total",
			   "sd_notify WATCHDOG=1 heartbeats the worker sent.",
			   offsetof(struct output, heartbeats_total));
	family(out, "liveprobe_worker_episodes_per_minute", "gauge",
	       "Episodes completed in the last minute by event time; 0 unless working.");
	for (size_t i = 0; i < snapshot->count; i++)
		sample(out, "liveprobe_worker_episodes_per_minute{worker=\"%s\"} %.3f",
		       snapshot->workers[i]->name,
		       render_worker_rate(snapshot->workers[i], states[i], view));
	family(out, "liveprobe_worker_last_output_timestamp_seconds", "gauge",
	       "When the worker's last episode or heartbeat arrived, Unix seconds (absent before "
	       "the first).");
	for (size_t i = 0; i < snapshot->count; i++) {
		double age = output_age(&snapshot->workers[i]->output, view->now_ns);

		if (age >= 0)
			sample(out,
			       "liveprobe_worker_last_output_timestamp_seconds{worker=\"%s\"} %.3f",
			       snapshot->workers[i]->name, wall_s(view) - age);
	}
	family(out, "liveprobe_worker_state_since_timestamp_seconds", "gauge",
	       "When the worker entered its current state, Unix seconds.");
	for (size_t i = 0; i < snapshot->count; i++)
		sample(out, "liveprobe_worker_state_since_timestamp_seconds{worker=\"%s\"} %.3f",
		       snapshot->workers[i]->name,
		       wall_s(view) - age_s(snapshot->workers[i]->state_since_ns, view->now_ns));
	family(out, "liveprobe_worker_exit_info", "gauge",
	       "1 for each ended worker, its last exit's facts as labels (code, signal, class), "
	       "so an alert can say why it died.");
	for (size_t i = 0; i < snapshot->count; i++) {
		const struct worker *worker = snapshot->workers[i];
		const char *signal_name = fleet_signal_name(worker->exit.signal);
		char code[16] = "";

		if (!worker->has_exit)
			continue;
		if (worker->exit.status_known && worker->exit.signal == 0)
			snprintf(code, sizeof(code), "%d", worker->exit.code);
		sample(out,
		       "liveprobe_worker_exit_info{worker=\"%s\",code=\"%s\",signal=\"%s\","
		       "class=\"%s\",oom=\"%s\"} 1",
		       worker->name, code, worker->exit.signal && signal_name ? signal_name : "",
		       fleet_state_name(worker->state), worker->exit.oom ? "true" : "false");
	}
	family(out, "liveprobe_worker_stale_after_seconds", "gauge",
	       "Silence after which the worker is stale (adaptive to its rhythm, or fixed).");
	for (size_t i = 0; i < snapshot->count; i++)
		sample(out, "liveprobe_worker_stale_after_seconds{worker=\"%s\"} %.3f",
		       snapshot->workers[i]->name,
		       output_stale_after(&snapshot->workers[i]->output, &view->policy));
	family(out, "liveprobe_worker_connections", "gauge",
	       "The worker's TCP connections by state: alive, suspect, dead.");
	for (size_t i = 0; i < snapshot->count; i++) {
		const struct worker *worker = snapshot->workers[i];
		uint32_t suspect = worker->n_conns_suspect, dead = worker->n_conns_dead;

		sample(out, "liveprobe_worker_connections{worker=\"%s\",state=\"alive\"} %u",
		       worker->name, worker->n_conns - suspect - dead);
		sample(out, "liveprobe_worker_connections{worker=\"%s\",state=\"suspect\"} %u",
		       worker->name, suspect);
		sample(out, "liveprobe_worker_connections{worker=\"%s\",state=\"dead\"} %u",
		       worker->name, dead);
	}
}

static void host_families(struct out *out, const struct snapshot *snapshot,
			  const struct render_view *view)
{
	const struct daemon_status *probe = &snapshot->status;
	size_t per_state[WS__COUNT] = {0}, producing, alive = 0, suspect = 0, dead = 0;
	enum worker_health health = render_host_health(snapshot, view, per_state);
	double total;

	render_throughput(snapshot, view, &producing, &total, NULL);
	family(out, "liveprobe_host_health", "gauge", "1 for the host verdict, 0 for the others.");
	for (int level = HEALTH_GREEN; level <= HEALTH_RED; level++) /* a host is never grey */
		sample(out, "liveprobe_host_health{health=\"%s\"} %d", health_names[level],
		       health == (enum worker_health)level);
	family(out, "liveprobe_workers", "gauge", "Workers by state.");
	for (int state = 0; state < WS__COUNT; state++)
		sample(out, "liveprobe_workers{state=\"%s\"} %zu", fleet_state_name(state),
		       per_state[state]);
	family(out, "liveprobe_workers_producing", "gauge", "Workers in state working.");
	sample(out, "liveprobe_workers_producing %zu", producing);
	if (probe->expected_workers) {
		family(out, "liveprobe_workers_expected", "gauge",
		       "How many workers should be producing (--expected-workers).");
		sample(out, "liveprobe_workers_expected %u", probe->expected_workers);
	}
	family(out, "liveprobe_episodes_per_minute", "gauge",
	       "Sum of liveprobe_worker_episodes_per_minute over all workers.");
	sample(out, "liveprobe_episodes_per_minute %.3f", total);
	for (size_t i = 0; i < snapshot->n_conns; i++) {
		if (conn_is_dead(&snapshot->conns[i]))
			dead++;
		else if (snapshot->conns[i].suspect)
			suspect++;
		else
			alive++;
	}
	family(out, "liveprobe_connections", "gauge", "Tracked TCP connections by state.");
	sample(out, "liveprobe_connections{state=\"alive\"} %zu", alive);
	sample(out, "liveprobe_connections{state=\"suspect\"} %zu", suspect);
	sample(out, "liveprobe_connections{state=\"dead\"} %zu", dead);
	family(out, "liveprobe_workers_forgotten_total", "counter",
	       "Dead or stopped workers removed by --forget-after (or its default for adopted "
	       "ones).");
	sample(out, "liveprobe_workers_forgotten_total %llu",
	       (unsigned long long)probe->forgotten_total);
	family(out, "liveprobe_exits_total", "counter",
	       "Workers that ended, by how: exited, crashed, killed, disconnected, unknown, "
	       "stopped.");
	for (int state = 0; state < WS__COUNT; state++)
		if (fleet_state_is_ended(state) || state == WS_DISCONNECTED)
			sample(out, "liveprobe_exits_total{class=\"%s\"} %llu",
			       fleet_state_name(state),
			       (unsigned long long)probe->exits_by_state[state]);
}

static void probe_families(struct out *out, const struct snapshot *snapshot,
			   const struct render_view *view)
{
	static const struct {
		enum lp_stat index;
		const char *kind;
	} kernel_events[] = {
		{LP_STAT_EXITS_SEEN, "process_exit"},
		{LP_STAT_EXITS_WATCHED, "watched_exit"},
		{LP_STAT_SIGNALS_WATCHED, "watched_fatal_signal"},
		{LP_STAT_OOM_WATCHED, "watched_oom_kill"},
		{LP_STAT_PROCS_ADOPTED, "process_adopted"},
		{LP_STAT_PID_REUSED, "pid_reuse_ignored"},
		{LP_STAT_TCP_STATES_SEEN, "tcp_state_change"},
		{LP_STAT_CONN_EVENTS, "watched_connection_event"},
		{LP_STAT_KEEPALIVE_SET, "keepalive_set"},
		{LP_STAT_KEEPALIVE_FAILED, "keepalive_failed"},
	};
	const struct daemon_status *probe = &snapshot->status;

	family(out, "liveprobe_up", "gauge", "1 while the BPF programs are attached.");
	sample(out, "liveprobe_up %d", probe->attached);
	family(out, "liveprobe_start_time_seconds", "gauge",
	       "When the daemon started, Unix seconds.");
	sample(out, "liveprobe_start_time_seconds %.3f",
	       wall_s(view) - age_s(probe->started_ns, view->now_ns));
	{
		struct utsname host;

		family(out, "liveprobe_build_info", "gauge",
		       "1, with the daemon's version, commit, libbpf and kernel as labels.");
		sample(out,
		       "liveprobe_build_info{version=\"%s\",commit=\"%s\",libbpf=\"%s\","
		       "kernel=\"%s\"} 1",
		       LP_VERSION, LP_COMMIT, libbpf_version_string(),
		       uname(&host) == 0 ? host.release : "");
	}
	family(out, "liveprobe_kernel_events_total", "counter",
	       "Events the BPF programs counted, by kind (summed over CPUs).");
	for (size_t i = 0; i < sizeof(kernel_events) / sizeof(kernel_events[0]); i++)
		sample(out, "liveprobe_kernel_events_total{kind=\"%s\"} %llu",
		       kernel_events[i].kind,
		       (unsigned long long)probe->stats[kernel_events[i].index]);
	family(out, "liveprobe_ringbuf_records_total", "counter",
	       "Ring-buffer records the daemon consumed.");
	sample(out, "liveprobe_ringbuf_records_total %llu",
	       (unsigned long long)probe->events_received);
	family(out, "liveprobe_ringbuf_drops_total", "counter",
	       "Events the kernel could not put in the ring buffer (repaired by reconciliation).");
	sample(out, "liveprobe_ringbuf_drops_total %llu",
	       (unsigned long long)probe->stats[LP_STAT_RINGBUF_DROPS]);
	family(out, "liveprobe_ringbuf_drops_unreconciled", "gauge",
	       "Drops that no completed reconciliation has covered yet.");
	sample(out, "liveprobe_ringbuf_drops_unreconciled %llu",
	       (unsigned long long)snapshot_unreconciled_drops(snapshot));
	family(out, "liveprobe_start_info", "gauge",
	       "How this daemon started: fresh, took_over (a previous daemon's pinned maps) or reset.");
	sample(out, "liveprobe_start_info{mode=\"%s\"} 1",
	       probe->start_mode == PROBE_TOOK_OVER ? "took_over"
	       : probe->start_mode == PROBE_RESET   ? "reset"
						    : "fresh");
	family(out, "liveprobe_state_save_failing", "gauge",
	       "1 while the known workers cannot be saved in --state-dir (a restart would forget).");
	sample(out, "liveprobe_state_save_failing %d", probe->save_error != 0);
	family(out, "liveprobe_restart_gap_seconds", "gauge",
	       "After a takeover: seconds from the previous daemon's last save to this start.");
	sample(out, "liveprobe_restart_gap_seconds %.3f", probe->gap_s);
	family(out, "liveprobe_recovered_total", "counter",
	       "Deaths taken from a previous daemon's pinned maps, with their exact facts.");
	sample(out, "liveprobe_recovered_total %llu", (unsigned long long)probe->recovered_total);
	family(out, "liveprobe_pidfds_open", "gauge", "Process file descriptors the daemon holds.");
	sample(out, "liveprobe_pidfds_open %llu", (unsigned long long)probe->pidfds_open);
	family(out, "liveprobe_pidfds_max", "gauge",
	       "The pidfd budget: RLIMIT_NOFILE less a reserve for sockets and connections.");
	sample(out, "liveprobe_pidfds_max %llu", (unsigned long long)probe->pidfds_max);
	family(out, "liveprobe_pidfd_limit_total", "counter",
	       "pidfds refused by the budget or the kernel's open-file limit.");
	sample(out, "liveprobe_pidfd_limit_total %llu",
	       (unsigned long long)probe->pidfd_limit_total);
	family(out, "liveprobe_map_full_total", "counter",
	       "Kernel map inserts refused because the map was full, by map.");
	sample(out, "liveprobe_map_full_total{map=\"lp_procs\"} %llu",
	       (unsigned long long)probe->stats[LP_STAT_ADOPT_FULL]);
	sample(out, "liveprobe_map_full_total{map=\"lp_conns\"} %llu",
	       (unsigned long long)probe->stats[LP_STAT_CONNS_FULL]);
	family(out, "liveprobe_ingest_datagrams_total", "counter",
	       "Datagrams read from the ingest sockets.");
	sample(out, "liveprobe_ingest_datagrams_total %llu",
	       (unsigned long long)probe->ingest.datagrams);
	family(out, "liveprobe_ingest_reports_total", "counter",
	       "Well-formed reports (lines, sd_notify messages, HTTP batch entries).");
	sample(out, "liveprobe_ingest_reports_total %llu",
	       (unsigned long long)probe->ingest.reports);
	family(out, "liveprobe_ingest_dropped_total", "counter", "Reports dropped, by reason.");
	for (int reason = 1; reason < REPORT_ERR__COUNT; reason++)
		sample(out, "liveprobe_ingest_dropped_total{reason=\"%s\"} %llu",
		       report_error_name(reason),
		       (unsigned long long)probe->ingest.dropped[reason]);
	family(out, "liveprobe_transition_commands_total", "counter",
	       "--on-transition commands and transitions, by result: started, failed (could not "
	       "start, or exited non-zero), merged (folded into a waiting transition of the same "
	       "worker while all slots were busy).");
	sample(out, "liveprobe_transition_commands_total{result=\"started\"} %llu",
	       (unsigned long long)probe->hooks_started);
	sample(out, "liveprobe_transition_commands_total{result=\"failed\"} %llu",
	       (unsigned long long)probe->hooks_failed);
	sample(out, "liveprobe_transition_commands_total{result=\"merged\"} %llu",
	       (unsigned long long)probe->hooks_merged);
	family(out, "liveprobe_transition_commands_waiting", "gauge",
	       "Workers whose latest transition waits for a free --on-transition slot.");
	sample(out, "liveprobe_transition_commands_waiting %llu",
	       (unsigned long long)probe->hooks_waiting);
	family(out, "liveprobe_bpf_stats_enabled", "gauge",
	       "1 while kernel.bpf_stats_enabled is on, so run times are being counted.");
	sample(out, "liveprobe_bpf_stats_enabled %d", probe->bpf_stats_enabled);
	family(out, "liveprobe_bpf_prog_runs_total", "counter",
	       "Runs of each BPF program (bpf_prog_info.run_cnt; counted only with bpf stats on).");
	for (int i = 0; i < probe->n_progs; i++)
		sample(out, "liveprobe_bpf_prog_runs_total{prog=\"%s\"} %llu", probe->progs[i].name,
		       (unsigned long long)probe->progs[i].run_cnt);
	family(out, "liveprobe_bpf_prog_run_seconds_total", "counter",
	       "Time spent in each BPF program (bpf_prog_info.run_time_ns).");
	for (int i = 0; i < probe->n_progs; i++)
		sample(out, "liveprobe_bpf_prog_run_seconds_total{prog=\"%s\"} %.9f",
		       probe->progs[i].name, probe->progs[i].run_time_ns / 1e9);
	family(out, "liveprobe_bpf_prog_recursion_misses_total", "counter",
	       "Runs each BPF program missed: it was running on that CPU already.");
	for (int i = 0; i < probe->n_progs; i++)
		sample(out, "liveprobe_bpf_prog_recursion_misses_total{prog=\"%s\"} %llu",
		       probe->progs[i].name, (unsigned long long)probe->progs[i].recursion_misses);
	family(out, "liveprobe_tcp_state_changes_rescued_total", "counter",
	       "TCP state changes lp_tcp_nested recorded for a skipped lp_tcp_state.");
	sample(out, "liveprobe_tcp_state_changes_rescued_total %llu",
	       (unsigned long long)probe->tcp_states_rescued);
}

char *metrics_render(const struct snapshot *snapshot, const struct render_view *view)
{
	enum worker_state *states = calloc(snapshot->count ?: 1, sizeof(*states));
	struct out out;
	char *text = NULL, reason[FLEET_REASON_MAX];
	size_t len = 0;

	out.file = open_memstream(&text, &len);
	if (!states || !out.file) {
		free(states);
		if (out.file)
			fclose(out.file);
		free(text);
		return NULL;
	}
	for (size_t i = 0; i < snapshot->count; i++)
		states[i] =
			render_worker_state(snapshot->workers[i], view, reason, sizeof(reason));
	probe_families(&out, snapshot, view);
	host_families(&out, snapshot, view);
	worker_families(&out, snapshot, view, states);
	free(states);
	if (fclose(out.file)) {
		free(text);
		return NULL;
	}
	return text;
}
