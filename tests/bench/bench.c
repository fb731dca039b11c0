// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks (not tests: they print figures).
 *   bench exit-latency URL N       kill() -> `killed` visible over HTTP, beside the kernel floor
 *                                  measured on the same kill (pidfd_open + poll).
 *   bench fork-storm N             fork/exit/wait rate, for probe-on vs probe-off ratios.
 *   bench sock-latency URL PORT N  peer SIGKILL -> `disconnected` visible over HTTP, beside the
 *                                  floor: the server's own poll() seeing the peer's FIN.
 *   bench tcp-storm PORT N         loopback connect/accept/close rate on PORT.
 *   bench hold-conns PORT N        opens N loopback connections on PORT (both ends here),
 *                                  prints "held", and keeps them until stdin closes.
 *   bench ingest-unix URL SOCKET N BATCH   episodes/s the daemon takes over the Unix socket,
 *                                  BATCH lines per datagram, measured until the daemon has
 *                                  counted all N (blocking sends: the daemon sets the pace).
 *   bench ingest-http URL N BATCH  the same through POST /api/v1/episodes.
 *   bench workers URL SOCKET PID N RSS growth of daemon PID per worker, N workers.
 *   bench sse-latency URL N [pool] kill() -> the `killed` transition on an open
 *                                  GET /api/v1/events stream, beside the pidfd floor;
 *                                  pool: a stream served by the thread pool (open_events).
 *   bench floor-prog TRACEPOINT    attaches a tp_btf program that only returns 0 to TRACEPOINT,
 *                                  prints "attached" and waits to be killed: under bpf_stats,
 *                                  the floor of any program there, on the same calls as ours.
 *   bench schedule POLICY NICE SLICE_US TID...  sets the threads' policy (other, batch),
 *                                  nice and EEVDF slice (Linux 6.12+; 0: the kernel's): the
 *                                  A/B of one running daemon, as --loop-nice or otherwise.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct buffer {
	char data[1 << 20]; /* /api/v1/host grows with the fleet */
	size_t len;
};

static size_t collect(char *data, size_t size, size_t count, void *ctx)
{
	struct buffer *buffer = ctx;
	size_t len = size * count;

	if (buffer->len + len >= sizeof(buffer->data))
		len = sizeof(buffer->data) - buffer->len - 1;
	memcpy(buffer->data + buffer->len, data, len);
	buffer->len += len;
	buffer->data[buffer->len] = '\0';
	return size * count;
}

/* Writes carry the daemon's bearer token, read from $LIVEPROBE_TOKEN_FILE. */
static struct curl_slist *auth_header(void)
{
	static struct curl_slist *headers;
	static bool read_once;
	const char *path = getenv("LIVEPROBE_TOKEN_FILE");
	char token[512], line[600];
	FILE *file;

	if (read_once)
		return headers;
	read_once = true;
	file = path ? fopen(path, "re") : NULL;
	if (file && fgets(token, sizeof(token), file)) {
		token[strcspn(token, "\r\n")] = '\0';
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		headers = curl_slist_append(NULL, line);
	}
	if (file)
		fclose(file);
	return headers;
}

static long http(CURL *curl, const char *method, const char *url, const char *body,
		 struct buffer *out)
{
	long status = 0;

	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, auth_header());
	out->len = 0;
	out->data[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	if (curl_easy_perform(curl) != CURLE_OK)
		return -1;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void print_stats(const char *what, uint64_t *samples, int n)
{
	qsort(samples, n, sizeof(*samples), cmp_u64);
	printf("%-28s p50 %8.3f ms   p99 %8.3f ms   max %8.3f ms   (n=%d)\n", what,
	       samples[n / 2] / 1e6, samples[(n * 99) / 100] / 1e6, samples[n - 1] / 1e6, n);
}

/* Polls url until its body shows the state; returns the time since start. */
static uint64_t wait_visible(CURL *curl, const char *url, const char *state, uint64_t start)
{
	static struct buffer buffer;
	char needle[64];

	snprintf(needle, sizeof(needle), "\"state\":\"%s\"", state);
	for (;;) {
		http(curl, "GET", url, NULL, &buffer);
		if (strstr(buffer.data, needle))
			break;
		if (now_ns() - start > 2000000000ull) {
			fprintf(stderr, "bench: %s not seen %s within 2 s\n", url, state);
			break;
		}
	}
	return now_ns() - start;
}

static void report_latency(const char *floor_name, uint64_t *floor, uint64_t *seen, int done)
{
	print_stats(floor_name, floor, done);
	print_stats("liveprobe (kill -> HTTP)", seen, done);
	free(floor);
	free(seen);
}

/* A child that waits to be killed, registered as worker PREFIX-I; its pid, or -1. */
static pid_t spawn_registered(CURL *curl, const char *base, const char *prefix, int i)
{
	static struct buffer buffer;
	char url[256], body[128];
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	snprintf(body, sizeof(body), "{\"name\":\"%s-%d\",\"pid\":%d}", prefix, i, pid);
	snprintf(url, sizeof(url), "%s/api/v1/workers", base);
	if (http(curl, "POST", url, body, &buffer) != 201) {
		fprintf(stderr, "bench: register failed: %s\n", buffer.data);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* SIGKILLs pid and waits until pfd, the floor's witness, is ready: returns the floor and the
 * time the kill was sent, from which the daemon's view is timed too. */
static uint64_t kill_timed(pid_t pid, struct pollfd *pfd, uint64_t *start)
{
	*start = now_ns();
	kill(pid, SIGKILL);
	poll(pfd, 1, 1000);
	return now_ns() - *start;
}

static int latency(const char *base, int n)
{
	uint64_t *floor = calloc(n, sizeof(*floor)), *seen = calloc(n, sizeof(*seen));
	char url[256];
	static struct buffer buffer;
	CURL *curl = curl_easy_init();
	int done = 0;

	for (int i = 0; i < n; i++) {
		pid_t pid = spawn_registered(curl, base, "bench", i);
		struct pollfd pfd = {.events = POLLIN};
		uint64_t start;

		if (pid < 0)
			return 1;
		pfd.fd = syscall(SYS_pidfd_open, pid, 0);
		snprintf(url, sizeof(url), "%s/api/v1/workers/bench-%d", base, i);
		floor[i] = kill_timed(pid, &pfd, &start);
		seen[i] = wait_visible(curl, url, "killed", start);
		close(pfd.fd);
		waitpid(pid, NULL, 0);
		if (http(curl, "DELETE", url, NULL, &buffer) != 200)
			fprintf(stderr, "bench: forget %s: %s\n", url, buffer.data);
		done++;
	}
	report_latency("kernel floor (pidfd poll)", floor, seen, done);
	curl_easy_cleanup(curl);
	return 0;
}

/*
 * A raw connection to GET /api/v1/events on URL's host and port; -1 on failure. in_pool: the
 * request starts with an empty line, which HTTP lets a server skip and libmicrohttpd does, but
 * which the daemon's lanes do not read as an event stream: the stream is served by the thread
 * pool, as every stream was before lanes, for an A/B in one daemon.
 */
static int open_events(const char *base, bool in_pool)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	const char *port = strrchr(base, ':');
	static const char request[] = "\r\nGET /api/v1/events HTTP/1.1\r\nHost: bench\r\n"
				      "Accept: text/event-stream\r\n\r\n";
	const char *sent = in_pool ? request : request + 2;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || !port)
		return -1;
	addr.sin_port = htons(atoi(port + 1));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    write(fd, sent, strlen(sent)) != (ssize_t)strlen(sent)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the stream until needle arrives; returns the time since start (0 after 2 s). */
static uint64_t wait_event(int fd, const char *needle, uint64_t start)
{
	static char window[1 << 16];
	static size_t len;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t got;

		if (strstr(window, needle)) {
			uint64_t took = now_ns() - start;

			len = 0;
			window[0] = '\0';
			return took;
		}
		if (now_ns() - start > 2000000000ull || poll(&pfd, 1, 100) < 0)
			return 0;
		if (!(pfd.revents & POLLIN))
			continue;
		if (len > sizeof(window) / 2) { /* keep the tail: a needle may straddle reads */
			memmove(window, window + len - 1024, 1024);
			len = 1024;
		}
		got = read(fd, window + len, sizeof(window) - len - 1);
		if (got <= 0)
			return 0;
		len += got;
		window[len] = '\0';
	}
}

static int sse_latency(const char *base, int n, bool in_pool)
{
	uint64_t *floor = calloc(n, sizeof(*floor)), *seen = calloc(n, sizeof(*seen));
	char url[256], needle[128];
	static struct buffer buffer;
	CURL *curl = curl_easy_init();
	int events = open_events(base, in_pool), done = 0;

	if (events < 0) {
		fprintf(stderr, "bench: cannot open the event stream\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = spawn_registered(curl, base, "sse", i);
		struct pollfd pfd = {.events = POLLIN};
		uint64_t start, took;

		if (pid < 0)
			break;
		snprintf(needle, sizeof(needle), "\"worker\":\"sse-%d\",\"from\":", i);
		wait_event(events, needle, now_ns()); /* its registration, out of the way */
		snprintf(needle, sizeof(needle), "\"to\":\"killed\"");
		pfd.fd = syscall(SYS_pidfd_open, pid, 0);
		floor[done] = kill_timed(pid, &pfd, &start);
		took = wait_event(events, needle, start);
		close(pfd.fd);
		waitpid(pid, NULL, 0);
		snprintf(url, sizeof(url), "%s/api/v1/workers/sse-%d", base, i);
		http(curl, "DELETE", url, NULL, &buffer);
		if (!took)
			continue;
		seen[done++] = took;
	}
	close(events);
	curl_easy_cleanup(curl);
	if (!done)
		return 1;
	print_stats("kernel floor (pidfd poll)", floor, done);
	print_stats(in_pool ? "liveprobe (kill -> SSE, pool)" : "liveprobe (kill -> SSE)", seen,
		    done);
	free(floor);
	free(seen);
	return 0;
}

static int fork_storm(int n)
{
	uint64_t start = now_ns();

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
	printf("%.0f\n", n / ((now_ns() - start) / 1e9));
	return 0;
}

static int loopback_listener(int port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 4096)) {
		perror("bench: listen");
		exit(1);
	}
	return fd;
}

static int loopback_connect(int port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		return -1;
	return fd;
}

static int sock_latency(const char *base, int port, int n)
{
	uint64_t *floor = calloc(n, sizeof(*floor)), *seen = calloc(n, sizeof(*seen));
	int listener = loopback_listener(port), done = 0;
	CURL *curl = curl_easy_init();
	static struct buffer buffer;
	char url[256];

	for (int i = 0; i < n; i++) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		struct pollfd pfd = {.events = POLLIN | POLLRDHUP};
		uint64_t start;
		int ready[2];
		char byte;
		pid_t pid;

		if (pipe(ready))
			return 1;
		pid = fork();
		if (pid == 0) {
			if (loopback_connect(port) < 0 || write(ready[1], "c", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		close(ready[1]);
		if (read(ready[0], &byte, 1) != 1) {
			fprintf(stderr, "bench: peer did not connect\n");
			return 1;
		}
		close(ready[0]);
		pfd.fd = accept(listener, (struct sockaddr *)&peer, &len);
		snprintf(url, sizeof(url), "%s/api/v1/workers/127.0.0.1:%u", base,
			 ntohs(peer.sin_port));
		/* Start the clock only once the daemon shows the live connection. */
		for (uint64_t wait = now_ns(); now_ns() - wait < 2000000000ull;) {
			if (http(curl, "GET", url, NULL, &buffer) == 200 &&
			    strstr(buffer.data, "ESTABLISHED"))
				break;
		}
		floor[i] = kill_timed(pid, &pfd, &start);
		seen[i] = wait_visible(curl, url, "disconnected", start);
		close(pfd.fd);
		waitpid(pid, NULL, 0);
		http(curl, "DELETE", url, NULL, &buffer);
		done++;
	}
	report_latency("floor (server poll sees FIN)", floor, seen, done);
	curl_easy_cleanup(curl);
	close(listener);
	return 0;
}

static int tcp_storm(int port, int n)
{
	int listener = loopback_listener(port);
	struct linger reset = {.l_onoff = 1, .l_linger = 0};
	uint64_t start = now_ns();

	for (int i = 0; i < n; i++) {
		int client = loopback_connect(port), server;

		if (client < 0) {
			perror("bench: connect");
			return 1;
		}
		server = accept(listener, NULL, NULL);
		/* The client resets, so no TIME_WAIT piles up and exhausts the local ports. */
		setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		close(server);
		close(client);
	}
	printf("%.0f\n", n / ((now_ns() - start) / 1e9));
	close(listener);
	return 0;
}

static int hold_conns(int port, int n)
{
	struct rlimit files;
	int listener;

	/* Two descriptors a connection: raise the soft limit as far as the hard one allows. */
	if (!getrlimit(RLIMIT_NOFILE, &files)) {
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
	listener = loopback_listener(port);
	for (int i = 0; i < n; i++) {
		if (loopback_connect(port) < 0 || accept(listener, NULL, NULL) < 0) {
			perror("bench: hold-conns");
			return 1;
		}
	}
	printf("held\n");
	fflush(stdout);
	while (getchar() != EOF)
		;
	return 0;
}

/* SCHED_ATTR_SIZE_VER0 of <linux/sched/types.h>, which cannot be included beside <sched.h>. */
struct sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

/* A decimal integer in [min, max] that is the whole argument, else exit(2) naming it. */
static long whole_number(const char *what, const char *arg, long min, long max)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(arg, &end, 10);
	if (errno || end == arg || *end || value < min || value > max) {
		fprintf(stderr, "bench: %s '%s': expected %ld..%ld\n", what, arg, min, max);
		exit(2);
	}
	return value;
}

static int schedule(const char *policy, const char *nice, const char *slice_us, char **tids, int n)
{
	struct sched_attr attr = {
		.size = sizeof(attr),
		.sched_policy = strcmp(policy, "batch") ? SCHED_OTHER : SCHED_BATCH,
		.sched_nice = whole_number("nice", nice, -20, 19),
		/* The kernel's own bounds for a slice: 0.1..100 ms. */
		.sched_runtime = whole_number("slice", slice_us, 0, 100000) * 1000,
	};

	/* The kernel would clamp 1-99 us to 0.1 ms, and the run would claim a slice it did not get.
	 */
	if (attr.sched_runtime && attr.sched_runtime < 100000) {
		fprintf(stderr, "bench: schedule: slice %s us is neither 0 nor 100-100000\n",
			slice_us);
		return 2;
	}
	if (strcmp(policy, "other") && strcmp(policy, "batch")) {
		fprintf(stderr, "bench: schedule: policy '%s' is neither other nor batch\n",
			policy);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		if (syscall(SYS_sched_setattr, (int)whole_number("tid", tids[i], 1, INT32_MAX),
			    &attr, 0)) {
			perror("bench: sched_setattr");
			return 1;
		}
	}
	return 0;
}

/* A counter from GET /api/v1/host, found by its key. */
static uint64_t host_counter(CURL *curl, const char *base, const char *key)
{
	static struct buffer buffer;
	char url[256], needle[64];
	const char *at;

	snprintf(url, sizeof(url), "%s/api/v1/host", base);
	snprintf(needle, sizeof(needle), "\"%s\":", key);
	if (http(curl, "GET", url, NULL, &buffer) != 200 || !(at = strstr(buffer.data, needle)))
		return 0;
	return strtoull(at + strlen(needle), NULL, 10);
}

static int unix_socket(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("bench: ingest socket");
		exit(1);
	}
	return fd;
}

/* Waits until the daemon has counted `until` reports; returns the time that took, or 0. */
static uint64_t wait_reports(CURL *curl, const char *base, uint64_t until, uint64_t start)
{
	while (host_counter(curl, base, "reports_total") < until) {
		if (now_ns() - start > 120000000000ull)
			return 0;
		usleep(10000);
	}
	return now_ns() - start;
}

/* Reports per second, paced by absolute deadlines so a late wake-up sends the backlog at once;
 * rate 0: as fast as the daemon takes them (the sends block). */
static int ingest_unix(const char *base, const char *path, long n, int batch, long rate)
{
	CURL *curl = curl_easy_init();
	int fd = unix_socket(path);
	uint64_t before = host_counter(curl, base, "reports_total"), start, took;
	static char datagram[64 * 1024];

	start = now_ns();
	for (long sent = 0; sent < n;) {
		size_t len = 0;

		for (int i = 0; i < batch && sent < n; i++, sent++)
			len += snprintf(datagram + len, sizeof(datagram) - len,
					"%sepisode worker=ingest-%ld count=1", i ? "\n" : "",
					sent % 100);
		if (rate > 0) {
			uint64_t due = start + (uint64_t)((double)sent / rate * 1e9);
			struct timespec at = {.tv_sec = due / 1000000000,
					      .tv_nsec = due % 1000000000};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
		}
		if (send(fd, datagram, len, 0) < 0) {
			perror("bench: send");
			return 1;
		}
	}
	took = wait_reports(curl, base, before + n, start);
	if (!took)
		fprintf(stderr, "bench: the daemon did not count all reports\n");
	else
		printf("%.0f\n", n / (took / 1e9));
	close(fd);
	curl_easy_cleanup(curl);
	return 0;
}

static int ingest_http(const char *base, long n, int batch)
{
	CURL *curl = curl_easy_init();
	uint64_t before = host_counter(curl, base, "reports_total"), start, took;
	static char body[64 * 1024];
	static struct buffer buffer;
	char url[256];

	snprintf(url, sizeof(url), "%s/api/v1/episodes", base);
	start = now_ns();
	for (long sent = 0; sent < n;) {
		size_t len = snprintf(body, sizeof(body), "[");

		for (int i = 0; i < batch && sent < n; i++, sent++)
			len += snprintf(body + len, sizeof(body) - len,
					"%s{\"worker\":\"bench-%ld\"}", i ? "," : "", sent % 100);
		snprintf(body + len, sizeof(body) - len, "]");
		if (http(curl, "POST", url, body, &buffer) != 200) {
			fprintf(stderr, "bench: POST failed: %s\n", buffer.data);
			return 1;
		}
	}
	took = wait_reports(curl, base, before + n, start);
	if (took)
		printf("%.0f\n", n / (took / 1e9));
	curl_easy_cleanup(curl);
	return 0;
}

static long rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *status;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	status = fopen(path, "r");
	while (status && fgets(line, sizeof(line), status))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (status)
		fclose(status);
	return kib;
}

static int workers(const char *base, const char *path, int pid, long n)
{
	CURL *curl = curl_easy_init();
	int fd = unix_socket(path);
	long before = rss_kib(pid), after;
	static char datagram[64 * 1024];

	for (long sent = 0; sent < n;) {
		size_t len = 0;

		for (int i = 0; i < 500 && sent < n; i++, sent++)
			len += snprintf(datagram + len, sizeof(datagram) - len,
					"%sepisode worker=mem-%ld", i ? "\n" : "", sent);
		if (send(fd, datagram, len, 0) < 0)
			return 1;
	}
	for (int i = 0; i < 10000 && host_counter(curl, base, "workers_total") < (uint64_t)n; i++)
		usleep(1000);
	usleep(300000); /* let a snapshot of the full fleet be published and read */
	host_counter(curl, base, "workers_total");
	after = rss_kib(pid);
	printf("%ld workers: RSS %ld KiB -> %ld KiB, %.0f bytes per worker\n", n, before, after,
	       (after - before) * 1024.0 / n);
	close(fd);
	curl_easy_cleanup(curl);
	return 0;
}

/* The cheapest program a tracepoint can run: what dispatch and bpf_stats' own clock cost. */
static int floor_prog(const char *tracepoint)
{
	struct bpf_insn return_zero[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP);
	int btf_id, prog_fd = -1, link_fd = -1, ret = 1;

	btf_id = libbpf_find_vmlinux_btf_id(tracepoint, BPF_TRACE_RAW_TP);
	if (btf_id < 0) {
		fprintf(stderr, "bench: no tracepoint %s in the kernel's BTF\n", tracepoint);
		goto cleanup;
	}
	opts.attach_btf_id = btf_id;
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "lp_floor_empty", "GPL", return_zero, 2,
				&opts);
	if (prog_fd < 0) {
		fprintf(stderr, "bench: cannot load the floor program: %s\n", strerror(-prog_fd));
		goto cleanup;
	}
	link_fd = bpf_raw_tracepoint_open(NULL, prog_fd);
	if (link_fd < 0) {
		fprintf(stderr, "bench: cannot attach the floor program: %s\n", strerror(-link_fd));
		goto cleanup;
	}
	printf("attached\n");
	fflush(stdout);
	for (;;)
		pause();
cleanup:
	if (link_fd >= 0)
		close(link_fd);
	if (prog_fd >= 0)
		close(prog_fd);
	return ret;
}

