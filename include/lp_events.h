/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between the BPF programs and the daemon: map values, ring-buffer events and
 * counter indexes. Both sides compile this exact file, so it includes nothing and uses only
 * fixed-width fields with explicit padding (the includer provides __u32 and friends: vmlinux.h
 * on the BPF side, <linux/types.h> in userspace). Append only: a field's offset never changes.
 */
#ifndef LP_EVENTS_H
#define LP_EVENTS_H

#define LP_COMM_LEN 16
#define LP_NAME_LEN 32 /* worker name as shown by bpftool; the daemon keeps the full name */
/*
 * The layout of the pinned maps. A daemon takes over pinned maps only of its own layout; bump
 * it whenever a map's key or value changes in a way that appending a field does not cover.
 */
#define LP_LAYOUT_VERSION 1
/* lp_portmask: one bit per TCP port, 64 ports per __u64 word. */
#define LP_PORTMASK_WORDS (65536 / 64)
/* lp_pidmask: a LP_PIDMASK_BITS-bit count per tgid, LP_PIDMASK_PER_WORD of them per __u64. */
#define LP_PIDMASK_BITS	    4
#define LP_PIDMASK_PER_WORD 16
#define LP_PIDMASK_LANE	    0xfULL
/* /proc/PID/stat reports start time in USER_HZ ticks; the kernel keeps nanoseconds. */
#define LP_NSEC_PER_TICK 10000000ULL

enum lp_event_kind {
	LP_EV_PROC_EXIT = 1, /* a watched process (thread group) is gone */
	LP_EV_PROC_NEW = 2,  /* a process matching a watched comm was adopted in the kernel */
	LP_EV_CONN = 3, /* something happened to a watched TCP connection (enum lp_conn_what) */
};

/* Per-CPU counters in the lp_stats map, summed by the daemon. */
enum lp_stat {
	LP_STAT_RINGBUF_DROPS = 0, /* bpf_ringbuf_reserve failed: an event was lost */
	LP_STAT_EXITS_SEEN,	   /* every thread-group exit on the host */
	LP_STAT_EXITS_WATCHED,	   /* exits of watched processes */
	LP_STAT_SIGNALS_WATCHED,   /* fatal signals generated for watched processes */
	LP_STAT_OOM_WATCHED,	   /* OOM-killer victims that were watched */
	LP_STAT_PROCS_ADOPTED,	   /* processes adopted by comm in the kernel */
	LP_STAT_ADOPT_FULL,	   /* adoption failed: lp_procs is full */
	LP_STAT_PID_REUSED,	   /* a watched tgid exited with another start time */
	LP_STAT_TCP_STATES_SEEN,   /* every TCP state change on the host */
	LP_STAT_CONN_EVENTS,	   /* events of watched connections (before the ring buffer) */
	LP_STAT_CONNS_FULL,	   /* a watched connection had no room in lp_conns */
	LP_STAT_KEEPALIVE_SET,	   /* connections given keepalive by the sockops program */
	LP_STAT_KEEPALIVE_FAILED,  /* bpf_setsockopt refused one of the keepalive options */
	LP_STAT__COUNT,
};

enum lp_proc_flags {
	LP_PROC_EXITED = 1 << 0,   /* exit_code and exit_ns are final */
	LP_PROC_OOM = 1 << 1,	   /* chosen by the OOM killer */
	LP_PROC_ADOPTED = 1 << 2,  /* added by the kernel (watched comm), not by the daemon */
	LP_PROC_SIGNALED = 1 << 3, /* killer_pid/killer_comm/kill_signal are set */
	LP_PROC_CGROUP = 1 << 4,   /* added by the kernel: it is in a watched cgroup (lp_cgroups) */
};

/*
 * Value of lp_procs, keyed by tgid. The kernel records the facts of a death here before it tries
 * the ring buffer, so a dropped event loses latency, never the facts: the daemon reads them back
 * when it reconciles.
 */
struct lp_proc {
	__u64 start_ticks; /* identity with the tgid: survives pid reuse */
	__u64 exit_ns;	   /* CLOCK_MONOTONIC of the exit, 0 while alive */
	__u32 exit_code;   /* wait status: code << 8 | 0x80 (core) | signal */
	__u32 flags;	   /* enum lp_proc_flags */
	__u32 killer_pid;  /* sender of the last fatal signal */
	__s32 kill_signal;
	char killer_comm[LP_COMM_LEN];
	char comm[LP_COMM_LEN];
	char name[LP_NAME_LEN]; /* for bpftool readers only */
};

struct lp_event_header {
	__u32 kind; /* enum lp_event_kind */
	__u32 cpu;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
};

struct lp_proc_event {
	struct lp_event_header header;
	__u32 tgid;
	__u32 pad;
	struct lp_proc proc;
	/* Appended after layout 1's first events: shorter records (a previous daemon's backlog)
	 * end before it, and mean 0. */
	__u64 cgroup_id; /* the process's cgroup v2 id (its directory's inode number) */
};

