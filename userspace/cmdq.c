// SPDX-License-Identifier: GPL-2.0
/* See cmdq.h. */
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cmdq.h"

int cmdq_init(struct cmdq *queue)
{
	pthread_mutex_init(&queue->lock, NULL);
	pthread_cond_init(&queue->answered, NULL);
	queue->head = queue->tail = NULL;
	queue->stopped = false;
	for (int reason = 0; reason < REPORT_ERR__COUNT; reason++)
		atomic_init(&queue->refused[reason], 0);
	queue->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return queue->wake_fd < 0 ? -errno : 0;
}

void cmdq_destroy(struct cmdq *queue)
{
	if (queue->wake_fd >= 0)
		close(queue->wake_fd);
	pthread_cond_destroy(&queue->answered);
	pthread_mutex_destroy(&queue->lock);
}

int cmdq_submit(struct cmdq *queue, struct cmd *cmd)
{
	uint64_t one = 1;
	int err = 0;

	cmd->done = false;
	cmd->next = NULL;
	cmd->result = 0;
	cmd->error[0] = '\0';
	cmd->accepted = 0;
	cmd->durable_after = 0;
	pthread_mutex_lock(&queue->lock);
	if (queue->stopped) {
		pthread_mutex_unlock(&queue->lock);
		return -ESHUTDOWN;
	}
	if (queue->tail)
		queue->tail->next = cmd;
	else
		queue->head = cmd;
	queue->tail = cmd;
	if (write(queue->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		err = -errno;
	while (!err && !cmd->done && !queue->stopped)
		pthread_cond_wait(&queue->answered, &queue->lock);
	if (!cmd->done && !err)
		err = -ESHUTDOWN;
	pthread_mutex_unlock(&queue->lock);
	return err;
}

void cmdq_drain(struct cmdq *queue, void (*handle)(void *ctx, struct cmd *cmd),
		void (*settle)(void *ctx), void *ctx)
{
	struct cmd *cmd, *first;
	uint64_t count;

	if (read(queue->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&queue->lock);
	first = queue->head;
	queue->head = queue->tail = NULL;
	pthread_mutex_unlock(&queue->lock);
	if (!first)
		return;

	for (cmd = first; cmd; cmd = cmd->next)
		handle(ctx, cmd);
	settle(ctx);
	pthread_mutex_lock(&queue->lock);
	/* A waiter may return and free its command as soon as done is set: read next first. */
	for (cmd = first; cmd;) {
		struct cmd *next = cmd->next;

		cmd->done = true;
		cmd = next;
	}
	pthread_cond_broadcast(&queue->answered);
	pthread_mutex_unlock(&queue->lock);
}

void cmdq_stop(struct cmdq *queue)
{
	pthread_mutex_lock(&queue->lock);
	queue->stopped = true;
	pthread_cond_broadcast(&queue->answered);
	pthread_mutex_unlock(&queue->lock);
}
