/* SPDX-License-Identifier: GPL-2.0 */
/*
 * JSON views of a snapshot: a worker (W), the worker list, the host verdict and /healthz. Pure:
 * the same snapshot and clock give the same bytes, so the views are unit tested. Ages are
 * computed against the caller's CLOCK_MONOTONIC, never a wall clock.
 *
 * Errors: NULL only when out of memory (the HTTP layer answers 500).
 */
#ifndef LP_RENDER_H
#define LP_RENDER_H

#include <stdint.h>
#include <stdio.h>

#include "snapshot.h"

#define RENDER_MAX_REASONS 50
#define RENDER_HISTORY_MIN 15 /* minutes of per-minute output history in W */

/* When a view is rendered, and the staleness policy it applies (?stale_after=). */
struct render_view {
	uint64_t now_ns;   /* CLOCK_MONOTONIC */
	double now_real_s;  /* the rating clock (clock.h), for event-time rates only */
	double wall_step_s; /* how far the wall clock stepped since start */
	struct output_policy policy;
	/* GET /api/v1/workers?state=&health=&limit=: which workers are listed, as the state or
	 * health plus one (0: any; so a zeroed view lists all). With a filter, the totals are
	 * those of the listed workers, so they still add up. */
	int state_filter;
	int health_filter;
	uint32_t limit; /* 0: no limit */
};

struct json_object;

void render_view_init(struct render_view *view, const struct snapshot *snapshot);
/* {"crashed": 2, ...}: how many exits fell in each exit class; the API's and the state file's. */
struct json_object *render_exit_counts(const uint32_t counts[WS__COUNT]);
/* A worker's state as this view judges it (output-based states under the view's policy). */
enum worker_state render_worker_state(const struct worker *worker, const struct render_view *view,
				      char *reason, size_t len);
/* Its current throughput: 0 unless working, rounded as shown so that parts sum to the total. */
double render_worker_rate(const struct worker *worker, enum worker_state state,
			  const struct render_view *view);
/* Producing workers and their summed rate; `list` (or NULL) gets the JSON array of their
 * names and rates. */
void render_throughput(const struct snapshot *snapshot, const struct render_view *view,
		       size_t *producing, double *total, FILE *list);
/* The host verdict, counting workers per state. */
enum worker_health render_host_health(const struct snapshot *snapshot,
				      const struct render_view *view, size_t per_state[WS__COUNT]);

/* Each returns a malloc'd NUL-terminated JSON document, or NULL when out of memory. */
/* conns: the worker's connections (worker->n_conns of them), or NULL. */
char *render_worker(const struct worker *worker, const struct conn *conns,
		    const struct render_view *view);
char *render_workers(const struct snapshot *snapshot, const struct render_view *view);
char *render_host(const struct snapshot *snapshot, const struct render_view *view);
/* Sets *healthy; the body names the reason when it is false. */
char *render_healthz(const struct snapshot *snapshot, int *healthy);
char *render_error(const char *message);
/* The answer to a POST /api/v1/episodes batch. */
char *render_batch_answer(uint64_t accepted, const uint64_t dropped[REPORT_ERR__COUNT]);

#endif
