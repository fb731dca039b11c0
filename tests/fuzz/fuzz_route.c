// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: request paths and the ?stale_after= value, as any HTTP client sends them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	double seconds;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	route_of(text);
	if (route_parse_stale_after(text, &seconds) == 0 && !(seconds > 0 && seconds <= 86400))
		__builtin_trap();
	free(text);
	return 0;
}
