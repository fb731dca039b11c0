// SPDX-License-Identifier: GPL-2.0
/* See render.h. json-c builds the documents; this file only decides what goes in them. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "bulk.h"
#include "clock.h"
#include "render.h"
#include "text.h"

static double age_s(uint64_t since_ns, uint64_t now_ns)
{
	return since_ns && now_ns > since_ns ? (double)(now_ns - since_ns) / 1e9 : 0.0;
}

/* Three decimals are plenty for ages and keep the output readable. */
static json_object *json_age(uint64_t since_ns, uint64_t now_ns)
{
	char text[32];
	double age = age_s(since_ns, now_ns);

	snprintf(text, sizeof(text), "%.3f", age);
	return json_object_new_double_s(age, text);
}

/* Three decimals when they fit, else the shortest exact form (never cut short); "null" for a
 * value that is not finite. */
static const char *seconds_text(double seconds, char text[32])
{
	if (!isfinite(seconds))
		return "null";
	if (fabs(seconds) < 0.0005)
		seconds = 0; /* no "-0.000" */
	if (snprintf(text, 32, "%.3f", seconds) >= 32)
		snprintf(text, 32, "%.17g", seconds);
	return text;
}

static json_object *json_seconds(double seconds)
{
	char text[32];

	if (!isfinite(seconds))
		return NULL;
	return json_object_new_double_s(seconds, seconds_text(seconds, text));
}

/*
 * JSON text written here, carried as one json-c node: thousands of small objects would cost a
 * hash table each (6 MB for the producing list at 10,000 workers), and the heap keeps a peak.
 */
static json_object *json_verbatim(char *text)
{
	json_object *obj = json_object_new_array();

	json_object_set_serializer(obj, json_object_userdata_to_json_string, text,
				   json_object_free_userdata);
	return obj;
}

void render_view_init(struct render_view *view, const struct snapshot *snapshot)
{
	view->now_ns = clock_mono_ns();
	view->now_real_s = clock_rating_s();
	view->wall_step_s = clock_step_s();
	view->policy = snapshot->status.policy;
	view->state_filter = 0;
	view->health_filter = 0;
	view->limit = 0;
}

/* The state as this view sees it: output-based states are re-judged under the view's policy. */
enum worker_state render_worker_state(const struct worker *worker, const struct render_view *view,
				      char *reason, size_t len)
{
	snprintf(reason, len, "%s", worker->reason);
	if (worker->state != WS_STARTING && worker->state != WS_WORKING &&
	    worker->state != WS_STALE)
		return worker->state;
	return fleet_output_state(worker, &view->policy, view->now_ns, reason, len);
}

/* Current throughput counts only producing workers, rounded as shown, so the parts sum up. */
double render_worker_rate(const struct worker *worker, enum worker_state state,
			  const struct render_view *view)
{
	if (state != WS_WORKING)
		return 0;
	return round(output_per_min(&worker->output, view->now_real_s) * 1000) / 1000;
}

