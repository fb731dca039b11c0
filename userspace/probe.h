/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel side as userspace sees it: owns the BPF skeleton, its links, the pins under the pin
 * root and the ring-buffer consumer. Follows libbpf's order: open, configure (map sizes, which
 * programs load), load, attach, pin. Everything else talks to the kernel through these calls.
 *
 * Errors: 0 or -errno; probe_start logs one line naming what failed, the map calls log nothing.
 */
#ifndef LP_PROBE_H
#define LP_PROBE_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "lp_events.h"

struct probe;

/* Where the pin roots' locks live (lock files cannot be removed from under a daemon there). */
#define PROBE_LOCK_DIR "/run/liveprobe/pin-locks"

/* Called from probe_consume() for each ring-buffer record, on the caller's thread. */
typedef void (*probe_event_fn)(void *ctx, const void *data, size_t size);

struct probe_config {
	const char *pin_root;
	uint32_t ringbuf_bytes;
	uint32_t max_procs;
	const char (*comms)[16];
	int n_comms;
	bool watch_cgroups; /* load the cgroup adoption programs (lp_cgroups filled later) */
	const uint16_t *ports; /* watched TCP ports; none: the connection programs are not loaded */
	int n_ports;
	uint32_t max_conns;
	uint64_t netns_cookie; /* 0: watch connections in every network namespace */
	/* --keepalive; idle 0: off. Needs cgroup v2, whose mount is found in /proc/mounts. */
	int32_t keepalive_idle_s, keepalive_intvl_s, keepalive_cnt;
	bool bpf_stats; /* hold BPF_STATS_RUN_TIME on while the probe runs */
	bool reset_pins; /* start fresh: drop what a previous daemon left pinned */
	probe_event_fn on_event;
	void *ctx;
};

struct probe_prog_stats {
	char name[16];
	uint64_t run_cnt;
	uint64_t run_time_ns;
	uint64_t recursion_misses; /* runs the kernel skipped: the program interrupted itself */
};

#define PROBE_MAX_PROGS 16

enum probe_start_mode {
	PROBE_FRESH,	 /* nothing was pinned */
	PROBE_TOOK_OVER, /* the pinned maps of a previous daemon, and what they recorded, reused */
	PROBE_RESET,	 /* --reset-pins: what was pinned was dropped */
};

/*
 * 0 or -errno; on failure one line has been logged and *out is NULL. Maps and links are pinned
 * under the pin root and stay there when the daemon exits, so the kernel keeps recording; the
 * next start takes them over.
 */
int probe_start(const struct probe_config *config, struct probe **out);
enum probe_start_mode probe_start_mode(const struct probe *probe);
/* liveprobed --unload: every pin removed, so every program detaches. Pins removed, -EBUSY while
 * a daemon runs there, or -errno. */
int probe_unload(const char *pin_root);
void probe_stop(struct probe *probe);
int probe_epoll_fd(const struct probe *probe);
/* Drains the ring buffer; returns records consumed or -errno. */
int probe_consume(struct probe *probe);

int probe_watch(struct probe *probe, uint32_t tgid, const struct lp_proc *proc);
/* Forgets tgid only while its entry still has this start time. */
int probe_unwatch(struct probe *probe, uint32_t tgid, uint64_t start_ticks);
int probe_lookup(struct probe *probe, uint32_t tgid, struct lp_proc *out);
/* A cgroup whose processes the kernel adopts into lp_procs (LP_PROC_CGROUP). */
int probe_watch_cgroup(struct probe *probe, uint64_t cgroup_id, const char *name);
int probe_conn_lookup(struct probe *probe, uint64_t cookie, struct lp_conn *out);
/* Records a batch read of lp_conns or lp_procs asks for: 256 of either are about 24 KiB of the
 * caller's stack. */
#define PROBE_READ_BATCH 256

/* Where a read of a whole map stands: zeroed to start. */
struct probe_cursor {
	uint32_t batch; /* the kernel's token: the next hash bucket */
	bool started, done;
};
/*
 * Read the next records of lp_conns or lp_procs, up to max, in one system call (a get-next-key
 * and a lookup per record cost two each, which at thousands of records was most of a pass).
 * Return how many were read, 0 once the map is read to its end, or -errno. Records may be
 * deleted between calls: a bucket is read whole or not at all.
 */
int probe_conn_read(struct probe *probe, struct probe_cursor *cursor, uint64_t *cookies,
		    struct lp_conn *conns, uint32_t max);
int probe_proc_read(struct probe *probe, struct probe_cursor *cursor, uint32_t *tgids,
		    struct lp_proc *procs, uint32_t max);
int probe_conn_delete(struct probe *probe, uint64_t cookie);
/* Deletes these records in as few system calls as it can; a record already gone is skipped. */
void probe_conn_delete_many(struct probe *probe, const uint64_t *cookies, uint32_t n);
int probe_read_stats(struct probe *probe, uint64_t stats[LP_STAT__COUNT]);
/* TCP state changes lp_tcp_nested handled for an lp_tcp_state the kernel skipped (it was already
 * running on that CPU); 0 without watched ports. */
uint64_t probe_tcp_states_rescued(struct probe *probe);
/* Fills up to PROBE_MAX_PROGS entries; returns the count. */
int probe_prog_stats(struct probe *probe, struct probe_prog_stats *out);

#endif
