/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fleet: every known worker, its lifecycle state and the raw facts behind it. Pure logic with
 * no I/O, owned by the event loop thread: it turns kernel facts (an exit status, a killer, the
 * OOM mark) into states and health, keeps the time a state began, and reports each transition
 * to a hook. Lifecycle (state) and health (green/amber/red) are kept apart on purpose.
 *
 * Errors: -errno (-EINVAL bad name, -EEXIST taken, -ENOSPC full, -ENOENT missing); never logs.
 */
#ifndef LP_FLEET_H
#define LP_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "output.h"
#include "u64map.h"
#include "worker_name.h"

#define FLEET_REASON_MAX 160

enum worker_state {
	WS_STARTING,	 /* alive, no output seen yet (within the start grace) */
	WS_WORKING,	 /* alive and producing */
	WS_STALE,	 /* alive, no recent output, or none within the start grace */
	WS_EXITED,	 /* exit code 0, or stopped by SIGTERM/SIGINT */
	WS_CRASHED,	 /* non-zero exit code or a fatal signal */
	WS_KILLED,	 /* SIGKILL, including the OOM killer */
	WS_DISCONNECTED, /* every connection is dead */
	WS_UNKNOWN,	 /* gone, but how it ended was not observed */
	WS_SUSPECT,	 /* a connection has sent data that the peer does not acknowledge */
	WS_STOPPED,	 /* ended cleanly after announcing it (bye, STOPPING=1): grey */
	WS_RUNNING,	 /* alive, judged by the kernel alone: it is not expected to report */
	WS__COUNT,
};

/* Ordered by severity, except grey: neither good nor bad, it never raises the host's. */
enum worker_health {
	HEALTH_GREEN,
	HEALTH_AMBER,
	HEALTH_RED,
	HEALTH_GREY,
};

enum worker_origin {
	ORIGIN_FLAG,   /* --watch-pid */
	ORIGIN_API,    /* POST /api/v1/workers */
	ORIGIN_COMM,   /* adopted by --watch-comm */
	ORIGIN_PEER,   /* a connection-only worker, named after its peer (--watch-port) */
	ORIGIN_REPORT, /* registered by its own report (ingest socket, UDP, HTTP episodes) */
	ORIGIN_CGROUP, /* a cgroup: --watch-cgroup or --watch-unit */
};

/*
 * Who may speak for a worker. Every worker has an owner uid (the uid whose reporters may report
 * for it) and the authority that created it; root and authorised API writers may do anything.
 */
enum worker_authority {
	AUTHORITY_ADMIN, /* a flag or config line, an authorised write, root, kernel adoption */
	AUTHORITY_UID,	 /* a reporter, by its kernel-verified uid (SO_PASSCRED) */
	AUTHORITY_UDP,	 /* an unauthenticated UDP report: feeds only UDP workers */
	AUTHORITY__COUNT,
};

#define FLEET_NO_OWNER UINT32_MAX /* no uid may report for it; admins only */

/* Dead connections kept per worker, newest first, so the facts of a death stay visible. */
#define FLEET_DEAD_CONNS_KEPT 4

struct worker_exit {
	int32_t code;	/* exit code when it exited normally, else -1 */
	int32_t signal; /* terminating signal, else 0 */
	bool core_dumped;
	bool oom;
	bool has_killer;     /* a fatal signal was sent to it and its sender recorded (the last
			      * one; it may have been handled, see fleet_exit_by_sender) */
	uint32_t killer_pid; /* 0: sent by the kernel */
	int32_t kill_signal;
	char killer_comm[16];
	bool status_known; /* false: seen gone by reconciliation, status not recorded */
	uint64_t at_ns;	   /* CLOCK_MONOTONIC of the exit */
};

#define FLEET_CHILD_OOM_AMBER_S 300
/* Crash times kept per worker for --crash-loop (COUNT is at most this). */
#define FLEET_CRASHES_KEPT 16

/*
 * Facts only some workers ever have: a previous incarnation's end, a crash history, a cgroup's
 * other processes, an sd_notify STATUS. Out of line, so a plain worker's record stays small.
 * Shared by the fleet and every snapshot that copied the worker, so never changed once shared:
 * fleet_extras_edit copies it first. Readers use fleet_extras(), which is never NULL.
 */
