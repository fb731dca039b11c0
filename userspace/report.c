// SPDX-License-Identifier: GPL-2.0
/* See report.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "opts.h"
#include "report.h"
#include "text.h"

const char *report_error_name(enum report_error error)
{
	static const char *const names[REPORT_ERR__COUNT] = {
		[REPORT_OK] = "ok",
		[REPORT_ERR_TOO_LONG] = "line_too_long",
		[REPORT_ERR_BINARY] = "binary",
		[REPORT_ERR_UNKNOWN_VERB] = "unknown_verb",
		[REPORT_ERR_MISSING_WORKER] = "missing_worker",
		[REPORT_ERR_BAD_WORKER] = "bad_worker",
		[REPORT_ERR_BAD_COMPLETED_AT] = "bad_completed_at",
		[REPORT_ERR_BAD_COUNT] = "bad_count",
		[REPORT_ERR_BAD_PID] = "bad_pid",
		[REPORT_ERR_BAD_PEER] = "bad_peer",
		[REPORT_ERR_BAD_SEQ] = "bad_seq",
		[REPORT_ERR_WORKER_LIMIT] = "worker_limit",
		[REPORT_ERR_UNBOUND] = "unbound_pid",
		[REPORT_ERR_NOT_OWNER] = "not_owner",
		[REPORT_ERR_PID_NOT_SENDER] = "pid_not_sender",
		[REPORT_ERR_UDP_FORBIDDEN] = "udp_forbidden",
		[REPORT_ERR_WRITE_NO_TOKEN] = "write_without_credentials",
		[REPORT_ERR_WRITE_BAD_TOKEN] = "write_bad_token",
		[REPORT_ERR_WRITE_NOT_AUTHORISED] = "write_not_authorised",
		[REPORT_ERR_TRUNCATED] = "truncated_datagram",
	};

	return error < REPORT_ERR__COUNT ? names[error] : "unknown";
}

int report_parse_endpoint(const char *text, uint16_t *family, uint8_t addr[16], uint16_t *port)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char host[64];

	if (opts_parse_hostport(text, host, sizeof(host), port))
		return -1;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, addr) != 1)
		return -1;
	*family = AF_INET6;
	if (!memcmp(addr, mapped, sizeof(mapped))) {
		memmove(addr, addr + 12, 4);
		memset(addr + 4, 0, 12);
		*family = AF_INET;
	}
	return 0;
}

static bool parse_u64(const char *text, uint64_t max, uint64_t *out)
{
	unsigned long long value;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || *end || value > max)
		return false;
	*out = value;
	return true;
}

/* Applies one key=value; unknown keys are someone else's future, not an error. */
static enum report_error apply_field(struct report *out, const char *key, const char *value)
{
	uint64_t number;

	if (!strcmp(key, "worker")) {
		if (!worker_name_valid(value))
			return REPORT_ERR_BAD_WORKER;
		strcpy(out->worker, value);
	} else if (!strcmp(key, "completed_at")) {
		char *end;
		double seconds;

		errno = 0;
		seconds = strtod(value, &end);
		/* strtod takes "nan", "inf" and hex; a time is a plain positive decimal. */
		if (errno || *end || !value[0] || !isfinite(seconds) || seconds <= 0 ||
		    strpbrk(value, "xXnNiI") || value[0] == '-' || value[0] == '+')
			return REPORT_ERR_BAD_COMPLETED_AT;
		out->has_completed_at = true;
		out->completed_at = seconds;
	} else if (!strcmp(key, "count")) {
		if (!parse_u64(value, REPORT_COUNT_MAX, &number) || number == 0)
			return REPORT_ERR_BAD_COUNT;
		out->count = number;
	} else if (!strcmp(key, "pid")) {
		if (!parse_u64(value, 4194304, &number) || number == 0)
			return REPORT_ERR_BAD_PID;
		out->pid = number;
	} else if (!strcmp(key, "peer")) {
		if (report_parse_endpoint(value, &out->peer_family, out->peer_addr,
					  &out->peer_port))
			return REPORT_ERR_BAD_PEER;
		out->has_peer = true;
	} else if (!strcmp(key, "seq")) {
		if (!parse_u64(value, UINT64_MAX, &number))
			return REPORT_ERR_BAD_SEQ;
		out->has_seq = true;
		out->seq = number;
	}
	return REPORT_OK;
}

