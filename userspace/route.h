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

/*
 * Which HTTP thread a TCP connection goes to, read from its first bytes before any of them is
 * consumed: an event stream (GET /api/v1/events, with or without a query) to the thread that
 * sends nothing else; anything else, including every request it cannot tell from its first
 * bytes, to the pool, which serves every route.
 */
enum route_lane {
	ROUTE_LANE_UNDECIDED, /* too few bytes yet */
	ROUTE_LANE_POOL,
	ROUTE_LANE_EVENTS,
};

#define ROUTE_LANE_EVENTS_LINE "GET /api/v1/events"
/* Bytes that always decide: the request line's start and the byte after its path. */
#define ROUTE_LANE_DECIDES (sizeof(ROUTE_LANE_EVENTS_LINE))

enum route_lane route_lane_of(const char *head, size_t len);
/* ?stale_after=SECONDS: a plain decimal in (0, 86400]. */
int route_parse_stale_after(const char *text, double *seconds);
/* ?limit=N: 1..1048576. */
int route_parse_limit(const char *text, unsigned int *limit);
/* ?state=NAME or ?health=NAME: the index of NAME in names[0..n), or -EINVAL. */
int route_parse_name(const char *text, const char *const *names, int n);

#endif
