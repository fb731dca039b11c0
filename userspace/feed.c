// SPDX-License-Identifier: GPL-2.0
/* See feed.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "feed.h"
#include "log.h"
#include "proc.h"

/* The pid a report binds: its own pid=, else its Unix sender, unless it speaks for a peer. */
static uint32_t pid_to_bind(const struct report *report, const struct ingest_sender *sender)
{
	/* Over UDP a pid may be another host's or another pid namespace's: never bind it. */
	if (sender->via == INGEST_UDP)
		return 0;
	if (report->pid)
		return report->pid;
	if (report->has_peer || sender->via != INGEST_UNIX)
		return 0;
	return sender->pid > 0 ? (uint32_t)sender->pid : 0;
}

/*
 * The security model in one place. Root and authorised API writers may do anything. A UDP
 * sender speaks only for workers UDP created. A Unix reporter speaks for the workers its uid
 * owns, for the worker watching its own process, and may claim a worker UDP created (a verified
 * sender beats an unverified one).
 */
static bool may_speak_for(const struct ingest_sender *sender, const struct worker *worker)
{
	if (sender->admin)
		return true;
	if (sender->via == INGEST_UDP)
		return worker->authority == AUTHORITY_UDP;
	if (sender->pid > 0 && worker->pid == (uint32_t)sender->pid && !worker->has_exit)
		return true;
	if (worker->authority == AUTHORITY_UDP)
		return sender->uid != INGEST_NO_UID;
	return sender->uid != INGEST_NO_UID && worker->owner_uid == sender->uid;
}

static bool may_take_peer(void *ctx, const struct worker *holder)
{
	const struct ingest_sender *sender = ctx;

	return holder->origin == ORIGIN_PEER || may_speak_for(sender, holder);
}

/* Who a worker made by this sender belongs to. */
static void set_creator(struct fleet *fleet, struct worker *worker,
			const struct ingest_sender *sender)
{
	if (sender->via == INGEST_UDP)
		fleet_set_owner(fleet, worker, AUTHORITY_UDP, FLEET_NO_OWNER);
	else if (!sender->admin)
		fleet_set_owner(fleet, worker, AUTHORITY_UID, sender->uid);
}

