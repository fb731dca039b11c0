// SPDX-License-Identifier: GPL-2.0
/*
 * liveprobe, the command-line client: asks a running liveprobed over its HTTP API (libcurl) and
 * prints what it says. Exit codes follow sysexits where they can, so scripts can branch: 0 green
 * (or done), 1 amber, 2 red, 3 the daemon unreachable or refusing, 4 no such worker, 64 usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "liveprobe.h"
#include "version.h"

#define DEFAULT_URL	   "http://127.0.0.1:9476"
#define DEFAULT_API_SOCKET "/run/liveprobe/api.sock"
#define MAX_RESPONSE_BYTES (64u << 20)

enum cli_exit {
	EXIT_GREEN = 0, /* also: the command did what was asked */
	EXIT_AMBER = 1,
	EXIT_RED = 2,
	EXIT_UNREACHABLE = 3, /* the daemon could not be reached, or refused the request */
	EXIT_NO_WORKER = 4,
	EXIT_USAGE = 64, /* EX_USAGE */
};

struct buffer {
	char *data;
	size_t len;
};

/* Where writes go: the control socket, or the URL with a bearer token. */
static const char *write_socket = DEFAULT_API_SOCKET;
static char auth_line[600]; /* "Authorization: Bearer ...", empty without a token */

static const char usage_text[] =
	"Usage: liveprobe [--url URL] [--api-socket PATH] [--token-file FILE] COMMAND [ARGS]\n"
	"Client of liveprobed's HTTP API. Reads go to URL ($LIVEPROBE_URL, default " DEFAULT_URL
	").\n"
	"Writes (watch, forget) go to the control socket ($LIVEPROBE_API_SOCKET, default\n"
	DEFAULT_API_SOCKET "), where root and --api-group members may write; with --url\n"
	"(or $LIVEPROBE_URL) they go there instead, with the bearer token in FILE\n"
	"($LIVEPROBE_TOKEN_FILE), as the daemon's --api-token-file.\n"
	"\n"
	"Commands:\n"
	"  status [NAME] [--json] [--watch [SECONDS]]\n"
	"                                 host verdict and workers (red first), or one worker;\n"
	"                                 --watch redraws every SECONDS (default 2) until Ctrl-C\n"
	"  watch --pid PID [--name NAME] [--expects-output] [--json]\n"
	"                                 register a running process as a worker\n"
	"  forget NAME [--json]           forget a worker\n"
	"  events [--json]                follow worker state transitions as they happen (SSE)\n"
	"  report episode|hello|bye --worker NAME [--completed-at UNIX_SECONDS] [--count N]\n"
	"         [--seq N] [--peer IP:PORT] [--pid PID | --no-pid] [--socket PATH]\n"
	"                                 send one report to the ingest socket ($LIVEPROBE_SOCKET\n"
	"                                 or " LIVEPROBE_DEFAULT_SOCKET "); the worker's pid is\n"
	"                                 this command's parent (the calling script) unless\n"
	"                                 --pid or --no-pid says otherwise\n"
	"\n"
	"  -h, --help, --version\n"
	"\n"
	"Exit status: 0 green (or done), 1 amber, 2 red, 3 the daemon could not be reached or\n"
	"refused the request, 4 no such worker, 64 bad usage. Colour only on a terminal, and\n"
	"never with NO_COLOR set.\n";

static size_t collect(char *data, size_t size, size_t count, void *ctx)
{
	struct buffer *buffer = ctx;
	size_t len = size * count;
	char *grown;

	if (buffer->len + len > MAX_RESPONSE_BYTES)
		return 0;
	grown = realloc(buffer->data, buffer->len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + buffer->len, data, len);
	buffer->data = grown;
	buffer->len += len;
	buffer->data[buffer->len] = '\0';
	return len;
}

/* Returns the HTTP status, or -1 after printing why the request failed. */
static long request(const char *base, const char *method, const char *path, const char *body,
		    struct buffer *out)
{
	bool is_write = strcmp(method, "GET") != 0;
	struct curl_slist *headers = NULL;
	char url[1024];
	long status = -1;
	CURLcode code;
	CURL *curl;

