// SPDX-License-Identifier: GPL-2.0
/* See conn.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "sockdiag.h"

enum { TCP_CLOSE_ = 7, TCP_CLOSE_WAIT_ = 8 };

const char *conn_reason_name(uint32_t reason)
{
	static const char *const names[LP_CONN_REASON__COUNT] = {
		[LP_CONN_CLOSED] = "closed",	       [LP_CONN_PEER_CLOSED] = "peer_closed",
		[LP_CONN_RESET_SENT] = "reset_sent",   [LP_CONN_RESET_RECEIVED] = "reset_received",
		[LP_CONN_UNREACHABLE] = "unreachable", [LP_CONN_TIMEOUT] = "timeout",
	};

	return reason < LP_CONN_REASON__COUNT ? names[reason] : "closed";
}

const char *conn_tcp_state_name(uint8_t state)
{
	static const char *const names[] = {
		[1] = "ESTABLISHED", [2] = "SYN_SENT",	[3] = "SYN_RECV", [4] = "FIN_WAIT1",
		[5] = "FIN_WAIT2",   [6] = "TIME_WAIT", [7] = "CLOSE",	  [8] = "CLOSE_WAIT",
		[9] = "LAST_ACK",    [10] = "LISTEN",	[11] = "CLOSING", [12] = "NEW_SYN_RECV",
	};

	return state < sizeof(names) / sizeof(names[0]) && names[state] ? names[state] : "UNKNOWN";
}

const char *conn_errno_name(int32_t error)
{
	switch (error) {
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ECONNRESET:
		return "ECONNRESET";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case EPIPE:
		return "EPIPE";
	case EHOSTUNREACH:
		return "EHOSTUNREACH";
	case ENETUNREACH:
		return "ENETUNREACH";
	case EHOSTDOWN:
		return "EHOSTDOWN";
	case ENETDOWN:
		return "ENETDOWN";
	default:
		return NULL;
	}
}

void conn_format_endpoint(uint16_t family, const uint8_t *addr, uint16_t port, char *out,
			  size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, ip, sizeof(ip));
	if (!port)
		snprintf(out, len, "%s", ip);
	else if (family == AF_INET6)
		snprintf(out, len, "[%s]:%u", ip, port);
	else
		snprintf(out, len, "%s:%u", ip, port);
}

void conn_init(struct conn *conn, uint64_t cookie, uint64_t now_ns)
{
	memset(conn, 0, sizeof(*conn));
	conn->cookie = cookie;
	conn->first_seen_ns = now_ns;
}

static bool set_reason(struct conn *conn, uint32_t reason, uint64_t at_ns)
{
	if (reason <= conn->reason)
		return false;
	if (conn->reason == LP_CONN_ALIVE)
		conn->dead_ns = at_ns;
	conn->reason = reason;
	conn->suspect = false;
	return true;
}

static void copy_addresses(struct conn *conn, uint16_t family, const uint8_t *local,
			   uint16_t local_port, const uint8_t *peer, uint16_t peer_port)
{
	conn->family = family;
	conn->local_port = local_port;
	conn->peer_port = peer_port;
	memcpy(conn->local_addr, local, sizeof(conn->local_addr));
	memcpy(conn->peer_addr, peer, sizeof(conn->peer_addr));
}

bool conn_apply_kernel(struct conn *conn, const struct lp_conn *kernel, uint64_t now_ns)
{
	/* Anything readers see counts: a publish shares the last copy of the connections until
	 * one of them changes. */
	bool changed = conn->netns_cookie != kernel->netns_cookie;

	/* A connecting socket has no local port until after SYN_SENT; take the latest. */
	if (!conn->family || (kernel->local_port && !conn->local_port)) {
		copy_addresses(conn, kernel->family, kernel->local_addr, kernel->local_port,
			       kernel->peer_addr, kernel->peer_port);
		changed = true;
	}
	conn->netns_cookie = kernel->netns_cookie;
	if ((kernel->flags & LP_CONN_F_OWNER) && !conn->owner_tgid) {
		conn->owner_tgid = kernel->owner_tgid;
		changed = true;
	}
	if (kernel->state != conn->state && kernel->changed_ns >= conn->since_ns) {
		conn->state = kernel->state;
		conn->since_ns = kernel->changed_ns;
		changed = true;
	}
	if (kernel->error != conn->error) {
		conn->error = kernel->error;
		changed = true;
	}
	if (kernel->retransmits > conn->retransmits) {
		conn->retransmits = kernel->retransmits;
		conn->retrans_ns = kernel->retrans_ns;
		changed = true;
	}
	if ((kernel->flags & LP_CONN_F_GONE) && !conn->gone) {
		conn->gone = true;
		changed = true;
	}
	changed |= set_reason(conn, kernel->reason, kernel->changed_ns ?: now_ns);
	changed |= conn_update_suspect(conn);
	return changed;
}