/* A new worker for this report; NULL (and counted) when it cannot be made. */
static struct worker *create(struct fleet *fleet, struct procwatch *procs, const char *name,
			     uint32_t pid, const struct ingest_sender *sender,
			     uint64_t dropped[REPORT_ERR__COUNT])
{
	struct worker *worker;
	char err[160];
	int ret;

	if (pid) {
		worker = fleet_find_live_pid(fleet, pid);
		if (worker && !may_speak_for(sender, worker)) {
			dropped[REPORT_ERR_NOT_OWNER]++;
			return NULL;
		}
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
			if (ret == 0) {
				set_creator(fleet, worker, sender);
				return worker;
			}
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
	if (ret)
		return NULL;
	set_creator(fleet, worker, sender);
	return worker;
}

/* Why this sender may not send this report at all, before any worker is looked at. */
static enum report_error refuse_early(const struct report *report,
				     const struct ingest_sender *sender)
{
	if (sender->admin)
		return REPORT_OK;
	if (sender->via == INGEST_UDP && report->has_peer)
		return REPORT_ERR_UDP_FORBIDDEN;
	if (sender->via == INGEST_UNIX && sender->uid == INGEST_NO_UID)
		return REPORT_ERR_NOT_OWNER;
	return REPORT_OK;
}

/*
 * pid= binds the kernel's attention: only to the sender itself or what it started. The /proc
 * walk runs only when a binding could follow, not for every report of a bound worker.
 */
static bool may_bind_pid(const struct report *report, const struct ingest_sender *sender,
			 const struct worker *worker)
{
	if (sender->admin || !report->pid || sender->via == INGEST_UDP ||
	    report->pid == (uint32_t)sender->pid)
		return true;
	if (worker && worker->pid == report->pid && !worker->has_exit)
		return true; /* already watched: nothing is bound */
	return sender->pid > 0 && proc_is_self_or_descendant(report->pid, sender->pid);
}

/* Counted always, logged at most once a second per reason: reporters may be hostile. */
static void refuse(uint64_t dropped[REPORT_ERR__COUNT], enum report_error reason,
		   const struct report *report, const struct ingest_sender *sender)
{
	dropped[reason]++;
	log_limited(reason, "report for %s from pid %d uid %d refused: %s",
		    report->worker[0] ? report->worker : "-", (int)sender->pid, (int)sender->uid,
		    report_error_name(reason));
}

/*
 * MAINPID=: the service's main process is another one now (a wrapper that started the real
 * daemon). The worker follows it, under the same rule as pid=: the sender itself or one of its
 * descendants, unless the sender is an admin.
 */
static void rebind_main_process(struct procwatch *procs, struct fleet *fleet,
				struct worker *worker, const struct report *report,
				const struct ingest_sender *sender)
{
	struct report as_pid = {.pid = report->mainpid};
	char err[160];

	if (worker->pid == report->mainpid && !worker->has_exit)
		return;
	if (sender->via == INGEST_UDP || !may_bind_pid(&as_pid, sender, NULL)) {
		log_limited(REPORT_ERR_PID_NOT_SENDER,
			    "MAINPID=%u for %s from pid %d refused: not the sender or its child",
			    report->mainpid, worker->name, (int)sender->pid);
		return;
	}
	if (fleet_find_live_pid(fleet, report->mainpid))
		return; /* already another worker's process */
	if (procwatch_rebind(procs, fleet, worker, report->mainpid, err, sizeof(err)))
		log_debug("MAINPID=%u for %s: %s", report->mainpid, worker->name, err);
}

void feed_apply(struct fleet *fleet, struct procwatch *procs, struct sockwatch *sockets,
		struct cgwatch *cgroups, const struct report *report,
		const struct ingest_sender *sender, uint64_t dropped[REPORT_ERR__COUNT])
{
	enum report_error refused = refuse_early(report, sender);
	uint32_t pid = pid_to_bind(report, sender);
	uint64_t now_ns = sender->received_ns;
	struct worker *worker = NULL;
	bool inside_cgroup = false;
	char err[160];

	/* A time a day away from ours is no clock skew but garbage, and would poison the rates. */
	if (!refused && report->has_completed_at &&
	    fabs(report->completed_at - clock_rating_at_s(now_ns)) > FEED_COMPLETED_AT_WINDOW_S)
		refused = REPORT_ERR_BAD_COMPLETED_AT;
	if (refused) {
		refuse(dropped, refused, report, sender);
		return;
	}
	if (report->worker[0])
		worker = fleet_find(fleet, report->worker);
	else if (pid)
		worker = fleet_find_live_pid(fleet, pid); /* sd_notify names it by its sender */
	/* A process of a watched cgroup: its cgroup is looked up only when nothing else decided. */
	if (sender->via == INGEST_UNIX && sender->pid > 0 && cgroups->n_groups &&
	    !sender->pidfd_lost &&
	    (worker ? worker->origin == ORIGIN_CGROUP && !may_speak_for(sender, worker)
		    : report->kind == REPORT_NOTIFY && !report->worker[0])) {
		struct worker *group = cgwatch_worker_of(cgroups, fleet, sender->pid,
							 sender->has_pidfd ? sender->pidfd : -1);

		if (group && (!worker || group == worker)) {
			worker = group;
			inside_cgroup = true;
		}
	}
	if (worker && !inside_cgroup && !may_speak_for(sender, worker))
		refused = sender->via == INGEST_UDP ? REPORT_ERR_UDP_FORBIDDEN
						    : REPORT_ERR_NOT_OWNER;
	else if (!may_bind_pid(report, sender, worker))
		refused = REPORT_ERR_PID_NOT_SENDER;
	if (refused) {
		refuse(dropped, refused, report, sender);
		return;
	}
	if (!worker) {
		worker = create(fleet, procs, report->worker, pid, sender, dropped);
		if (!worker)
			return;
	} else {
		/* A verified reporter claims what an unverified one made. */
		if (worker->authority == AUTHORITY_UDP && sender->via != INGEST_UDP)
			set_creator(fleet, worker, sender);
		if (pid && worker->pid != pid && (!worker->pid || worker->has_exit) &&
		    !fleet_find_live_pid(fleet, pid)) {
			/* A restarted worker under its old name, or a name gaining its process. */
			if (procwatch_rebind(procs, fleet, worker, pid, err, sizeof(err)))
				log_debug("report for %s: %s", worker->name, err);
		}
	}
	if (report->has_peer) {
		uint32_t id = worker->id;
		int ret = sockwatch_bind_peer(sockets, fleet, report->peer_family,
					      report->peer_addr, report->peer_port, worker,
					      may_take_peer, (void *)sender, now_ns);

		if (ret == -EPERM)
			dropped[REPORT_ERR_NOT_OWNER]++;
		else if (ret)
			dropped[REPORT_ERR_WORKER_LIMIT]++;
		worker = fleet_find_id(fleet, id); /* binding may have removed a placeholder */
		if (!worker || ret == -EPERM)
			return;
	}
	switch (report->kind) {
	case REPORT_EPISODE:
		output_record_episode(&worker->output, report, now_ns, clock_rating_at_s(now_ns));
		fleet_set_bye(fleet, worker, false);
		fleet_set_expects_output(fleet, worker, true, false);
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
		if (report->watchdog) {
			output_record_heartbeat(&worker->output, now_ns);
			fleet_set_expects_output(fleet, worker, true, false);
		}
		if (report->mainpid)
			rebind_main_process(procs, fleet, worker, report, sender);
		if (report->stopping)
			fleet_set_bye(fleet, worker, true);
		if (report->has_status) {
			struct worker_extras *extras = fleet_extras_edit(fleet, worker);

			if (extras) {
				extras->has_status = true;
				memcpy(extras->status, report->status, sizeof(report->status));
			}
		}
		break;
	}
	fleet_touch(fleet, worker);
	fleet_evaluate(fleet, worker, now_ns);
}
