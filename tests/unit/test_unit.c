// SPDX-License-Identifier: GPL-2.0
/* Unit tests of the pure logic: option parsing, /proc parsing, exit classification, fleet
 * transitions and the JSON views. No kernel, no network. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "bulk.h"
#include "clock.h"
#include "fleet.h"
#include "harness.h"
#include "opts.h"
#include "proc.h"
#include "output.h"
#include "render.h"
#include "report.h"
#include "route.h"
#include "sockdiag.h"
#include "text.h"

static enum opts_result parse(struct opts *opts, char *err, int argc, ...)
{
	char *argv[16] = {"liveprobed"};
	va_list ap;

	va_start(ap, argc);
	for (int i = 1; i <= argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	opts_defaults(opts);
	return opts_parse(argc + 1, argv, opts, err, 256);
}

static void test_opts_defaults(void)
{
	struct opts opts;
	char err[256];

	ASSERT_EQ(parse(&opts, err, 0), OPTS_RUN, "no options");
	ASSERT_STREQ(opts.listen_host, "127.0.0.1", "default host");
	ASSERT_EQ(opts.listen_port, 9476, "default port");
	ASSERT_STREQ(opts.pin_root, "/sys/fs/bpf/liveprobe", "default pin root");
	ASSERT_EQ(opts.ringbuf_bytes, 1 << 20, "default ring buffer");
}

static void test_opts_values(void)
{
	struct opts opts;
	char err[256];

	ASSERT_EQ(parse(&opts, err, 8, "--listen", "[::1]:8080", "--watch-pid", "a=12",
			"--watch-pid", "34", "--watch-comm", "python3"),
		  OPTS_RUN, "valid options");
	ASSERT_STREQ(opts.listen_host, "::1", "v6 host");
	ASSERT_EQ(opts.listen_port, 8080, "v6 port");
	ASSERT_EQ(opts.n_watch_pids, 2, "two pids");
	ASSERT_STREQ(opts.watch_pids[0].name, "a", "named pid");
	ASSERT_EQ(opts.watch_pids[0].pid, 12, "named pid value");
	ASSERT_STREQ(opts.watch_pids[1].name, "", "unnamed pid");
	ASSERT_EQ(opts.watch_pids[1].pid, 34, "unnamed pid value");
	ASSERT_STREQ(opts.watch_comms[0], "python3", "comm");
}

static void test_opts_errors(void)
{
	struct opts opts;
	char err[256];

	ASSERT_EQ(parse(&opts, err, 1, "--bogus"), OPTS_ERROR, "unknown flag");
	ASSERT_TRUE(strstr(err, "--bogus") != NULL, "error names the flag");
	ASSERT_EQ(parse(&opts, err, 2, "--listen", "127.0.0.1"), OPTS_ERROR, "no port");
	ASSERT_EQ(parse(&opts, err, 2, "--listen", "127.0.0.1:70000"), OPTS_ERROR, "port range");
	ASSERT_EQ(parse(&opts, err, 2, "--listen", "::1:80"), OPTS_ERROR, "bare v6");
	ASSERT_EQ(parse(&opts, err, 2, "--watch-pid", "-3"), OPTS_ERROR, "negative pid");
	ASSERT_EQ(parse(&opts, err, 2, "--watch-pid", "12x"), OPTS_ERROR, "trailing text");
	ASSERT_EQ(parse(&opts, err, 2, "--watch-pid", "a b=12"), OPTS_ERROR, "bad name");
	ASSERT_EQ(parse(&opts, err, 2, "--watch-pid", "=12"), OPTS_ERROR, "empty name");
	ASSERT_EQ(parse(&opts, err, 2, "--watch-comm", "a-name-of-16-ch"), OPTS_RUN, "15 bytes");
	ASSERT_EQ(parse(&opts, err, 2, "--watch-comm", "a-name-of-16-chr"), OPTS_ERROR, "16 bytes");
	ASSERT_EQ(parse(&opts, err, 2, "--ringbuf-size", "5000"), OPTS_ERROR, "not power of 2");
	ASSERT_EQ(parse(&opts, err, 2, "--pin-root", "relative"), OPTS_ERROR, "relative pin");
	ASSERT_EQ(parse(&opts, err, 1, "stray"), OPTS_ERROR, "positional");
	ASSERT_EQ(parse(&opts, err, 2, "--ingest", ""), OPTS_ERROR, "empty path");
	ASSERT_EQ(parse(&opts, err, 2, "--state-dir", "/var/tmp/lp"), OPTS_RUN, "state dir");
	ASSERT_STREQ(opts.state_dir, "/var/tmp/lp", "state dir stored");
	ASSERT_EQ(parse(&opts, err, 1, "--listen"), OPTS_ERROR, "missing value");
	ASSERT_TRUE(strstr(err, "needs a value") != NULL, "missing value message");
	ASSERT_EQ(opts.loop_nice, -10, "default loop nice");
	ASSERT_EQ(parse(&opts, err, 2, "--loop-nice", "-20"), OPTS_RUN, "loop nice -20");
	ASSERT_EQ(opts.loop_nice, -20, "loop nice stored");
	ASSERT_EQ(parse(&opts, err, 2, "--loop-nice", "0"), OPTS_RUN, "loop nice 0");
	ASSERT_EQ(opts.loop_nice, 0, "loop nice 0 stored");
	ASSERT_EQ(parse(&opts, err, 2, "--loop-nice", "-21"), OPTS_ERROR, "loop nice below -20");
	ASSERT_EQ(parse(&opts, err, 2, "--loop-nice", "5"), OPTS_ERROR, "loop nice above 0");
	ASSERT_EQ(parse(&opts, err, 2, "--loop-nice", "-0"), OPTS_ERROR, "loop nice -0");
	ASSERT_EQ(parse(&opts, err, 2, "--loop-nice", "--5"), OPTS_ERROR, "loop nice two signs");
	ASSERT_EQ(parse(&opts, err, 2, "--loop-nice", "-"), OPTS_ERROR, "loop nice sign alone");
}

static void test_worker_names(void)
{
	ASSERT_TRUE(worker_name_valid("actor-7"), "simple");
	ASSERT_TRUE(worker_name_valid("10.0.0.2:5555"), "peer address");
	ASSERT_TRUE(worker_name_valid("[fd00::2]:80"), "v6 peer");
	ASSERT_TRUE(!worker_name_valid(""), "empty");
	ASSERT_TRUE(!worker_name_valid("a/b"), "slash");
	ASSERT_TRUE(!worker_name_valid("a b"), "space");
	ASSERT_TRUE(!worker_name_valid("x\"y"), "quote");
}

static void test_proc_parse_stat(void)
{
	struct proc_identity id;
	const char *text = "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 "
			   "1 0 987654 1000 10 18446744073709551615";

	ASSERT_OK(proc_parse_stat(text, &id), "parses");
	ASSERT_STREQ(id.comm, "we ird) name", "comm with parens and spaces");
	ASSERT_EQ(id.state, 'S', "state");
	ASSERT_EQ(id.start_ticks, 987654, "start ticks");
	ASSERT_EQ(proc_parse_stat("12 (x S 1", &id), -EINVAL, "truncated");
}

static void test_classify_exit(void)
{
	struct worker_exit exit;

	ASSERT_EQ(fleet_classify_exit(0, false, &exit), WS_EXITED, "exit 0");
	ASSERT_EQ(exit.code, 0, "code 0");
	ASSERT_EQ(fleet_classify_exit(3 << 8, false, &exit), WS_CRASHED, "exit 3");
	ASSERT_EQ(exit.code, 3, "code 3");
	ASSERT_EQ(fleet_classify_exit(SIGSEGV | 0x80, false, &exit), WS_CRASHED, "segv core");
	ASSERT_EQ(exit.signal, SIGSEGV, "segv signal");
	ASSERT_TRUE(exit.core_dumped, "core flag");
	ASSERT_EQ(exit.code, -1, "no code when signalled");
	ASSERT_EQ(fleet_classify_exit(SIGKILL, false, &exit), WS_KILLED, "sigkill");
	ASSERT_EQ(fleet_classify_exit(SIGKILL, true, &exit), WS_KILLED, "oom");
	ASSERT_TRUE(exit.oom, "oom flag");
	ASSERT_EQ(fleet_classify_exit(SIGTERM, false, &exit), WS_EXITED, "sigterm is a stop");
	ASSERT_EQ(fleet_classify_exit(SIGINT, false, &exit), WS_EXITED, "sigint is a stop");
	ASSERT_EQ(fleet_classify_exit(SIGABRT | 0x80, false, &exit), WS_CRASHED, "abort");
	ASSERT_EQ(fleet_classify_exit(SIGHUP, false, &exit), WS_CRASHED, "hup");
}

struct transitions {
	int count;
	enum worker_state last_from, last_to;
};

static void count_transition(void *ctx, const struct fleet_transition *transition)
{
	struct transitions *seen = ctx;

	seen->count++;
	seen->last_from = transition->from;
	seen->last_to = transition->to;
}

static void test_fleet_lifecycle(void)
{
	struct transitions seen = {};
	struct worker_exit exit = {};
	struct fleet fleet;
	struct worker *worker;

	ASSERT_OK(fleet_init(&fleet, 2, 16), "init");
	fleet.on_transition = count_transition;
	fleet.ctx = &seen;
	ASSERT_EQ(fleet_add(&fleet, "a", 10, 100, "sleep", ORIGIN_API, 1000, &worker), 0, "add a");
	ASSERT_EQ(worker->state, WS_STARTING, "new worker is starting");
	ASSERT_EQ(fleet_state_health(worker->state), HEALTH_AMBER, "starting is amber");
	ASSERT_EQ(fleet_add(&fleet, "a", 11, 100, "sleep", ORIGIN_API, 1000, &worker), -EEXIST,
		  "duplicate");
	ASSERT_EQ(fleet_add(&fleet, "bad name", 11, 1, "x", ORIGIN_API, 1000, &worker), -EINVAL,
		  "bad name");
	ASSERT_EQ(fleet_add(&fleet, "b", 11, 100, "sleep", ORIGIN_API, 1000, &worker), 0, "add b");
	ASSERT_EQ(fleet_add(&fleet, "c", 12, 100, "sleep", ORIGIN_API, 1000, &worker), -ENOSPC,
		  "full");

	worker = fleet_find_process(&fleet, 10, 100);
	ASSERT_TRUE(worker && !strcmp(worker->name, "a"), "find by process");
	ASSERT_TRUE(fleet_find_process(&fleet, 10, 101) == NULL, "other start time is not it");

	fleet_classify_exit(SIGKILL, false, &exit);
	exit.has_killer = true;
	exit.killer_pid = 77;
	exit.kill_signal = SIGKILL;
	strcpy(exit.killer_comm, "bash");
	fleet_apply_exit(&fleet, worker, &exit, WS_KILLED, 5000);
	ASSERT_EQ(worker->state, WS_KILLED, "killed");
	ASSERT_STREQ(worker->reason, "SIGKILL from bash[77]", "reason names the killer");
	ASSERT_EQ(worker->state_since_ns, 5000, "state time");
	ASSERT_EQ(seen.last_from, WS_STARTING, "transition from");
	ASSERT_EQ(seen.last_to, WS_KILLED, "transition to");

	/* The first death is the one that counts. */
	fleet_classify_exit(0, false, &exit);
	fleet_apply_exit(&fleet, worker, &exit, WS_EXITED, 6000);
	ASSERT_EQ(worker->state, WS_KILLED, "second death ignored");

	fleet_remove(&fleet, worker);
	ASSERT_EQ(fleet.count, 1, "one left");
	ASSERT_STREQ(fleet.workers[0].name, "b", "order kept");
	ASSERT_TRUE(fleet_find(&fleet, "a") == NULL, "the name is gone");

	/* A live worker forgotten frees its pid: a new worker may take that pid. */
	worker = fleet_find(&fleet, "b");
	fleet_bind_process(&fleet, worker, 11, 100, "sleep", -1, 7000);
	ASSERT_TRUE(fleet_find_live_pid(&fleet, 11) == worker, "the live pid is indexed");
	fleet_remove(&fleet, worker);
	ASSERT_TRUE(fleet_find_live_pid(&fleet, 11) == NULL, "removal frees the pid index");
	fleet_free(&fleet);
}

