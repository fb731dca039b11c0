// SPDX-License-Identifier: GPL-2.0
/* See log.h. Each message is formatted into one buffer and written with one call, so lines from
 * the HTTP threads and the event loop never interleave mid-line. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_program = "liveprobe";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static bool log_to_journal;

/* stderr is the journal when JOURNAL_STREAM holds its device and inode ("DEV:INO"). */
static bool stderr_is_journal(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

void log_init(const char *program, enum log_level level)
{
	log_program = program;
	log_threshold = level;
	log_to_journal = stderr_is_journal();
}

int log_level_from_name(const char *name)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	for (int level = 0; level <= LOG_LEVEL_DEBUG; level++)
		if (!strcmp(name, names[level]))
			return level;
	return -1;
}

bool log_wants(enum log_level level)
{
	return level <= log_threshold;
}

bool log_is_verbose(void)
{
	return log_wants(LOG_LEVEL_DEBUG);
}

const char *log_value(char *buffer, size_t len, const char *text)
{
	size_t used = 0;

	if (len < 3)
		return "";
	if (text[0] && !strpbrk(text, " \"\\=\t")) {
		snprintf(buffer, len, "%s", text);
		return buffer;
	}
	buffer[used++] = '"';
	for (; *text && used + 3 < len; text++) {
		if (*text == '"' || *text == '\\')
			buffer[used++] = '\\';
		buffer[used++] = *text;
	}
	buffer[used++] = '"';
	buffer[used] = '\0';
	return buffer;
}

static void log_emit(enum log_level level, const char *fmt, va_list ap)
{
	/* sd-daemon(3) priorities: err, warning, info, debug */
	static const char *const journal_prefix[] = {"<3>", "<4>", "<6>", "<7>"};
	static const char *const label[] = {"", "warning: ", "", "debug: "};
	char line[1024];
	int len;

	if (log_to_journal)
		len = snprintf(line, sizeof(line), "%s%s", journal_prefix[level], label[level]);
	else
		len = snprintf(line, sizeof(line), "%s: %s", log_program, label[level]);
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

#define LOG_FN(fn, level)                                                                          \
	void fn(const char *fmt, ...)                                                              \
	{                                                                                          \
		va_list ap;                                                                        \
		if (!log_wants(level))                                                             \
			return;                                                                    \
		va_start(ap, fmt);                                                                 \
		log_emit(level, fmt, ap);                                                          \
		va_end(ap);                                                                        \
	}

LOG_FN(log_error, LOG_LEVEL_ERROR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)

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
	if (!log_wants(LOG_LEVEL_WARN))
		return;
	va_start(ap, fmt);
	log_emit(LOG_LEVEL_WARN, fmt, ap);
	va_end(ap);
}