struct worker_extras {
	int refs;
	bool has_last_exit; /* the previous incarnation's end, after a restart */
	enum worker_state last_exit_state;
	struct worker_exit last_exit;
	uint64_t crash_ns[FLEET_CRASHES_KEPT]; /* ring of crashed/killed times, newest at
						  n_crashes - 1 */
	uint32_t n_crashes;
	char crashloop_reason[FLEET_REASON_MAX];
	/* A cgroup worker's other processes: their ends are counted, not the verdict. */
	uint32_t child_exits_by_class[WS__COUNT];
	uint32_t child_oom_pid;
	char child_oom_comm[16];
	bool has_status; /* sd_notify STATUS=, or a report's status */
	char status[REPORT_STATUS_MAX];
};

struct worker {
	uint32_t id; /* never reused, unlike an index: connections point at it */
	char name[WORKER_NAME_MAX + 1];
	uint32_t pid; /* 0: none */
	uint64_t start_ticks;
	char comm[16];
	enum worker_origin origin;
	enum worker_authority authority;
	uint32_t owner_uid; /* FLEET_NO_OWNER: none */
	enum worker_state state;
	uint64_t state_since_ns;
	uint64_t registered_ns;
	/* Why it is in this state, for people: at most FLEET_REASON_MAX - 1 bytes, never NULL.
	 * Immutable and shared with the snapshots' copies (fleet_reason_hold). */
	const char *reason;
	bool has_exit;
	struct worker_exit exit;
	int pidfd;		   /* owned by the loop; -1 when none */
	uint32_t n_conns;	   /* connections in fleet.conns owned by this worker */
	uint32_t n_conns_dead;	   /* of which dead */
	uint32_t n_conns_suspect;  /* of which alive and suspect */
	uint64_t last_dead_cookie; /* the connection that died last, for the reason line */
	uint64_t suspect_cookie;   /* the connection that became suspect last */
	struct output output;
	bool bye; /* announced a clean stop: a clean exit or close that follows is `stopped` */
	/* Judged on its output (false: by the kernel alone, `running` while alive). Workers that
	 * report expect it; others do from their first episode or heartbeat, unless it was set. */
	bool expects_output;
	bool expects_output_set;
	/* Incarnations: a dead worker that comes back in a new process is the same worker. */
	uint32_t restarts_total;
	uint32_t exits_by_class[WS__COUNT]; /* how its processes ended */
	uint64_t crashloop_until_ns; /* crash-looping until then (it must stay up that long) */
	/* An OOM kill among a cgroup worker's other processes: amber for
	 * FLEET_CHILD_OOM_AMBER_S (who it was is in extras). */
	uint64_t child_oom_ns;
	struct worker_extras *extras; /* NULL until it has any */
	/* Restored without a process to check: `unknown` until a report or a live connection. */
	bool awaiting_evidence;
	/* Its place in fleet.due + 1 (0: only an event can change its state). The entry holds
	 * when time alone could next change it (the start grace or its staleness running out),
	 * set by fleet_evaluate; 0 (due) after any change fleet_evaluate reads (a process bound,
	 * a connection's status, bye, expects_output). */
	uint32_t due_slot;
	/* The fleet generation of its last change that readers see: a snapshot shares the
	 * previous snapshot's copy of a worker whose version did not move. due_slot and pidfd
	 * are the loop's own and move without it. */
	uint64_t version;
};

struct fleet_transition {
	const char *worker;
	enum worker_state from;
	enum worker_state to;
	const char *reason;
	uint64_t at_ns;
};

typedef void (*fleet_transition_fn)(void *ctx, const struct fleet_transition *transition);

/* A dead connection as fleet_prune_dead_conns sorts it. */
struct fleet_dead_conn {
	uint64_t cookie;
	uint64_t dead_ns;
	uint32_t worker_id;
};