/* Value of lp_cgroups, keyed by cgroup v2 id: a cgroup that is one worker. */
struct lp_cgroup_watch {
	char name[LP_NAME_LEN]; /* the worker's name, for bpftool readers */
};

/*
 * TCP states as include/net/tcp_states.h numbers them. In lp_conns they are one byte each. On the
 * BPF side (clang) the enum has a fixed one-byte type, so the map's BTF names the states and
 * bpftool prints them; userspace, built by compilers without fixed enum types (gcc 12), reads
 * the same byte as a __u8.
 */
#ifdef __bpf__
#define LP_TCP_STATE_FIELD enum lp_tcp_state
enum lp_tcp_state : __u8 {
#else
#define LP_TCP_STATE_FIELD __u8
enum lp_tcp_state {
#endif
	LP_TCP_ESTABLISHED = 1,
	LP_TCP_SYN_SENT,
	LP_TCP_SYN_RECV,
	LP_TCP_FIN_WAIT1,
	LP_TCP_FIN_WAIT2,
	LP_TCP_TIME_WAIT,
	LP_TCP_CLOSE,
	LP_TCP_CLOSE_WAIT,
	LP_TCP_LAST_ACK,
	LP_TCP_LISTEN,
	LP_TCP_CLOSING,
	LP_TCP_NEW_SYN_RECV,
};

/* Why a connection is dead, in increasing order of how much it explains: a later, more specific
 * cause replaces a vaguer one (a reset seen after the close it caused), never the reverse. */
enum lp_conn_reason {
	LP_CONN_ALIVE = 0,
	LP_CONN_CLOSED,		/* closed by this side, or gone with no other evidence */
	LP_CONN_PEER_CLOSED,	/* FIN from the peer: CLOSE_WAIT */
	LP_CONN_RESET_SENT,	/* this host sent the RST */
	LP_CONN_RESET_RECEIVED, /* the peer sent an RST (also ECONNREFUSED, EPIPE) */
	LP_CONN_UNREACHABLE,	/* EHOSTUNREACH, ENETUNREACH and friends */
	LP_CONN_TIMEOUT, /* ETIMEDOUT: retransmissions, keepalive or TCP_USER_TIMEOUT expired */
	LP_CONN_REASON__COUNT,
};

/* Why a record was sent. Readers must not depend on which of these arrive: lp_conns holds every
 * fact, and a record is sent only when the daemon should act at once (see lp_tcp_state). */
enum lp_conn_what {
	LP_CONN_EV_STATE = 1, /* to ESTABLISHED, CLOSE_WAIT or CLOSE */
	LP_CONN_EV_RESET_RX,  /* no longer sent: the CLOSE that always follows carries the reset */
	LP_CONN_EV_RESET_TX,  /* a reset sent on a connection not yet closed */
	LP_CONN_EV_ERROR,     /* sk_err reported to the application */
	LP_CONN_EV_RETRANS,   /* a retransmission: sent at most once a second per connection */
};

enum lp_conn_flags {
	LP_CONN_F_GONE = 1 << 0,	/* reached TCP_CLOSE; the socket may be freed */
	LP_CONN_F_OWNER = 1 << 1,	/* owner_tgid is the process that called connect() */
	LP_CONN_F_MATCH_LOCAL = 1 << 2, /* matched because the local port is watched */
	LP_CONN_F_MATCH_PEER = 1 << 3,	/* matched because the remote port is watched */
};

/*
 * Value of lp_conns, keyed by socket cookie (the kernel reuses socket memory; cookies are never
 * reused). Addresses are normalised: an IPv4-mapped IPv6 address is stored as AF_INET with the
 * IPv4 address in the first four bytes. Ports are in host byte order.
 */
struct lp_conn {
	__u8 local_addr[16];
	__u8 peer_addr[16];
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 local_port;
	__u16 peer_port;
	LP_TCP_STATE_FIELD state;     /* enum lp_tcp_state, one byte */
	LP_TCP_STATE_FIELD old_state; /* state before the last change */
	enum lp_conn_reason reason;   /* 4 bytes */
	__u32 flags;		      /* enum lp_conn_flags */
	__s32 error;		      /* last sk_err reported, a positive errno; 0 none */
	__u32 retransmits;
	__u32 owner_tgid;
	__u64 netns_cookie;
	__u64 changed_ns; /* CLOCK_MONOTONIC of the last state change or death */
	__u64 retrans_ns; /* of the last retransmission */
};

struct lp_conn_event {
	struct lp_event_header header;
	__u64 cookie;
	__u32 what; /* enum lp_conn_what */
	__u32 pad;
	struct lp_conn conn;
};

/* Key of lp_comms: a command name as in task->comm, NUL padded. */
struct lp_comm_key {
	char comm[LP_COMM_LEN];
};

/* Value of tcp_last_change, per CPU (not pinned: it describes a moment, not a fact). */
struct lp_tcp_last_change {
	__u64 sk; /* the state change lp_tcp_state last started on: socket, from, to */
	__u32 old_state;
	__u32 new_state;
	__u64 rescued; /* changes lp_tcp_nested recorded for an lp_tcp_state the kernel skipped */
};

#endif /* LP_EVENTS_H */