static bool is_text(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = line[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

enum report_error report_parse_line(const char *line, size_t len, struct report *out)
{
	char copy[REPORT_LINE_MAX + 1], *save = NULL, *token;
	enum report_error err;

	memset(out, 0, sizeof(*out));
	out->count = 1;
	if (len > REPORT_LINE_MAX)
		return REPORT_ERR_TOO_LONG;
	if (!is_text(line, len))
		return REPORT_ERR_BINARY;
	memcpy(copy, line, len);
	copy[len] = '\0';
	token = strtok_r(copy, " \t", &save);
	if (!token)
		return REPORT_ERR_UNKNOWN_VERB;
	if (!strcmp(token, "episode"))
		out->kind = REPORT_EPISODE;
	else if (!strcmp(token, "hello"))
		out->kind = REPORT_HELLO;
	else if (!strcmp(token, "bye"))
		out->kind = REPORT_BYE;
	else
		return REPORT_ERR_UNKNOWN_VERB;
	while ((token = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(token, '=');

		if (!eq)
			continue; /* a bare word: a future flag */
		*eq = '\0';
		err = apply_field(out, token, eq + 1);
		if (err)
			return err;
	}
	return out->worker[0] ? REPORT_OK : REPORT_ERR_MISSING_WORKER;
}

/* sd_notify lines are KEY=VALUE with an upper-case key; the value runs to the end of the line. */
static bool notify_key(const char *line, size_t len, size_t *key_len)
{
	size_t i = 0;

	while (i < len && ((line[i] >= 'A' && line[i] <= 'Z') || line[i] == '_' ||
			   (i > 0 && line[i] >= '0' && line[i] <= '9')))
		i++;
	*key_len = i;
	return i > 0 && i < len && line[i] == '=';
}

/*
 * sd_notify fields; *describes is set by those that say something about the worker. The others
 * (BARRIER=1, FDSTORE=1, FDNAME=, NOTIFYACCESS=... : protocol between a service and systemd)
 * never make or touch a worker: systemd-notify sends BARRIER=1 from its own short-lived process.
 */
static enum report_error apply_notify(struct report *notify, const char *line, size_t len,
				      size_t key_len, bool *describes)
{
	const char *value = line + key_len + 1;
	size_t value_len = len - key_len - 1;

#define KEY_IS(name) (key_len == sizeof(name) - 1 && !memcmp(line, name, key_len))
	*describes = KEY_IS("READY") || KEY_IS("WATCHDOG") || KEY_IS("STOPPING") ||
		     KEY_IS("STATUS") || KEY_IS("LIVEPROBE_WORKER") || KEY_IS("MAINPID") ||
		     KEY_IS("RELOADING") || KEY_IS("ERRNO");
	if (KEY_IS("MAINPID")) {
		char digits[12];
		uint64_t pid;

		if (value_len == 0 || value_len >= sizeof(digits))
			return REPORT_ERR_BAD_PID;
		memcpy(digits, value, value_len);
		digits[value_len] = '\0';
		if (!parse_u64(digits, 4194304, &pid) || pid == 0)
			return REPORT_ERR_BAD_PID;
		notify->mainpid = pid;
	} else if (KEY_IS("READY"))
		notify->ready = value_len == 1 && value[0] == '1';
	else if (KEY_IS("WATCHDOG"))
		notify->watchdog = value_len == 1 && value[0] == '1';
	else if (KEY_IS("STOPPING"))
		notify->stopping = value_len == 1 && value[0] == '1';
	else if (KEY_IS("STATUS")) {
		text_clean(notify->status, sizeof(notify->status), value, value_len);
		notify->has_status = true;
	} else if (KEY_IS("LIVEPROBE_WORKER")) {
		char name[WORKER_NAME_MAX + 1];

		if (value_len > WORKER_NAME_MAX)
			return REPORT_ERR_BAD_WORKER;
		memcpy(name, value, value_len);
		name[value_len] = '\0';
		if (!worker_name_valid(name))
			return REPORT_ERR_BAD_WORKER;
		strcpy(notify->worker, name);
	}
#undef KEY_IS
	return REPORT_OK;
}

size_t report_parse_datagram(const char *data, size_t len, report_fn fn, void *ctx,
			     uint64_t errors[REPORT_ERR__COUNT])
{
	struct report notify = {.kind = REPORT_NOTIFY, .count = 1};
	bool has_notify = false;
	size_t handed = 0;

	for (size_t start = 0; start < len;) {
		const char *line = data + start;
		const char *newline = memchr(line, '\n', len - start);
		size_t line_len = newline ? (size_t)(newline - line) : len - start;
		enum report_error err;
		struct report report;
		size_t key_len;

		start += line_len + 1;
		if (line_len && line[line_len - 1] == '\r')
			line_len--;
		if (line_len == 0)
			continue;
		if (line_len <= REPORT_LINE_MAX && is_text(line, line_len) &&
		    notify_key(line, line_len, &key_len)) {
			bool describes = false;

			err = apply_notify(&notify, line, line_len, key_len, &describes);
			has_notify |= err == REPORT_OK && describes;
		} else {
			err = report_parse_line(line, line_len, &report);
			if (!err) {
				fn(ctx, &report);
				handed++;
			}
		}
		if (err)
			errors[err]++;
	}
	if (has_notify) {
		fn(ctx, &notify);
		handed++;
	}
	return handed;
}

/* The error a wrong value of this key is counted as. */
static enum report_error field_error(const char *key)
{
	if (!strcmp(key, "worker"))
		return REPORT_ERR_BAD_WORKER;
	if (!strcmp(key, "completed_at"))
		return REPORT_ERR_BAD_COMPLETED_AT;
	if (!strcmp(key, "count"))
		return REPORT_ERR_BAD_COUNT;
	if (!strcmp(key, "pid"))
		return REPORT_ERR_BAD_PID;
	if (!strcmp(key, "peer"))
		return REPORT_ERR_BAD_PEER;
	return REPORT_ERR_BAD_SEQ;
}

/*
 * JSON values become the text the line protocol would carry, so both share one validator. Each
 * key takes one JSON type: names and peers are strings (without NUL bytes), completed_at a
 * number, the counters integers; anything else is that field's error, never coerced.
 */
static enum report_error json_field(struct report *out, json_object *obj, const char *key)
{
	bool wants_string = !strcmp(key, "worker") || !strcmp(key, "peer");
	bool wants_real = !strcmp(key, "completed_at");
	json_object *value;
	char text[REPORT_LINE_MAX];

	if (!json_object_object_get_ex(obj, key, &value) ||
	    json_object_is_type(value, json_type_null))
		return REPORT_OK;
	switch (json_object_get_type(value)) {
	case json_type_string:
		if (!wants_string)
			return field_error(key);
		if ((size_t)json_object_get_string_len(value) >= sizeof(text))
			return REPORT_ERR_TOO_LONG;
		if ((size_t)json_object_get_string_len(value) !=
		    strlen(json_object_get_string(value)))
			return field_error(key); /* an embedded NUL would cut the name short */
		snprintf(text, sizeof(text), "%s", json_object_get_string(value));
		break;
	case json_type_int:
		if (wants_string || json_object_get_int64(value) < 0)
			return field_error(key);
		snprintf(text, sizeof(text), "%" PRIu64, json_object_get_uint64(value));
		break;
	case json_type_double:
		if (!wants_real || !isfinite(json_object_get_double(value)))
			return field_error(key);
		snprintf(text, sizeof(text), "%.6f", json_object_get_double(value));
		break;
	default:
		return field_error(key); /* objects, arrays, booleans */
	}
	return apply_field(out, key, text);
}

enum report_error report_from_json(json_object *obj, struct report *out)
{
	static const char *const keys[] = {"worker", "completed_at", "count", "pid", "peer", "seq"};
	json_object *type;
	enum report_error err;

	memset(out, 0, sizeof(*out));
	out->count = 1;
	out->kind = REPORT_EPISODE;
	if (!json_object_is_type(obj, json_type_object))
		return REPORT_ERR_UNKNOWN_VERB;
	if (json_object_object_get_ex(obj, "type", &type) &&
	    !json_object_is_type(type, json_type_null)) {
		const char *name = json_object_get_string(type);

		if (!json_object_is_type(type, json_type_string))
			return REPORT_ERR_UNKNOWN_VERB;
		if (!strcmp(name, "hello"))
			out->kind = REPORT_HELLO;
		else if (!strcmp(name, "bye"))
			out->kind = REPORT_BYE;
		else if (strcmp(name, "episode"))
			return REPORT_ERR_UNKNOWN_VERB;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		err = json_field(out, obj, keys[i]);
		if (err)
			return err;
	}
	return out->worker[0] ? REPORT_OK : REPORT_ERR_MISSING_WORKER;
}
