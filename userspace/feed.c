// SPDX-License-Identifier: GPL-2.0
/* See feed.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "feed.h"
#include "log.h"

/* The pid a report binds: its own pid=, else its Unix sender, unless it speaks for a peer. */
static uint32_t pid_to_bind(const struct report *report, pid_t sender, enum ingest_via via)
{
	/* Over UDP a pid may be another host's or another pid namespace's: never bind it. */
	if (via == INGEST_UDP)
		return 0;
	if (report->pid)
		return report->pid;
	if (report->has_peer || via != INGEST_UNIX)
		return 0;
	return sender > 0 ? (uint32_t)sender : 0;
}

/* A new worker for this report; NULL (and counted) when it cannot be made. */
static struct worker *create(struct fleet *fleet, struct procwatch *procs, const char *name,
			     uint32_t pid, uint64_t dropped[REPORT_ERR__COUNT])
{
	struct worker *worker;
	char err[160];
	int ret;

	if (pid) {
		worker = fleet_find_live_pid(fleet, pid);
		/* Adopted by --watch-comm (or registered) under a default name: take the real one.
		 */
		if (worker && name[0] && worker->origin == ORIGIN_COMM &&
		    fleet_rename(fleet, worker, name) == 0)
			return worker;
		if (worker && !name[0])
			return worker;
		if (!worker) {
			ret = procwatch_register(procs, fleet, name, pid, ORIGIN_REPORT, &worker,
						 err, sizeof(err));
			if (ret == 0)
				return worker;
			if (ret == -ENOSPC) {
				dropped[REPORT_ERR_WORKER_LIMIT]++;
				return NULL;
			}
			/* Gone already (a bye sent just before exit): keep the name, without pid.
			 */
			if (ret != -ESRCH || !name[0]) {
				log_debug("report for %s (pid %u): %s", name, pid, err);
				dropped[REPORT_ERR_UNBOUND]++;
				return NULL;
			}
		}
	}
	if (!name[0]) {
		dropped[REPORT_ERR_MISSING_WORKER]++;
		return NULL;
	}
	ret = fleet_add(fleet, name, 0, 0, NULL, ORIGIN_REPORT, clock_mono_ns(), &worker);
	if (ret == -ENOSPC)
		dropped[REPORT_ERR_WORKER_LIMIT]++;
	else if (ret)
		dropped[REPORT_ERR_BAD_WORKER]++;
	return ret ? NULL : worker;
}

void feed_apply(struct fleet *fleet, struct procwatch *procs, struct sockwatch *sockets,
		const struct report *report, pid_t sender, enum ingest_via via,
		uint64_t dropped[REPORT_ERR__COUNT])
{
	uint32_t pid = pid_to_bind(report, sender, via);
	uint64_t now_ns = clock_mono_ns();
	struct worker *worker = NULL;
	char err[160];

	if (report->worker[0])
		worker = fleet_find(fleet, report->worker);
	else if (pid)
		worker = fleet_find_live_pid(fleet,
					     pid); /* sd_notify names the worker by its sender */
	if (!worker) {
		worker = create(fleet, procs, report->worker, pid, dropped);
		if (!worker)
			return;
	} else if (pid && worker->pid != pid && (!worker->pid || worker->has_exit) &&
		   !fleet_find_live_pid(fleet, pid)) {
		/* A restarted worker under its old name, or a name that gains its process. */
		if (procwatch_rebind(procs, fleet, worker, pid, err, sizeof(err)))
			log_debug("report for %s: %s", worker->name, err);
	}
	if (report->has_peer) {
		uint32_t id = worker->id;

		if (sockwatch_bind_peer(sockets, fleet, report->peer_family,
					report->peer_addr, report->peer_port, worker, now_ns))
			dropped[REPORT_ERR_WORKER_LIMIT]++;
		worker = fleet_find_id(fleet, id); /* binding may have removed a placeholder */
		if (!worker)
			return;
	}

	switch (report->kind) {
	case REPORT_EPISODE:
		output_record_episode(&worker->output, report, now_ns, clock_wall_s());
		fleet_set_bye(fleet, worker, false);
		break;
	case REPORT_HELLO:
		fleet_set_bye(fleet, worker, false);
		break;
	case REPORT_BYE:
		fleet_set_bye(fleet, worker, true);
		break;
	case REPORT_NOTIFY:
		if (report->ready)
			fleet_set_bye(fleet, worker, false);
		if (report->watchdog)
			output_record_heartbeat(&worker->output, now_ns);
		if (report->stopping)
			fleet_set_bye(fleet, worker, true);
		if (report->has_status) {
			worker->output.has_status = true;
			memcpy(worker->output.status, report->status, sizeof(report->status));
		}
		break;
	}
	fleet_touch(fleet);
	fleet_evaluate(fleet, worker, now_ns);
}