int main(int argc, char **argv)
{
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "ingest-unix"))
		return ingest_unix(argv[2], argv[3], atol(argv[4]), atoi(argv[5]),
				   argc == 7 ? atol(argv[6]) : 0);
	if (argc == 5 && !strcmp(argv[1], "ingest-http"))
		return ingest_http(argv[2], atol(argv[3]), atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "workers"))
		return workers(argv[2], argv[3], atoi(argv[4]), atol(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "exit-latency"))
		return latency(argv[2], atoi(argv[3]));
	if ((argc == 4 || (argc == 5 && !strcmp(argv[4], "pool"))) &&
	    !strcmp(argv[1], "sse-latency"))
		return sse_latency(argv[2], atoi(argv[3]), argc == 5);
	if (argc == 3 && !strcmp(argv[1], "fork-storm"))
		return fork_storm(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "sock-latency"))
		return sock_latency(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc >= 6 && !strcmp(argv[1], "schedule"))
		return schedule(argv[2], argv[3], argv[4], argv + 5, argc - 5);
	if (argc == 3 && !strcmp(argv[1], "floor-prog"))
		return floor_prog(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "tcp-storm"))
		return tcp_storm(atoi(argv[2]), atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "hold-conns"))
		return hold_conns(whole_number("port", argv[2], 1, 65535),
				  whole_number("connections", argv[3], 1, 1000000));
	fprintf(stderr,
		"usage: bench exit-latency URL N | fork-storm N | sock-latency URL PORT N | "
		"tcp-storm PORT N | hold-conns PORT N | ingest-unix URL SOCKET N BATCH [RATE] | "
		"ingest-http URL N BATCH | workers URL SOCKET PID N | sse-latency URL N [pool] | "
		"schedule POLICY NICE SLICE_US TID... | floor-prog TRACEPOINT\n");
	return 2;
}
