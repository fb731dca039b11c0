/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP API on libmicrohttpd: routes, request limits and responses. Reads are rendered from
 * the published snapshot on the request's own thread; writes become commands for the event loop
 * (cmdq). Owns the listening socket, so an occupied port is one clear error at start.
 *
 * Errors: every refusal is an HTTP status with a JSON body {"error":"..."}; http_start
 * returns -errno after one logged line.
 */
#ifndef LP_HTTP_H
#define LP_HTTP_H

#include <stdint.h>

#include "cmdq.h"

#define HTTP_MAX_BODY_BYTES (64 * 1024)
#define HTTP_TIMEOUT_S	    30

struct http_server;

struct http_config {
	const char *host;
	uint16_t port;
	unsigned int max_connections;
	struct cmdq *commands;
};

int http_start(const struct http_config *config, struct http_server **out);
void http_stop(struct http_server *server);

#endif
