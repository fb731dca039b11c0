// SPDX-License-Identifier: GPL-2.0
/* See route.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

enum route route_of(const char *url)
{
	size_t prefix = strlen(ROUTE_WORKERS_PATH "/");

	if (!strcmp(url, "/healthz") || !strcmp(url, "/api/v1/host"))
		return ROUTE_READ;
	if (!strcmp(url, ROUTE_WORKERS_PATH))
		return ROUTE_WORKERS;
	if (!strcmp(url, "/api/v1/episodes"))
		return ROUTE_EPISODES;
	if (!strcmp(url, "/metrics"))
		return ROUTE_METRICS;
	if (!strcmp(url, "/api/v1/events"))
		return ROUTE_EVENTS;
	if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
		return ROUTE_DASHBOARD;
	if (!strncmp(url, ROUTE_WORKERS_PATH "/", prefix) && url[prefix] &&
	    !strchr(url + prefix, '/'))
		return ROUTE_WORKER_ONE;
	return ROUTE_NONE;
}

enum route_lane route_lane_of(const char *head, size_t len)
{
	size_t line = strlen(ROUTE_LANE_EVENTS_LINE);

	if (memcmp(head, ROUTE_LANE_EVENTS_LINE, len < line ? len : line))
		return ROUTE_LANE_POOL;
	if (len <= line)
		return ROUTE_LANE_UNDECIDED;
	return head[line] == ' ' || head[line] == '?' ? ROUTE_LANE_EVENTS : ROUTE_LANE_POOL;
}

int route_parse_stale_after(const char *text, double *seconds)
{
	char *end;

	if (!text[0] || strspn(text, "0123456789.") != strlen(text))
		return -EINVAL;
	*seconds = strtod(text, &end);
	if (*end || !(*seconds > 0) || *seconds > 86400)
		return -EINVAL;
	return 0;
}

int route_parse_limit(const char *text, unsigned int *limit)
{
	unsigned long value = 0;

	if (!text[0] || strlen(text) > 7)
		return -EINVAL;
	for (const char *c = text; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		value = value * 10 + (*c - '0');
	}
	if (value < 1 || value > 1048576)
		return -EINVAL;
	*limit = value;
	return 0;
}

int route_parse_name(const char *text, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (names[i] && !strcmp(text, names[i]))
			return i;
	return -EINVAL;
}
