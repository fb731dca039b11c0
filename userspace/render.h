/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON views of a snapshot: a worker (W), the worker list, the host verdict and /healthz. Pure:
 * the same snapshot and clock give the same bytes, so the views are unit tested. Ages are
 * computed against the caller's CLOCK_MONOTONIC, never a wall clock.
 */
#ifndef LP_RENDER_H
#define LP_RENDER_H

#include <stdint.h>

#include "snapshot.h"

#define RENDER_MAX_REASONS 50

/* Each returns a malloc'd NUL-terminated JSON document, or NULL when out of memory. */
/* conns: the worker's connections (worker->n_conns of them), or NULL. */
char *render_worker(const struct worker *worker, const struct conn *conns, uint64_t now_ns);
char *render_workers(const struct snapshot *snapshot, uint64_t now_ns);
char *render_host(const struct snapshot *snapshot, uint64_t now_ns);
/* Sets *healthy; the body names the reason when it is false. */
char *render_healthz(const struct snapshot *snapshot, int *healthy);
char *render_error(const char *message);

#endif
