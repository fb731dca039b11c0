// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: request paths and the query values (?stale_after=, ?limit=, ?state=), as any HTTP
 * client sends them, and the first bytes of a connection that pick its lane. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	static const char *const names[] = {"green", "amber", NULL, "red"};
	unsigned int limit;
	double seconds;
	int index;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	route_of(text);
	/* A lane, once decided, never changes as more bytes come. */
	if (route_lane_of(text, size) != ROUTE_LANE_UNDECIDED &&
	    route_lane_of(text, size) !=
		    route_lane_of((const char *)data,
				  size < ROUTE_LANE_DECIDES ? size : ROUTE_LANE_DECIDES))
		__builtin_trap();
	if (route_parse_stale_after(text, &seconds) == 0 && !(seconds > 0 && seconds <= 86400))
		__builtin_trap();
	if (route_parse_limit(text, &limit) == 0 && !(limit >= 1 && limit <= 1048576))
		__builtin_trap();
	index = route_parse_name(text, names, 4);
	if (index >= 0 && (index > 3 || !names[index] || strcmp(names[index], text)))
		__builtin_trap();
	free(text);
	return 0;
}
