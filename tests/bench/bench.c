// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks (not tests: they print figures).
 *   bench exit-latency URL N       kill() -> `killed` visible over HTTP, beside the kernel floor
 *                                  measured on the same kill (pidfd_open + poll).
 *   bench fork-storm N             fork/exit/wait rate, for probe-on vs probe-off ratios.
 *   bench sock-latency URL PORT N  peer SIGKILL -> `disconnected` visible over HTTP, beside the
 *                                  floor: the server's own poll() seeing the peer's FIN.
 *   bench tcp-storm PORT N         loopback connect/accept/close rate on PORT.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
	char data[4096];
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

static long http(CURL *curl, const char *method, const char *url, const char *body,
		 struct buffer *out)
{
	long status = 0;

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

static int latency(const char *base, int n)
{
	uint64_t *floor = calloc(n, sizeof(*floor)), *seen = calloc(n, sizeof(*seen));
	char url[256], body[128];
	struct buffer buffer;
	CURL *curl = curl_easy_init();
	int done = 0;

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		struct pollfd pfd = {.events = POLLIN};
		uint64_t start;

		if (pid == 0) {
			pause();
			_exit(0);
		}
		snprintf(body, sizeof(body), "{\"name\":\"bench-%d\",\"pid\":%d}", i, pid);
		snprintf(url, sizeof(url), "%s/api/v1/workers", base);
		if (http(curl, "POST", url, body, &buffer) != 201) {
			fprintf(stderr, "bench: register failed: %s\n", buffer.data);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return 1;
		}
		pfd.fd = syscall(SYS_pidfd_open, pid, 0);
		snprintf(url, sizeof(url), "%s/api/v1/workers/bench-%d", base, i);
		start = now_ns();
		kill(pid, SIGKILL);
		poll(&pfd, 1, 1000);
		floor[i] = now_ns() - start;
		for (;;) {
			http(curl, "GET", url, NULL, &buffer);
			if (strstr(buffer.data, "\"state\":\"killed\""))
				break;
			if (now_ns() - start > 2000000000ull) {
				fprintf(stderr, "bench: bench-%d not seen killed within 2 s\n", i);
				break;
			}
		}
		seen[i] = now_ns() - start;
		close(pfd.fd);
		waitpid(pid, NULL, 0);
		http(curl, "DELETE", url, NULL, &buffer);
		done++;
	}
	print_stats("kernel floor (pidfd poll)", floor, done);
	print_stats("liveprobe (kill -> HTTP)", seen, done);
	curl_easy_cleanup(curl);
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
	struct buffer buffer;
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
		start = now_ns();
		kill(pid, SIGKILL);
		poll(&pfd, 1, 1000);
		floor[i] = now_ns() - start;
		for (;;) {
			http(curl, "GET", url, NULL, &buffer);
			if (strstr(buffer.data, "\"state\":\"disconnected\""))
				break;
			if (now_ns() - start > 2000000000ull) {
				fprintf(stderr, "bench: %s not seen disconnected within 2 s\n",
					url);
				break;
			}
		}
		seen[i] = now_ns() - start;
		close(pfd.fd);
		waitpid(pid, NULL, 0);
		http(curl, "DELETE", url, NULL, &buffer);
		done++;
	}
	print_stats("floor (server poll sees FIN)", floor, done);
	print_stats("liveprobe (kill -> HTTP)", seen, done);
	curl_easy_cleanup(curl);
	close(listener);
	free(floor);
	free(seen);
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

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "exit-latency"))
		return latency(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "fork-storm"))
		return fork_storm(atoi(argv[2]));
	if (argc == 5 && !strcmp(argv[1], "sock-latency"))
		return sock_latency(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "tcp-storm"))
		return tcp_storm(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr,
		"usage: bench exit-latency URL N | fork-storm N | sock-latency URL PORT N | "
		"tcp-storm PORT N\n");
	return 2;
}
