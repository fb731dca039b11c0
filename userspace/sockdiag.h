/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's own view of TCP connections, read with NETLINK_SOCK_DIAG (inet_diag): every
 * non-listening TCP socket of the daemon's network namespace with its cookie (the same one the
 * BPF programs key by), inode, state and tcp_info. The event loop uses it to find connections
 * that existed before it started, to repair lost events, to measure how long a connection has
 * been silent, and to tie a socket to its owner through /proc/PID/fd. Owns only the netlink
 * socket; callers decide what the entries mean.
 *
 * Errors: 0 or -errno; nothing is logged.
 */
#ifndef LP_SOCKDIAG_H
#define LP_SOCKDIAG_H

#include <stdbool.h>
#include <stdint.h>

struct sockdiag_conn {
	uint64_t cookie;
	uint32_t inode;	 /* 0: no file yet (not accepted) or already closed by its owner */
	uint16_t family; /* normalised: IPv4-mapped IPv6 reads as AF_INET */
	uint16_t local_port, peer_port;
	uint8_t local_addr[16], peer_addr[16];
	uint8_t state;
	bool has_info;
	uint8_t retransmits; /* RTO retransmissions of the current episode (icsk_retransmits) */
	uint8_t backoff;
	uint8_t probes; /* unanswered zero-window or keepalive probes */
	uint32_t unacked;
	uint32_t last_data_recv_ms;
};

typedef void (*sockdiag_fn)(void *ctx, const struct sockdiag_conn *conn);
/* Called after each batch the kernel sends (a few dozen connections), so that a dump of
 * thousands never holds up what else the caller must do at once. */
typedef void (*sockdiag_between_fn)(void *ctx);

/* Returns a netlink socket or -errno. */
int sockdiag_open(void);
#define SOCKDIAG_MAX_PORTS 64

/*
 * Dumps IPv4 and IPv6 TCP connections (not listeners, not TIME_WAIT) whose local or remote port
 * is one of `ports` (all of them when n_ports is 0), filtered in the kernel; 0 or -errno.
 */
int sockdiag_dump(int fd, const uint16_t *ports, int n_ports, sockdiag_fn fn,
		  sockdiag_between_fn between, void *ctx);
/* The cookie of the daemon's own network namespace (SO_NETNS_COOKIE), 0 if unknown. */
uint64_t sockdiag_netns_cookie(void);

#endif
