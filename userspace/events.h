/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The transition log behind GET /api/v1/events: the event loop appends every worker state
 * transition (who, from, to, why, when) to a bounded ring; Server-Sent-Events readers, each on
 * its own HTTP thread, wait on it and stream what they have not seen yet, in order, resuming
 * from Last-Event-ID. The only state shared between the loop and HTTP threads besides the
 * snapshot, guarded by one mutex; the number of readers is capped.
 *
 * Errors: none reach callers; a full ring drops the oldest entry, and a reader past the
 * --sse-clients cap is refused by events_join() returning false.
 */
#ifndef LP_EVENTS_LOG_H
#define LP_EVENTS_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"

#define EVENTS_RING	    4096
#define EVENTS_KEEPALIVE_MS 15000

struct events_entry {
	uint64_t id; /* 1, 2, ...: the SSE id */
	char worker[WORKER_NAME_MAX + 1];
	char from[16]; /* empty: the worker was just registered */
	char to[16];
	char reason[FLEET_REASON_MAX];
	double at; /* Unix seconds, daemon clock */
};

void events_init(int max_clients);
/* Loop side. */
void events_publish(const struct fleet_transition *transition, double at);
/* Called on the publisher's thread after each publish (NULL: none), so that readers waiting for
 * news are woken without a thread of their own in between. */
void events_set_listener(void (*listener)(void));
/* Wakes every reader and makes them end their streams. */
void events_stop(void);

/* The newest id so far (0: none): where a stream without Last-Event-ID starts. */
uint64_t events_last_id(void);
/* Reader side: false when the cap is reached. */
/* Ids go on after `id` (from the state file): a restarted daemon never reuses an id. */
void events_continue_after(uint64_t id);
bool events_join(void);
void events_leave(void);
/*
 * The first entry after `after`; 1 when one was copied to *out, 0 on timeout, -1 once stopped.
 * A reader that fell more than EVENTS_RING behind resumes at the oldest kept entry.
 */
int events_next(uint64_t after, struct events_entry *out, int timeout_ms);
/* SSE text for an entry: "id: N\nevent: transition\ndata: {...}\n\n". */
int events_format(const struct events_entry *entry, char *buf, size_t len);

#endif
