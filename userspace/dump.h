/* SPDX-License-Identifier: GPL-2.0 */
/*
 * liveprobed --dump-maps: what the kernel side holds under a pin root, decoded for people on a
 * host without bpftool (counters by name, watched processes with their recorded deaths,
 * connections with state and reason names, the watched comms, ports and cgroups). Read-only:
 * it works beside a running daemon.
 *
 * Errors: 0, or -errno after one line on stderr.
 */
#ifndef LP_DUMP_H
#define LP_DUMP_H

#include <stdio.h>

int dump_maps(const char *pin_root, FILE *out);

#endif
