// SPDX-License-Identifier: GPL-2.0
/*
 * Connection path: which TCP connections are worker connections (lp_portmask: a local or remote
 * port is watched, and the socket is in the watched network namespace), what the kernel knows
 * about each of them (lp_conns, keyed by socket cookie: state changes, resets both ways, the
 * socket error, retransmissions) and, when asked, kernel-enforced keepalive on them (a cgroup
 * sockops program). Every program tests the port bitmap before any other work (lp_tcp_state only
 * notes first which change it started on, for lp_tcp_nested), so the host's other connections
 * cost a few array loads and never reach the ring buffer. The facts are written
 * into lp_conns before any event is sent, so the daemon can recover them after a ring-buffer
 * drop; only what the daemon must act on at once is sent (state_is_news).
 * Most of these tracepoints run in softirq context: the current task is not the socket's owner,
 * so an owner is recorded only on the connect() path, where it is.
 */
#include "liveprobe.bpf.h"

#define AF_INET	 2
#define AF_INET6 10

#define EPIPE	     32
#define ENETDOWN     100
#define ENETUNREACH  101
#define ECONNRESET   104
#define ETIMEDOUT    110
#define ECONNREFUSED 111
#define EHOSTDOWN    112
#define EHOSTUNREACH 113

#define SOL_SOCKET	 1
#define SO_KEEPALIVE	 9
#define SOL_TCP		 6
#define TCP_KEEPIDLE	 4
#define TCP_KEEPINTVL	 5
#define TCP_KEEPCNT	 6
#define TCP_USER_TIMEOUT 18

#define RETRANS_EVENT_INTERVAL_NS 1000000000ULL

/* 0: every network namespace; otherwise only sockets in the namespace with this cookie. */
const volatile __u64 watched_netns_cookie = 0;
/* 0: no keepalive (the sockops program is not loaded). */
const volatile __s32 keepalive_idle_s = 0;
const volatile __s32 keepalive_intvl_s = 0;
const volatile __s32 keepalive_cnt = 0;

/* Watched ports, host byte order; the value is unused. Filled by the daemon before attach.
 * The list a reader sees (bpftool, --dump-maps); the programs test lp_portmask. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u32);
} lp_ports SEC(".maps");

/*
 * The same ports as a bitmap, bit (port % 64) of word (port / 64): the test every TCP state
 * change on the host pays. An array lookup is inlined into a few instructions, where a hash
 * lookup hashes the key and walks a bucket, twice per call.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LP_PORTMASK_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} lp_portmask SEC(".maps");

/* Size is set by the daemon before load (--max-connections). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct lp_conn);
} lp_conns SEC(".maps");

static __always_inline bool port_watched(__u16 port)
{
	__u32 word = port / 64;
	__u64 *bits = bpf_map_lookup_elem(&lp_portmask, &word);

	return bits && (*bits & (1ULL << (port % 64)));
}

/* Read-only view of a kernel object as another BTF type (6.2+); loads stay direct loads. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/*
 * inet_sport, not skc_num: a closing socket gives its port back (inet_put_port zeroes skc_num)
 * before the CLOSE tracepoint and the error report that follows it fire.
 */
static __always_inline __u16 local_port_of(const struct sock *sk)
{
	const struct inet_sock *inet =
		bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct inet_sock));

	return bpf_ntohs(inet->inet_sport);
}

/* The match flags of a TCP socket whose local or remote port is watched, else 0. */
static __always_inline __u32 watched_match(const struct sock *sk)
{
	__u16 local_port = local_port_of(sk);
	__u16 peer_port = bpf_ntohs(sk->__sk_common.skc_dport);
	__u32 match = 0;

	if (port_watched(local_port))
		match |= LP_CONN_F_MATCH_LOCAL;
	if (peer_port && port_watched(peer_port))
		match |= LP_CONN_F_MATCH_PEER;
	if (!match)
		return 0;
	if (watched_netns_cookie && sk->__sk_common.skc_net.net->net_cookie != watched_netns_cookie)
		return 0;
	return match;
}

