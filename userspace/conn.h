/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One worker connection as the daemon knows it: the kernel's facts (from lp_conns events) merged
 * with the kernel's current view (from sock_diag), and what they mean: alive, suspect (data sent
 * and not acknowledged) or dead with a reason. Pure logic, no I/O, so every rule is unit tested:
 * a more specific death reason replaces a vaguer one, suspicion needs evidence newer than the
 * last retransmission to clear, and addresses print the way operators type them.
 *
 * Errors: none; pure functions of their inputs.
 */
#ifndef LP_CONN_H
#define LP_CONN_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "lp_events.h"

/* A diag sample must be this much newer than the last retransmission to clear suspicion. */
#define CONN_SUSPECT_SETTLE_NS 200000000ull
#define CONN_ENDPOINT_MAX      48 /* "[ffff:...:ffff]:65535" */

struct sockdiag_conn;

struct conn {
	uint64_t cookie;
	uint32_t worker_id; /* owner, see struct worker.id */
	uint16_t family;
	uint16_t local_port, peer_port;
	uint8_t local_addr[16], peer_addr[16];
	uint8_t state;	 /* TCP state */
	uint32_t reason; /* enum lp_conn_reason; LP_CONN_ALIVE while alive */
	int32_t error;	 /* last sk_err, positive errno */
	bool gone;	 /* the socket reached TCP_CLOSE */
	bool suspect;
	uint32_t owner_tgid; /* connect() caller, 0 unknown */
	uint64_t netns_cookie;
	uint64_t first_seen_ns;
	uint64_t since_ns; /* CLOCK_MONOTONIC of the last state change */
	uint64_t dead_ns;
	uint32_t retransmits; /* counted by the kernel since the daemon first saw it */
	uint64_t retrans_ns;
	/* sock_diag's view, when it has one */
	bool has_diag;
	uint64_t diag_ns;
	uint32_t inode;
	uint8_t diag_retransmits, diag_backoff, diag_probes;
	uint32_t diag_unacked;
	uint64_t last_data_recv_ns; /* CLOCK_MONOTONIC, from tcpi_last_data_recv */
	uint64_t diag_pass;	    /* the last sock_diag pass that listed it */
};

const char *conn_reason_name(uint32_t reason); /* NULL while alive */
const char *conn_tcp_state_name(uint8_t state);
const char *conn_errno_name(int32_t error); /* "ETIMEDOUT"..., NULL when not a socket error */
/* "10.0.0.2:5000" or "[fd00::2]:5000"; port 0 prints the address alone. */
void conn_format_endpoint(uint16_t family, const uint8_t *addr, uint16_t port, char *out,
			  size_t len);
static inline bool conn_is_dead(const struct conn *conn)
{
	return conn->reason != LP_CONN_ALIVE;
}

/* How far a sample may move the last receive time before it counts as a change: five jiffies
 * at HZ=250, two at HZ=100. */
#define CONN_RECV_JITTER_NS 20000000ull

void conn_init(struct conn *conn, uint64_t cookie, uint64_t now_ns);
/* Merges the kernel's record; returns true when anything an operator sees changed. */
bool conn_apply_kernel(struct conn *conn, const struct lp_conn *kernel, uint64_t now_ns);
/* Merges a sock_diag sample; returns true when anything an operator sees changed (a last
 * receive time that moved by less than CONN_RECV_JITTER_NS did not, and is kept). */
bool conn_apply_diag(struct conn *conn, const struct sockdiag_conn *diag, uint64_t pass,
		     uint64_t now_ns);
/* The socket vanished without the kernel's last word reaching us: closed, cause unknown. */
bool conn_mark_vanished(struct conn *conn, uint64_t now_ns);
/* Recomputes `suspect`; returns true when it flipped. */
bool conn_update_suspect(struct conn *conn);

#endif
