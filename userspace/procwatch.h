/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Watched processes, end to end, the twin of sockwatch: registering a worker's process (a pidfd
 * and an lp_procs entry), rebinding a worker to a new process (a restart), adopting processes
 * by command name (--watch-comm: in the kernel at exec/fork, and by a /proc scan), applying the
 * kernel's exit events, reconciling lp_procs and the pidfds against the fleet, restoring a saved
 * worker and forgetting one. It changes lp_procs and the fleet together, so the kernel never
 * watches a process the fleet does not know, nor the reverse. Owns every pidfd. Runs on the
 * event loop's thread only.
 *
 * Errors: calls that act for a caller return 0 or -errno with one sentence for people in err
 * (-EINVAL bad name, -EEXIST taken, -ENOSPC a limit, -ESRCH no such live process); the calls
 * the loop makes on its own (events, reconciliation) log at most one line and return nothing.
 */
#ifndef LP_PROCWATCH_H
#define LP_PROCWATCH_H

#include <stddef.h>
#include <stdint.h>

#include "fleet.h"
#include "lp_events.h"

struct probe;
struct state_worker;

struct procwatch {
	struct probe *probe;
	const char (*comms)[16]; /* --watch-comm */
	int n_comms;
	size_t restore_failures;
	/* One pidfd per watched process, within a budget carved from RLIMIT_NOFILE so that the
	 * sockets, the HTTP connections and /proc reads always have descriptors left. */
	size_t pidfds_open, pidfds_max;
	uint64_t pidfd_limit_total; /* pidfds refused by the budget or the kernel's limit */
	uint64_t recovered_total;   /* deaths taken from a previous daemon's pinned lp_procs */
	uint64_t read_errors;	    /* passes that could not read lp_procs to its end */
};

/* The pidfd budget: the open-file limit less what is open now (the probe's maps and links, the
 * sockets), the HTTP connections allowed, and a reserve for /proc reads and the like. */
size_t procwatch_pidfd_budget(uint64_t nofile_limit, uint64_t open_now, uint64_t connections);
void procwatch_init(struct procwatch *watch, struct probe *probe, const char (*comms)[16],
		    int n_comms, size_t max_pidfds);
/* Closes every worker's pidfd; the kernel entries stay for the probe's own teardown. */
void procwatch_destroy(struct procwatch *watch, struct fleet *fleet);

/* A new worker watching pid; an empty name is COMM-PID. *out may be NULL. */
int procwatch_register(struct procwatch *watch, struct fleet *fleet, const char *name, int64_t pid,
		       enum worker_origin origin, struct worker **out, char *err, size_t err_len);
/* Points a worker at another process: a restarted worker reporting under its old name. */
int procwatch_rebind(struct procwatch *watch, struct fleet *fleet, struct worker *worker,
		     int64_t pid, char *err, size_t err_len);
/* --watch-pid at start: a worker known from before a restart takes its (new) process back. */
int procwatch_claim(struct procwatch *watch, struct fleet *fleet, const char *name, int64_t pid,
		    char *err, size_t err_len);

void procwatch_on_event(struct procwatch *watch, struct fleet *fleet,
			const struct lp_proc_event *event, uint64_t now_ns);
/*
 * What lost events hid: deaths recorded in lp_procs, deaths only the pidfd saw, processes the
 * kernel adopted, and running processes with a watched comm. At thousands of processes a pass
 * takes tens of milliseconds: between(ctx), if not NULL, runs after each batch (as in
 * sockwatch_reconcile), so a death that happens meanwhile is applied at once. The pass holds no
 * worker across it.
 */
void procwatch_reconcile(struct procwatch *watch, struct fleet *fleet, uint64_t now_ns,
			 void (*between)(void *ctx), void *ctx);

/* One saved worker comes back, never greener than the evidence allows; NULL if it cannot
 * (logged once for all such workers). */
struct worker *procwatch_restore(struct procwatch *watch, struct fleet *fleet,
				 const struct state_worker *saved, uint64_t now_ns);

/* After a takeover: processes the kernel map watches that no restored worker names (registered
 * after the last state save) become workers again, named as the map names them. */
void procwatch_adopt_orphans(struct procwatch *watch, struct fleet *fleet, uint64_t now_ns);

/* Stops watching the worker's process and removes the worker; sockwatch_forget goes first. */
void procwatch_forget(struct procwatch *watch, struct fleet *fleet, struct worker *worker);

#endif