/* Issue 13: stopped is grey; restarts, exits by class and crash loops. */
static void test_fleet_incarnations(void)
{
	struct worker_exit exit = {};
	struct fleet fleet;
	struct worker *worker;
	const uint64_t s = 1000000000ull;

	ASSERT_OK(fleet_init(&fleet, 4, 16), "init");
	fleet.crashloop_count = 3;
	fleet.crashloop_window_ns = 10 * s;

	/* Not expected to report: running while its process lives, green. */
	fleet_add(&fleet, "svc", 10, 1, "sleep", ORIGIN_FLAG, 0, &worker);
	fleet_evaluate(&fleet, worker, 100 * s);
	ASSERT_EQ(worker->state, WS_RUNNING, "an uninstrumented process is running");
	ASSERT_EQ(fleet_state_health(WS_RUNNING), HEALTH_GREEN, "running is green");

	/* bye, then exit 0: stopped, grey. */
	fleet_set_bye(&fleet, worker, true);
	fleet_classify_exit(0, false, &exit);
	fleet_apply_exit(&fleet, worker, &exit, WS_EXITED, s);
	ASSERT_EQ(worker->state, WS_STOPPED, "bye then exit 0 is stopped");
	ASSERT_EQ(fleet_worker_health(worker, worker->state, s), HEALTH_GREY, "stopped is grey");
	ASSERT_TRUE(!fleet_state_is_dead(WS_STOPPED) && fleet_state_is_ended(WS_STOPPED),
		    "stopped is ended, not dead");

	/* bye, then SIGSEGV: crashed all the same. */
	fleet_add(&fleet, "byecrash", 11, 1, "x", ORIGIN_REPORT, 0, &worker);
	fleet_set_bye(&fleet, worker, true);
	fleet_apply_exit(&fleet, worker, &exit, fleet_classify_exit(SIGSEGV, false, &exit), s);
	ASSERT_EQ(worker->state, WS_CRASHED, "bye then SIGSEGV is crashed");

	/* Unannounced exit 0: exited, red. */
	fleet_add(&fleet, "quit", 12, 1, "x", ORIGIN_REPORT, 0, &worker);
	fleet_apply_exit(&fleet, worker, &exit, fleet_classify_exit(0, false, &exit), s);
	ASSERT_EQ(worker->state, WS_EXITED, "exit 0 without bye is exited");
	ASSERT_EQ(fleet_state_health(WS_EXITED), HEALTH_RED, "exited is red");

	/* Crashes in a new process each time: restarts, classes, a crash loop. */
	fleet_add(&fleet, "loop", 20, 1, "x", ORIGIN_REPORT, 0, &worker);
	for (uint32_t i = 0; i < 4; i++) {
		worker = fleet_find(&fleet, "loop");
		fleet_apply_exit(&fleet, worker, &exit,
				 fleet_classify_exit(i == 2 ? SIGKILL : SIGSEGV, false, &exit),
				 (10 + 2 * i) * s);
		fleet_bind_process(&fleet, worker, 21 + i, 1, "x", -1, (11 + 2 * i) * s);
	}
	ASSERT_EQ(worker->restarts_total, 4, "four restarts");
	ASSERT_EQ(worker->exits_by_class[WS_CRASHED], 3, "three crashes");
	ASSERT_EQ(worker->exits_by_class[WS_KILLED], 1, "one kill");
	ASSERT_TRUE(fleet_extras(worker)->has_last_exit &&
			    fleet_extras(worker)->last_exit_state == WS_CRASHED,
		    "the previous incarnation's end is kept");
	ASSERT_TRUE(fleet_crashlooping(worker, 17 * s), "3 crashes in 10 s: crash-looping");
	ASSERT_EQ(fleet_worker_health(worker, WS_WORKING, 17 * s), HEALTH_RED,
		  "red while crash-looping, even working");
	ASSERT_TRUE(strstr(fleet_extras(worker)->crashloop_reason,
			   "crash loop: 4 crashes in 10 s (last: SIGSEGV") != NULL,
		    "the reason counts and names the last crash");
	ASSERT_TRUE(!fleet_crashlooping(worker, 26 * s), "up for the window: no longer");
	fleet_free(&fleet);
}

