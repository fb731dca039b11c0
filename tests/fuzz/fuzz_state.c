// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: a --state-dir/workers.json, as a disk or an intruder could leave it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

static void take(void *ctx, const struct state_worker *saved)
{
	(void)ctx;
	/* Strings handed over are terminated; names are checked again by fleet_add. */
	if (strlen(saved->name) > WORKER_NAME_MAX || strlen(saved->comm) >= sizeof(saved->comm) ||
	    saved->n_peers > 8)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[64];
	char path[128], err[256];
	FILE *file;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/lp-fuzz-state-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	file = fopen(path, "we");
	if (!file)
		abort();
	fwrite(data, 1, size, file);
	fclose(file);
	struct state_header header;

	state_load(dir, take, NULL, &header, err, sizeof(err));
	return 0;
}
