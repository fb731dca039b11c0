// SPDX-License-Identifier: GPL-2.0
/* See opts.h. Numbers are parsed strictly: no sign, no trailing text, no silent clamping. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "log.h"
#include "opts.h"
#include "version.h"


static const char usage_text[] =
	"Usage: liveprobed [OPTION]...\n"
	"Kernel-level liveness probe for fleets of worker processes.\n"
	"\n"
	"BPF programs on process-exit and TCP tracepoints see a crash, a kill, an OOM kill, a\n"
	"reset or a dead peer of every watched worker the moment the kernel does; the\n"
	"verdicts are served over HTTP.\n"
	"\n"
	"Options:\n"
	"  --listen ADDR:PORT      HTTP API address (default " OPTS_DEFAULT_LISTEN ").\n"
	"                          Binding anything but loopback prints a warning.\n"
	"  --watch-pid [NAME=]PID[,expects-output]\n"
	"                          watch a running process; NAME defaults to COMM-PID\n"
	"                          (repeatable). Judged by the kernel alone (running while\n"
	"                          alive) until it first reports, or on its reports from the\n"
	"                          start with ,expects-output\n"
	"  --watch-comm COMM       watch every process, running now or started later, whose\n"
	"                          command name is COMM (at most 15 bytes; repeatable)\n"
	"  --watch-port PORT       every TCP connection whose local or remote port is PORT is a\n"
	"                          worker connection (repeatable, at most 64). A connection\n"
	"                          hangs under the watched process that owns it, otherwise\n"
	"                          under a worker named after its peer, IP:PORT\n"
	"  --group-by-peer-ip      name connection-only workers after the peer's IP alone, so a\n"
	"                          reconnecting peer stays one worker\n"
	"  --keepalive IDLE,INTVL,CNT\n"
	"                          make the kernel probe idle watched connections: a cgroup v2\n"
	"                          sockops program sets SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT and\n"
	"                          TCP_USER_TIMEOUT = IDLE+INTVL*CNT s on them when they are\n"
	"                          established. This changes those connections: a silent peer\n"
	"                          is dropped after that time. Seconds, e.g. 10,5,3\n"
	"  --all-netns             watch connections in every network namespace, not only the\n"
	"                          daemon's (sock_diag repair then covers only the daemon's)\n"
	"  --max-connections N     limit on tracked connections (default 16384, 16..1048576)\n"
	"  --pin-root DIR          bpffs directory for pinned maps (default " OPTS_DEFAULT_PIN_ROOT
	")\n"
	"  --ingest PATH           Unix datagram socket for worker reports: episode/hello/bye\n"
	"                          lines and sd_notify (default " OPTS_DEFAULT_INGEST ")\n"
	"  --ingest-group GROUP    the group that owns the ingest socket: its members (and root)\n"
	"                          may report (default: the daemon's group)\n"
	"  --ingest-udp ADDR:PORT  also take report lines over UDP (e.g. 127.0.0.1:9477); not\n"
	"                          loopback prints a warning. UDP reports are not authenticated:\n"
	"                          they feed only workers that UDP created, never bind a pid and\n"
	"                          never change a worker the kernel watches\n"
	"  --api-socket PATH       control socket: the HTTP API over a Unix stream socket, where\n"
	"                          root and --api-group members may write (default\n"
	"                          " OPTS_DEFAULT_API_SOCKET ", mode 0660; \"\" for none)\n"
	"  --api-group GROUP       the group whose members may write through the control socket\n"
	"                          (default: root only)\n"
	"  --api-token-file FILE   writes over --listen need \"Authorization: Bearer TOKEN\" with\n"
	"                          the token in FILE (owned by root, mode 0600 or 0640);\n"
	"                          without it, writes over TCP are refused. Reads stay open\n"
	"  --stale-after SECONDS   a live worker without output for this long is stale (default:\n"
	"                          adaptive, from each worker's own rhythm, 1..600 s)\n"
	"  --start-grace SECONDS   how long a worker may go without any output (or with too few\n"
	"                          reports to know its rhythm) before it is stale (default 60)\n"
	"  --crash-loop COUNT,SECONDS\n"
	"                          a worker whose processes crashed or were killed COUNT times\n"
	"                          within SECONDS is crash-looping: red until it stays up that\n"
	"                          long (default 3,300; COUNT 2..16)\n"
	"  --forget-after SECONDS  remove dead and stopped workers this long after they ended\n"
	"                          (default: never for named workers, 600 s for workers\n"
	"                          adopted by --watch-comm or a cgroup watch)\n"
	"  --watch-cgroup PATH     a cgroup v2 directory (absolute, or under the cgroup2 mount)\n"
	"                          is one worker named after it: every process in it is\n"
	"                          watched, its main process (the oldest) decides (repeatable)\n"
	"  --watch-unit NAME.service\n"
	"                          the same for a systemd unit's cgroup (repeatable)\n"
	"  --state-dir DIR         known workers are kept here across restarts, in\n"
	"                          workers.json (default " OPTS_DEFAULT_STATE_DIR ")\n"
	"  --max-workers N         limit on watched workers (default 16384, at most 1048576)\n"
	"  --ringbuf-size BYTES    kernel-to-daemon ring buffer, a power of two >= 4096\n"
	"                          (default 1048576)\n"
	"  --reconcile-ms MS       how often watched processes and connections are checked\n"
	"                          against /proc, sock_diag and the kernel maps, to repair lost\n"
	"                          events and sample tcp_info (default 1000, 10..60000)\n"
	"  --http-connections N    concurrent HTTP connections, served by a pool of 4 threads\n"
	"                          (default 4096, 1..65536), and as many event streams on their\n"
	"                          own thread; a request's headers and body must arrive within\n"
	"                          10 s of the accept, an idle connection closes after 30 s\n"
	"  --http-connections-per-client N\n"
	"                          concurrent connections from one client address (default\n"
	"                          64, 1..65536)\n"
	"  --on-transition COMMAND run COMMAND (with /bin/sh) on every worker state transition,\n"
	"                          with LIVEPROBE_WORKER, _FROM, _TO, _REASON and _AT set; never\n"
	"                          waited for; at most 16 at once\n"
	"  --sse-clients N         concurrent GET /api/v1/events streams (default 16, 1..1024)\n"
	"  --loop-nice N           nice value of the event loop's thread, which turns kernel\n"
	"                          events into verdicts, and of the event-stream thread, which\n"
	"                          sends them, so that a death is not queued behind bulk HTTP\n"
	"                          bodies (default -10, -20..0; 0: leave them as started).\n"
	"                          Needs CAP_SYS_NICE at start, or LimitNICE=\n"
	"  --bpf-stats             count the BPF programs' run time (kernel.bpf_stats_enabled,\n"
	"                          held on while the daemon runs; costs a few ns per run)\n"
	"  --expected-workers N    how many workers should be producing; exported in /metrics\n"
	"                          for the \"fewer producing than expected\" alert\n"
	"  --config FILE           read options from FILE first: one \"key = value\" per line,\n"
	"                          keys as the long options (\"watch-port = 6000\", \"verbose =\n"
	"                          true\"), # comments. Flags on the command line win; lists\n"
	"                          (watch-pid, watch-comm, watch-port) add up\n"
	"  --reset-pins            drop what a previous daemon left under --pin-root instead of\n"
	"                          taking it over (the facts recorded there are lost)\n"
	"  --unload                remove the pins under --pin-root, so every program detaches,\n"
	"                          and exit (a stopped daemon otherwise keeps recording)\n"
	"  --dump-maps             print what is pinned under --pin-root, decoded (counters,\n"
	"                          watched processes and their recorded deaths, connections),\n"
	"                          and exit; works beside a running daemon\n"
	"  --no-sandbox            keep every capability and allow every system call after start\n"
	"                          (for debugging; by default only CAP_SYS_PTRACE and\n"
	"                          CAP_DAC_READ_SEARCH stay, under a seccomp allowlist)\n"
	"  --log-level LEVEL       error, warn, info (default: every transition, one line each,\n"
	"                          with a key=value tail) or debug (libbpf's own output too)\n"
	"  --verbose               the same as --log-level debug\n"
	"  -h, --help              this text\n"
	"  --version               version\n"
	"\n"
	"Connection-only workers are named after the peer, IP:PORT; a connection whose owner is a\n"
	"watched process hangs under it instead.\n"
	"\n"
	"Reports: one or more lines per datagram to --ingest, any language:\n"
	"  episode worker=NAME [completed_at=UNIX_SECONDS] [count=N] [pid=PID] [peer=IP:PORT] "
	"[seq=N]\n"
	"  hello worker=NAME [pid=PID] [peer=IP:PORT]      bye worker=NAME\n"
	"or sd_notify (READY=1, WATCHDOG=1, STOPPING=1, STATUS=..., LIVEPROBE_WORKER=NAME).\n"
	"\n"
	"HTTP API: GET /healthz, /api/v1/host, /api/v1/workers, /api/v1/workers/NAME (each takes\n"
	"?stale_after=SECONDS); POST /api/v1/workers {\"name\":\"a\",\"pid\":123};\n"
	"DELETE /api/v1/workers/NAME; POST /api/v1/episodes [{\"worker\":\"a\",...}].\n"
	"\n"
	"Needs root, or CAP_BPF + CAP_PERFMON (+ CAP_NET_ADMIN for --keepalive), and a kernel\n"
	"with BTF (/sys/kernel/btf/vmlinux).\n"
	"Exit status: 0 after SIGINT/SIGTERM, 1 on any start-up error (one line on stderr).\n";

void opts_defaults(struct opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts_parse_hostport(OPTS_DEFAULT_LISTEN, opts->listen_host, sizeof(opts->listen_host),
			    &opts->listen_port);
	snprintf(opts->pin_root, sizeof(opts->pin_root), "%s", OPTS_DEFAULT_PIN_ROOT);
	snprintf(opts->ingest_path, sizeof(opts->ingest_path), "%s", OPTS_DEFAULT_INGEST);
	snprintf(opts->state_dir, sizeof(opts->state_dir), "%s", OPTS_DEFAULT_STATE_DIR);
	snprintf(opts->api_socket, sizeof(opts->api_socket), "%s", OPTS_DEFAULT_API_SOCKET);
	opts->ringbuf_bytes = OPTS_DEFAULT_RINGBUF_BYTES;
	opts->max_workers = OPTS_DEFAULT_MAX_WORKERS;
	opts->reconcile_ms = OPTS_DEFAULT_RECONCILE_MS;
	opts->http_connections = 4096;
	opts->http_per_client = 64;
	opts->max_connections = OPTS_DEFAULT_MAX_CONNS;
	opts->start_grace_s = 60;
	opts->sse_clients = 16;
	opts->loop_nice = OPTS_DEFAULT_LOOP_NICE;
	opts->log_level = LOG_LEVEL_INFO;
	opts->crashloop_count = 3;
	opts->crashloop_window_s = 300;
}

static int parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long value;
	char *end;

	if (!text[0] || text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || *end || value < min || value > max)
		return -1;
	*out = value;
	return 0;
}

int opts_parse_hostport(const char *text, char *host, size_t host_len, uint16_t *port)
{
	const char *colon;
	const char *host_start = text;
	size_t len;
	uint32_t value;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -1;
		host_start = text + 1;
		len = close - host_start;
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -1;
		len = colon - text;
		if (memchr(text, ':', len))
			return -1; /* a bare IPv6 address needs brackets */
	}
	if (len == 0 || len >= host_len)
		return -1;
	if (parse_u32(colon + 1, 1, 65535, &value))
		return -1;
	memcpy(host, host_start, len);
	host[len] = '\0';
	*port = value;
	return 0;
}