	if (is_write && write_socket)
		base = "http://localhost";
	snprintf(url, sizeof(url), "%s%s", base, path);
	curl = curl_easy_init();
	if (!curl)
		return -1;
	if (is_write && write_socket)
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, write_socket);
	if (is_write && auth_line[0])
		headers = curl_slist_append(headers, auth_line);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	if (body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	code = curl_easy_perform(curl);
	if (code == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	else
		fprintf(stderr, "liveprobe: %s%s%s: %s\n",
			is_write && write_socket ? write_socket : "",
			is_write && write_socket ? " " : "", url, curl_easy_strerror(code));
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return status;
}

static json_object *get_json(const char *base, const char *path)
{
	struct buffer buffer = {};
	json_object *root = NULL;
	long status = request(base, "GET", path, NULL, &buffer);

	if (status == 200)
		root = json_tokener_parse(buffer.data ? buffer.data : "");
	else if (status > 0)
		fprintf(stderr, "liveprobe: GET %s: HTTP %ld\n", path, status);
	free(buffer.data);
	return root;
}

/*
 * What the daemon says, made safe for a terminal: control characters (an escape sequence in a
 * process name, say) are printed as \xNN, never sent raw. The result lives until 16 more calls.
 */
static const char *terminal_safe(const char *text)
{
	static char buffers[16][1024];
	static unsigned int next;
	char *out = buffers[next++ % 16];
	size_t used = 0;

	for (; *text && used + 5 < sizeof(buffers[0]); text++) {
		unsigned char c = *text;

		if (c < 0x20 || c == 0x7f)
			used += snprintf(out + used, 5, "\\x%02x", c);
		else
			out[used++] = c;
	}
	out[used] = '\0';
	return out;
}

static const char *str_field(json_object *obj, const char *key)
{
	json_object *value;

	if (!json_object_object_get_ex(obj, key, &value) ||
	    json_object_is_type(value, json_type_null))
		return "-";
	return terminal_safe(json_object_get_string(value));
}

static const char *health_colour(const char *health, bool colour)
{
	if (!colour)
		return "";
	if (!strcmp(health, "green"))
		return "\033[32m";
	if (!strcmp(health, "amber"))
		return "\033[33m";
	if (!strcmp(health, "grey"))
		return "\033[90m";
	return "\033[31m";
}

/* Colour on a terminal only, and never when NO_COLOR is set (no-color.org). */
static bool use_colour(void)
{
	const char *no_colour = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(no_colour && no_colour[0]);
}

/* Seconds as people read them: 850ms, 42s, 4m12s, 3h05m, 2d04h; "-" for none. */
static const char *format_age(json_object *obj, const char *key)
{
	static char buffers[8][48];
	static unsigned int next;
	char *out = buffers[next++ % 8];
	json_object *value;
	double seconds;
	long long s;

	if (!json_object_object_get_ex(obj, key, &value) ||
	    json_object_is_type(value, json_type_null))
		return "-";
	seconds = json_object_get_double(value);
	if (!(seconds >= 0) || seconds > 1e12)
		seconds = 0;
	s = (long long)seconds;
	if (seconds < 1)
		snprintf(out, 48, "%dms", (int)(seconds * 1000));
	else if (s < 60)
		snprintf(out, 48, "%llds", s);
	else if (s < 3600)
		snprintf(out, 48, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, 48, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, 48, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	return out;
}

static int health_exit(const char *health)
{
	if (!strcmp(health, "green") || !strcmp(health, "grey"))
		return EXIT_GREEN;
	return !strcmp(health, "amber") ? EXIT_AMBER : EXIT_RED;
}

/* Red first, then amber, green, and grey (a clean stop) last. */
static int severity(json_object *worker)
{
	json_object *value;
	const char *health = json_object_object_get_ex(worker, "health", &value)
				     ? json_object_get_string(value)
				     : "";

	if (!strcmp(health, "red"))
		return 0;
	if (!strcmp(health, "amber"))
		return 1;
	return !strcmp(health, "green") ? 2 : 3;
}

static int by_severity_then_name(const void *a, const void *b)
{
	json_object *left = *(json_object *const *)a, *right = *(json_object *const *)b;
	json_object *left_name, *right_name;
	int order = severity(left) - severity(right);

	if (order)
		return order;
	json_object_object_get_ex(left, "name", &left_name);
	json_object_object_get_ex(right, "name", &right_name);
	return strcmp(json_object_get_string(left_name) ?: "",
		      json_object_get_string(right_name) ?: "");
}

/* "alive/total" connections, or "-" for a worker without any. */
static void format_conns(json_object *worker, char *out, size_t len)
{
	json_object *conns, *reason;
	size_t total, alive = 0;

	if (!json_object_object_get_ex(worker, "connections", &conns) ||
	    !(total = json_object_array_length(conns))) {
		snprintf(out, len, "-");
		return;
	}
	for (size_t i = 0; i < total; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(conns, i), "reason",
					       &reason) ||
		    json_object_is_type(reason, json_type_null))
			alive++;
	}
	snprintf(out, len, "%zu/%zu", alive, total);
}

