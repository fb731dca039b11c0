/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Worker connections, end to end: turns the kernel's connection events and the periodic
 * sock_diag pass into fleet connections, decides which worker owns each one (the process that
 * called connect(), the watched process holding the socket's inode in /proc/PID/fd, or a
 * connection-only worker named after the peer) and re-evaluates the owners. Owns the
 * sock_diag socket; runs on the event loop's thread only.
 *
 * Errors: sockwatch_init returns -errno after one logged line; at run time a limit is
 * counted (untracked_total) and logged once, never per connection.
 */
#ifndef LP_SOCKWATCH_H
#define LP_SOCKWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet.h"
#include "lp_events.h"

struct probe;

/* Seconds a closed connection's kernel record is kept, for late events about the same close. */
#define SOCKWATCH_GONE_GRACE_NS 2000000000ull

struct sockwatch_stats {
	uint64_t passes;	  /* sock_diag passes completed */
	uint64_t pass_errors;	  /* sock_diag passes that failed */
	uint64_t entries;	  /* sockets sock_diag returned (the kernel filters by port) */
	uint64_t untracked_total; /* connections not tracked: worker or connection limit */
	uint64_t vanished_total;  /* closed while their kernel record was lost */
	uint64_t read_errors;	  /* passes that could not read lp_conns to its end */
};

/* Dead connections of forgotten workers that the kernel still lists (CLOSE_WAIT held open by
 * an application that never noticed); cookies are never reused, so forgetting the oldest of
 * these is harmless beyond the worker reappearing. */
#define SOCKWATCH_FORGOTTEN_MAX 1024

/* A peer endpoint named by a proxy's report (peer=IP:PORT): its connection belongs to worker_id. */
struct sockwatch_binding {
	uint16_t family;
	uint16_t port;
	uint8_t addr[16];
	uint32_t worker_id;
	uint64_t made; /* order of binding, so a worker's oldest goes first */
};

/* Bindings kept per worker (a reconnecting actor binds a new port each time): the oldest goes.
 * The state file keeps as many. */
#define SOCKWATCH_PEERS_PER_WORKER 8

struct sockwatch {
	int diag_fd;
	uint64_t netns_cookie; /* the daemon's namespace, the only one sock_diag sees */
	bool all_netns;
	bool group_by_peer_ip;
	const uint16_t *ports;
	int n_ports;
	uint64_t pass;
	struct sockwatch_stats stats;
	struct sockwatch_binding *bindings;
	size_t n_bindings, max_bindings;
	uint64_t bindings_made;
	struct u64map binding_by_endpoint; /* endpoint hash → index in bindings */
	uint64_t forgotten[SOCKWATCH_FORGOTTEN_MAX];
	size_t n_forgotten; /* total ever; the ring holds the newest */
};

/* 0 or -errno after one logged line. */
int sockwatch_init(struct sockwatch *watch, const uint16_t *ports, int n_ports,
		   bool group_by_peer_ip, bool all_netns, size_t max_bindings);
void sockwatch_destroy(struct sockwatch *watch);
void sockwatch_on_event(struct sockwatch *watch, struct fleet *fleet,
			const struct lp_conn_event *event, uint64_t now_ns);
/*
 * Kernel records, a sock_diag pass, owners by inode; then every owner is re-evaluated. At
 * thousands of connections a pass takes tens of milliseconds: between(ctx), if not NULL, runs
 * after each batch of records or sockets, so the caller can apply a death that happened
 * meanwhile. It may change the fleet in any way: the pass holds no worker or connection across
 * it.
 */
void sockwatch_reconcile(struct sockwatch *watch, struct fleet *fleet, struct probe *probe,
			 uint64_t now_ns, void (*between)(void *ctx), void *ctx);

/* May the binder take a connection or binding that this worker holds? */
typedef bool (*sockwatch_may_take_fn)(void *ctx, const struct worker *holder);

/*
 * A proxy named the worker behind a peer endpoint: that connection, now and in future, belongs
 * to worker, and the placeholder named after the peer goes. 0; -EPERM (nothing changed) when
 * may_take (NULL: always) refuses the binding's or a connection's current holder; -ENOSPC past
 * the limit.
 */
int sockwatch_bind_peer(struct sockwatch *watch, struct fleet *fleet, uint16_t family,
			const uint8_t addr[16], uint16_t port, struct worker *worker,
			sockwatch_may_take_fn may_take, void *ctx, uint64_t now_ns);

/* Before a worker is forgotten: its dead connections are never tracked again, the kernel
 * records of its closed ones are dropped, and so are its peer bindings. Live connections come
 * back, as they should, while they live. */
void sockwatch_forget(struct sockwatch *watch, struct fleet *fleet, struct probe *probe,
		      const struct worker *worker);

#endif