bool conn_apply_diag(struct conn *conn, const struct sockdiag_conn *diag, uint64_t pass,
		     uint64_t now_ns)
{
	/* What readers see, down to whether there is a sample at all: a publish shares the last
	 * copy of the connections until one of them changes. */
	bool changed = conn->has_diag != diag->has_info;

	if (!conn->family) {
		copy_addresses(conn, diag->family, diag->local_addr, diag->local_port,
			       diag->peer_addr, diag->peer_port);
		changed = true;
	}
	conn->diag_pass = pass;
	conn->has_diag = diag->has_info;
	conn->diag_ns = now_ns;
	if (diag->inode)
		conn->inode = diag->inode;
	if (diag->has_info) {
		uint64_t silent_ns = (uint64_t)diag->last_data_recv_ms * 1000000ull;
		uint64_t last_recv_ns = now_ns > silent_ns ? now_ns - silent_ns : 0;

		changed |= conn->diag_retransmits != diag->retransmits ||
			   conn->diag_backoff != diag->backoff ||
			   conn->diag_probes != diag->probes || conn->diag_unacked != diag->unacked;
		conn->diag_retransmits = diag->retransmits;
		conn->diag_backoff = diag->backoff;
		conn->diag_probes = diag->probes;
		conn->diag_unacked = diag->unacked;
		/* tcp_info counts in jiffies, so an idle connection's last receive seems to move by
		 * a few milliseconds from sample to sample. That is no news, and readers would pay
		 * a copy of every connection for it after each pass. */
		if (last_recv_ns > conn->last_data_recv_ns + CONN_RECV_JITTER_NS ||
		    last_recv_ns + CONN_RECV_JITTER_NS < conn->last_data_recv_ns) {
			conn->last_data_recv_ns = last_recv_ns;
			changed = true;
		}
	}
	/* The kernel's events are the record; sock_diag repairs what they missed. */
	if (!conn->since_ns) {
		conn->since_ns = now_ns;
		changed = true;
	}
	if (diag->state != conn->state && !conn->gone) {
		conn->state = diag->state;
		conn->since_ns = now_ns;
		changed = true;
	}
	if (diag->state == TCP_CLOSE_WAIT_)
		changed |= set_reason(conn, LP_CONN_PEER_CLOSED, now_ns);
	changed |= conn_update_suspect(conn);
	return changed;
}

bool conn_mark_vanished(struct conn *conn, uint64_t now_ns)
{
	bool changed = !conn->gone || conn->state != TCP_CLOSE_;

	conn->gone = true;
	if (conn->state != TCP_CLOSE_) {
		conn->state = TCP_CLOSE_;
		conn->since_ns = now_ns;
	}
	changed |= set_reason(conn, LP_CONN_CLOSED, now_ns);
	conn->suspect = false;
	return changed;
}

bool conn_update_suspect(struct conn *conn)
{
	bool was = conn->suspect;
	bool diag_is_newer =
		conn->has_diag && conn->diag_ns >= conn->retrans_ns + CONN_SUSPECT_SETTLE_NS;

	if (conn_is_dead(conn))
		conn->suspect = false;
	else if (diag_is_newer)
		conn->suspect = conn->diag_retransmits || conn->diag_backoff || conn->diag_probes;
	else
		conn->suspect = conn->retrans_ns != 0 ||
				(conn->has_diag && (conn->diag_retransmits || conn->diag_backoff ||
						    conn->diag_probes));
	return was != conn->suspect;
}
