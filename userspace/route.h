/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which API resource a request path names, and the query values the API takes: pure string
 * handling of what HTTP clients send, apart from libmicrohttpd so it can be fuzzed on its own.
 *
 * Errors: ROUTE_NONE for a path that names nothing; -EINVAL for a bad query value.
 */
#ifndef LP_ROUTE_H
#define LP_ROUTE_H

#define ROUTE_WORKERS_PATH "/api/v1/workers"

enum route {
	ROUTE_NONE,
	ROUTE_READ,	  /* GET only */
	ROUTE_WORKERS,	  /* GET, POST */
	ROUTE_WORKER_ONE, /* GET, DELETE */
	ROUTE_EPISODES,	  /* POST */
	ROUTE_METRICS,	  /* GET */
	ROUTE_EVENTS,	  /* GET, Server-Sent Events */
	ROUTE_DASHBOARD,  /* GET */
};

enum route route_of(const char *url);
/* ?stale_after=SECONDS: a plain decimal in (0, 86400]. */
int route_parse_stale_after(const char *text, double *seconds);
/* ?limit=N: 1..1048576. */
int route_parse_limit(const char *text, unsigned int *limit);
/* ?state=NAME or ?health=NAME: the index of NAME in names[0..n), or -EINVAL. */
int route_parse_name(const char *text, const char *const *names, int n);

#endif