static __always_inline bool v4_mapped(const __u8 *addr)
{
	const __u32 *words = (const __u32 *)addr;

	return words[0] == 0 && words[1] == 0 && words[2] == bpf_htonl(0x0000ffff);
}

/* A BTF pointer's fields are direct loads: no bpf_probe_read_kernel call per address. */
static __always_inline void copy_in6(__u8 *to, const struct in6_addr *from)
{
	__u32 *words = (__u32 *)to;

	words[0] = from->in6_u.u6_addr32[0];
	words[1] = from->in6_u.u6_addr32[1];
	words[2] = from->in6_u.u6_addr32[2];
	words[3] = from->in6_u.u6_addr32[3];
}

static __always_inline void fill_addresses(struct lp_conn *conn, const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	conn->local_port = local_port_of(sk);
	conn->peer_port = bpf_ntohs(sk->__sk_common.skc_dport);
	if (family == AF_INET6) {
		copy_in6(conn->local_addr, &sk->__sk_common.skc_v6_rcv_saddr);
		copy_in6(conn->peer_addr, &sk->__sk_common.skc_v6_daddr);
		/* An AF_INET6 socket talking IPv4 is an IPv4 connection to everyone else. */
		if (v4_mapped(conn->local_addr) && v4_mapped(conn->peer_addr)) {
			__builtin_memcpy(conn->local_addr, conn->local_addr + 12, 4);
			__builtin_memcpy(conn->peer_addr, conn->peer_addr + 12, 4);
			__builtin_memset(conn->local_addr + 4, 0, 12);
			__builtin_memset(conn->peer_addr + 4, 0, 12);
			family = AF_INET;
		}
	} else {
		*(__u32 *)conn->local_addr = sk->__sk_common.skc_rcv_saddr;
		*(__u32 *)conn->peer_addr = sk->__sk_common.skc_daddr;
	}
	conn->family = family;
}

/*
 * The lp_conns entry of a watched socket, created on first sight when `create`; NULL for a
 * socket that is not ours (the common case, decided by the port map alone).
 */
