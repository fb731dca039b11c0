// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks for the process path (not tests: they print figures).
 *   bench_exit latency URL N   kill() -> new state visible over HTTP, beside the kernel floor
 *                              measured on the same kill (pidfd_open + poll).
 *   bench_exit storm N         fork/exit/wait rate of this host, for probe-on vs probe-off ratios.
 */
#include <curl/curl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int storm(int n)
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

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "latency"))
		return latency(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "storm"))
		return storm(atoi(argv[2]));
	fprintf(stderr, "usage: bench_exit latency URL N | storm N\n");
	return 2;
}