static enum opts_result fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return OPTS_ERROR;
}

/* Seconds: a plain positive decimal up to a day; no sign, no exponent, no "inf" or "nan". */
static int parse_seconds(const char *text, double *out)
{
	double value;
	char *end;

	if (!text[0] || strspn(text, "0123456789.") != strlen(text))
		return -1;
	errno = 0;
	value = strtod(text, &end);
	if (errno || *end || value <= 0 || value > 86400)
		return -1;
	*out = value;
	return 0;
}

static enum opts_result parse_keepalive(const char *text, struct opts *opts, char *err,
					size_t err_len)
{
	char copy[64], *fields[3], *save = NULL;
	uint32_t values[3];
	int n = 0;

	if (strlen(text) >= sizeof(copy))
		goto bad;
	strcpy(copy, text);
	for (char *field = strtok_r(copy, ",", &save); field; field = strtok_r(NULL, ",", &save)) {
		if (n == 3)
			goto bad;
		fields[n++] = field;
	}
	if (n != 3 || parse_u32(fields[0], 1, 32767, &values[0]) ||
	    parse_u32(fields[1], 1, 32767, &values[1]) || parse_u32(fields[2], 1, 127, &values[2]))
		goto bad;
	/* TCP_USER_TIMEOUT is an int of milliseconds. */
	if ((uint64_t)values[0] + (uint64_t)values[1] * values[2] > 2000000)
		goto bad;
	opts->keepalive_idle_s = values[0];
	opts->keepalive_intvl_s = values[1];
	opts->keepalive_cnt = values[2];
	return OPTS_RUN;
bad:
	return fail(err, err_len,
		    "--keepalive '%s': expected IDLE,INTVL,CNT seconds (1..32767, 1..32767, "
		    "1..127)",
		    text);
}