struct fleet {
	struct worker *workers;
	size_t count;
	size_t capacity;
	struct conn *conns;
	size_t n_conns;
	size_t conn_capacity;
	uint32_t next_id;
	struct u64map conn_by_cookie; /* cookie → index in conns */
	struct fleet_dead_conn *dead_conns; /* room for every connection: a prune never allocates */
	struct u64map worker_by_name; /* u64map_hash_string(name) → worker id */
	struct u64map worker_by_pid;  /* pid → id of the worker whose live process it is */
	size_t name_collisions;	      /* names left out of worker_by_name: look those up by scan */
	struct output_policy policy;
	uint64_t generation; /* bumped on every change, so publishers know when to copy */
	/* Bumped with it by every change to a connection (fleet_touch_conns and the fleet_conn_*
	 * calls): while it stands, a publish shares the previous copy of the connections. */
	uint64_t conns_generation;
	/*
	 * For a publish in proportion to what changed (snapshot.h): the indices of the workers
	 * changed since generation changed_since, each listed once (new workers past the end are
	 * not). A removal shifts indices and bumps layout, which voids the list; the publisher
	 * empties it and sets changed_since. instance tells fleets at one address apart.
	 */
	uint32_t *changed;
	size_t n_changed;
	uint64_t changed_since;
	uint64_t layout;
	uint64_t instance;
	uint64_t lifecycle;  /* bumped when who exists or how they stand changes: worth saving */
	/* Workers that time alone could change, earliest first: a tick judges only those due. */
	struct fleet_deadline {
		uint64_t at_ns;
		uint32_t index; /* into workers */
	} *due;
	size_t n_due;
	uint32_t crashloop_count;     /* --crash-loop COUNT,SECONDS */
	uint64_t crashloop_window_ns;
	fleet_transition_fn on_transition;
	void *ctx;
};

int fleet_init(struct fleet *fleet, size_t capacity, size_t conn_capacity);
void fleet_free(struct fleet *fleet);

const char *fleet_state_name(enum worker_state state);
const char *fleet_health_name(enum worker_health health);
int fleet_state_from_name(const char *name); /* -1 when unknown */
const char *fleet_origin_name(enum worker_origin origin);
int fleet_origin_from_name(const char *name);
const char *fleet_authority_name(enum worker_authority authority);
int fleet_authority_from_name(const char *name); /* -1 when unknown */
enum worker_health fleet_state_health(enum worker_state state);
/* A worker's health: its state's, or red while it is crash-looping. */
enum worker_health fleet_worker_health(const struct worker *worker, enum worker_state state,
				       uint64_t now_ns);
bool fleet_crashlooping(const struct worker *worker, uint64_t now_ns);
/* Gone with a verdict: exited, crashed, killed, unknown. Stopped is ended, not dead. */
bool fleet_state_is_dead(enum worker_state state);
/* Dead or stopped: no process or connection left to watch. */
bool fleet_state_is_ended(enum worker_state state);
/* Classes of a process's end, for exits_by_class: the dead states and stopped. */
bool fleet_state_is_exit_class(enum worker_state state);
const char *fleet_signal_name(int signal);

struct worker *fleet_find(struct fleet *fleet, const char *name);
struct worker *fleet_find_process(struct fleet *fleet, uint32_t pid, uint64_t start_ticks);
/* -EINVAL bad name, -EEXIST name taken, -ENOSPC full; *out is the new worker (state starting). */
int fleet_add(struct fleet *fleet, const char *name, uint32_t pid, uint64_t start_ticks,
	      const char *comm, enum worker_origin origin, uint64_t now_ns, struct worker **out);
/*
 * Removes a worker with its connections and its name and pid index entries. Every worker
 * pointer into this fleet is invalid afterwards (workers move to keep registration order);
 * keep ids across the call and look them up again. The caller closes the worker's pidfd first.
 */
void fleet_remove(struct fleet *fleet, struct worker *worker);

/* Decodes a wait status into an exit record and the state it leads to. */
enum worker_state fleet_classify_exit(uint32_t status, bool oom, struct worker_exit *exit);
/* The recorded sender's signal is the one the process died of: the sender is its killer. A
 * SIGTERM that was handled, followed by exit(0), names a sender but no killer. */
bool fleet_exit_by_sender(const struct worker_exit *exit);
/* Applies a death to a live worker; a dead worker keeps its first death. */
void fleet_apply_exit(struct fleet *fleet, struct worker *worker, const struct worker_exit *exit,
		      enum worker_state state, uint64_t now_ns);
void fleet_set_state(struct fleet *fleet, struct worker *worker, enum worker_state state,
		     const char *reason, uint64_t now_ns);

/* Workers stay in registration order, so ids are sorted: a binary search. */
struct worker *fleet_find_id(struct fleet *fleet, uint32_t id);
struct conn *fleet_conn_find(struct fleet *fleet, uint64_t cookie);
/* A new connection owned by worker (NULL when full); the caller fills it in. */
struct conn *fleet_conn_add(struct fleet *fleet, uint64_t cookie, struct worker *worker,
			    uint64_t now_ns);
