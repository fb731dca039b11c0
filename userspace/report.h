/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The worker report protocol, parsed: `episode`, `hello` and `bye` lines with key=value fields,
 * and systemd's sd_notify KEY=VALUE datagrams, into report records. Pure (no I/O), so every
 * rule is unit tested: unknown keys are ignored and every field but the worker is optional, so
 * reporters and daemon upgrade independently; a malformed line is counted under its reason and
 * dropped without touching the other lines of its datagram.
 *
 * Errors: an enum report_error per line, counted by reason; never logs.
 */
#ifndef LP_REPORT_H
#define LP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker_name.h"

#define REPORT_LINE_MAX	  1024 /* bytes per line; a longer line is dropped whole */
#define REPORT_COUNT_MAX  1000000
#define REPORT_STATUS_MAX 128

enum report_kind {
	REPORT_EPISODE,
	REPORT_HELLO,
	REPORT_BYE,
	REPORT_NOTIFY, /* one sd_notify datagram's fields */
};

/* Why a line was dropped; counted per reason and shown in the API. */
enum report_error {
	REPORT_OK = 0,
	REPORT_ERR_TOO_LONG,
	REPORT_ERR_BINARY,	     /* control bytes or invalid text */
	REPORT_ERR_UNKNOWN_VERB,     /* not episode/hello/bye, not KEY=VALUE */
	REPORT_ERR_MISSING_WORKER,   /* no worker=, and no sender that names one */
	REPORT_ERR_BAD_WORKER,	     /* a name outside [A-Za-z0-9._-:@[]+], 1..63 */
	REPORT_ERR_BAD_COMPLETED_AT, /* not a finite, positive number of seconds */
	REPORT_ERR_BAD_COUNT,	     /* not 1..REPORT_COUNT_MAX */
	REPORT_ERR_BAD_PID,
	REPORT_ERR_BAD_PEER, /* not IP:PORT or [IPv6]:PORT */
	REPORT_ERR_BAD_SEQ,
	/* counted by the daemon, not the parser */
	REPORT_ERR_WORKER_LIMIT, /* a new worker past --max-workers */
	REPORT_ERR_UNBOUND,	 /* a pid that cannot be watched: gone, or another's name */
	REPORT_ERR_TRUNCATED,	 /* a datagram larger than the receive buffer */
	/* refused for want of authority (the security model in README) */
	REPORT_ERR_NOT_OWNER,	   /* a worker owned by another uid, or another's binding */
	REPORT_ERR_PID_NOT_SENDER, /* pid= names neither the sender nor one of its descendants */
	REPORT_ERR_UDP_FORBIDDEN,  /* UDP for a worker UDP did not create, or with peer= */
	REPORT_ERR_WRITE_NO_TOKEN, /* an HTTP write without credentials */
	REPORT_ERR_WRITE_BAD_TOKEN, /* an HTTP write with a wrong bearer token */
	REPORT_ERR_WRITE_NOT_AUTHORISED, /* a control-socket caller neither root nor --api-group */
	REPORT_ERR__COUNT,
};

struct report {
	enum report_kind kind;
	char worker[WORKER_NAME_MAX + 1]; /* empty: none given */
	bool has_completed_at;
	double completed_at; /* worker's wall clock, Unix seconds */
	uint32_t count;	     /* episodes this line reports; 1 by default */
	uint32_t pid;	     /* 0: none given */
	bool has_peer;
	uint16_t peer_family; /* AF_INET or AF_INET6, IPv4-mapped normalised to AF_INET */
	uint16_t peer_port;
	uint8_t peer_addr[16];
	bool has_seq;
	uint64_t seq;
	/* sd_notify */
	bool ready, watchdog, stopping;
	uint32_t mainpid; /* MAINPID=: the worker's main process is now this one; 0 none */
	bool has_status;
	char status[REPORT_STATUS_MAX];
};

typedef void (*report_fn)(void *ctx, const struct report *report);
struct json_object;

const char *report_error_name(enum report_error error);
/* One protocol line (no newline). */
enum report_error report_parse_line(const char *line, size_t len, struct report *out);
/*
 * A datagram: each line is parsed and handed to fn, or counted in errors[]; the sd_notify fields
 * among them become one REPORT_NOTIFY record at the end. Returns the records handed over.
 */
size_t report_parse_datagram(const char *data, size_t len, report_fn fn, void *ctx,
			     uint64_t errors[REPORT_ERR__COUNT]);
/*
 * One object of a POST /api/v1/episodes batch: the same fields, JSON-typed ("completed_at" a
 * number, "peer" a string...), and "type" of "episode" (the default), "hello" or "bye".
 */
enum report_error report_from_json(struct json_object *obj, struct report *out);
/* Parses "IP:PORT" or "[IPv6]:PORT" into a normalised endpoint; 0 or -1. */
int report_parse_endpoint(const char *text, uint16_t *family, uint8_t addr[16], uint16_t *port);

#endif
