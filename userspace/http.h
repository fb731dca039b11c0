/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP API on libmicrohttpd: routes, request limits, authority and responses. Reads come
 * from the published snapshot: small ones on the request's own thread, the fleet-sized views
 * from one renderer thread, shared by every reader and sent from a sealed memfd with
 * sendfile(); writes become commands for
 * the event loop (cmdq), and only with authority: over TCP a bearer token from
 * --api-token-file, over the control socket (--api-socket) the caller's kernel-verified uid
 * (root) or group (--api-group). Owns both listening sockets, so an occupied port or path is
 * one clear error at start.
 *
 * Errors: every refusal is an HTTP status with a JSON body {"error":"..."}; http_start
 * returns -errno after one logged line.
 */
#ifndef LP_HTTP_H
#define LP_HTTP_H

#include <stdint.h>

#include "cmdq.h"

#define HTTP_MAX_BODY_BYTES (64 * 1024)
#define HTTP_TIMEOUT_S	    30 /* idle */
#define HTTP_REQUEST_DEADLINE_S 10 /* for a request's headers and body, from its first byte */
#define HTTP_THREADS	    4
#define HTTP_RENDERER_NICE  5  /* the thread that renders fleet-sized views */
#define HTTP_SNDBUF_BYTES   (256 * 1024) /* per connection: bounds one send's copy */
#define HTTP_BODY_FDS_MAX   64 /* view bodies sent from their memfd at once; then copies */
#define HTTP_TOKEN_MIN	    16
#define HTTP_TOKEN_MAX	    4096
#define HTTP_CONTROL_CONNECTIONS 32

struct http_server;

struct http_config {
	const char *host;
	uint16_t port;
	unsigned int max_connections;
	unsigned int per_client; /* connections from one client address */
	struct cmdq *commands;
	const char *token_file; /* empty: writes over TCP are refused */
	const char *api_socket; /* empty: no control socket */
	const char *api_group;	/* empty: only root writes through the control socket */
};

/* Opens the listening sockets (the privileged part); 0 or -errno after one logged line. */
int http_open(const struct http_config *config, struct http_server **out);
/* Starts the event-stream thread, which runs at its caller's nice: the event loop's (privs.h),
 * so a transition reaches the streams without waiting behind bulk sends. Before http_serve. */
int http_serve_events(struct http_server *server);
/* Starts serving them, with threads of its own; after privs_drop. */
int http_serve(struct http_server *server);
void http_stop(struct http_server *server);

#endif
