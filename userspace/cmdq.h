/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Commands from HTTP threads to the event loop. Only the loop changes state, so a request that
 * changes something (register, forget) is queued here, the loop is woken through an eventfd,
 * and the request's thread waits until the loop has answered it.
 */
#ifndef LP_CMDQ_H
#define LP_CMDQ_H

#include <pthread.h>
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
	char name[64];
	int64_t pid;
	struct report *reports;
	size_t n_reports;
	uint64_t dropped[REPORT_ERR__COUNT]; /* found by the HTTP thread, then by the loop */
	/* answer, filled by the loop */
	int http_status;
	char *body; /* malloc'd JSON */
	/* queue bookkeeping */
	bool done;
	struct cmd *next;
};

struct cmdq {
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
/* Loop side: answers every queued command with handle(). */
void cmdq_drain(struct cmdq *queue, void (*handle)(void *ctx, struct cmd *cmd), void *ctx);
/* Refuses new commands and releases every waiter. */
void cmdq_stop(struct cmdq *queue);

#endif
