/* SPDX-License-Identifier: GPL-2.0 */
/*
 * GET /metrics: a snapshot in the Prometheus text exposition format (version 0.0.4), named by
 * Prometheus conventions (liveprobe_ prefix, base units, _total counters, HELP and TYPE for
 * every family). Per worker: one 0/1 series per state and per health, output, connection
 * counts; per host: totals, kernel events by kind, drops, ingest drops by reason, and the
 * probe's own cost per BPF program. Pure, like render.c: the same snapshot gives the same text.
 * Worker names need no escaping: their alphabet ([A-Za-z0-9._-:@[]+]) has no ", \ or newline.
 *
 * Errors: NULL only when out of memory (the HTTP layer answers 500).
 */
#ifndef LP_METRICS_H
#define LP_METRICS_H

#include "render.h"

/* A malloc'd document, or NULL when out of memory. */
char *metrics_render(const struct snapshot *snapshot, const struct render_view *view);

#endif
