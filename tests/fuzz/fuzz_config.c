// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: a --config file, line by line as opts_parse reads it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static struct opts opts;
	char *argv[] = {"liveprobed", "--config", path, NULL};
	char err[512];
	FILE *file;

	if (!path[0]) {
		int fd;

		snprintf(path, sizeof(path), "/tmp/lp-fuzz-config-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
	}
	file = fopen(path, "we");
	if (!file)
		abort();
	fwrite(data, 1, size, file);
	fclose(file);
	/* --help and --version in a file would print; send them nowhere. */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	opts_defaults(&opts);
	opts_parse(3, argv, &opts, err, sizeof(err));
	return 0;
}