static char *finish(json_object *root)
{
	char *text = NULL;

	if (root)
		text = strdup(json_object_to_json_string_ext(
			root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return text;
}

static json_object *exit_facts(const struct worker_exit *exit, uint64_t now_ns)
{
	const char *signal_name = fleet_signal_name(exit->signal);
	json_object *obj = json_object_new_object();
	bool killed = fleet_exit_by_sender(exit);

	json_object_object_add(
		obj, "code",
		exit->status_known && exit->signal == 0 ? json_object_new_int(exit->code) : NULL);
	json_object_object_add(obj, "signal",
			       exit->signal ? json_object_new_int(exit->signal) : NULL);
	json_object_object_add(obj, "signal_name",
			       exit->signal && signal_name ? json_object_new_string(signal_name)
							   : NULL);
	json_object_object_add(obj, "core_dumped", json_object_new_boolean(exit->core_dumped));
	/* killer_*: who sent the signal it died of. sent_*: the last fatal signal sent to it and
	 * its sender, even one it handled before it exited by itself. */
	json_object_object_add(obj, "killer_pid",
			       killed && exit->killer_pid ? json_object_new_int64(exit->killer_pid)
							  : NULL);
	json_object_object_add(obj, "killer_comm",
			       killed ? json_object_new_string(exit->killer_comm) : NULL);
	json_object_object_add(obj, "killer_signal",
			       killed ? json_object_new_int(exit->kill_signal) : NULL);
	json_object_object_add(obj, "sent_signal",
			       exit->has_killer ? json_object_new_int(exit->kill_signal) : NULL);
	json_object_object_add(obj, "sent_by_pid",
			       exit->has_killer && exit->killer_pid
				       ? json_object_new_int64(exit->killer_pid)
				       : NULL);
	json_object_object_add(obj, "sent_by_comm",
			       exit->has_killer ? json_object_new_string(exit->killer_comm) : NULL);
	json_object_object_add(obj, "oom", json_object_new_boolean(exit->oom));
	json_object_object_add(obj, "status_known", json_object_new_boolean(exit->status_known));
	json_object_object_add(obj, "age_s", json_age(exit->at_ns, now_ns));
	return obj;
}

static json_object *exit_object(const struct worker *worker, uint64_t now_ns)
{
	return worker->has_exit ? exit_facts(&worker->exit, now_ns) : NULL;
}

struct json_object *render_exit_counts(const uint32_t counts[WS__COUNT])
{
	json_object *obj = json_object_new_object();

	for (int state = 0; state < WS__COUNT; state++)
		if (fleet_state_is_exit_class(state) && counts[state])
			json_object_object_add(obj, fleet_state_name(state),
					       json_object_new_uint64(counts[state]));
	return obj;
}

/* Incarnations: restarts, the previous one's end, how each ended, and a crash loop. */
static void lifecycle_fields(json_object *obj, const struct worker *worker, uint64_t now_ns)
{
	bool looping = fleet_crashlooping(worker, now_ns);
	const struct worker_extras *extras = fleet_extras(worker);

	json_object_object_add(obj, "expects_output",
			       json_object_new_boolean(worker->expects_output));
	json_object_object_add(obj, "restarts_total",
			       json_object_new_uint64(worker->restarts_total));
	if (extras->has_last_exit) {
		json_object *last = exit_facts(&extras->last_exit, now_ns);

		json_object_object_add(
			last, "state",
			json_object_new_string(fleet_state_name(extras->last_exit_state)));
		json_object_object_add(obj, "last_exit", last);
	} else {
		json_object_object_add(obj, "last_exit", NULL);
	}
	json_object_object_add(obj, "exits_by_class", render_exit_counts(worker->exits_by_class));
	if (worker->origin == ORIGIN_CGROUP) {
		json_object_object_add(obj, "child_exits_by_class",
				       render_exit_counts(extras->child_exits_by_class));
		if (worker->child_oom_ns) {
			json_object *oom = json_object_new_object();

			json_object_object_add(oom, "pid",
					       json_object_new_int64(extras->child_oom_pid));
			json_object_object_add(oom, "comm",
					       json_object_new_string(extras->child_oom_comm));
			json_object_object_add(oom, "age_s",
					       json_age(worker->child_oom_ns, now_ns));
			json_object_object_add(obj, "last_child_oom", oom);
		} else {
			json_object_object_add(obj, "last_child_oom", NULL);
		}
	}
	json_object_object_add(obj, "crashloop", json_object_new_boolean(looping));
	json_object_object_add(obj, "crashloop_reason",
			       looping ? json_object_new_string(extras->crashloop_reason) : NULL);
}

static json_object *conn_object(const struct conn *conn, uint64_t now_ns)
{
	json_object *obj = json_object_new_object();
	char endpoint[CONN_ENDPOINT_MAX], cookie[24];
	const char *error_name = conn_errno_name(conn->error);

	conn_format_endpoint(conn->family, conn->local_addr, conn->local_port, endpoint,
			     sizeof(endpoint));
	json_object_object_add(obj, "local", json_object_new_string(endpoint));
	conn_format_endpoint(conn->family, conn->peer_addr, conn->peer_port, endpoint,
			     sizeof(endpoint));
	json_object_object_add(obj, "peer", json_object_new_string(endpoint));
	json_object_object_add(obj, "state",
			       json_object_new_string(conn_tcp_state_name(conn->state)));
	json_object_object_add(obj, "since_age_s", json_age(conn->since_ns, now_ns));
	json_object_object_add(
		obj, "reason",
		conn_is_dead(conn) ? json_object_new_string(conn_reason_name(conn->reason)) : NULL);
	json_object_object_add(obj, "dead_age_s",
			       conn_is_dead(conn) ? json_age(conn->dead_ns, now_ns) : NULL);
	json_object_object_add(obj, "suspect", json_object_new_boolean(conn->suspect));
	json_object_object_add(obj, "retransmits", json_object_new_int64(conn->retransmits));
	json_object_object_add(obj, "last_data_recv_age_s",
			       conn->last_data_recv_ns ? json_age(conn->last_data_recv_ns, now_ns)
						       : NULL);
	json_object_object_add(obj, "error",
			       error_name    ? json_object_new_string(error_name)
			       : conn->error ? json_object_new_int(conn->error)
					     : NULL);
	json_object_object_add(obj, "unacked",
			       conn->has_diag ? json_object_new_int64(conn->diag_unacked) : NULL);
	json_object_object_add(obj, "rto_retransmits",
			       conn->has_diag ? json_object_new_int(conn->diag_retransmits) : NULL);
	json_object_object_add(obj, "probes",
			       conn->has_diag ? json_object_new_int(conn->diag_probes) : NULL);
	json_object_object_add(obj, "owner_pid",
			       conn->owner_tgid ? json_object_new_int64(conn->owner_tgid) : NULL);
	snprintf(cookie, sizeof(cookie), "%llu", (unsigned long long)conn->cookie);
	json_object_object_add(obj, "cookie", json_object_new_string(cookie));
	return obj;
}

_Static_assert(RENDER_HISTORY_MIN < OUTPUT_MINUTES, "the history rendered is kept");

static void output_fields(json_object *obj, const struct worker *worker, enum worker_state state,
			  const struct render_view *view)
{
	const struct output *output = &worker->output;
	json_object *history = json_object_new_array_ext(RENDER_HISTORY_MIN);
	uint32_t minutes[RENDER_HISTORY_MIN];
	double offset_s;

	json_object_object_add(obj, "episodes_total",
			       json_object_new_uint64(output->episodes_total));
	json_object_object_add(obj, "heartbeats_total",
			       json_object_new_uint64(output->heartbeats_total));
	/* Not judged on output: its output figures are null, not a misleading 0. */
	bool judged = worker->expects_output;

	json_object_object_add(obj, "episodes_per_min",
			       judged ? json_seconds(render_worker_rate(worker, state, view))
				      : NULL);
	json_object_object_add(
		obj, "last_episode_age_s",
		output->last_episode_ns ? json_age(output->last_episode_ns, view->now_ns) : NULL);
	json_object_object_add(obj, "last_output_age_s",
			       output->last_ns ? json_age(output->last_ns, view->now_ns) : NULL);
	json_object_object_add(obj, "expected_gap_s",
			       judged && output->n_gaps ? json_seconds(output->gap_mean_s) : NULL);
	json_object_object_add(obj, "stale_after_s",
			       judged ? json_seconds(output_stale_after(output, &view->policy))
				      : NULL);
	/* Measured against the rating clock; shown against the wall clock, as people read it. */
	json_object_object_add(obj, "clock_offset_s",
			       output_clock_offset(output, view->now_real_s, &offset_s)
				       ? json_seconds(offset_s - view->wall_step_s)
				       : NULL);
	json_object_object_add(obj, "seq_gaps", json_object_new_uint64(output->seq_gaps));
	json_object_object_add(obj, "status",
			       fleet_extras(worker)->has_status
				       ? json_object_new_string(fleet_extras(worker)->status)
				       : NULL);
	json_object_object_add(obj, "bye", json_object_new_boolean(worker->bye));
	/* Episodes completed in each of the last minutes, oldest first: the sparkline. */
	output_history(output, view->now_real_s, minutes, RENDER_HISTORY_MIN);
	for (int minute = 0; minute < RENDER_HISTORY_MIN; minute++)
		json_object_array_add(history, json_object_new_uint64(minutes[minute]));
	json_object_object_add(obj, "episodes_per_min_history", history);
}

static json_object *worker_object(const struct worker *worker, const struct conn *conns,
				  const struct render_view *view)
{
	json_object *list = json_object_new_array_ext(worker->n_conns);
	uint64_t now_ns = view->now_ns;
	char reason[FLEET_REASON_MAX];
	enum worker_state state = render_worker_state(worker, view, reason, sizeof(reason));
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "name", json_object_new_string(worker->name));
	json_object_object_add(obj, "pid", worker->pid ? json_object_new_int64(worker->pid) : NULL);
	json_object_object_add(obj, "comm",
			       worker->comm[0] ? json_object_new_string(worker->comm) : NULL);
	json_object_object_add(obj, "origin",
			       json_object_new_string(fleet_origin_name(worker->origin)));
	{
		json_object *owner = json_object_new_object();

		json_object_object_add(
			owner, "authority",
			json_object_new_string(fleet_authority_name(worker->authority)));
		json_object_object_add(owner, "uid",
				       worker->owner_uid == FLEET_NO_OWNER
					       ? NULL
					       : json_object_new_int64(worker->owner_uid));
		json_object_object_add(obj, "owner", owner);
	}
	json_object_object_add(obj, "state", json_object_new_string(fleet_state_name(state)));
	json_object_object_add(obj, "health",
			       json_object_new_string(fleet_health_name(
				       fleet_worker_health(worker, state, now_ns))));
	json_object_object_add(obj, "reason", json_object_new_string(reason));
	json_object_object_add(obj, "state_since_age_s", json_age(worker->state_since_ns, now_ns));
	json_object_object_add(obj, "registered_age_s", json_age(worker->registered_ns, now_ns));
	json_object_object_add(obj, "exit", exit_object(worker, now_ns));
	lifecycle_fields(obj, worker, now_ns);
	output_fields(obj, worker, state, view);
	for (uint32_t i = 0; conns && i < worker->n_conns; i++)
		json_object_array_add(list, conn_object(&conns[i], now_ns));
	json_object_object_add(obj, "connections", list);
	return obj;
}

char *render_worker(const struct worker *worker, const struct conn *conns,
		    const struct render_view *view)
{
	return finish(worker_object(worker, conns, view));
}

/* Producing workers and their summed rate, judged exactly as each worker's W is. */
void render_throughput(const struct snapshot *snapshot, const struct render_view *view,
		       size_t *producing, double *total, FILE *list)
{
	char reason[FLEET_REASON_MAX], rate_text[32];

	*producing = 0;
	*total = 0;
	for (size_t i = 0; i < snapshot->count; i++) {
		const struct worker *worker = snapshot->workers[i];
		enum worker_state state = render_worker_state(worker, view, reason, sizeof(reason));
		double rate = render_worker_rate(worker, state, view);

		bulk_pause();
		if (state != WS_WORKING)
			continue;
		(*producing)++;
		*total += rate;
		/* A valid name needs no escaping (worker_name.h). */
		if (list)
			fprintf(list, "%s{\"name\":\"%s\",\"episodes_per_min\":%s}",
				*producing > 1 ? "," : "", worker->name,
				seconds_text(rate, rate_text));
	}
}

/*
 * One worker's object at a time, written out and freed, so that rendering a fleet needs the
 * body and one worker's tree, not a tree of the whole fleet (170 MB at 16,384 workers).
 */
static bool filtered(const struct render_view *view)
{
	return view->state_filter || view->health_filter || view->limit;
}

static bool listed(const struct render_view *view, const struct worker *worker,
		   enum worker_state state)
{
	return (!view->state_filter || (int)state == view->state_filter - 1) &&
	       (!view->health_filter ||
		(int)fleet_worker_health(worker, state, view->now_ns) == view->health_filter - 1);
}

char *render_workers(const struct snapshot *snapshot, const struct render_view *view)
{
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	json_object *tail = json_object_new_object();
	size_t producing, size = 0, listed_count = 0, matched = 0;
	char *text = NULL;
	const char *rest;
	double total;
	FILE *out;

	out = open_memstream(&text, &size);
	if (!out || !tail) {
		if (out)
			fclose(out);
		json_object_put(tail);
		free(text);
		return NULL;
	}
	fputs("{\"workers\":[", out);
	producing = 0;
	total = 0;
	for (size_t i = 0; i < snapshot->count; i++) {
		const struct worker *worker = snapshot->workers[i];
		char reason[FLEET_REASON_MAX];
		enum worker_state state;
		json_object *obj;

		bulk_pause();
		if (filtered(view)) {
			state = render_worker_state(worker, view, reason, sizeof(reason));
			if (!listed(view, worker, state))
				continue;
			if (view->limit && listed_count >= view->limit) {
				matched++;
				continue;
			}
			matched++;
			if (state == WS_WORKING) {
				producing++;
				total += render_worker_rate(worker, state, view);
			}
		}
		obj = worker_object(worker, snapshot_conns_of(snapshot, worker), view);
		if (listed_count++)
			fputc(',', out);
		fputs(json_object_to_json_string_ext(obj, flags), out);
		json_object_put(obj);
	}
	if (!filtered(view)) {
		render_throughput(snapshot, view, &producing, &total, NULL);
	} else {
		json_object_object_add(tail, "workers_matched", json_object_new_uint64(matched));
		json_object_object_add(tail, "workers_total",
				       json_object_new_uint64(snapshot->count));
	}
	json_object_object_add(tail, "workers_producing", json_object_new_uint64(producing));
	json_object_object_add(tail, "episodes_per_min_total", json_seconds(total));
	/* The rest of the root object: the tail object's members, after the list. */
	rest = json_object_to_json_string_ext(tail, flags);
	fprintf(out, "],%s", rest + 1);
	json_object_put(tail);
	if (fclose(out)) {
		free(text);
		return NULL;
	}
	return text;
}

static void add_reason(json_object *reasons, size_t *n_reasons, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_reason(json_object *reasons, size_t *n_reasons, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	(*n_reasons)++;
	if (!reasons || *n_reasons > RENDER_MAX_REASONS)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_object_array_add(reasons, json_object_new_string(text));
}

static json_object *probe_object(const struct snapshot *snapshot, uint64_t now_ns)
{
	const struct daemon_status *probe = &snapshot->status;
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "attached", json_object_new_boolean(probe->attached));
	json_object_object_add(obj, "uptime_s", json_age(probe->started_ns, now_ns));
	json_object_object_add(obj, "ringbuf_drops",
			       json_object_new_uint64(probe->stats[LP_STAT_RINGBUF_DROPS]));
	json_object_object_add(obj, "drops_unreconciled",
			       json_object_new_uint64(snapshot_unreconciled_drops(snapshot)));
	json_object_object_add(obj, "events_received_total",
			       json_object_new_uint64(probe->events_received));
	json_object_object_add(obj, "reconciles_total",
			       json_object_new_uint64(probe->reconciles_total));
	json_object_object_add(obj, "exits_seen_total",
			       json_object_new_uint64(probe->stats[LP_STAT_EXITS_SEEN]));
	json_object_object_add(obj, "exits_watched_total",
			       json_object_new_uint64(probe->stats[LP_STAT_EXITS_WATCHED]));
	json_object_object_add(obj, "pid_reuse_ignored_total",
			       json_object_new_uint64(probe->stats[LP_STAT_PID_REUSED]));
	json_object_object_add(obj, "adopt_full_total",
			       json_object_new_uint64(probe->stats[LP_STAT_ADOPT_FULL]));
	json_object_object_add(obj, "max_workers", json_object_new_uint64(probe->max_workers));
	json_object_object_add(obj, "tcp_state_changes_seen_total",
			       json_object_new_uint64(probe->stats[LP_STAT_TCP_STATES_SEEN]));
	json_object_object_add(obj, "tcp_state_changes_rescued_total",
			       json_object_new_uint64(probe->tcp_states_rescued));
	json_object_object_add(obj, "conn_events_total",
			       json_object_new_uint64(probe->stats[LP_STAT_CONN_EVENTS]));
	json_object_object_add(obj, "conn_map_full_total",
			       json_object_new_uint64(probe->stats[LP_STAT_CONNS_FULL]));
	json_object_object_add(obj, "keepalive_set_total",
			       json_object_new_uint64(probe->stats[LP_STAT_KEEPALIVE_SET]));
	json_object_object_add(obj, "keepalive_failed_total",
			       json_object_new_uint64(probe->stats[LP_STAT_KEEPALIVE_FAILED]));
	json_object_object_add(obj, "sock_diag_passes_total",
			       json_object_new_uint64(probe->conns.passes));
	json_object_object_add(obj, "sock_diag_entries_total",
			       json_object_new_uint64(probe->conns.entries));
	json_object_object_add(obj, "sock_diag_errors_total",
			       json_object_new_uint64(probe->conns.pass_errors));
	json_object_object_add(obj, "conns_untracked_total",
			       json_object_new_uint64(probe->conns.untracked_total));
	json_object_object_add(obj, "conns_vanished_total",
			       json_object_new_uint64(probe->conns.vanished_total));
	json_object_object_add(obj, "conn_map_read_errors_total",
			       json_object_new_uint64(probe->conns.read_errors));
	json_object_object_add(obj, "proc_map_read_errors_total",
			       json_object_new_uint64(probe->proc_map_read_errors));
	json_object_object_add(
		obj, "started",
		json_object_new_string(probe->start_mode == PROBE_TOOK_OVER ? "took_over"
				       : probe->start_mode == PROBE_RESET   ? "reset"
									    : "fresh"));
	json_object_object_add(obj, "recovered_total",
			       json_object_new_uint64(probe->recovered_total));
	json_object_object_add(obj, "restart_gap_s",
			       probe->start_mode == PROBE_TOOK_OVER ? json_seconds(probe->gap_s)
								    : NULL);
	json_object_object_add(obj, "pidfds_open", json_object_new_uint64(probe->pidfds_open));
	json_object_object_add(obj, "pidfds_max", json_object_new_uint64(probe->pidfds_max));
	json_object_object_add(obj, "pidfd_limit_total",
			       json_object_new_uint64(probe->pidfd_limit_total));
	json_object_object_add(obj, "max_connections",
			       json_object_new_uint64(probe->max_connections));
	return obj;
}

static json_object *ingest_object(const struct snapshot *snapshot)
{
	const struct ingest_stats *ingest = &snapshot->status.ingest;
	json_object *obj = json_object_new_object();
	json_object *dropped = json_object_new_object();
	uint64_t dropped_total = 0;

	for (int reason = 1; reason < REPORT_ERR__COUNT; reason++) {
		json_object_object_add(dropped, report_error_name(reason),
				       json_object_new_uint64(ingest->dropped[reason]));
		dropped_total += ingest->dropped[reason];
	}
	json_object_object_add(obj, "datagrams_total", json_object_new_uint64(ingest->datagrams));
	json_object_object_add(obj, "reports_total", json_object_new_uint64(ingest->reports));
	json_object_object_add(obj, "dropped_total", json_object_new_uint64(dropped_total));
	json_object_object_add(obj, "dropped", dropped);
	return obj;
}

/* The host verdict and the reasons for it (when `reasons` is not NULL), counting states. */
static enum worker_health host_verdict(const struct snapshot *snapshot,
				       const struct render_view *view, json_object *reasons,
				       size_t per_state[WS__COUNT])
{
	const struct daemon_status *probe = &snapshot->status;
	uint64_t unreconciled = snapshot_unreconciled_drops(snapshot);
	enum worker_health health = HEALTH_GREEN;
	size_t n_reasons = 0;

#define AT_LEAST(level) (health = health < (level) ? (level) : health)
	if (!probe->attached) {
		AT_LEAST(HEALTH_RED);
		add_reason(reasons, &n_reasons, "probe: BPF programs are not attached");
	}
	if (unreconciled) {
		AT_LEAST(HEALTH_AMBER);
		add_reason(reasons, &n_reasons, "probe: %llu ring-buffer drops not yet reconciled",
			   (unsigned long long)unreconciled);
	}
	if (probe->save_error) {
		AT_LEAST(HEALTH_AMBER);
		add_reason(reasons, &n_reasons, "state: cannot save known workers: %s",
			   strerror(-probe->save_error));
	}
	if (probe->ingest.dropped[REPORT_ERR_WORKER_LIMIT]) {
		AT_LEAST(HEALTH_AMBER);
		add_reason(reasons, &n_reasons,
			   "ingest: %llu reports dropped at the worker limit (--max-workers %u)",
			   (unsigned long long)probe->ingest.dropped[REPORT_ERR_WORKER_LIMIT],
			   probe->max_workers);
	}
	if (probe->conns.untracked_total) {
		AT_LEAST(HEALTH_AMBER);
		add_reason(reasons, &n_reasons,
			   "probe: %llu connections not tracked (worker or connection limit)",
			   (unsigned long long)probe->conns.untracked_total);
	}
	if (snapshot->count == 0) {
		AT_LEAST(HEALTH_AMBER);
		add_reason(reasons, &n_reasons, "no workers are watched");
	}
	for (size_t i = 0; i < snapshot->count; i++) {
		const struct worker *worker = snapshot->workers[i];
		char reason[FLEET_REASON_MAX];
		enum worker_state state = render_worker_state(worker, view, reason, sizeof(reason));
		enum worker_health worker_health = fleet_worker_health(worker, state, view->now_ns);

		bulk_pause();
		per_state[state]++;
		/* Grey (a clean, announced stop) is neither good nor bad: listed apart. */
		if (worker_health == HEALTH_GREY)
			continue;
		AT_LEAST(worker_health);
		if (fleet_crashlooping(worker, view->now_ns))
			add_reason(reasons, &n_reasons, "worker %s %s", worker->name,
				   fleet_extras(worker)->crashloop_reason);
		else if (worker_health != fleet_state_health(state) && worker->child_oom_ns)
			add_reason(reasons, &n_reasons,
				   "worker %s: the OOM killer killed %s[%u] inside its cgroup",
				   worker->name, fleet_extras(worker)->child_oom_comm,
				   fleet_extras(worker)->child_oom_pid);
		else if (worker_health != HEALTH_GREEN)
			add_reason(reasons, &n_reasons, "worker %s %s: %s", worker->name,
				   fleet_state_name(state), reason);
	}
#undef AT_LEAST
	if (reasons && n_reasons > RENDER_MAX_REASONS) {
		char more[64];

		snprintf(more, sizeof(more), "... and %zu more", n_reasons - RENDER_MAX_REASONS);
		json_object_array_add(reasons, json_object_new_string(more));
	}
	return health;
}

enum worker_health render_host_health(const struct snapshot *snapshot,
				      const struct render_view *view, size_t per_state[WS__COUNT])
{
	return host_verdict(snapshot, view, NULL, per_state);
}

char *render_host(const struct snapshot *snapshot, const struct render_view *view)
{
	json_object *root = json_object_new_object();
	json_object *reasons = json_object_new_array();
	json_object *states = json_object_new_object();
	json_object *connections = json_object_new_object();
	json_object *policy = json_object_new_object();
	size_t per_state[WS__COUNT] = {0};
	size_t producing, conns_live = 0, conns_suspect = 0, conns_dead = 0;
	enum worker_health health = host_verdict(snapshot, view, reasons, per_state);
	double total;

	for (size_t i = 0; i < snapshot->n_conns; i++) {
		const struct conn *conn = &snapshot->conns[i];

		if (conn_is_dead(conn))
			conns_dead++;
		else if (conn->suspect)
			conns_suspect++;
		else
			conns_live++;
	}
	json_object_object_add(connections, "total", json_object_new_uint64(snapshot->n_conns));
	json_object_object_add(connections, "alive", json_object_new_uint64(conns_live));
	json_object_object_add(connections, "suspect", json_object_new_uint64(conns_suspect));
	json_object_object_add(connections, "dead", json_object_new_uint64(conns_dead));

	for (int state = 0; state < WS__COUNT; state++)
		json_object_object_add(states, fleet_state_name(state),
				       json_object_new_uint64(per_state[state]));
	{
		char hostname[256] = "", clean[256];

		gethostname(hostname, sizeof(hostname) - 1);
		text_clean(clean, sizeof(clean), hostname, sizeof(hostname));
		json_object_object_add(root, "hostname", json_object_new_string(clean));
	}
	json_object_object_add(root, "health", json_object_new_string(fleet_health_name(health)));
	json_object_object_add(root, "reasons", reasons);
	json_object_object_add(root, "workers_total", json_object_new_uint64(snapshot->count));
	json_object_object_add(root, "states", states);
	{
		json_object *stopped = json_object_new_array();

		for (size_t i = 0; i < snapshot->count; i++)
			if (snapshot->workers[i]->state == WS_STOPPED)
				json_object_array_add(stopped, json_object_new_string(
								       snapshot->workers[i]->name));
		json_object_object_add(root, "stopped", stopped);
	}
	{
		char *text = NULL;
		size_t len = 0;
		FILE *list = open_memstream(&text, &len);

		if (list)
			fputc('[', list);
		render_throughput(snapshot, view, &producing, &total, list);
		if (list) {
			bool cut = fputc(']', list) == EOF;

			if (fclose(list) || cut) {
				free(text); /* out of memory: an empty list beats a cut one */
				text = NULL;
			}
		}
		json_object_object_add(root, "workers_producing",
				       json_object_new_uint64(producing));
		json_object_object_add(root, "episodes_per_min_total", json_seconds(total));
		json_object_object_add(root, "producing",
				       text ? json_verbatim(text) : json_object_new_array());
	}
	json_object_object_add(root, "connections", connections);
	json_object_object_add(
		policy, "stale_after_s",
		view->policy.stale_after_s > 0 ? json_seconds(view->policy.stale_after_s) : NULL);
	json_object_object_add(policy, "start_grace_s", json_seconds(view->policy.start_grace_s));
	json_object_object_add(root, "staleness", policy);
	json_object_object_add(root, "ingest", ingest_object(snapshot));
	json_object_object_add(root, "probe", probe_object(snapshot, view->now_ns));
	return finish(root);
}

char *render_healthz(const struct snapshot *snapshot, int *healthy)
{
	json_object *root = json_object_new_object();
	uint64_t unreconciled = snapshot_unreconciled_drops(snapshot);
	char reason[128] = "";

	if (!snapshot->status.attached)
		snprintf(reason, sizeof(reason), "BPF programs are not attached");
	else if (snapshot->status.save_error)
		snprintf(reason, sizeof(reason),
			 "cannot save known workers in --state-dir: %s (a restart would forget "
			 "changes since the last save)",
			 strerror(-snapshot->status.save_error));
	else if (unreconciled)
		snprintf(reason, sizeof(reason), "%llu ring-buffer drops not yet reconciled",
			 (unsigned long long)unreconciled);
	*healthy = reason[0] == '\0';
	json_object_object_add(root, "status",
			       json_object_new_string(*healthy ? "ok" : "unhealthy"));
	json_object_object_add(root, "reason", *healthy ? NULL : json_object_new_string(reason));
	return finish(root);
}

char *render_error(const char *message)
{
	json_object *root = json_object_new_object();

	json_object_object_add(root, "error", json_object_new_string(message));
	return finish(root);
}

char *render_batch_answer(uint64_t accepted, const uint64_t dropped[REPORT_ERR__COUNT])
{
	json_object *root = json_object_new_object();
	json_object *reasons = json_object_new_object();
	uint64_t total = 0;

	for (int reason = 1; reason < REPORT_ERR__COUNT; reason++) {
		total += dropped[reason];
		if (dropped[reason])
			json_object_object_add(reasons, report_error_name(reason),
					       json_object_new_uint64(dropped[reason]));
	}
	json_object_object_add(root, "accepted", json_object_new_uint64(accepted));
	json_object_object_add(root, "dropped", json_object_new_uint64(total));
	json_object_object_add(root, "dropped_by_reason", reasons);
	return finish(root);
}
