/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one rule for a worker's name, wherever a name comes from (options, config, reports, the
 * API, the state file, adoption): 1..63 bytes of letters, digits and ._-:@[]+, so a name is safe
 * in a URL path, a Prometheus label, a log line and a terminal without escaping.
 */
#ifndef LP_WORKER_NAME_H
#define LP_WORKER_NAME_H

#include <stdbool.h>
#include <string.h>

#define WORKER_NAME_MAX	 63
#define WORKER_NAME_RULE "worker name must be 1..63 letters, digits and ._-:@[]+"

static inline bool worker_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > WORKER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._-:@[]+", c)))
			return false;
	}
	return true;
}

#endif
