/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Known workers across daemon restarts: --state-dir/workers.json, written atomically (a temp
 * file, fsync, rename, fsync of the directory) at most once a second when something changed,
 * and at exit. On start the file is read back so that no worker disappears silently: a dead one
 * stays dead with its facts; one whose process is still the same process is watched again, but
 * amber until it shows fresh evidence; one whose process went away meanwhile is `unknown`.
 * Owns the file format (json-c), nothing else.
 *
 * Errors: 0 or -errno; state_prepare and state_load say what failed (load in err, for the
 * caller's one line), state_save leaves the logging to the caller, once per kind of failure.
 */
#ifndef LP_STATE_H
#define LP_STATE_H

#include <stdint.h>

#include "fleet.h"
#include "snapshot.h"
#include "sockwatch.h"

#define STATE_FILE	  "workers.json"
#define STATE_VERSION	  1
#define STATE_INTERVAL_NS 1000000000ull
#define STATE_MAX_BYTES	  (256 << 20) /* a million workers fit in far less */

/*
 * Creates the directory if missing, refuses one that others could write, and locks it for this
 * daemon (*lock_fd, held until exit); 0 or -errno after one logged line.
 */
int state_prepare(const char *dir, int *lock_fd);
/* The fleet as of a snapshot, with the peers bound by reports; 0 or -errno (logged once per kind
 * of failure by the caller). Any thread: it reads only what it is given. */
int state_save(const char *dir, const struct snapshot *snapshot,
	       const struct sockwatch_binding *bindings, size_t n_bindings, uint64_t last_event_id);

/* What was saved about one worker, handed to the loop to restore. */
struct state_worker {
	char name[WORKER_NAME_MAX + 1];
	char comm[16];
	enum worker_origin origin;
	enum worker_authority authority;
	uint32_t owner_uid;
	uint32_t pid;
	uint64_t start_ticks;
	bool has_exit;
	struct worker_exit exit;
	enum worker_state state;
	char reason[FLEET_REASON_MAX];
	uint64_t episodes_total, heartbeats_total;
	bool bye;
	bool expects_output, expects_output_set;
	uint32_t restarts_total;
	uint32_t exits_by_class[WS__COUNT];
	uint32_t child_exits_by_class[WS__COUNT]; /* a cgroup worker's: how its processes ended */
	bool has_last_exit;
	enum worker_state last_exit_state;
	struct worker_exit last_exit;
	double crashloop_left_s; /* crash-looping for this much longer; 0 not */
	char crashloop_reason[FLEET_REASON_MAX];
	/* peers bound by reports (peer=), as IP:PORT */
	int n_peers;
	char peers[8][CONN_ENDPOINT_MAX];
};

typedef void (*state_worker_fn)(void *ctx, const struct state_worker *saved);

/* Reads the file; a missing file is 0 (a first start). -EINVAL names the problem in err. */
/* What the file says about the daemon that wrote it. */
struct state_header {
	uint64_t last_event_id; /* SSE ids go on after it */
	int64_t saved_at;	/* Unix seconds of the save; 0 when unknown */
};

int state_load(const char *dir, state_worker_fn fn, void *ctx, struct state_header *header,
	       char *err, size_t err_len);

#endif
