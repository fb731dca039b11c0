/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Commands from HTTP threads to the event loop. Only the loop changes state, so a request that
 * changes something (register, forget, reports) is queued here, the loop is woken through an
 * eventfd, and the request's thread waits until the loop has answered it. The loop answers with
 * a result (0 or -errno, and a sentence for people), never with HTTP: status codes and bodies
 * are the HTTP module's business. Answers are released only after the loop has published a
 * snapshot that holds their effect, so a read right after a write sees it.
 *
 * Errors: cmdq_submit returns -ESHUTDOWN once the loop stopped; the command's own outcome
 * is its result field, never a return value of the queue.
 */
#ifndef LP_CMDQ_H
#define LP_CMDQ_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "report.h"

enum cmd_kind {
	CMD_ADD_WORKER,
	CMD_FORGET_WORKER,
	CMD_REPORTS, /* a POST /api/v1/episodes batch */
};

struct cmd {
	enum cmd_kind kind;
	char name[WORKER_NAME_MAX + 1];
	int64_t pid;
	int expects_output; /* CMD_ADD_WORKER: 1 or 0 as given, -1 not given */
	struct report *reports;
	size_t n_reports;
	uint64_t dropped[REPORT_ERR__COUNT]; /* found by the HTTP thread, then by the loop */
	/* answer, filled by the loop */
	int result;	   /* 0 or -errno: -EINVAL, -EEXIST, -ENOENT, -ENOSPC, -ESRCH ... */
	char error[160];   /* why, for people, when result < 0 */
	uint64_t accepted; /* CMD_REPORTS: reports applied */
	uint64_t durable_after; /* the state save its answer waits for (saver_wait); 0: none */
	/* queue bookkeeping */
	bool done;
	struct cmd *next;
};

struct cmdq {
	/* Writes refused before they were queued (no authority), by reason; any thread adds. */
	_Atomic uint64_t refused[REPORT_ERR__COUNT];
	pthread_mutex_t lock;
	pthread_cond_t answered;
	struct cmd *head, *tail;
	int wake_fd;
	bool stopped;
};

int cmdq_init(struct cmdq *queue);
void cmdq_destroy(struct cmdq *queue);
/* Blocks until the loop answered; returns -ESHUTDOWN once the loop has stopped. */
int cmdq_submit(struct cmdq *queue, struct cmd *cmd);
/* Loop side: handles every queued command, calls settle() once (publish what they changed),
 * then releases their waiters. */
void cmdq_drain(struct cmdq *queue, void (*handle)(void *ctx, struct cmd *cmd),
		void (*settle)(void *ctx), void *ctx);
/* Counts a write refused before it reached the queue. */
static inline void cmdq_count_refusal(struct cmdq *queue, enum report_error reason)
{
	atomic_fetch_add(&queue->refused[reason], 1);
}
/* Refuses new commands and releases every waiter. */
void cmdq_stop(struct cmdq *queue);

#endif