static void print_worker_row(json_object *worker, bool colour)
{
	const char *reset = colour ? "\033[0m" : "";
	const char *health = str_field(worker, "health");
	char conns[32];

	format_conns(worker, conns, sizeof(conns));
	printf("%-24s %-8s %-13s %s%-6s%s %8s %8s %8s %6s  %s\n", str_field(worker, "name"),
	       str_field(worker, "pid"), str_field(worker, "state"), health_colour(health, colour),
	       health, reset, format_age(worker, "state_since_age_s"),
	       format_age(worker, "last_output_age_s"), str_field(worker, "episodes_per_min"),
	       conns, str_field(worker, "reason"));
}

/* One worker in detail: its verdict, the raw facts beside it, and how it last ended. */
static int print_one(const char *base, const char *name, bool as_json, bool colour)
{
	const char *reset = colour ? "\033[0m" : "";
	json_object *worker, *exit_obj;
	struct buffer buffer = {};
	char path[256];
	char *escaped = curl_easy_escape(NULL, name, 0);
	const char *health;
	long status;
	int ret;

	snprintf(path, sizeof(path), "/api/v1/workers/%s", escaped ? escaped : "");
	curl_free(escaped);
	status = request(base, "GET", path, NULL, &buffer);
	if (status == 404) {
		fprintf(stderr, "liveprobe: no worker named %s\n", terminal_safe(name));
		free(buffer.data);
		return EXIT_NO_WORKER;
	}
	worker = status == 200 ? json_tokener_parse(buffer.data ? buffer.data : "") : NULL;
	free(buffer.data);
	if (!worker) {
		if (status > 0)
			fprintf(stderr, "liveprobe: GET %s: HTTP %ld\n", path, status);
		return EXIT_UNREACHABLE;
	}
	health = str_field(worker, "health");
	ret = health_exit(health);
	if (as_json) {
		puts(json_object_to_json_string_ext(worker, JSON_C_TO_STRING_PRETTY));
		json_object_put(worker);
		return ret;
	}
	printf("%s: %s%s%s, %s for %s: %s\n", str_field(worker, "name"),
	       health_colour(health, colour), health, reset, str_field(worker, "state"),
	       format_age(worker, "state_since_age_s"), str_field(worker, "reason"));
	printf("  pid %s (%s), origin %s, restarts %s, crash loop %s\n", str_field(worker, "pid"),
	       str_field(worker, "comm"), str_field(worker, "origin"),
	       str_field(worker, "restarts_total"), str_field(worker, "crashloop"));
	printf("  output: %s episodes, %s/min, last %s ago, stale after %ss\n",
	       str_field(worker, "episodes_total"), str_field(worker, "episodes_per_min"),
	       format_age(worker, "last_output_age_s"), str_field(worker, "stale_after_s"));
	if (json_object_object_get_ex(worker, "exit", &exit_obj) && exit_obj) {
		printf("  exit: code %s, signal %s, oom %s, killer %s[%s], %s ago\n",
		       str_field(exit_obj, "code"), str_field(exit_obj, "signal_name"),
		       str_field(exit_obj, "oom"), str_field(exit_obj, "killer_comm"),
		       str_field(exit_obj, "killer_pid"), format_age(exit_obj, "age_s"));
		printf("  last fatal signal sent: %s, by %s[%s]\n",
		       str_field(exit_obj, "sent_signal"), str_field(exit_obj, "sent_by_comm"),
		       str_field(exit_obj, "sent_by_pid"));
	}
	json_object_put(worker);
	return ret;
}

