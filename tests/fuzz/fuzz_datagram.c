// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: one ingest datagram (report lines and sd_notify), as any local user can send it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "report.h"

static void take(void *ctx, const struct report *report)
{
	size_t *seen = ctx;

	/* What the parser hands over must be a valid name, or none. */
	if (report->worker[0] && !worker_name_valid(report->worker))
		__builtin_trap();
	(*seen)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t errors[REPORT_ERR__COUNT] = {0};
	size_t seen = 0;

	if (report_parse_datagram((const char *)data, size, take, &seen, errors) != seen)
		__builtin_trap();
	return 0;
}