static json_object *parse_json(char *text)
{
	json_object *root = json_tokener_parse(text);

	free(text);
	return root;
}

static const char *json_str(json_object *obj, const char *key)
{
	json_object *value;

	if (!json_object_object_get_ex(obj, key, &value) || !value)
		return NULL;
	return json_object_get_string(value);
}

static struct snapshot *make_snapshot(struct fleet *fleet)
{
	struct daemon_status status = {.attached = true};

	return snapshot_take(fleet, &status, 0);
}

/* A view at a fixed monotonic time, with the default policy. */
static const struct render_view *at(uint64_t now_ns)
{
	static struct render_view view;

	view = (struct render_view){
		.now_ns = now_ns, .now_real_s = 1.7e9, .policy = {.start_grace_s = 60}};
	return &view;
}

static void test_render_worker_and_host(void)
{
	struct worker_exit exit = {};
	struct snapshot *snapshot;
	json_object *root, *exit_obj, *states, *reasons, *value;
	struct fleet fleet;
	struct worker *worker;

	fleet_init(&fleet, 4, 16);
	fleet_add(&fleet, "alive", 10, 1, "sleep", ORIGIN_API, 1000000000ull, &worker);
	fleet_set_expects_output(&fleet, worker, true, true);
	fleet_add(&fleet, "dead", 11, 1, "sleep", ORIGIN_FLAG, 1000000000ull, &worker);
	fleet_classify_exit(SIGSEGV | 0x80, false, &exit);
	fleet_apply_exit(&fleet, worker, &exit, WS_CRASHED, 2000000000ull);

	root = parse_json(render_worker(worker, NULL, at(4500000000ull)));
	ASSERT_TRUE(root != NULL, "worker JSON parses");
	ASSERT_STREQ(json_str(root, "state"), "crashed", "state");
	ASSERT_STREQ(json_str(root, "health"), "red", "health");
	ASSERT_STREQ(json_str(root, "state_since_age_s"), "2.500", "age from the monotonic clock");
	ASSERT_TRUE(json_object_object_get_ex(root, "exit", &exit_obj) && exit_obj, "exit present");
	ASSERT_STREQ(json_str(exit_obj, "signal_name"), "SIGSEGV", "signal name");
	ASSERT_STREQ(json_str(exit_obj, "core_dumped"), "true", "core dumped");
	ASSERT_TRUE(json_object_object_get_ex(exit_obj, "code", &value) && value == NULL,
		    "code is null when signalled");
	ASSERT_TRUE(json_object_object_get_ex(exit_obj, "killer_pid", &value) && value == NULL,
		    "no killer recorded");
	json_object_put(root);

	root = parse_json(render_worker(&fleet.workers[0], NULL, at(1000000000ull)));
	ASSERT_TRUE(json_object_object_get_ex(root, "exit", &value) && value == NULL,
		    "exit null while alive");
	json_object_put(root);

	snapshot = make_snapshot(&fleet);
	root = parse_json(render_host(snapshot, at(3000000000ull)));
	ASSERT_STREQ(json_str(root, "health"), "red", "host red with a crashed worker");
	ASSERT_EQ(json_object_get_int(json_object_object_get(root, "workers_total")), 2, "total");
	states = json_object_object_get(root, "states");
	ASSERT_EQ(json_object_get_int(json_object_object_get(states, "crashed")), 1, "crashed");
	ASSERT_EQ(json_object_get_int(json_object_object_get(states, "starting")), 1, "starting");
	reasons = json_object_object_get(root, "reasons");
	ASSERT_EQ(json_object_array_length(reasons), 2, "a reason per non-green worker");
	json_object_put(root);
	snapshot_release(snapshot);
	fleet_free(&fleet);
}

/* A worker that was sent SIGTERM by bash[77] and then ended with wait status `status`. */
static struct worker *ended_after_sigterm(struct fleet *fleet, const char *name, uint32_t pid,
					  uint32_t status)
{
	struct worker_exit exit = {};
	struct worker *worker;

	fleet_add(fleet, name, pid, 1, "sleep", ORIGIN_API, 1000000000ull, &worker);
	fleet_classify_exit(status, false, &exit);
	exit.has_killer = true;
	exit.killer_pid = 77;
	exit.kill_signal = SIGTERM;
	strcpy(exit.killer_comm, "bash");
	fleet_apply_exit(fleet, worker, &exit, WS_EXITED, 2000000000ull);
	return worker;
}

/* The last fatal signal sent, beside the exit: its sender is the killer only if it ended it. */
static void test_render_handled_signal(void)
{
	json_object *root, *exit_obj, *value;
	struct fleet fleet;
	struct worker *worker;

	fleet_init(&fleet, 2, 16);
	worker = ended_after_sigterm(&fleet, "handled", 10, 0);
	ASSERT_STREQ(worker->reason, "exit code 0", "a handled signal names no killer");
	root = parse_json(render_worker(worker, NULL, at(4500000000ull)));
	ASSERT_TRUE(json_object_object_get_ex(root, "exit", &exit_obj) && exit_obj, "exit present");
	ASSERT_TRUE(json_object_object_get_ex(exit_obj, "killer_comm", &value) && value == NULL,
		    "no killer");
	ASSERT_TRUE(json_object_object_get_ex(exit_obj, "killer_signal", &value) && value == NULL,
		    "no killing signal");
	ASSERT_STREQ(json_str(exit_obj, "sent_signal"), "15", "the signal sent");
	ASSERT_STREQ(json_str(exit_obj, "sent_by_pid"), "77", "its sender");
	ASSERT_STREQ(json_str(exit_obj, "sent_by_comm"), "bash", "its sender's name");
	json_object_put(root);

	worker = ended_after_sigterm(&fleet, "terminated", 11, SIGTERM);
	ASSERT_STREQ(worker->reason, "SIGTERM from bash[77]", "died of it: the killer is named");
	root = parse_json(render_worker(worker, NULL, at(4500000000ull)));
	ASSERT_TRUE(json_object_object_get_ex(root, "exit", &exit_obj) && exit_obj, "exit present");
	ASSERT_STREQ(json_str(exit_obj, "killer_pid"), "77", "its killer");
	ASSERT_STREQ(json_str(exit_obj, "killer_signal"), "15", "the killing signal");
	ASSERT_STREQ(json_str(exit_obj, "sent_by_pid"), "77", "also the sender");
	json_object_put(root);
	fleet_free(&fleet);
}

static void test_render_host_without_evidence(void)
{
	struct snapshot *snapshot;
	struct fleet fleet;
	json_object *root;
	int healthy;

	fleet_init(&fleet, 1, 16);
	snapshot = make_snapshot(&fleet);
	root = parse_json(render_host(snapshot, at(0)));
	ASSERT_STREQ(json_str(root, "health"), "amber", "no workers is not green");
	json_object_put(root);

	snapshot->status.stats[LP_STAT_RINGBUF_DROPS] = 5;
	snapshot->status.drops_reconciled = 2;
	free(render_healthz(snapshot, &healthy));
	ASSERT_EQ(healthy, 0, "unreconciled drops make /healthz fail");
	snapshot->status.drops_reconciled = 5;
	free(render_healthz(snapshot, &healthy));
	ASSERT_EQ(healthy, 1, "reconciled drops are healthy");
	snapshot_release(snapshot);
	fleet_free(&fleet);
}

static void test_render_caps_reasons(void)
{
	struct snapshot *snapshot;
	struct fleet fleet;
	struct worker *worker;
	json_object *root;
	char name[32];

	fleet_init(&fleet, 200, 16);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		fleet_add(&fleet, name, i + 1, 1, "x", ORIGIN_REPORT, 0, &worker);
	}
	snapshot = make_snapshot(&fleet);
	root = parse_json(render_host(snapshot, at(0)));
	ASSERT_EQ(json_object_array_length(json_object_object_get(root, "reasons")),
		  RENDER_MAX_REASONS + 1, "reasons capped with a summary line");
	json_object_put(root);
	snapshot_release(snapshot);
	fleet_free(&fleet);
}

