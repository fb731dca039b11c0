/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Command line of liveprobed: every option, its default and its limit. Parsing is pure (no I/O
 * but the help text), so it is unit tested; validation that needs the system (is the pid alive,
 * is the port free) happens where the resource is used.
 *
 * Errors: OPTS_ERROR with one sentence naming the option (and config line) in err.
 */
#ifndef LP_OPTS_H
#define LP_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "worker_name.h"

#define OPTS_MAX_WATCH_PIDS	   1024
#define OPTS_MAX_WATCH_COMMS	   64
#define OPTS_DEFAULT_LISTEN	   "127.0.0.1:9476"
#define OPTS_DEFAULT_PIN_ROOT	   "/sys/fs/bpf/liveprobe"
#define OPTS_DEFAULT_INGEST	   "/run/liveprobe/ingest.sock"
#define OPTS_DEFAULT_STATE_DIR	   "/var/lib/liveprobe"
#define OPTS_DEFAULT_API_SOCKET	   "/run/liveprobe/api.sock"
#define OPTS_DEFAULT_RINGBUF_BYTES (1u << 20)
#define OPTS_DEFAULT_MAX_WORKERS   16384
#define OPTS_DEFAULT_RECONCILE_MS  1000
#define OPTS_MAX_WATCH_PORTS	   64 /* lp_ports' size */
#define OPTS_DEFAULT_MAX_CONNS	   16384
#define OPTS_DEFAULT_LOOP_NICE	   -10

struct opts_watch_pid {
	char name[WORKER_NAME_MAX + 1]; /* empty: COMM-PID */
	int32_t pid;
	bool expects_output; /* ",expects-output": judged on its reports from the start */
};

#define OPTS_MAX_WATCH_CGROUPS	   16
#define OPTS_DEFAULT_FORGET_ADOPTED_S 600 /* --watch-comm and cgroup workers, unless set */

struct opts {
	char listen_host[64];
	uint16_t listen_port;
	char pin_root[256];
	char ingest_path[108]; /* sun_path */
	char api_socket[108];  /* the control socket; empty: none */
	char api_group[32];    /* may write through the control socket; empty: root only */
	char api_token_file[256]; /* empty: no writes over TCP */
	char state_dir[256];
	uint32_t ringbuf_bytes;
	uint32_t max_workers;
	uint32_t reconcile_ms;
	uint32_t http_connections;
	uint32_t http_per_client;
	int log_level; /* enum log_level: --log-level, --verbose is debug */
	int n_watch_pids;
	struct opts_watch_pid watch_pids[OPTS_MAX_WATCH_PIDS];
	int n_watch_comms;
	char watch_comms[OPTS_MAX_WATCH_COMMS][16];
	int n_watch_ports;
	uint16_t watch_ports[OPTS_MAX_WATCH_PORTS];
	bool group_by_peer_ip;
	bool all_netns;
	uint32_t max_connections;
	/* --keepalive IDLE,INTVL,CNT in seconds; idle 0: off */
	int32_t keepalive_idle_s, keepalive_intvl_s, keepalive_cnt;
	char ingest_udp_host[64]; /* empty: no UDP ingest */
	char ingest_group[32];	  /* empty: the daemon's own group owns the ingest socket */
	uint16_t ingest_udp_port;
	double stale_after_s;	   /* 0: adaptive */
	bool bpf_stats;		   /* hold kernel.bpf_stats_enabled on while running */
	uint32_t expected_workers; /* exported for "fewer producing than expected" alerts */
	char on_transition[1024];  /* empty: no hook */
	uint32_t sse_clients;
	int32_t loop_nice; /* the event loop thread's nice, -20..0; 0: as started */
	double start_grace_s;
	bool no_sandbox; /* keep every capability, no seccomp filter: for debugging only */
	bool reset_pins; /* drop what a previous daemon left pinned, instead of taking it over */
	bool unload;	 /* remove the pins (so every program detaches) and exit */
	bool dump_maps;	 /* print the pinned maps decoded and exit */
	uint32_t crashloop_count; /* --crash-loop COUNT,SECONDS */
	double crashloop_window_s;
	double forget_after_s; /* dead or stopped workers removed after this; 0: not set */
	int n_watch_cgroups;
	char watch_cgroups[OPTS_MAX_WATCH_CGROUPS][256]; /* as given: a path or UNIT.service */
	bool watch_cgroup_is_unit[OPTS_MAX_WATCH_CGROUPS];
};

enum opts_result {
	OPTS_RUN,   /* options are valid: start the daemon */
	OPTS_EXIT,  /* --help or --version was printed */
	OPTS_ERROR, /* err holds one line naming the bad option */
};

void opts_defaults(struct opts *opts);
enum opts_result opts_parse(int argc, char **argv, struct opts *opts, char *err, size_t err_len);
/* Splits "HOST:PORT" or "[V6]:PORT"; returns 0 or -1. */
int opts_parse_hostport(const char *text, char *host, size_t host_len, uint16_t *port);

#endif