/* After changing a connection's facts: keeps its owner's dead/suspect counts; true when the
 * connection became dead, recovered or changed suspicion. */
bool fleet_conn_changed(struct fleet *fleet, const struct conn *conn, bool was_dead,
			bool was_suspect);
void fleet_conn_move(struct fleet *fleet, struct conn *conn, struct worker *to);
void fleet_conn_remove(struct fleet *fleet, struct conn *conn);
/*
 * Drops the oldest dead connections of every worker that has more than FLEET_DEAD_CONNS_KEPT,
 * down to that many, with one scan and one sort: a worker that made thousands of short
 * connections costs one pass, not a scan per connection. Returns how many were dropped;
 * *pruned lists them until the next call (the kernel's records must go too).
 */
size_t fleet_prune_dead_conns(struct fleet *fleet, const struct fleet_dead_conn **pruned);
/*
 * Derives a live worker's state, in order of precedence: a kernel death fact (exit, every
 * connection dead) beats any output; then a suspect connection; then output: recent is
 * `working`, too old is `stale`, none yet is `starting` until the start grace runs out. A worker
 * that said `bye` is `exited` once its process or connections end (or at once, if it has
 * neither). Runs on every report, connection change and timer tick.
 */
void fleet_evaluate(struct fleet *fleet, struct worker *worker, uint64_t now_ns);
/* fleet_evaluate for every worker whose deadline has come (all of them with `all`): the due
 * ones come off a heap, so the cost follows what is due, not the size of the fleet. */
void fleet_evaluate_due(struct fleet *fleet, uint64_t now_ns, bool all);
/* The output-based state (starting, working, stale) under a policy, and why. */
enum worker_state fleet_output_state(const struct worker *worker,
				     const struct output_policy *policy, uint64_t now_ns,
				     char *reason, size_t reason_len);
/* The worker whose live process has this pid, or NULL. */
struct worker *fleet_find_live_pid(struct fleet *fleet, uint32_t pid);
/*
 * Puts a live process under a worker: its identity, its pidfd (owned by procwatch, -1 for none)
 * and the pid index. A new incarnation: a previous death leaves the facts (it stays in the log
 * of transitions) and the worker counts as registered now.
 */
void fleet_bind_process(struct fleet *fleet, struct worker *worker, uint32_t pid,
			uint64_t start_ticks, const char *comm, int pidfd, uint64_t now_ns);
/* Drops worker->pid from the live-pid index; fleet_apply_exit and fleet_remove do it too. */
void fleet_unindex_pid(struct fleet *fleet, struct worker *worker);
/* Who created it and which uid may report for it (saved with the worker). */
void fleet_set_owner(struct fleet *fleet, struct worker *worker, enum worker_authority authority,
		     uint32_t owner_uid);
/* Whether it is judged on its output; explicit (API, flag, config) wins over the default. */
void fleet_set_expects_output(struct fleet *fleet, struct worker *worker, bool expects,
			      bool explicit);
/* A clean stop announced (bye, STOPPING=1), or taken back (a new episode, READY=1). */
void fleet_set_bye(struct fleet *fleet, struct worker *worker, bool bye);
/*
 * Something readers see changed outside this module (output, a cgroup's child exit): publish a
 * new copy of this worker. Every fleet_* function that changes a worker does it itself.
 */
void fleet_touch(struct fleet *fleet, struct worker *worker);
/* The same for a connection's facts changed in place (conn_apply_*). */
void fleet_touch_conns(struct fleet *fleet);
/* A change the state file keeps: save it too. worker is NULL when none changed (a binding). */
void fleet_touch_saved(struct fleet *fleet, struct worker *worker);
/* A worker's extras, or an empty set: never NULL. */
const struct worker_extras *fleet_extras(const struct worker *worker);
/* Its extras, made or copied so that they are its own to change; NULL when out of memory. */
struct worker_extras *fleet_extras_edit(struct fleet *fleet, struct worker *worker);
/* For snapshots: a copy of a worker holds its extras and its reason too. */
void fleet_extras_hold(struct worker_extras *extras);
void fleet_extras_release(struct worker_extras *extras);
void fleet_reason_hold(const char *reason);
void fleet_reason_release(const char *reason);
/* Renames a worker (a report named a process adopted under its default name). */
int fleet_rename(struct fleet *fleet, struct worker *worker, const char *name);

#endif