static void test_opts_sockets(void)
{
	struct opts opts;
	char err[256];

	ASSERT_EQ(parse(&opts, err, 6, "--watch-port", "5000", "--watch-port", "5000",
			"--keepalive", "10,5,3"),
		  OPTS_RUN, "ports and keepalive");
	ASSERT_EQ(opts.n_watch_ports, 1, "a repeated port counts once");
	ASSERT_EQ(opts.keepalive_idle_s, 10, "idle");
	ASSERT_EQ(opts.keepalive_intvl_s, 5, "interval");
	ASSERT_EQ(opts.keepalive_cnt, 3, "count");
	ASSERT_EQ(parse(&opts, err, 2, "--keepalive", "1,1,3"), OPTS_ERROR,
		  "keepalive without a port");
	ASSERT_EQ(parse(&opts, err, 4, "--watch-port", "1", "--keepalive", "1,1"), OPTS_ERROR,
		  "two values");
	ASSERT_EQ(parse(&opts, err, 4, "--watch-port", "1", "--keepalive", "1,1,3,4"), OPTS_ERROR,
		  "four values");
	ASSERT_EQ(parse(&opts, err, 4, "--watch-port", "1", "--keepalive", "0,1,3"), OPTS_ERROR,
		  "zero idle");
	ASSERT_EQ(parse(&opts, err, 4, "--watch-port", "1", "--keepalive", "1,1,128"), OPTS_ERROR,
		  "count above TCP_KEEPCNT's limit");
	ASSERT_EQ(parse(&opts, err, 2, "--watch-port", "0"), OPTS_ERROR, "port 0");
	ASSERT_EQ(parse(&opts, err, 2, "--max-connections", "8"), OPTS_ERROR, "too few");
}

static struct lp_conn kernel_conn(uint8_t state, uint32_t reason, uint64_t changed_ns)
{
	struct lp_conn kernel = {
		.family = AF_INET,
		.local_addr = {10, 0, 0, 1},
		.peer_addr = {10, 0, 0, 2},
		.local_port = 5000,
		.peer_port = 40000,
		.state = state,
		.reason = reason,
		.changed_ns = changed_ns,
	};

	return kernel;
}

static void test_conn_reasons(void)
{
	struct lp_conn kernel = kernel_conn(8 /* CLOSE_WAIT */, LP_CONN_PEER_CLOSED, 100);
	struct conn conn;
	char text[CONN_ENDPOINT_MAX];

	conn_init(&conn, 42, 50);
	ASSERT_TRUE(conn_apply_kernel(&conn, &kernel, 110), "first record changes it");
	ASSERT_STREQ(conn_reason_name(conn.reason), "peer_closed", "peer closed");
	ASSERT_EQ(conn.dead_ns, 100, "death time is the kernel's");
	kernel.reason = LP_CONN_RESET_RECEIVED;
	conn_apply_kernel(&conn, &kernel, 120);
	ASSERT_STREQ(conn_reason_name(conn.reason), "reset_received", "a reset explains more");
	ASSERT_EQ(conn.dead_ns, 100, "still dead since the first evidence");
	kernel.reason = LP_CONN_CLOSED;
	conn_apply_kernel(&conn, &kernel, 130);
	ASSERT_STREQ(conn_reason_name(conn.reason), "reset_received", "a vaguer cause never wins");

	conn_format_endpoint(AF_INET, conn.peer_addr, conn.peer_port, text, sizeof(text));
	ASSERT_STREQ(text, "10.0.0.2:40000", "IPv4 endpoint");
	conn_format_endpoint(AF_INET, conn.peer_addr, 0, text, sizeof(text));
	ASSERT_STREQ(text, "10.0.0.2", "address alone");
	{
		uint8_t v6[16] = {[15] = 1};

		conn_format_endpoint(AF_INET6, v6, 80, text, sizeof(text));
		ASSERT_STREQ(text, "[::1]:80", "IPv6 endpoint in brackets");
	}
	ASSERT_STREQ(conn_errno_name(ETIMEDOUT), "ETIMEDOUT", "errno names");
	ASSERT_STREQ(conn_tcp_state_name(1), "ESTABLISHED", "state names");
}

static void test_conn_suspect(void)
{
	struct lp_conn kernel = kernel_conn(1, LP_CONN_ALIVE, 100);
	struct sockdiag_conn diag = {.family = AF_INET, .state = 1, .has_info = true};
	struct conn conn;

	conn_init(&conn, 7, 0);
	conn_apply_kernel(&conn, &kernel, 100);
	ASSERT_TRUE(!conn.suspect, "fresh connection is not suspect");
	kernel.retransmits = 1;
	kernel.retrans_ns = 1000000000ull;
	conn_apply_kernel(&conn, &kernel, 1000000000ull);
	ASSERT_TRUE(conn.suspect, "a retransmission makes it suspect");
	/* A sample taken right after the retransmission proves nothing yet. */
	conn_apply_diag(&conn, &diag, 1, 1000000000ull + CONN_SUSPECT_SETTLE_NS / 2);
	ASSERT_TRUE(conn.suspect, "too early to clear");
	diag.retransmits = 2;
	conn_apply_diag(&conn, &diag, 2, 2000000000ull);
	ASSERT_TRUE(conn.suspect, "still retransmitting");
	diag.retransmits = 0;
	diag.last_data_recv_ms = 500;
	conn_apply_diag(&conn, &diag, 3, 3000000000ull);
	ASSERT_TRUE(!conn.suspect, "acknowledged: recovered");
	ASSERT_EQ(conn.last_data_recv_ns, 2500000000ull, "silence measured from the sample");
	/* tcp_info's jiffies: the same silence sampled 4 ms later reads 4 ms different. */
	diag.last_data_recv_ms = 508;
	ASSERT_TRUE(!conn_apply_diag(&conn, &diag, 4, 3004000000ull), "jitter is no change");
	ASSERT_EQ(conn.last_data_recv_ns, 2500000000ull, "and the time is kept");
	diag.last_data_recv_ms = 100;
	ASSERT_TRUE(conn_apply_diag(&conn, &diag, 5, 3100000000ull), "new data is a change");
	ASSERT_EQ(conn.last_data_recv_ns, 3000000000ull, "and moves the time");
	diag.unacked = 3;
	ASSERT_TRUE(conn_apply_diag(&conn, &diag, 6, 3100000000ull), "unacked data is a change");
	ASSERT_TRUE(conn_mark_vanished(&conn, 4000000000ull), "vanishing is a change");
	ASSERT_STREQ(conn_reason_name(conn.reason), "closed", "vanished means closed");
	ASSERT_TRUE(conn.gone, "and gone");
}

/* What sockwatch does: change the facts, then let the fleet recount. */
static void apply_kernel(struct fleet *fleet, struct conn *conn, const struct lp_conn *kernel,
			 uint64_t now_ns)
{
	bool was_dead = conn_is_dead(conn), was_suspect = conn->suspect;

	if (conn_apply_kernel(conn, kernel, now_ns))
		fleet_touch_conns(fleet);
	fleet_conn_changed(fleet, conn, was_dead, was_suspect);
}