static enum opts_result parse_watch_port(const char *text, struct opts *opts, char *err,
					 size_t err_len)
{
	uint32_t port;

	if (parse_u32(text, 1, 65535, &port))
		return fail(err, err_len, "--watch-port '%s': expected a port in 1..65535", text);
	for (int i = 0; i < opts->n_watch_ports; i++) {
		if (opts->watch_ports[i] == port)
			return OPTS_RUN;
	}
	if (opts->n_watch_ports >= OPTS_MAX_WATCH_PORTS)
		return fail(err, err_len, "--watch-port: at most %d may be given",
			    OPTS_MAX_WATCH_PORTS);
	opts->watch_ports[opts->n_watch_ports++] = port;
	return OPTS_RUN;
}

static enum opts_result parse_watch_pid(const char *text, struct opts *opts, char *err,
					size_t err_len)
{
	struct opts_watch_pid *watch;
	const char *eq = strchr(text, '=');
	char pid_text[16];
	const char *flag;
	uint32_t pid;

	if (opts->n_watch_pids >= OPTS_MAX_WATCH_PIDS)
		return fail(err, err_len, "--watch-pid: at most %d may be given",
			    OPTS_MAX_WATCH_PIDS);
	watch = &opts->watch_pids[opts->n_watch_pids];
	flag = strchr(eq ? eq : text, ',');
	watch->expects_output = false;
	if (flag) {
		if (strcmp(flag, ",expects-output"))
			return fail(err, err_len,
				    "--watch-pid '%s': the only flag after the pid is "
				    "',expects-output'",
				    text);
		watch->expects_output = true;
	}
	snprintf(pid_text, sizeof(pid_text), "%.*s",
		 (int)(flag ? flag - (eq ? eq + 1 : text) : (long)strlen(eq ? eq + 1 : text)),
		 eq ? eq + 1 : text);
	if (parse_u32(pid_text, 1, 4194304, &pid))
		return fail(err, err_len,
			    "--watch-pid '%s': expected [NAME=]PID with PID in 1..4194304", text);
	watch->pid = pid;
	watch->name[0] = '\0';
	if (eq) {
		size_t name_len = eq - text;

		if (name_len > WORKER_NAME_MAX)
			return fail(err, err_len, "--watch-pid '%s': " WORKER_NAME_RULE, text);
		memcpy(watch->name, text, name_len);
		watch->name[name_len] = '\0';
		if (!worker_name_valid(watch->name))
			return fail(err, err_len, "--watch-pid '%s': " WORKER_NAME_RULE, text);
	}
	opts->n_watch_pids++;
	return OPTS_RUN;
}

