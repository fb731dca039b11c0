// SPDX-License-Identifier: GPL-2.0
/* See log.h. Each message is formatted into one buffer and written with one call, so lines from
 * the HTTP threads and the event loop never interleave mid-line. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_program = "liveprobe";
static bool log_verbose;

void log_init(const char *program, bool verbose)
{
	log_program = program;
	log_verbose = verbose;
}

bool log_is_verbose(void)
{
	return log_verbose;
}

static void log_emit(const char *level, const char *fmt, va_list ap)
{
	char line[1024];
	int len;

	len = snprintf(line, sizeof(line), "%s: %s", log_program, level);
	if (len < 0 || (size_t)len >= sizeof(line))
		return;
	vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	len = 0;
	while (line[len])
		len++;
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}

#define LOG_FN(fn, level, cond)                                                                    \
	void fn(const char *fmt, ...)                                                              \
	{                                                                                          \
		va_list ap;                                                                        \
		if (!(cond))                                                                       \
			return;                                                                    \
		va_start(ap, fmt);                                                                 \
		log_emit(level, fmt, ap);                                                          \
		va_end(ap);                                                                        \
	}

LOG_FN(log_error, "", 1)
LOG_FN(log_warn, "warning: ", 1)
LOG_FN(log_info, "", 1)
LOG_FN(log_debug, "debug: ", log_verbose)

void log_limited(unsigned int key, const char *fmt, ...)
{
	static _Atomic int64_t last_s[LOG_LIMIT_KEYS];
	struct timespec now;
	int64_t previous;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &now);
	key %= LOG_LIMIT_KEYS;
	previous = atomic_load(&last_s[key]);
	/* One winner per second per key, without a lock. */
	if (previous == now.tv_sec ||
	    !atomic_compare_exchange_strong(&last_s[key], &previous, now.tv_sec))
		return;
	va_start(ap, fmt);
	log_emit("warning: ", fmt, ap);
	va_end(ap);
}