static void test_fleet_connections(void)
{
	struct lp_conn kernel = kernel_conn(1, LP_CONN_ALIVE, 10);
	struct worker *process, *peer;
	struct snapshot *snapshot;
	struct fleet fleet;
	const struct fleet_dead_conn *pruned;
	struct conn *a, *b;
	size_t n_pruned;

	fleet_init(&fleet, 4, 16);
	fleet_add(&fleet, "proc", 100, 1, "x", ORIGIN_API, 0, &process);
	fleet_add(&fleet, "10.0.0.2", 0, 0, NULL, ORIGIN_PEER, 0, &peer);
	a = fleet_conn_add(&fleet, 1, &fleet.workers[1], 0);
	apply_kernel(&fleet, a, &kernel, 10);
	b = fleet_conn_add(&fleet, 2, &fleet.workers[1], 0);
	apply_kernel(&fleet, b, &kernel, 10);
	fleet_evaluate(&fleet, &fleet.workers[1], 20);
	ASSERT_EQ(fleet.workers[1].state, WS_RUNNING,
		  "live connections of a worker not expected to report: running");

	kernel.retransmits = 1;
	kernel.retrans_ns = 30;
	apply_kernel(&fleet, fleet_conn_find(&fleet, 2), &kernel, 30);
	fleet_evaluate(&fleet, &fleet.workers[1], 30);
	ASSERT_EQ(fleet.workers[1].state, WS_SUSPECT, "one unacknowledged: suspect");
	ASSERT_EQ(fleet_state_health(WS_SUSPECT), HEALTH_AMBER, "suspect is amber");

	kernel = kernel_conn(8, LP_CONN_PEER_CLOSED, 40);
	apply_kernel(&fleet, fleet_conn_find(&fleet, 1), &kernel, 40);
	apply_kernel(&fleet, fleet_conn_find(&fleet, 2), &kernel, 40);
	fleet_evaluate(&fleet, &fleet.workers[1], 40);
	ASSERT_EQ(fleet.workers[1].state, WS_DISCONNECTED, "all dead: disconnected");

	/* A live process whose only connection died: disconnected, with both facts. */
	a = fleet_conn_add(&fleet, 3, &fleet.workers[0], 50);
	apply_kernel(&fleet, a, &kernel, 50);
	fleet_evaluate(&fleet, &fleet.workers[0], 50);
	ASSERT_EQ(fleet.workers[0].state, WS_DISCONNECTED, "process alive, connections dead");
	ASSERT_TRUE(strstr(fleet.workers[0].reason, "process 100 alive") != NULL,
		    "reason names the live process");

	snapshot = snapshot_take(&fleet, &(struct daemon_status){0}, 60);
	ASSERT_EQ(snapshot->n_conns, 3, "every connection published");
	ASSERT_EQ(snapshot->workers[0]->n_conns, 1, "proc owns one");
	ASSERT_EQ(snapshot_conns_of(snapshot, snapshot->workers[0])->cookie, 3, "its own");
	ASSERT_EQ(snapshot->workers[1]->n_conns, 2, "the peer worker owns two");
	snapshot_release(snapshot);

	for (int i = 0; i < FLEET_DEAD_CONNS_KEPT + 2; i++) {
		a = fleet_conn_add(&fleet, 10 + i, &fleet.workers[1], 60 + i);
		kernel.changed_ns = 60 + i;
		apply_kernel(&fleet, a, &kernel, 60 + i);
	}
	n_pruned = fleet_prune_dead_conns(&fleet, &pruned);
	ASSERT_EQ(n_pruned, 4, "all beyond the kept, at once");
	ASSERT_EQ(pruned[0].cookie, 11, "the newest of the dropped first");
	ASSERT_EQ(pruned[3].cookie, 1, "the oldest last");
	ASSERT_EQ(fleet.workers[1].n_conns, FLEET_DEAD_CONNS_KEPT, "dead connections bounded");
	ASSERT_TRUE(fleet_conn_find(&fleet, 1) == NULL, "the oldest went");
	ASSERT_TRUE(fleet_conn_find(&fleet, 15) != NULL, "the newest stayed");
	ASSERT_EQ(fleet_prune_dead_conns(&fleet, &pruned), 0, "nothing more to drop");

	ASSERT_EQ(fleet.workers[1].n_conns_dead, FLEET_DEAD_CONNS_KEPT, "dead count kept");
	fleet_remove(&fleet, fleet_find(&fleet, "10.0.0.2"));
	ASSERT_EQ(fleet.n_conns, 1, "a forgotten worker's connections go with it");
	ASSERT_TRUE(fleet_conn_find(&fleet, 3) == &fleet.conns[0], "the index follows moves");
	ASSERT_TRUE(fleet_find(&fleet, "10.0.0.2") == NULL, "the name is free again");
	ASSERT_TRUE(fleet_find(&fleet, "proc") == &fleet.workers[0], "others still found");
	fleet_free(&fleet);
}

/*
 * The deadline heap judges exactly the workers whose time came: after every tick each worker's
 * state is what judging all of them would give, through registrations and removals.
 */
static void test_fleet_due_heap(void)
{
	struct report report = {.kind = REPORT_EPISODE, .count = 1};
	const uint64_t second = 1000000000ull;
	struct fleet fleet;
	struct worker *worker;
	char name[16];

	fleet_init(&fleet, 64, 4);
	fleet.policy.start_grace_s = 5;
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		fleet_add(&fleet, name, 0, 0, NULL, ORIGIN_REPORT, (uint64_t)i * second / 4,
			  &worker);
		if (i % 3 == 0) { /* some report: stale 5 s after it */
			output_record_episode(&worker->output, &report, (uint64_t)i * second / 4,
					      1.7e9);
			fleet_touch(&fleet, worker);
		}
	}
	for (uint64_t now = 0; now < 30 * second; now += second / 10) {
		fleet_evaluate_due(&fleet, now, false);
		if (now == 8 * second) {
			fleet_remove(&fleet, fleet_find(&fleet, "w3"));
			fleet_remove(&fleet, fleet_find(&fleet, "w20"));
		}
		for (size_t i = 0; i < fleet.count; i++) {
			char reason[FLEET_REASON_MAX];
			enum worker_state expected = fleet_output_state(
				&fleet.workers[i], &fleet.policy, now, reason, sizeof(reason));

			if (!ASSERT_EQ(fleet.workers[i].state, expected, fleet.workers[i].name))
				goto out;
		}
	}
	ASSERT_EQ(fleet.n_due, 0, "every deadline passed: nothing is scheduled");
out:
	fleet_free(&fleet);
}

/* A publish copies the workers that changed and shares the rest with the previous snapshot. */
static void test_snapshot_shares_unchanged(void)
{
	struct report report = {.kind = REPORT_EPISODE, .count = 1};
	struct snapshot *first, *second, *third;
	struct worker *a, *b, *c;
	struct fleet fleet;

	fleet_init(&fleet, 8, 4);
	fleet_add(&fleet, "a", 0, 0, NULL, ORIGIN_API, 0, &a);
	fleet_add(&fleet, "b", 0, 0, NULL, ORIGIN_API, 0, &b);
	fleet_add(&fleet, "c", 0, 0, NULL, ORIGIN_API, 0, &c);
	first = make_snapshot(&fleet);
	snapshot_publish(first);
	first = snapshot_acquire();

	output_record_episode(&b->output, &report, 10, 1.7e9);
	fleet_touch(&fleet, b);
	second = make_snapshot(&fleet);
	snapshot_publish(second);
	second = snapshot_acquire();
	ASSERT_TRUE(second->workers[0] == first->workers[0], "an unchanged worker is shared");
	ASSERT_TRUE(second->workers[1] != first->workers[1], "a changed one is copied");
	ASSERT_EQ(first->workers[1]->output.episodes_total, 0, "the old snapshot keeps its facts");
	ASSERT_EQ(second->workers[1]->output.episodes_total, 1, "the new one has the new facts");
	ASSERT_TRUE(second->workers[2] == first->workers[2], "the last one is shared too");

	fleet_remove(&fleet, fleet_find(&fleet, "a"));
	third = make_snapshot(&fleet);
	ASSERT_EQ(third->count, 2, "a removed worker is gone");
	ASSERT_TRUE(third->workers[0] == second->workers[1] &&
			    third->workers[1] == second->workers[2],
		    "the others are still shared after it");
	snapshot_release(third);
	snapshot_release(first);
	snapshot_release(second);
	snapshot_forget();
	fleet_free(&fleet);
}

struct bulk_probe {
	bool as_loop;
	unsigned long before_check, at_check, after_slices; /* bulk_yields() */
};

/* Runs on a thread of its own, so the per-thread counts start at zero. */
static void *bulk_thread(void *arg)
{
	struct bulk_probe *probe = arg;
	uint64_t start;

	if (probe->as_loop)
		bulk_is_loop();
	for (int i = 0; i < BULK_CHECK_EVERY - 1; i++)
		bulk_pause();
	probe->before_check = bulk_yields();
	bulk_pause();
	probe->at_check = bulk_yields();
	start = clock_mono_ns();
	for (unsigned int i = 0; clock_mono_ns() - start < 3 * BULK_SLICE_NS || i < 64; i++)
		bulk_pause();
	probe->after_slices = bulk_yields();
	return NULL;
}

/* A bulk thread yields once its slice has passed, reading the clock every BULK_CHECK_EVERY
 * items; the loop's thread never does. Only counts are checked, never how long anything took. */
