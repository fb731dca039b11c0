// SPDX-License-Identifier: GPL-2.0
/* See log.h. Each message is formatted into one buffer and written with one call, so lines from
 * the HTTP threads and the event loop never interleave mid-line. */
#include <stdarg.h>
#include <stdio.h>
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