static __always_inline struct lp_conn *watched_conn(const struct sock *sk, bool create,
						    __u64 *cookie, __u64 *now)
{
	struct lp_conn *conn, fresh;
	__u32 match;

	/* A socket with no peer is no connection: a listener (whose shutdown() reports an error),
	 * or one tcp_disconnect() has cleared (an abortive close reports the ECONNRESET of the
	 * reset it sent itself, which lp_tcp_rst_tx recorded before the clearing). A record of it
	 * would never be closed, so never freed. */
	if (!sk || !sk->__sk_common.skc_dport)
		return NULL;
	match = watched_match(sk);
	if (!match)
		return NULL;
	*cookie = bpf_get_socket_cookie((void *)sk);
	*now = bpf_ktime_get_ns();
	conn = bpf_map_lookup_elem(&lp_conns, cookie);
	if (conn || !create)
		return conn;

	__builtin_memset(&fresh, 0, sizeof(fresh)); /* here: the filter above runs on every call */
	fill_addresses(&fresh, sk);
	fresh.state = sk->__sk_common.skc_state;
	fresh.old_state = fresh.state;
	fresh.flags = match;
	/* An error report after a CLOSE that found no record (a connection older than the daemon
	 * that dies with no reset or retransmission first, as a zero-window probe times out):
	 * marked closed here, or nothing would ever free it. */
	if (fresh.state == TCP_CLOSE)
		fresh.flags |= LP_CONN_F_GONE;
	fresh.netns_cookie = sk->__sk_common.skc_net.net->net_cookie;
	fresh.changed_ns = *now;
	if (bpf_map_update_elem(&lp_conns, cookie, &fresh, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&lp_conns, cookie)) {
		lp_stat_inc(LP_STAT_CONNS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&lp_conns, cookie);
}

static __always_inline void set_reason(struct lp_conn *conn, __u32 reason, __u64 now)
{
	if (reason > conn->reason) {
		conn->reason = reason;
		conn->changed_ns = now;
	}
}

static __always_inline __u32 reason_of_error(__s32 error)
{
	switch (error) {
	case ETIMEDOUT:
		return LP_CONN_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
		return LP_CONN_UNREACHABLE;
	case ECONNRESET:
	case ECONNREFUSED:
	case EPIPE:
		return LP_CONN_RESET_RECEIVED;
	default:
		return LP_CONN_CLOSED;
	}
}

static __always_inline void send_conn_event(__u64 cookie, __u32 what, const struct lp_conn *conn,
					    __u64 now_ns)
{
	struct lp_conn_event *event;

	lp_stat_inc(LP_STAT_CONN_EVENTS);
	event = lp_event_reserve(sizeof(*event), LP_EV_CONN, now_ns);
	if (!event)
		return;
	event->cookie = cookie;
	event->what = what;
	event->pad = 0;
	__builtin_memcpy(&event->conn, conn, sizeof(event->conn));
	bpf_ringbuf_submit(event, 0);
}

/*
 * The states the daemon acts on at once: the connection is up, the peer has closed, it is gone.
 * The others (SYN_SENT, SYN_RECV, and this side's FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK)
 * change no verdict: they go into lp_conns, which the daemon reads every pass, but not into the
 * ring buffer. A loopback connection makes eight state changes, and their records were half of
 * what the probe cost it.
 */
static __always_inline bool state_is_news(int state)
{
	return state == TCP_ESTABLISHED || state == TCP_CLOSE_WAIT || state == TCP_CLOSE;
}

/* connect() sending its SYN, or a passive open completing: a socket's first watched change. */
static __always_inline bool is_opening(int old_state, int new_state)
{
	return (old_state == TCP_CLOSE && new_state == TCP_SYN_SENT) ||
	       (old_state == TCP_SYN_RECV && new_state == TCP_ESTABLISHED);
}

static __always_inline void record_state(struct lp_conn *conn, const struct sock *sk, int old_state,
					 int new_state, __u64 now)
{
	/* connect() picks the local port after SYN_SENT is set: read it until it is there. */
	if (!conn->local_port)
		fill_addresses(conn, sk);
	conn->old_state = old_state;
	conn->state = new_state;
	conn->changed_ns = now;
	/* connect() runs in the caller's context: the one moment the owner is current. */
	if (new_state == TCP_SYN_SENT) {
		conn->owner_tgid = bpf_get_current_pid_tgid() >> 32;
		conn->flags |= LP_CONN_F_OWNER;
	}
	if (new_state == TCP_CLOSE_WAIT && conn->reason < LP_CONN_PEER_CLOSED)
		conn->reason = LP_CONN_PEER_CLOSED;
	if (new_state == TCP_CLOSE) {
		conn->flags |= LP_CONN_F_GONE;
		/* tcp_done_with_error() sets sk_err before this CLOSE and reports it after: the
		 * close carries its cause itself, should the error report be missed (a tracing
		 * program is skipped when it interrupts itself on one CPU). */
		if (sk->sk_err) {
			conn->error = sk->sk_err;
			set_reason(conn, reason_of_error(conn->error), now);
		}
		if (conn->reason < LP_CONN_CLOSED)
			conn->reason = LP_CONN_CLOSED;
	}
}

static __always_inline void on_tcp_state(const struct sock *sk, int old_state, int new_state)
{
	struct lp_conn *conn, fresh;
	__u64 cookie, now;
	__u32 match;

	if (sk->sk_protocol != IPPROTO_TCP)
		return;
	lp_stat_inc(LP_STAT_TCP_STATES_SEEN);
	/* Listeners are not connections; a request socket becomes one at SYN_RECV. */
	if (old_state == TCP_LISTEN || new_state == TCP_LISTEN)
		return;
	match = watched_match(sk);
	if (!match)
		return;
	cookie = bpf_get_socket_cookie((void *)sk);
	now = bpf_ktime_get_ns();
	/* A socket's opening is its first watched change: the insert alone finds out otherwise
	 * (a cold hash bucket costs about 130 ns, and a lookup first walked it twice). */
	conn = is_opening(old_state, new_state) ? NULL : bpf_map_lookup_elem(&lp_conns, &cookie);
	if (!conn) {
		/* A socket first seen at its close was not ours while it lived: sock_diag tells. */
		if (new_state == TCP_CLOSE)
			return;
		/* First sight: the record is built here and written by one update (and zeroed here,
		 * not before the filter that every TCP state change on the host runs). */
		__builtin_memset(&fresh, 0, sizeof(fresh));
		fresh.flags = match;
		fresh.netns_cookie = sk->__sk_common.skc_net.net->net_cookie;
		record_state(&fresh, sk, old_state, new_state, now);
		if (!bpf_map_update_elem(&lp_conns, &cookie, &fresh, BPF_NOEXIST)) {
			if (state_is_news(new_state))
				send_conn_event(cookie, LP_CONN_EV_STATE, &fresh, now);
			return;
		}
		/* A record already there (another program on this socket, or a socket that
		 * connects again), or the map is full. */
		conn = bpf_map_lookup_elem(&lp_conns, &cookie);
		if (!conn) {
			lp_stat_inc(LP_STAT_CONNS_FULL);
			return;
		}
	}
	record_state(conn, sk, old_state, new_state, now);
	if (state_is_news(new_state))
		send_conn_event(cookie, LP_CONN_EV_STATE, conn, now);
}

/*
 * The kernel skips a tracing program that starts while it already runs on that CPU, and counts
 * the skip in bpf_prog_info.recursion_misses: a softirq's state change (a reset, a timeout)
 * landing inside a process's (connect, close) would be lost, one or two in 1,000 in a loopback
 * storm here. lp_tcp_nested, attached to the same tracepoint after lp_tcp_state (a tracepoint calls
 * its probes in the order they attached), does the work of a change lp_tcp_state did not start
 * on. A flag set inside lp_tcp_state would miss the kernel's own instructions around its body
 * (bpf_stats' clock reads among them); naming the change misses nothing, and at worst, when a
 * change falls between the two programs, handles one twice, which the daemon ignores.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lp_tcp_last_change);
} tcp_last_change SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(lp_tcp_state, const struct sock *sk, int old_state, int new_state)
{
	struct lp_tcp_last_change *last;
	__u32 zero = 0;

	last = bpf_map_lookup_elem(&tcp_last_change, &zero);
	if (last) {
		last->sk = (__u64)sk;
		last->old_state = old_state;
		last->new_state = new_state;
	}
	on_tcp_state(sk, old_state, new_state);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(lp_tcp_nested, const struct sock *sk, int old_state, int new_state)
{
	struct lp_tcp_last_change *last;
	__u32 zero = 0;

	last = bpf_map_lookup_elem(&tcp_last_change, &zero);
	if (!last ||
	    (last->sk == (__u64)sk && last->old_state == old_state && last->new_state == new_state))
		return 0;
	last->rescued++;
	on_tcp_state(sk, old_state, new_state);
	return 0;
}

/*
 * tcp_reset() always ends in tcp_done(), so the CLOSE that follows this reset carries it to the
 * daemon: the reset only upgrades the record's reason.
 */
SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(lp_tcp_rst_rx, struct sock *sk)
{
	struct lp_conn *conn;
	__u64 cookie, now;

	conn = watched_conn(sk, true, &cookie, &now);
	if (!conn)
		return 0;
	set_reason(conn, LP_CONN_RESET_RECEIVED, now);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(lp_tcp_rst_tx, const struct sock *sk, const struct sk_buff *skb, int rst_reason)
{
	struct lp_conn *conn;
	__u64 cookie, now;

	/* A reset for a packet that matched no socket has sk == NULL: nothing of ours. One from a
	 * TIME_WAIT or request socket carries that small socket, which is no struct sock past its
	 * common part: its connection's record is closed already, or gone, and a new one would
	 * never be closed. (A listener has no peer: watched_conn passes it by.) */
	if (!sk || sk->__sk_common.skc_state == TCP_TIME_WAIT ||
	    sk->__sk_common.skc_state == TCP_NEW_SYN_RECV)
		return 0;
	conn = watched_conn(sk, true, &cookie, &now);
	if (!conn)
		return 0;
	set_reason(conn, LP_CONN_RESET_SENT, now);
	/* An abortive close sets CLOSE before it sends the reset: that death is already reported,
	 * and the daemon's next pass reads the finer reason from the record. */
	if (!(conn->flags & LP_CONN_F_GONE))
		send_conn_event(cookie, LP_CONN_EV_RESET_TX, conn, now);
	return 0;
}

/*
 * sk_error_report() also announces the error queue, with sk_err 0 and the connection well: every
 * MSG_ZEROCOPY completion and transmit timestamp. With IP_RECVERR it reports an ICMP error on a
 * connection that stays established. So only a closed socket's error is a death:
 * tcp_done_with_error() sets CLOSE before its report, and a report that comes first (a connect
 * refused by ICMP) is followed by a CLOSE that reads sk_err itself.
 */
SEC("tp_btf/inet_sk_error_report")
int BPF_PROG(lp_tcp_error, const struct sock *sk)
{
	struct lp_conn *conn;
	__u64 cookie, now;
	int error;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	/* No error (or a reader of SO_ERROR took it first, and the CLOSE has it already). */
	error = sk->sk_err;
	if (!error)
		return 0;
	conn = watched_conn(sk, true, &cookie, &now);
	if (!conn)
		return 0;
	conn->error = error;
	if (sk->__sk_common.skc_state == TCP_CLOSE)
		set_reason(conn, reason_of_error(error), now);
	send_conn_event(cookie, LP_CONN_EV_ERROR, conn, now);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(lp_tcp_retrans, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct lp_conn *conn;
	__u64 cookie, now, previous;

	conn = watched_conn(sk, true, &cookie, &now);
	if (!conn)
		return 0;
	previous = conn->retrans_ns;
	conn->retransmits++;
	conn->retrans_ns = now;
	/* The first retransmission makes the connection suspect; a storm needs no more events. */
	if (previous && now - previous < RETRANS_EVENT_INTERVAL_NS)
		return 0;
	send_conn_event(cookie, LP_CONN_EV_RETRANS, conn, now);
	return 0;
}

static __always_inline int set_option(struct bpf_sock_ops *skops, int level, int name, int value)
{
	return bpf_setsockopt(skops, level, name, &value, sizeof(value));
}

/*
 * Loaded only with --keepalive. Established callbacks run for every TCP connection in the cgroup
 * without any bpf_sock_ops_cb_flags; the port map keeps it to worker connections.
 */
SEC("sockops")
int lp_keepalive(struct bpf_sock_ops *skops)
{
	__u16 local_port, peer_port;
	int err;

	if (skops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return 1;
	local_port = skops->local_port;
	peer_port = bpf_ntohl(skops->remote_port);
	if (!port_watched(local_port) && !port_watched(peer_port))
		return 1;
	if (watched_netns_cookie && bpf_get_netns_cookie(skops) != watched_netns_cookie)
		return 1;

	err = set_option(skops, SOL_SOCKET, SO_KEEPALIVE, 1);
	err = err ?: set_option(skops, SOL_TCP, TCP_KEEPIDLE, keepalive_idle_s);
	err = err ?: set_option(skops, SOL_TCP, TCP_KEEPINTVL, keepalive_intvl_s);
	err = err ?: set_option(skops, SOL_TCP, TCP_KEEPCNT, keepalive_cnt);
	/* Bounds unacknowledged data by the same budget, so a busy connection dies as fast. */
	err = err
		      ?: set_option(skops, SOL_TCP, TCP_USER_TIMEOUT,
				    (keepalive_idle_s + keepalive_intvl_s * keepalive_cnt) * 1000);
	lp_stat_inc(err ? LP_STAT_KEEPALIVE_FAILED : LP_STAT_KEEPALIVE_SET);
	return 1;
}
