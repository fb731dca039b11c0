/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The TCP listener's accept thread. libmicrohttpd gives a connection to a pool thread before
 * its URL is known, so an event stream shares its thread with readers of 10 MB bodies and its
 * transitions wait behind their sends. Here each accepted connection waits, unread, until its
 * first bytes tell its lane (route_lane_of, read with MSG_PEEK so the HTTP server still sees
 * them all), and is then handed to that lane's server. Owns the connections until the hand-off:
 * at most max_waiting, at most per_client from one address, each for at most deadline_s.
 *
 * Errors: lanes_start returns -errno after one logged line; a connection that breaks a limit
 * or its deadline is closed, never handed on.
 */
#ifndef LP_LANES_H
#define LP_LANES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "route.h"

/* Takes fd in every case (it closes it when it cannot serve it); false when it could not.
 * accepted_ns (CLOCK_MONOTONIC): a request's deadline runs from there, not from the hand-off. */
typedef bool (*lanes_hand_fn)(void *ctx, enum route_lane lane, int fd, const struct sockaddr *addr,
			      socklen_t addr_len, uint64_t accepted_ns);

struct lanes_config {
	int listen_fd; /* stays the caller's */
	unsigned int max_waiting;
	unsigned int per_client; /* waiting connections from one address */
	unsigned int deadline_s; /* from accept to the bytes that decide */
	lanes_hand_fn hand;
	void *ctx;
};

struct lanes;

int lanes_start(const struct lanes_config *config, struct lanes **out);
void lanes_stop(struct lanes *lanes);

#endif