static int print_status(const char *base, bool as_json, bool colour)
{
	const char *reset = colour ? "\033[0m" : "";
	json_object *host, *workers, *list, *reasons;
	json_object **rows = NULL;
	const char *health;
	size_t n = 0;
	int ret;

	host = get_json(base, "/api/v1/host");
	workers = host ? get_json(base, "/api/v1/workers") : NULL;
	if (!host || !workers) {
		json_object_put(host);
		return EXIT_UNREACHABLE;
	}
	health = str_field(host, "health");
	ret = health_exit(health);
	if (as_json) {
		json_object *both = json_object_new_object();

		json_object_object_add(both, "host", json_object_get(host));
		json_object_object_add(both, "workers", json_object_get(workers));
		puts(json_object_to_json_string_ext(both, JSON_C_TO_STRING_PRETTY));
		json_object_put(both);
		goto cleanup;
	}
	printf("host: %s%s%s  (%s of %s producing, %s episodes/min)\n",
	       health_colour(health, colour), health, reset, str_field(host, "workers_producing"),
	       str_field(host, "workers_total"), str_field(host, "episodes_per_min_total"));
	if (json_object_object_get_ex(host, "reasons", &reasons)) {
		for (size_t i = 0; i < json_object_array_length(reasons); i++)
			printf("  - %s\n", terminal_safe(json_object_get_string(
						    json_object_array_get_idx(reasons, i))));
	}
	printf("\n%-24s %-8s %-13s %-6s %8s %8s %8s %6s  %s\n", "WORKER", "PID", "STATE", "HEALTH",
	       "FOR", "OUTPUT", "EP/MIN", "CONNS", "REASON");
	if (json_object_object_get_ex(workers, "workers", &list) &&
	    json_object_is_type(list, json_type_array))
		n = json_object_array_length(list);
	rows = n ? calloc(n, sizeof(*rows)) : NULL;
	for (size_t i = 0; rows && i < n; i++)
		rows[i] = json_object_array_get_idx(list, i);
	if (rows)
		qsort(rows, n, sizeof(*rows), by_severity_then_name);
	for (size_t i = 0; rows && i < n; i++)
		print_worker_row(rows[i], colour);
	free(rows);
cleanup:
	json_object_put(host);
	json_object_put(workers);
	return ret;
}

