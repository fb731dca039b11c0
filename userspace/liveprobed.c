// SPDX-License-Identifier: GPL-2.0
/*
 * liveprobed: parses the options, starts the event loop (which loads the probe) and the HTTP
 * server, and runs until SIGINT or SIGTERM. Start-up errors are one line on stderr and exit 1.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "events.h"
#include "hook.h"
#include "dump.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "opts.h"
#include "privs.h"
#include "probe.h"
#include "systemd.h"

/* One pidfd per watched process: the soft limit goes up to the hard one, whatever it was. */
static void raise_fd_limit(uint32_t max_workers)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit))
		return;
	limit.rlim_cur = limit.rlim_max;
	setrlimit(RLIMIT_NOFILE, &limit);
	getrlimit(RLIMIT_NOFILE, &limit);
	if (limit.rlim_cur < max_workers + 256ul)
		log_warn("open-file limit %lu is below --max-workers %u + 256: past %lu pidfds, "
			 "registrations answer 503 and adopted processes are watched by the kernel "
			 "map alone",
			 (unsigned long)limit.rlim_cur, max_workers,
			 (unsigned long)(limit.rlim_cur > 256 ? limit.rlim_cur - 256 : 0));
}

static void *serve_http(void *server)
{
	int err = privs_leave_nice();

	if (err) {
		log_error("HTTP threads cannot leave the event loop's priority: %s",
			  strerror(-err));
		return (void *)(intptr_t)err;
	}
	return (void *)(intptr_t)http_serve(server);
}

/* The event-stream thread starts from the loop's thread and shares its nice: a transition
 * is only out when a stream has sent it. The other HTTP threads start from a thread of their
 * own, so they inherit the daemon's nice. */
static int start_http(struct http_server *server)
{
	pthread_t starter;
	void *result;
	int err = http_serve_events(server);

	if (err)
		return err;
	err = pthread_create(&starter, NULL, serve_http, server);

	if (err) {
		log_error("cannot start the HTTP server: %s", strerror(err));
		return -err;
	}
	pthread_join(starter, &result);
	return (int)(intptr_t)result;
}

int main(int argc, char **argv)
{
	static struct opts opts;
	static struct loop loop;
	struct http_server *http = NULL;
	struct http_config http_config;
	char err[256];
	int ret = 1;

	opts_defaults(&opts);
	switch (opts_parse(argc, argv, &opts, err, sizeof(err))) {
	case OPTS_EXIT:
		return 0;
	case OPTS_ERROR:
		fprintf(stderr, "liveprobed: %s\n", err);
		return 1;
	case OPTS_RUN:
		break;
	}
	log_init("liveprobed", opts.log_level);
	if (opts.dump_maps)
		return dump_maps(opts.pin_root, stdout) ? 1 : 0;
	if (opts.unload) {
		ret = probe_unload(opts.pin_root);
		if (ret < 0) {
			fprintf(stderr, "liveprobed: --unload %s: %s\n", opts.pin_root,
				ret == -EBUSY ? "a running liveprobed uses it; stop it first"
					      : strerror(-ret));
			return 1;
		}
		printf("liveprobed: removed %d pins under %s; nothing of liveprobe stays attached\n",
		       ret, opts.pin_root);
		return 0;
	}
	/*
	 * The event loop must not wait on a lock held by a thread of lower priority. glibc's arena
	 * locks have no priority inheritance, and with two arenas (to bound what renders kept) the
	 * loop shared the main arena with HTTP threads and the renderer, whose malloc_trim after
	 * each large body held every arena's lock for milliseconds: a uprobe on
	 * __lll_lock_wait_private saw the loop wait 1-16 ms. Now a block of 1 MiB or more (a
	 * body, the fleet's arrays) is a mapping of its own, returned when freed, so nothing needs
	 * a trim; and with an arena per thread (fewer than 32 threads) the main arena is the
	 * loop's, met by others only when they free what the loop allocated.
	 */
	mallopt(M_ARENA_MAX, 32);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(opts.max_workers);
	events_init(opts.sse_clients);
	if (hook_init(opts.on_transition, opts.max_workers)) {
		fprintf(stderr, "liveprobed: --on-transition: out of memory for %u workers\n",
			opts.max_workers);
		return 1;
	}

	if (loop_init(&loop, &opts))
		goto cleanup;
	http_config = (struct http_config){
		.host = opts.listen_host,
		.port = opts.listen_port,
		.max_connections = opts.http_connections,
		.per_client = opts.http_per_client,
		.commands = &loop.commands,
		.token_file = opts.api_token_file,
		.api_socket = opts.api_socket,
		.api_group = opts.api_group,
	};
	if (http_open(&http_config, &http))
		goto cleanup;
	/* The loop's priority while it may still be raised; the threads started from here on
	 * are started by serve_http, at the daemon's own. */
	if (opts.loop_nice) {
		int err = privs_take_nice(opts.loop_nice);

		if (err)
			log_warn("--loop-nice %d: %s (it needs CAP_SYS_NICE or LimitNICE=); "
				 "the event loop keeps the daemon's priority",
				 opts.loop_nice, strerror(-err));
	}
	/* Everything privileged is done: the probe is attached, every socket is open. */
	if (!opts.no_sandbox && privs_drop())
		goto cleanup;
	if (start_http(http))
		goto cleanup;
	log_info("listening on %s:%u, watching %zu workers", opts.listen_host, opts.listen_port,
		 loop.fleet.count);
	/* Type=notify: ready once the probe is attached and the state restored. */
	systemd_notify("READY=1");
	ret = loop_run(&loop);
	systemd_notify("STOPPING=1");
cleanup:
	/* Stop the loop's queue and the event streams first so HTTP threads waiting on them
	 * return. */
	cmdq_stop(&loop.commands);
	events_stop();
	http_stop(http);
	loop_destroy(&loop);
	return ret ? 1 : 0;
}