static void test_bulk_yields(void)
{
	struct bulk_probe worker = {.as_loop = false}, loop = {.as_loop = true};
	pthread_t thread;

	if (!ASSERT_EQ(pthread_create(&thread, NULL, bulk_thread, &worker), 0, "a bulk thread"))
		return;
	pthread_join(thread, NULL);
	ASSERT_EQ(worker.before_check, 0, "no clock read before BULK_CHECK_EVERY items");
	ASSERT_EQ(worker.at_check, 1, "the first check finds its slice passed");
	ASSERT_TRUE(worker.after_slices >= 2, "another yield once the slice passed again");
	if (!ASSERT_EQ(pthread_create(&thread, NULL, bulk_thread, &loop), 0, "a loop thread"))
		return;
	pthread_join(thread, NULL);
	ASSERT_EQ(loop.at_check + loop.after_slices, 0, "the loop's thread never yields");
}

/*
 * Without a removal a publish copies only the workers the fleet listed as changed and those
 * added; a replaced copy lives while a snapshot that holds it does; another fleet shares nothing.
 */
static void test_snapshot_in_place(void)
{
	struct report report = {.kind = REPORT_EPISODE, .count = 1};
	struct snapshot *held, *latest = NULL;
	struct fleet fleet, other;
	struct worker *worker;
	char name[16];

	fleet_init(&fleet, 64, 4);
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "w%d", i);
		fleet_add(&fleet, name, 0, 0, NULL, ORIGIN_API, 0, &worker);
	}
	held = make_snapshot(&fleet);
	ASSERT_EQ(fleet.n_changed, 0, "a copy empties the list");
	for (int round = 1; round <= 5; round++) {
		output_record_episode(&fleet.workers[3].output, &report, round, 1.7e9);
		fleet_touch(&fleet, &fleet.workers[3]);
		fleet_touch(&fleet, &fleet.workers[3]);
		ASSERT_EQ(fleet.n_changed, 1, "a worker is listed once however often it changes");
		snprintf(name, sizeof(name), "new%d", round);
		fleet_add(&fleet, name, 0, 0, NULL, ORIGIN_API, 0, &worker);
		snapshot_release(latest);
		latest = make_snapshot(&fleet);
	}
	ASSERT_EQ(latest->count, 13, "the added workers are there");
	ASSERT_STREQ(latest->workers[12]->name, "new5", "in registration order");
	ASSERT_TRUE(latest->workers[2] == held->workers[2], "an unchanged worker is shared");
	ASSERT_EQ(latest->workers[3]->output.episodes_total, 5, "the changed one is current");
	/* Under ASan a copy freed while held is a use after free here. */
	ASSERT_EQ(held->workers[3]->output.episodes_total, 0, "a held snapshot keeps its copy");
	ASSERT_TRUE(snapshot_find_name(latest, "new3") == latest->workers[10], "found by name");
	snapshot_release(held);

	fleet_init(&other, 64, 4);
	fleet_add(&other, "w0", 0, 0, NULL, ORIGIN_API, 0, &worker);
	held = make_snapshot(&other);
	ASSERT_TRUE(held->workers[0] != latest->workers[0], "another fleet shares nothing");
	ASSERT_STREQ(latest->workers[0]->name, "w0", "and the first fleet's copy lives on");
	snapshot_release(held);
	snapshot_release(latest);
	snapshot_forget();
	fleet_free(&other);
	fleet_free(&fleet);
}

/*
 * Connections are copied into a snapshot only when one changed: a report, a death or a new
 * worker without connections shares the last copy, and each worker still finds its own.
 */
static void test_snapshot_conns_shared(void)
{
	struct report report = {.kind = REPORT_EPISODE, .count = 1};
	struct lp_conn kernel = kernel_conn(1, LP_CONN_ALIVE, 10);
	struct snapshot *first, *second, *third;
	struct worker *a, *b, *added;
	struct fleet fleet;

	fleet_init(&fleet, 8, 8);
	fleet_add(&fleet, "a", 0, 0, NULL, ORIGIN_PEER, 0, &a);
	fleet_add(&fleet, "b", 0, 0, NULL, ORIGIN_PEER, 0, &b);
	apply_kernel(&fleet, fleet_conn_add(&fleet, 1, &fleet.workers[1], 0), &kernel, 10);
	apply_kernel(&fleet, fleet_conn_add(&fleet, 2, &fleet.workers[0], 0), &kernel, 10);
	first = make_snapshot(&fleet);

	output_record_episode(&fleet.workers[0].output, &report, 20, 1.7e9);
	fleet_touch(&fleet, &fleet.workers[0]);
	fleet_add(&fleet, "added", 0, 0, NULL, ORIGIN_API, 0, &added);
	second = make_snapshot(&fleet);
	ASSERT_TRUE(second->copy != first->copy, "a new fleet copy");
	ASSERT_TRUE(second->conns == first->conns, "the same connections, shared");
	ASSERT_EQ(snapshot_conns_of(second, second->workers[0])->cookie, 2, "a finds its own");
	ASSERT_EQ(snapshot_conns_of(second, second->workers[1])->cookie, 1, "b finds its own");
	ASSERT_EQ(second->workers[2]->n_conns, 0, "the new worker owns none");

	kernel.retransmits = 3;
	apply_kernel(&fleet, fleet_conn_find(&fleet, 1), &kernel, 30);
	third = make_snapshot(&fleet);
	ASSERT_TRUE(third->conns != second->conns, "a changed connection is copied anew");
	ASSERT_EQ(snapshot_conns_of(third, third->workers[1])->retransmits, 3, "and current");
	ASSERT_EQ(snapshot_conns_of(second, second->workers[1])->retransmits, 0,
		  "while a held snapshot keeps what it showed");
	snapshot_release(first);
	snapshot_release(second);
	snapshot_release(third);

	fleet_remove(&fleet, fleet_find(&fleet, "a"));
	first = make_snapshot(&fleet);
	ASSERT_EQ(first->n_conns, 1, "a removal regroups");
	ASSERT_EQ(snapshot_conns_of(first, first->workers[0])->cookie, 1, "b still finds its own");
	snapshot_release(first);
	snapshot_forget();
	fleet_free(&fleet);
}

/* The suspect reason names a connection that is still suspect. */
static void test_fleet_suspect_named(void)
{
	struct lp_conn kernel = kernel_conn(1, LP_CONN_ALIVE, 10);
	struct sockdiag_conn ok = {.family = AF_INET, .state = 1, .has_info = true};
	struct worker *worker;
	struct fleet fleet;
	struct conn *a, *b;

	fleet_init(&fleet, 2, 4);
	fleet_add(&fleet, "w", 0, 0, NULL, ORIGIN_PEER, 0, &worker);
	kernel.retransmits = 1;
	kernel.retrans_ns = 100;
	a = fleet_conn_add(&fleet, 1, worker, 0);
	apply_kernel(&fleet, a, &kernel, 100);
	kernel.peer_port = 40001;
	b = fleet_conn_add(&fleet, 2, worker, 0);
	apply_kernel(&fleet, b, &kernel, 110);
	/* b became suspect last, then recovers; a is still suspect. */
	conn_apply_diag(b, &ok, 1, 1000000000ull);
	fleet_conn_changed(&fleet, b, false, true);
	fleet_evaluate(&fleet, worker, 1000000000ull);
	ASSERT_EQ(worker->state, WS_SUSPECT, "still suspect");
	ASSERT_TRUE(strstr(worker->reason, "10.0.0.2:40000") != NULL,
		    "names the one still suspect");
	fleet_free(&fleet);
}

static void test_u64map(void)
{
	struct u64map map;
	uint32_t value;
	int stored = 0;

	ASSERT_OK(u64map_init(&map, 1000), "init");
	for (uint64_t key = 1; key <= 1000; key++)
		stored += u64map_put(&map, key << 32, key) == 0;
	ASSERT_EQ(stored, 1000, "room for the limit");
	for (uint64_t key = 2; key <= 1000; key += 2)
		u64map_del(&map, key << 32);
	ASSERT_EQ(map.count, 500, "half deleted");
	stored = 0;
	for (uint64_t key = 1; key <= 1000; key++) {
		bool found = u64map_get(&map, key << 32, &value);

		stored += found ? (value == key && key % 2) : !(key % 2);
	}
	ASSERT_EQ(stored, 1000, "every odd key found with its value, no even one");
	u64map_free(&map);
}

