/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging: one line per event on stderr, prefixed with the program name, or with a <N> priority
 * when stderr is the journal (JOURNAL_STREAM names it, as sd-daemon(3) does), so journald files
 * each line at its level. Errors that end the program are printed with log_error and returned,
 * never printed twice. --log-level error|warn|info|debug chooses what appears (info by default;
 * libbpf's own lines only at debug).
 */
#ifndef LP_LOG_H
#define LP_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

void log_init(const char *program, enum log_level level);
/* -1 for a name that is not a level. */
int log_level_from_name(const char *name);
bool log_is_verbose(void); /* debug lines are wanted */
bool log_wants(enum log_level level);
/*
 * A value for a line's key=value tail: bare when it is a plain token, else double-quoted with
 * \" and \\ escaped, so a log shipper splits the tail on spaces outside quotes.
 */
const char *log_value(char *buffer, size_t len, const char *text);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning at most once a second per key (0..LOG_LIMIT_KEYS-1), from any thread: for refusals
 * that a hostile client could otherwise turn into a log flood. */
#define LOG_LIMIT_KEYS 64
void log_limited(unsigned int key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
