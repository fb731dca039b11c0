/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging: one line per message on stderr, prefixed with the program name. Errors that end the
 * program are printed with log_error and returned, never printed twice. Debug lines appear only
 * with --verbose.
 */
#ifndef LP_LOG_H
#define LP_LOG_H

#include <stdbool.h>

void log_init(const char *program, bool verbose);
bool log_is_verbose(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning at most once a second per key (0..LOG_LIMIT_KEYS-1), from any thread: for refusals
 * that a hostile client could otherwise turn into a log flood. */
#define LOG_LIMIT_KEYS 64
void log_limited(unsigned int key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