static struct report parsed[8];
static size_t n_parsed;

static void collect_report(void *ctx, const struct report *report)
{
	(void)ctx;
	if (n_parsed < 8)
		parsed[n_parsed++] = *report;
}

static size_t parse_datagram(const char *text, uint64_t errors[REPORT_ERR__COUNT])
{
	n_parsed = 0;
	memset(errors, 0, sizeof(uint64_t) * REPORT_ERR__COUNT);
	return report_parse_datagram(text, strlen(text), collect_report, NULL, errors);
}

static void test_report_lines(void)
{
	uint64_t errors[REPORT_ERR__COUNT];
	struct report report;
	char long_line[REPORT_LINE_MAX + 20];

	ASSERT_EQ(report_parse_line("episode worker=a", 16, &report), REPORT_OK, "minimal");
	ASSERT_EQ(report.count, 1, "count defaults to 1");
	ASSERT_TRUE(!report.has_completed_at && !report.pid && !report.has_peer, "defaults");
	ASSERT_EQ(parse_datagram("episode worker=a completed_at=1700000000.25 count=3 pid=42 "
				 "peer=[::ffff:10.0.0.2]:5000 seq=7 future=thing flag",
				 errors),
		  1, "every field, plus unknown ones");
	ASSERT_TRUE(parsed[0].completed_at == 1700000000.25, "completed_at");
	ASSERT_EQ(parsed[0].count, 3, "count");
	ASSERT_EQ(parsed[0].pid, 42, "pid");
	ASSERT_EQ(parsed[0].peer_family, AF_INET, "IPv4-mapped peer normalised");
	ASSERT_EQ(parsed[0].peer_port, 5000, "peer port");
	ASSERT_EQ(parsed[0].seq, 7, "seq");

	ASSERT_EQ(parse_datagram("hello worker=a\r\n\nbye worker=a\nepisode worker=b "
				 "completed_at=nan\nepisode worker=b completed_at=-5\nepisode "
				 "worker=b count=0\nepisode worker=b count=1000001\nepisode "
				 "worker=a+b/c\nrestart worker=a\nepisode count=2\nepisode "
				 "worker=b completed_at=inf\nepisode worker=b peer=10.0.0.1\n",
				 errors),
		  2, "the good lines survive the bad ones");
	ASSERT_EQ(parsed[0].kind, REPORT_HELLO, "hello");
	ASSERT_EQ(parsed[1].kind, REPORT_BYE, "bye");
	ASSERT_EQ(errors[REPORT_ERR_BAD_COMPLETED_AT], 3, "nan, negative, inf");
	ASSERT_EQ(errors[REPORT_ERR_BAD_COUNT], 2, "zero and huge counts");
	ASSERT_EQ(errors[REPORT_ERR_BAD_WORKER], 1, "bad name");
	ASSERT_EQ(errors[REPORT_ERR_UNKNOWN_VERB], 1, "unknown verb");
	ASSERT_EQ(errors[REPORT_ERR_MISSING_WORKER], 1, "no worker");
	ASSERT_EQ(errors[REPORT_ERR_BAD_PEER], 1, "peer without port");

	memset(long_line, 'a', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	memcpy(long_line, "episode worker=x ", 17);
	ASSERT_EQ(parse_datagram(long_line, errors), 0, "an over-long line is dropped");
	ASSERT_EQ(errors[REPORT_ERR_TOO_LONG], 1, "counted as too long");
	ASSERT_EQ(report_parse_datagram("episode worker=a\0\x01", 19, collect_report, NULL, errors),
		  0, "binary is dropped");
	ASSERT_EQ(errors[REPORT_ERR_BINARY], 1, "counted as binary");
}

static void test_report_notify(void)
{
	uint64_t errors[REPORT_ERR__COUNT];

	ASSERT_EQ(parse_datagram("READY=1\nSTATUS=warming up: 3/5\nWATCHDOG=1\nMAINPID=7\n"
				 "LIVEPROBE_WORKER=learner-0",
				 errors),
		  1, "one sd_notify message");
	ASSERT_EQ(parsed[0].kind, REPORT_NOTIFY, "notify");
	ASSERT_TRUE(parsed[0].ready && parsed[0].watchdog && !parsed[0].stopping, "flags");
	ASSERT_STREQ(parsed[0].status, "warming up: 3/5", "status keeps its spaces");
	ASSERT_STREQ(parsed[0].worker, "learner-0", "named by LIVEPROBE_WORKER");
	ASSERT_EQ(parse_datagram("STOPPING=1", errors), 1, "stopping");
	ASSERT_TRUE(parsed[0].stopping && !parsed[0].worker[0], "named by the sender");
}

static void test_output_rates(void)
{
	struct output_policy policy = {.start_grace_s = 60};
	struct report report = {.kind = REPORT_EPISODE, .count = 1, .has_completed_at = true};
	const double t0 = 1700000000.0;
	struct output steady = {0}, skewed = {0};
	double offset;

	/* Two workers, one episode a second for two minutes; one clock is 10 minutes fast. */
	for (int i = 0; i < 120; i++) {
		uint64_t now_ns = (uint64_t)(i + 1) * 1000000000ull;
		double now = t0 + i + 0.05; /* received 50 ms after completion */

		report.completed_at = t0 + i;
		output_record_episode(&steady, &report, now_ns, now);
		report.completed_at = t0 + i + 600;
		output_record_episode(&skewed, &report, now_ns, now);
	}
	ASSERT_TRUE(fabs(output_per_min(&steady, t0 + 120) - 60) <= 1, "60 per minute");
	ASSERT_TRUE(fabs(output_per_min(&skewed, t0 + 120) - output_per_min(&steady, t0 + 120)) <=
			    1,
		    "a fast clock is rated like a correct one");
	ASSERT_TRUE(output_clock_offset(&skewed, t0 + 120, &offset) && fabs(offset - 600) < 0.1,
		    "the offset is estimated");
	ASSERT_TRUE(output_clock_offset(&steady, t0 + 120, &offset) && fabs(offset) < 0.1,
		    "a correct clock reads about 0");

	/* 30 episodes completed over minutes 2..5 ago, flushed in one burst now. */
	for (int i = 0; i < 30; i++) {
		report.completed_at = t0 + 120 - 300 + i * 6;
		output_record_episode(&steady, &report, 121000000000ull, t0 + 120.5);
	}
	ASSERT_TRUE(output_per_min(&steady, t0 + 121) <= 61, "a burst flush does not inflate");
	ASSERT_EQ(steady.episodes_total, 150, "but it is counted");

	ASSERT_TRUE(fabs(steady.gap_mean_s - 1) < 0.1, "rhythm about 1 s");
	ASSERT_TRUE(output_stale_after(&steady, &policy) >= OUTPUT_STALE_FLOOR_S &&
			    output_stale_after(&steady, &policy) < 5,
		    "a fast worker goes stale within seconds");
	policy.stale_after_s = 30;
	ASSERT_TRUE(output_stale_after(&steady, &policy) == 30, "a fixed threshold wins");
}

/* A worker clock that steps back an hour, or freezes, is still rated by its real rhythm. */
static void test_output_clock_steps(void)
{
	struct report report = {.kind = REPORT_EPISODE, .count = 1, .has_completed_at = true};
	const double t0 = 1700000000.0;
	struct output stepped = {0}, frozen = {0};

	/* 10 Hz for two minutes, then the clock steps back 1 h (or stops) for another two. */
	for (int i = 0; i < 2400; i++) {
		double now = t0 + i * 0.1;
		uint64_t now_ns = (uint64_t)(i + 1) * 100000000ull;

		report.completed_at = now - 0.01 - (i >= 1200 ? 3600 : 0);
		output_record_episode(&stepped, &report, now_ns, now);
		report.completed_at = i >= 1200 ? t0 + 120 : now - 0.01;
		output_record_episode(&frozen, &report, now_ns, now);
	}
	ASSERT_TRUE(fabs(output_per_min(&stepped, t0 + 240) - 600) <= 30,
		    "a clock stepped back 1 h: still 600 per minute");
	ASSERT_TRUE(fabs(output_per_min(&frozen, t0 + 240) - 600) <= 60,
		    "a frozen clock: still about 600 per minute");
}

/* Whatever is reported, nothing overflows: a far completed_at, a huge seq jump. */
static void test_output_hostile_values(void)
{
	struct report report = {.kind = REPORT_EPISODE, .count = 1, .has_completed_at = true};
	struct output output = {0};

	report.completed_at = 1e300;
	output_record_episode(&output, &report, 1000000000ull, 1.7e9);
	report.completed_at = 1.7e9;
	output_record_episode(&output, &report, 2000000000ull, 1.7e9 + 1);
	ASSERT_TRUE(output_per_min(&output, 1.7e9 + 1) >= 0, "rates stay defined");

	report.has_completed_at = false;
	report.has_seq = true;
	report.seq = 1;
	output_record_episode(&output, &report, 3000000000ull, 1.7e9 + 2);
	report.seq = UINT64_MAX;
	output_record_episode(&output, &report, 4000000000ull, 1.7e9 + 3);
	report.seq = 5;
	output_record_episode(&output, &report, 5000000000ull, 1.7e9 + 4);
	ASSERT_TRUE(output.seq_gaps <= OUTPUT_SEQ_MAX_GAP,
		    "a wild seq is a restart, not 1.8e19 gaps");
}

/* Text from outside becomes valid, printable UTF-8. */
static void test_text_clean(void)
{
	char out[16];

	ASSERT_STREQ(text_clean(out, sizeof(out), "plain", 5), "plain", "ASCII kept");
	ASSERT_STREQ(text_clean(out, sizeof(out), "a\xff" "b", 3), "a?b", "invalid byte replaced");
	ASSERT_STREQ(text_clean(out, sizeof(out), "\x1b[31mred", 8), "?[31mred",
		     "terminal escape defused");
	ASSERT_STREQ(text_clean(out, sizeof(out),
				"caf\xc3"
				"\xa9",
				5),
		     "caf\xc3"
		     "\xa9",
		     "UTF-8 kept");
	ASSERT_STREQ(text_clean(out, sizeof(out), "\xc0\xaf", 2), "??", "overlong refused");
	ASSERT_STREQ(text_clean(out, sizeof(out), "\xc2\x85", 2), "??", "C1 control refused");
	ASSERT_STREQ(text_clean(out, 5, "abc\xc3" "\xa9", 5), "abc", "never half a character");
	ASSERT_EQ(proc_parse_status_uid("Name:\tx\nUid:\t1001\t1001\t1001\t1001\n"), 1001,
		  "uid from status");
	ASSERT_EQ(proc_parse_status_uid("Name:\tx\n"), PROC_NO_UID, "no uid line");
}

/* JSON reports take each field in its own type: no coercion, no embedded NUL. */
static void test_report_json_types(void)
{
	static const char *const refused[] = {
		"{\"worker\":{\"a\":1}}",   "{\"worker\":true}",	 "{\"worker\":-7}",
		"{\"worker\":\"a\\u0000b\"}", "{\"worker\":\"a\",\"pid\":\"12\"}",
		"{\"worker\":\"a\",\"count\":1.5}", "{\"worker\":\"a\",\"type\":7}",
		"{\"worker\":\"a\",\"completed_at\":\"soon\"}", "{\"worker\":[\"a\"]}",
	};
	struct report report;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		json_object *obj = json_tokener_parse(refused[i]);

		if (!ASSERT_OK_PTR(obj, refused[i]))
			continue;
		ASSERT_TRUE(report_from_json(obj, &report) != REPORT_OK, refused[i]);
		json_object_put(obj);
	}
	{
		json_object *obj = json_tokener_parse(
			"{\"worker\":\"a\",\"count\":3,\"completed_at\":1700000000.5,\"x\":{}}");

		ASSERT_EQ(report_from_json(obj, &report), REPORT_OK, "right types, unknown key");
		ASSERT_EQ(report.count, 3, "count");
		json_object_put(obj);
	}
}