/* The path options differ only in where the path goes and how long it may be. */
static enum opts_result parse_path(const char *option, const char *arg, struct opts *opts,
				   char *err, size_t err_len)
{
	char *dst = opts->state_dir;
	size_t dst_len = sizeof(opts->state_dir);

	if (!strcmp(option, "--pin-root")) {
		if (arg[0] != '/')
			return fail(err, err_len, "--pin-root '%s': must be an absolute path", arg);
		dst = opts->pin_root;
		dst_len = sizeof(opts->pin_root);
	} else if (!strcmp(option, "--ingest")) {
		dst = opts->ingest_path;
		dst_len = sizeof(opts->ingest_path);
	} else if (!strcmp(option, "--api-token-file")) {
		dst = opts->api_token_file;
		dst_len = sizeof(opts->api_token_file);
	} else if (!strcmp(option, "--api-socket")) {
		dst = opts->api_socket;
		dst_len = sizeof(opts->api_socket);
		if (!arg[0]) {
			dst[0] = '\0'; /* no control socket */
			return OPTS_RUN;
		}
	}
	if (!arg[0])
		return fail(err, err_len, "%s: empty path", option);
	if (strlen(arg) >= dst_len)
		return fail(err, err_len, "%s: path longer than %zu bytes", option, dst_len - 1);
	strcpy(dst, arg);
	return OPTS_RUN;
}