static int cmd_status(const char *base, int argc, char **argv)
{
	static const struct option options[] = {
		{"json", no_argument, NULL, 'j'},
		{"watch", optional_argument, NULL, 'w'},
		{NULL, 0, NULL, 0},
	};
	bool as_json = false, watch = false;
	const char *name = NULL;
	double every_s = 2;
	int option, ret;

	optind = 1;
	opterr = 0;
	while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
		char *end;

		if (option == 'j') {
			as_json = true;
		} else if (option == 'w') {
			const char *value = optarg;

			/* "--watch 2" as well as "--watch=2": a number after it is its value. */
			if (!value && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9')
				value = argv[optind++];
			watch = true;
			if (value) {
				every_s = strtod(value, &end);
				if (*end || !(every_s >= 0.1 && every_s <= 3600)) {
					fprintf(stderr, "liveprobe: status: --watch '%s': seconds "
							"in 0.1..3600\n",
						terminal_safe(value));
					return EXIT_USAGE;
				}
			}
		} else {
			fprintf(stderr, "liveprobe: status: unknown option (see --help)\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "liveprobe: status: at most one worker name\n");
		return EXIT_USAGE;
	}
	for (;;) {
		bool colour = use_colour() && !as_json;

		/* In place, as watch(1) does: home and clear, on a terminal only. */
		if (watch && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout);
		ret = name ? print_one(base, name, as_json, colour)
			   : print_status(base, as_json, colour);
		fflush(stdout);
		if (!watch)
			return ret;
		if (!isatty(STDOUT_FILENO))
			putchar('\n');
		struct timespec pause = {.tv_sec = (time_t)every_s,
					 .tv_nsec = (long)((every_s - (time_t)every_s) * 1e9)};
		nanosleep(&pause, NULL);
	}
}

/* The daemon's {"error": "..."} as one line on stderr. */
static void print_refusal(const char *command, long status, const struct buffer *buffer)
{
	json_object *root = json_tokener_parse(buffer->data ? buffer->data : "");
	json_object *error;
	const char *why = root && json_object_object_get_ex(root, "error", &error)
				  ? json_object_get_string(error)
				  : "refused";

	fprintf(stderr, "liveprobe: %s: %s (HTTP %ld)\n", command, terminal_safe(why), status);
	json_object_put(root);
}

/* A write's answer: a human line (or the daemon's JSON with --json) and the exit code. */
static int print_answer(const char *command, long status, struct buffer *buffer, long expected,
			bool as_json, const char *done_line)
{
	int ret = EXIT_GREEN;

	if (status == expected) {
		if (as_json)
			printf("%s\n", buffer->data ? buffer->data : "{}");
		else
			printf("%s\n", done_line);
	} else if (status == 404) {
		print_refusal(command, status, buffer);
		ret = EXIT_NO_WORKER;
	} else {
		if (status > 0)
			print_refusal(command, status, buffer);
		ret = EXIT_UNREACHABLE;
	}
	free(buffer->data);
	return ret;
}

static int cmd_watch(const char *base, int argc, char **argv)
{
	static const struct option options[] = {
		{"pid", required_argument, NULL, 'p'},
		{"name", required_argument, NULL, 'n'},
		{"expects-output", no_argument, NULL, 'e'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	json_object *body = json_object_new_object();
	struct buffer buffer = {};
	bool as_json = false;
	char done[256];
	long pid = 0, status;
	char *end;
	int option;

	optind = 1;
	opterr = 0;
	while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (option == 'p') {
			errno = 0;
			pid = strtol(optarg, &end, 10);
			if (*end || errno || pid <= 0 || pid > 4194304) {
				fprintf(stderr, "liveprobe: watch: --pid '%s' is not a pid\n",
					terminal_safe(optarg));
				json_object_put(body);
				return EXIT_USAGE;
			}
		} else if (option == 'n') {
			json_object_object_add(body, "name", json_object_new_string(optarg));
		} else if (option == 'e') {
			json_object_object_add(body, "expects_output", json_object_new_boolean(1));
		} else if (option == 'j') {
			as_json = true;
		} else {
			fprintf(stderr, "liveprobe: watch: unknown option (see --help)\n");
			json_object_put(body);
			return EXIT_USAGE;
		}
	}
	if (!pid || optind < argc) {
		fprintf(stderr, "liveprobe: watch: expected --pid PID [--name NAME]\n");
		json_object_put(body);
		return EXIT_USAGE;
	}
	json_object_object_add(body, "pid", json_object_new_int64(pid));
	status =
		request(base, "POST", "/api/v1/workers", json_object_to_json_string(body), &buffer);
	json_object_put(body);
	snprintf(done, sizeof(done), "watching pid %ld", pid);
	if (status == 201) {
		json_object *answer = json_tokener_parse(buffer.data ? buffer.data : "");
		json_object *name;

		if (answer && json_object_object_get_ex(answer, "name", &name))
			snprintf(done, sizeof(done), "watching %s (pid %ld)",
				 terminal_safe(json_object_get_string(name)), pid);
		json_object_put(answer);
	}
	return print_answer("watch", status, &buffer, 201, as_json, done);
}

/* A Server-Sent Events stream, split into lines; each "data:" line is one transition. */
struct sse_printer {
	char line[8192];
	size_t len;
	bool as_json;
};

static void print_transition(struct sse_printer *printer, const char *data)
{
	json_object *event = json_tokener_parse(data);
	char when[32] = "?";

	if (printer->as_json || !event) {
		puts(data);
	} else {
		json_object *at;
		time_t seconds;

		if (json_object_object_get_ex(event, "at", &at)) {
			seconds = (time_t)json_object_get_double(at);
			strftime(when, sizeof(when), "%H:%M:%S", localtime(&seconds));
		}
		printf("%s  %-24s %-12s -> %-12s %s\n", when, str_field(event, "worker"),
		       str_field(event, "from"), str_field(event, "to"),
		       str_field(event, "reason"));
	}
	fflush(stdout);
	json_object_put(event);
}

static size_t sse_chunk(char *data, size_t size, size_t count, void *ctx)
{
	struct sse_printer *printer = ctx;

	for (size_t i = 0; i < size * count; i++) {
		if (data[i] != '\n') {
			if (printer->len < sizeof(printer->line) - 1)
				printer->line[printer->len++] = data[i];
			continue;
		}
		printer->line[printer->len] = '\0';
		if (!strncmp(printer->line, "data: ", 6))
			print_transition(printer, printer->line + 6);
		printer->len = 0;
	}
	return size * count;
}

static int cmd_events(const char *base, int argc, char **argv)
{
	struct sse_printer printer = {.as_json = argc > 1 && !strcmp(argv[1], "--json")};
	CURL *curl = curl_easy_init();
	long status = 0;
	char url[1024];
	CURLcode code;

	if (!curl)
		return EXIT_UNREACHABLE;
	snprintf(url, sizeof(url), "%s/api/v1/events", base);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sse_chunk);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &printer);
	code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (code != CURLE_OK || status != 200) {
		fprintf(stderr, "liveprobe: events: %s: %s\n", url,
			code != CURLE_OK ? curl_easy_strerror(code)
					 : "refused (too many streams?)");
		return EXIT_UNREACHABLE;
	}
	return 0; /* the daemon ended the stream: it is stopping */
}

/* Checks a value by the same rules the daemon applies, so the user hears about it here. */
static bool safe_value(const char *text)
{
	return text[0] && !strpbrk(text, " \t\r\n=");
}

static int cmd_report(int argc, char **argv)
{
	static const struct option options[] = {
		{"worker", required_argument, NULL, 'w'},
		{"completed-at", required_argument, NULL, 'c'},
		{"count", required_argument, NULL, 'n'},
		{"seq", required_argument, NULL, 's'},
		{"peer", required_argument, NULL, 'p'},
		{"pid", required_argument, NULL, 'P'},
		{"no-pid", no_argument, NULL, 'N'},
		{"socket", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	const char *fields[6][2] = {{"worker", NULL}, {"completed_at", NULL}, {"count", NULL},
				    {"seq", NULL},    {"peer", NULL},	      {"pid", NULL}};
	const char *socket_path = NULL, *verb;
	char line[LIVEPROBE_LINE_MAX], parent[16];
	bool with_pid = true;
	struct liveprobe lp;
	size_t used;
	int option, err;

	if (argc < 2 ||
	    (strcmp(argv[1], "episode") && strcmp(argv[1], "hello") && strcmp(argv[1], "bye"))) {
		fprintf(stderr, "liveprobe: report: expected episode, hello or bye\n");
		return EXIT_USAGE;
	}
	verb = argv[1];
	optind = 2;
	while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
		int field = option == 'w'   ? 0
			    : option == 'c' ? 1
			    : option == 'n' ? 2
			    : option == 's' ? 3
			    : option == 'p' ? 4
			    : option == 'P' ? 5
					    : -1;

		if (field >= 0) {
			if (!safe_value(optarg)) {
				fprintf(stderr, "liveprobe: report: bad value '%s'\n",
					terminal_safe(optarg));
				return EXIT_USAGE;
			}
			fields[field][1] = optarg;
		} else if (option == 'N') {
			with_pid = false;
		} else if (option == 'S') {
			socket_path = optarg;
		} else {
			return EXIT_USAGE;
		}
	}
	if (!fields[0][1]) {
		fprintf(stderr, "liveprobe: report: --worker is required\n");
		return EXIT_USAGE;
	}
	/* This process is gone in a moment; the worker is the script that called it. */
	if (with_pid && !fields[5][1] && !fields[4][1]) {
		snprintf(parent, sizeof(parent), "%d", (int)getppid());
		fields[5][1] = parent;
	}
	used = snprintf(line, sizeof(line), "%s", verb);
	for (size_t i = 0; i < 6; i++) {
		if (fields[i][1] && (i != 5 || with_pid))
			used += snprintf(line + used, used < sizeof(line) ? sizeof(line) - used : 0,
					 " %s=%s", fields[i][0], fields[i][1]);
	}
	if (used >= sizeof(line)) {
		fprintf(stderr, "liveprobe: report: line longer than %d bytes\n",
			LIVEPROBE_LINE_MAX);
		return EXIT_USAGE;
	}
	err = liveprobe_open(&lp, socket_path);
	if (!err) {
		err = liveprobe_send(&lp, line);
		liveprobe_close(&lp);
	}
	if (err) {
		fprintf(stderr, "liveprobe: report: %s: %s\n",
			socket_path ? socket_path : "ingest socket", strerror(-err));
		return EXIT_UNREACHABLE;
	}
	return 0;
}

static int cmd_forget(const char *base, int argc, char **argv)
{
	bool as_json = argc == 3 && !strcmp(argv[2], "--json");
	struct buffer buffer = {};
	char path[256], done[128];
	char *escaped;
	long status;

	if (argc != 2 && !as_json) {
		fprintf(stderr, "liveprobe: forget: expected one worker name [--json]\n");
		return EXIT_USAGE;
	}
	escaped = curl_easy_escape(NULL, argv[1], 0);
	snprintf(path, sizeof(path), "/api/v1/workers/%s", escaped ? escaped : "");
	curl_free(escaped);
	status = request(base, "DELETE", path, NULL, &buffer);
	snprintf(done, sizeof(done), "forgot %s", terminal_safe(argv[1]));
	return print_answer("forget", status, &buffer, 200, as_json, done);
}

/* The bearer token for writes over --url; one line, as the daemon reads it. */
static int read_token(const char *path)
{
	char token[512];
	FILE *file = fopen(path, "re");

	if (!file || !fgets(token, sizeof(token), file)) {
		fprintf(stderr, "liveprobe: token file %s: %s\n", path,
			file ? "empty" : strerror(errno));
		if (file)
			fclose(file);
		return -1;
	}
	fclose(file);
	token[strcspn(token, "\r\n")] = '\0';
	snprintf(auth_line, sizeof(auth_line), "Authorization: Bearer %s", token);
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = getenv("LIVEPROBE_URL") ? getenv("LIVEPROBE_URL") : DEFAULT_URL;
	const char *token_file = getenv("LIVEPROBE_TOKEN_FILE");
	bool url_given = getenv("LIVEPROBE_URL") != NULL, socket_given = false;
	int first = 1, ret;

	if (getenv("LIVEPROBE_API_SOCKET"))
		write_socket = getenv("LIVEPROBE_API_SOCKET");
	while (first + 1 < argc && argv[first][0] == '-' && argv[first][1] == '-') {
		if (!strcmp(argv[first], "--url")) {
			base = argv[first + 1];
			url_given = true;
		} else if (!strcmp(argv[first], "--api-socket")) {
			write_socket = argv[first + 1];
			socket_given = true;
		} else if (!strcmp(argv[first], "--token-file")) {
			token_file = argv[first + 1];
		} else {
			break;
		}
		first += 2;
	}
	if (url_given && !socket_given) {
		write_socket = NULL;
		if (token_file && read_token(token_file))
			return EXIT_UNREACHABLE;
	}
	if (first < argc && !strcmp(argv[first], "--version")) {
		printf("liveprobe %s (commit %s)\n", LP_VERSION, LP_COMMIT);
		return EXIT_GREEN;
	}
	if (first >= argc || !strcmp(argv[first], "--help") || !strcmp(argv[first], "-h") ||
	    !strcmp(argv[first], "help")) {
		fputs(usage_text, first >= argc ? stderr : stdout);
		return first >= argc ? EXIT_USAGE : EXIT_GREEN;
	}
	if (argv[first][0] == '-') {
		fprintf(stderr, "liveprobe: unknown option '%s' (see --help)\n",
			terminal_safe(argv[first]));
		return EXIT_USAGE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!strcmp(argv[first], "status"))
		ret = cmd_status(base, argc - first, argv + first);
	else if (!strcmp(argv[first], "watch"))
		ret = cmd_watch(base, argc - first, argv + first);
	else if (!strcmp(argv[first], "forget"))
		ret = cmd_forget(base, argc - first, argv + first);
	else if (!strcmp(argv[first], "events"))
		ret = cmd_events(base, argc - first, argv + first);
	else if (!strcmp(argv[first], "report"))
		ret = cmd_report(argc - first, argv + first);
	else {
		fprintf(stderr, "liveprobe: unknown command '%s' (see --help)\n",
			terminal_safe(argv[first]));
		ret = EXIT_USAGE;
	}
	curl_global_cleanup();
	return ret;
}