static void test_output_seq(void)
{
	struct report report = {.kind = REPORT_EPISODE, .count = 1, .has_seq = true};
	struct output output = {0};
	const uint64_t seqs[] = {1, 2, 5, 6, 6, 3, 9};

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		report.seq = seqs[i];
		output_record_episode(&output, &report, (i + 1) * 1000000000ull, 1.7e9 + i);
	}
	ASSERT_EQ(output.seq_gaps, 4, "3, 4, 7 and 8 were missing when later ones came");
}

static void test_route_lanes(void)
{
	static const struct {
		const char *head;
		enum route_lane lane;
	} cases[] = {
		{"", ROUTE_LANE_UNDECIDED},
		{"G", ROUTE_LANE_UNDECIDED},
		{"GET /api/v1/ev", ROUTE_LANE_UNDECIDED},
		{"GET /api/v1/events", ROUTE_LANE_UNDECIDED},
		{"GET /api/v1/events HTTP/1.1\r\n", ROUTE_LANE_EVENTS},
		{"GET /api/v1/events?x=1 HTTP/1.1", ROUTE_LANE_EVENTS},
		{"GET /api/v1/eventsX HTTP/1.1", ROUTE_LANE_POOL},
		{"GET /api/v1/events/ HTTP/1.1", ROUTE_LANE_POOL},
		{"GET /api/v1/%65vents HTTP/1.1", ROUTE_LANE_POOL},
		{"HEAD /api/v1/events HTTP/1.1", ROUTE_LANE_POOL},
		{"get /api/v1/events HTTP/1.1", ROUTE_LANE_POOL},
		{"\r\nGET /api/v1/events HTTP/1.1", ROUTE_LANE_POOL},
		{"GET /api/v1/workers HTTP/1.1", ROUTE_LANE_POOL},
		{"GG", ROUTE_LANE_POOL},
		{"POST /api/v1/events HTTP/1.1", ROUTE_LANE_POOL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ASSERT_EQ(route_lane_of(cases[i].head, strlen(cases[i].head)), cases[i].lane,
			  cases[i].head);
	/* What decides is always within the first ROUTE_LANE_DECIDES bytes. */
	ASSERT_EQ(route_lane_of("GET /api/v1/events ", ROUTE_LANE_DECIDES), ROUTE_LANE_EVENTS,
		  "the byte after the path decides");
}

static const struct harness_test tests[] = {
	{"unit/opts_defaults", test_opts_defaults},
	{"unit/opts_values", test_opts_values},
	{"unit/opts_errors", test_opts_errors},
	{"unit/worker_names", test_worker_names},
	{"unit/proc_parse_stat", test_proc_parse_stat},
	{"unit/classify_exit", test_classify_exit},
	{"unit/fleet_lifecycle", test_fleet_lifecycle},
	{"unit/fleet_incarnations", test_fleet_incarnations},
	{"unit/render_worker_and_host", test_render_worker_and_host},
	{"unit/render_handled_signal", test_render_handled_signal},
	{"unit/render_host_without_evidence", test_render_host_without_evidence},
	{"unit/render_caps_reasons", test_render_caps_reasons},
	{"unit/opts_sockets", test_opts_sockets},
	{"unit/conn_reasons", test_conn_reasons},
	{"unit/conn_suspect", test_conn_suspect},
	{"unit/fleet_connections", test_fleet_connections},
	{"unit/snapshot_shares_unchanged", test_snapshot_shares_unchanged},
	{"unit/snapshot_in_place", test_snapshot_in_place},
	{"unit/snapshot_conns_shared", test_snapshot_conns_shared},
	{"unit/bulk_yields", test_bulk_yields},
	{"unit/fleet_due_heap", test_fleet_due_heap},
	{"unit/fleet_suspect_named", test_fleet_suspect_named},
	{"unit/u64map", test_u64map},
	{"unit/report_lines", test_report_lines},
	{"unit/report_notify", test_report_notify},
	{"unit/output_rates", test_output_rates},
	{"unit/output_seq", test_output_seq},
	{"unit/output_clock_steps", test_output_clock_steps},
	{"unit/output_hostile_values", test_output_hostile_values},
	{"unit/text_clean", test_text_clean},
	{"unit/report_json_types", test_report_json_types},
	{"unit/route_lanes", test_route_lanes},
};

int main(int argc, char **argv)
{
	return harness_run(tests, sizeof(tests) / sizeof(tests[0]), argc > 1 ? argv[1] : NULL) ? 1
											       : 0;
}