static enum opts_result parse_args(int argc, char **argv, struct opts *opts, char *err,
				   size_t err_len, bool from_file);

/* Trims spaces and tabs at both ends, in place. */
static char *trim(char *text)
{
	char *end;

	while (*text == ' ' || *text == '\t')
		text++;
	end = text + strlen(text);
	while (end > text &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return text;
}

/*
 * --config FILE: "key = value" lines with the long options' names ("verbose = true" for a flag),
 * "#" comments. Each line is checked on its own, so an error names its line.
 */
static enum opts_result parse_config(const char *path, struct opts *opts, char *err, size_t err_len)
{
	char line[2048], option[2100], line_err[256];
	FILE *file = fopen(path, "re");
	enum opts_result result = OPTS_RUN;
	int number = 0;

	if (!file)
		return fail(err, err_len, "--config %s: %s", path, strerror(errno));
	while (result == OPTS_RUN && fgets(line, sizeof(line), file)) {
		char *text, *eq, *key, *value;
		char *argv[3] = {"liveprobed", option, NULL};

		number++;
		if (!strchr(line, '\n') && !feof(file)) {
			result = fail(err, err_len, "%s:%d: line longer than %zu bytes", path,
				      number, sizeof(line) - 2);
			break;
		}
		text = trim(line);
		if (!text[0] || text[0] == '#')
			continue;
		eq = strchr(text, '=');
		key = trim(eq ? (*eq = '\0', text) : text);
		value = eq ? trim(eq + 1) : "";
		if (!strcmp(key, "config") || !strcmp(key, "help") || !strcmp(key, "version")) {
			result = fail(err, err_len, "%s:%d: '%s' cannot be set in a config file",
				      path, number, key);
			break;
		}
		if (!eq || !strcmp(value, "true"))
			snprintf(option, sizeof(option), "--%s", key);
		else if (!strcmp(value, "false"))
			continue;
		else
			snprintf(option, sizeof(option), "--%s=%s", key, value);
		if (parse_args(2, argv, opts, line_err, sizeof(line_err), true) != OPTS_RUN)
			result = fail(err, err_len, "%s:%d: %s", path, number, line_err);
	}
	fclose(file);
	return result;
}

enum opts_result opts_parse(int argc, char **argv, struct opts *opts, char *err, size_t err_len)
{
	/* The file first, so that every flag on the command line wins over it. */
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path) {
			enum opts_result result = parse_config(path, opts, err, err_len);

			if (result != OPTS_RUN)
				return result;
		}
	}
	return parse_args(argc, argv, opts, err, err_len, false);
}

static enum opts_result parse_args(int argc, char **argv, struct opts *opts, char *err,
				   size_t err_len, bool from_file)
{
	enum {
		OPT_LISTEN = 256,
		OPT_WATCH_PID,
		OPT_WATCH_COMM,
		OPT_PIN_ROOT,
		OPT_INGEST,
		OPT_STATE_DIR,
		OPT_MAX_WORKERS,
		OPT_RINGBUF_SIZE,
		OPT_RECONCILE_MS,
		OPT_HTTP_CONNECTIONS,
		OPT_HTTP_PER_CLIENT,
		OPT_WATCH_PORT,
		OPT_GROUP_BY_PEER_IP,
		OPT_KEEPALIVE,
		OPT_ALL_NETNS,
		OPT_MAX_CONNECTIONS,
		OPT_INGEST_UDP,
		OPT_INGEST_GROUP,
		OPT_API_SOCKET,
		OPT_API_GROUP,
		OPT_API_TOKEN_FILE,
		OPT_STALE_AFTER,
		OPT_START_GRACE,
		OPT_BPF_STATS,
		OPT_EXPECTED_WORKERS,
		OPT_ON_TRANSITION,
		OPT_SSE_CLIENTS,
		OPT_LOOP_NICE,
		OPT_VERBOSE,
		OPT_LOG_LEVEL,
		OPT_NO_SANDBOX,
		OPT_RESET_PINS,
		OPT_UNLOAD,
		OPT_DUMP_MAPS,
		OPT_CONFIG,
		OPT_CRASH_LOOP,
		OPT_FORGET_AFTER,
		OPT_WATCH_CGROUP,
		OPT_WATCH_UNIT,
		OPT_HELP,
		OPT_VERSION,
	};
	static const struct option long_options[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"watch-pid", required_argument, NULL, OPT_WATCH_PID},
		{"watch-comm", required_argument, NULL, OPT_WATCH_COMM},
		{"pin-root", required_argument, NULL, OPT_PIN_ROOT},
		{"ingest", required_argument, NULL, OPT_INGEST},
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"max-workers", required_argument, NULL, OPT_MAX_WORKERS},
		{"ringbuf-size", required_argument, NULL, OPT_RINGBUF_SIZE},
		{"reconcile-ms", required_argument, NULL, OPT_RECONCILE_MS},
		{"http-connections", required_argument, NULL, OPT_HTTP_CONNECTIONS},
		{"http-connections-per-client", required_argument, NULL, OPT_HTTP_PER_CLIENT},
		{"watch-port", required_argument, NULL, OPT_WATCH_PORT},
		{"group-by-peer-ip", no_argument, NULL, OPT_GROUP_BY_PEER_IP},
		{"keepalive", required_argument, NULL, OPT_KEEPALIVE},
		{"all-netns", no_argument, NULL, OPT_ALL_NETNS},
		{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
		{"ingest-udp", required_argument, NULL, OPT_INGEST_UDP},
		{"ingest-group", required_argument, NULL, OPT_INGEST_GROUP},
		{"api-socket", required_argument, NULL, OPT_API_SOCKET},
		{"api-group", required_argument, NULL, OPT_API_GROUP},
		{"api-token-file", required_argument, NULL, OPT_API_TOKEN_FILE},
		{"stale-after", required_argument, NULL, OPT_STALE_AFTER},
		{"start-grace", required_argument, NULL, OPT_START_GRACE},
		{"bpf-stats", no_argument, NULL, OPT_BPF_STATS},
		{"expected-workers", required_argument, NULL, OPT_EXPECTED_WORKERS},
		{"on-transition", required_argument, NULL, OPT_ON_TRANSITION},
		{"sse-clients", required_argument, NULL, OPT_SSE_CLIENTS},
		{"loop-nice", required_argument, NULL, OPT_LOOP_NICE},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
		{"reset-pins", no_argument, NULL, OPT_RESET_PINS},
		{"unload", no_argument, NULL, OPT_UNLOAD},
		{"dump-maps", no_argument, NULL, OPT_DUMP_MAPS},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"crash-loop", required_argument, NULL, OPT_CRASH_LOOP},
		{"forget-after", required_argument, NULL, OPT_FORGET_AFTER},
		{"watch-cgroup", required_argument, NULL, OPT_WATCH_CGROUP},
		{"watch-unit", required_argument, NULL, OPT_WATCH_UNIT},
		{"help", no_argument, NULL, OPT_HELP},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	enum opts_result result;
	int option;

	optind = 0; /* full re-initialisation, so the parser can run more than once */
	opterr = 0;
	while ((option = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		const char *arg = optarg;

		switch (option) {
		case OPT_LISTEN:
			if (opts_parse_hostport(arg, opts->listen_host, sizeof(opts->listen_host),
						&opts->listen_port))
				return fail(err, err_len,
					    "--listen '%s': expected ADDR:PORT or [ADDR]:PORT",
					    arg);
			break;
		case OPT_WATCH_PID:
			result = parse_watch_pid(arg, opts, err, err_len);
			if (result != OPTS_RUN)
				return result;
			break;
		case OPT_WATCH_COMM:
			if (!arg[0] || strlen(arg) > 15)
				return fail(err, err_len,
					    "--watch-comm '%s': a command name is 1..15 bytes",
					    arg);
			if (opts->n_watch_comms >= OPTS_MAX_WATCH_COMMS)
				return fail(err, err_len, "--watch-comm: at most %d may be given",
					    OPTS_MAX_WATCH_COMMS);
			strcpy(opts->watch_comms[opts->n_watch_comms++], arg);
			break;
		case OPT_PIN_ROOT:
		case OPT_INGEST:
		case OPT_STATE_DIR:
		case OPT_API_SOCKET:
		case OPT_API_TOKEN_FILE:
			result = parse_path(option == OPT_PIN_ROOT	   ? "--pin-root"
					    : option == OPT_INGEST	   ? "--ingest"
					    : option == OPT_API_SOCKET	   ? "--api-socket"
					    : option == OPT_API_TOKEN_FILE ? "--api-token-file"
									   : "--state-dir",
					    arg, opts, err, err_len);
			if (result != OPTS_RUN)
				return result;
			break;
		case OPT_MAX_WORKERS:
			if (parse_u32(arg, 1, 1u << 20, &opts->max_workers))
				return fail(err, err_len, "--max-workers '%s': expected 1..1048576",
					    arg);
			break;
		case OPT_RINGBUF_SIZE:
			if (parse_u32(arg, 4096, 1u << 30, &opts->ringbuf_bytes) ||
			    (opts->ringbuf_bytes & (opts->ringbuf_bytes - 1)))
				return fail(err, err_len,
					    "--ringbuf-size '%s': expected a power of two in "
					    "4096..2^30",
					    arg);
			break;
		case OPT_RECONCILE_MS:
			if (parse_u32(arg, 10, 60000, &opts->reconcile_ms))
				return fail(err, err_len, "--reconcile-ms '%s': expected 10..60000",
					    arg);
			break;
		case OPT_HTTP_CONNECTIONS:
			if (parse_u32(arg, 1, 65536, &opts->http_connections))
				return fail(err, err_len,
					    "--http-connections '%s': expected 1..65536", arg);
			break;
		case OPT_HTTP_PER_CLIENT:
			if (parse_u32(arg, 1, 65536, &opts->http_per_client))
				return fail(err, err_len,
					    "--http-connections-per-client '%s': expected 1..65536",
					    arg);
			break;
		case OPT_WATCH_PORT:
			result = parse_watch_port(arg, opts, err, err_len);
			if (result != OPTS_RUN)
				return result;
			break;
		case OPT_GROUP_BY_PEER_IP:
			opts->group_by_peer_ip = true;
			break;
		case OPT_KEEPALIVE:
			result = parse_keepalive(arg, opts, err, err_len);
			if (result != OPTS_RUN)
				return result;
			break;
		case OPT_ALL_NETNS:
			opts->all_netns = true;
			break;
		case OPT_MAX_CONNECTIONS:
			if (parse_u32(arg, 16, 1u << 20, &opts->max_connections))
				return fail(err, err_len,
					    "--max-connections '%s': expected 16..1048576", arg);
			break;
		case OPT_INGEST_UDP:
			if (opts_parse_hostport(arg, opts->ingest_udp_host,
						sizeof(opts->ingest_udp_host),
						&opts->ingest_udp_port))
				return fail(err, err_len,
					    "--ingest-udp '%s': expected ADDR:PORT or [ADDR]:PORT",
					    arg);
			break;
		case OPT_INGEST_GROUP:
		case OPT_API_GROUP: {
			char *group =
				option == OPT_API_GROUP ? opts->api_group : opts->ingest_group;

			if (!arg[0] || strlen(arg) >= sizeof(opts->ingest_group))
				return fail(err, err_len, "%s: a group name of 1..%zu bytes",
					    option == OPT_API_GROUP ? "--api-group"
								    : "--ingest-group",
					    sizeof(opts->ingest_group) - 1);
			strcpy(group, arg);
			break;
		}
		case OPT_STALE_AFTER:
			if (parse_seconds(arg, &opts->stale_after_s))
				return fail(err, err_len,
					    "--stale-after '%s': expected seconds in (0, 86400]",
					    arg);
			break;
		case OPT_START_GRACE:
			if (parse_seconds(arg, &opts->start_grace_s))
				return fail(err, err_len,
					    "--start-grace '%s': expected seconds in (0, 86400]",
					    arg);
			break;
		case OPT_BPF_STATS:
			opts->bpf_stats = true;
			break;
		case OPT_CRASH_LOOP: {
			char count[16];
			const char *comma = strchr(arg, ',');

			if (!comma || comma - arg >= (long)sizeof(count))
				return fail(
					err, err_len,
					"--crash-loop '%s': expected COUNT,SECONDS (e.g. 3,300)",
					arg);
			snprintf(count, sizeof(count), "%.*s", (int)(comma - arg), arg);
			if (parse_u32(count, 2, FLEET_CRASHES_KEPT, &opts->crashloop_count) ||
			    parse_seconds(comma + 1, &opts->crashloop_window_s))
				return fail(
					err, err_len,
					"--crash-loop '%s': expected COUNT in 2..%d and SECONDS "
					"in (0, 86400]",
					arg, FLEET_CRASHES_KEPT);
			break;
		}
		case OPT_FORGET_AFTER:
			if (parse_seconds(arg, &opts->forget_after_s))
				return fail(err, err_len,
					    "--forget-after '%s': expected seconds in (0, 86400]",
					    arg);
			break;
		case OPT_WATCH_CGROUP:
		case OPT_WATCH_UNIT: {
			size_t len = strlen(arg);
			bool unit = option == OPT_WATCH_UNIT;

			if (opts->n_watch_cgroups >= OPTS_MAX_WATCH_CGROUPS)
				return fail(err, err_len, "--watch-%s: at most %d may be given",
					    unit ? "unit" : "cgroup", OPTS_MAX_WATCH_CGROUPS);
			if (!len || len >= sizeof(opts->watch_cgroups[0]) || strstr(arg, "..") ||
			    (unit && (strchr(arg, '/') || len < 9 ||
				      (strcmp(arg + len - 8, ".service") &&
				       strcmp(arg + len - 6, ".scope")))))
				return fail(
					err, err_len,
					unit ? "--watch-unit '%s': expected NAME.service or "
					       "NAME.scope"
					     : "--watch-cgroup '%s': expected a cgroup directory "
					       "without '..'",
					arg);
			strcpy(opts->watch_cgroups[opts->n_watch_cgroups], arg);
			opts->watch_cgroup_is_unit[opts->n_watch_cgroups++] = unit;
			break;
		}
		case OPT_EXPECTED_WORKERS:
			if (parse_u32(arg, 1, 1u << 20, &opts->expected_workers))
				return fail(err, err_len,
					    "--expected-workers '%s': expected 1..1048576", arg);
			break;
		case OPT_ON_TRANSITION:
			if (!arg[0] || strlen(arg) >= sizeof(opts->on_transition))
				return fail(err, err_len,
					    "--on-transition: a command of 1..%zu bytes",
					    sizeof(opts->on_transition) - 1);
			strcpy(opts->on_transition, arg);
			break;
		case OPT_SSE_CLIENTS:
			if (parse_u32(arg, 1, 1024, &opts->sse_clients))
				return fail(err, err_len, "--sse-clients '%s': expected 1..1024",
					    arg);
			break;
		case OPT_LOOP_NICE: {
			uint32_t magnitude;

			/* "0" or "-N": a priority can only be raised here, never lowered. */
			if (parse_u32(arg[0] == '-' ? arg + 1 : arg, arg[0] == '-' ? 1 : 0,
				      arg[0] == '-' ? 20 : 0, &magnitude))
				return fail(err, err_len, "--loop-nice '%s': expected -20..0", arg);
			opts->loop_nice = -(int32_t)magnitude;
			break;
		}
		case OPT_NO_SANDBOX:
			opts->no_sandbox = true;
			break;
		case OPT_DUMP_MAPS:
			opts->dump_maps = true;
			break;
		case OPT_RESET_PINS:
			opts->reset_pins = true;
			break;
		case OPT_UNLOAD:
			opts->unload = true;
			break;
		case OPT_VERBOSE:
			opts->log_level = LOG_LEVEL_DEBUG;
			break;
		case OPT_LOG_LEVEL:
			opts->log_level = log_level_from_name(arg);
			if (opts->log_level < 0)
				return fail(err, err_len,
					    "--log-level '%s': expected error, warn, info or debug",
					    arg);
			break;
		case OPT_CONFIG:
			break; /* read before the command line, by opts_parse */
		case 'h':
		case OPT_HELP:
			fputs(usage_text, stdout);
			return OPTS_EXIT;
		case OPT_VERSION:
			printf("liveprobed %s (commit %s)\n", LP_VERSION, LP_COMMIT);
			return OPTS_EXIT;
		case ':':
			return fail(err, err_len, "%s: needs a value (see --help)",
				    argv[optind - 1]);
		default:
			return fail(err, err_len, "unknown option '%s' (see --help)",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, err_len, "unexpected argument '%s' (see --help)", argv[optind]);
	/* Checks across options wait for the whole configuration. */
	if (!from_file && opts->keepalive_idle_s && !opts->n_watch_ports)
		return fail(err, err_len, "--keepalive applies to watched ports: add --watch-port");
	return OPTS_RUN;
}
