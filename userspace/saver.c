// SPDX-License-Identifier: GPL-2.0
/* See saver.h. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"
#include "saver.h"
#include "state.h"

struct save_job {
	uint64_t sequence;
	struct snapshot *snapshot;
	struct sockwatch_binding *bindings;
	size_t n_bindings;
	uint64_t last_event_id;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER, finished = PTHREAD_COND_INITIALIZER;
static struct save_job *pending;
static uint64_t requested, done;
static int done_result;
static bool running, stopping;
static pthread_t thread;
static int event_fd = -1;
static char state_dir[4096];

static void job_free(struct save_job *job)
{
	if (!job)
		return;
	snapshot_release(job->snapshot);
	free(job->bindings);
	free(job);
}

static void *save_loop(void *arg)
{
	uint64_t one = 1;
	int err = privs_leave_nice();

	(void)arg;
	pthread_setname_np(pthread_self(), "lp-saver");
	/* Saves are bulk work: started by the loop's thread, they must not keep its priority. */
	if (err)
		log_warn("state saver: cannot leave the event loop's priority: %s", strerror(-err));
	pthread_mutex_lock(&lock);
	for (;;) {
		struct save_job *job = pending;
		int result;

		if (!job) {
			if (stopping)
				break;
			pthread_cond_wait(&work, &lock);
			continue;
		}
		pending = NULL;
		pthread_mutex_unlock(&lock);
		result = state_save(state_dir, job->snapshot, job->bindings, job->n_bindings,
				    job->last_event_id);
		pthread_mutex_lock(&lock);
		done = job->sequence;
		done_result = result;
		pthread_cond_broadcast(&finished);
		/* Cannot fail short of a full counter; the loop reads it on every wake anyway. */
		if (write(event_fd, &one, sizeof(one)) < 0)
			done_result = done_result ?: -errno;
		pthread_mutex_unlock(&lock);
		job_free(job);
		pthread_mutex_lock(&lock);
	}
	running = false;
	pthread_cond_broadcast(&finished);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int saver_start(const char *dir)
{
	int err;

	if (strlen(dir) >= sizeof(state_dir))
		return -ENAMETOOLONG;
	snprintf(state_dir, sizeof(state_dir), "%s", dir);
	event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (event_fd < 0)
		return -errno;
	stopping = false;
	running = true;
	err = pthread_create(&thread, NULL, save_loop, NULL);
	if (err) {
		running = false;
		close(event_fd);
		event_fd = -1;
		return -err;
	}
	return 0;
}

void saver_stop(void)
{
	bool joined;

	pthread_mutex_lock(&lock);
	joined = running;
	stopping = true;
	pthread_cond_signal(&work);
	pthread_mutex_unlock(&lock);
	if (joined)
		pthread_join(thread, NULL);
	if (event_fd >= 0)
		close(event_fd);
	event_fd = -1;
}

uint64_t saver_request(struct snapshot *snapshot, const struct sockwatch_binding *bindings,
		       size_t n_bindings, uint64_t last_event_id)
{
	struct save_job *job = calloc(1, sizeof(*job)), *replaced = NULL;
	uint64_t sequence = 0;

	if (job && n_bindings) {
		job->bindings = malloc(n_bindings * sizeof(*bindings));
		if (job->bindings)
			memcpy(job->bindings, bindings, n_bindings * sizeof(*bindings));
	}
	if (!job || (n_bindings && !job->bindings)) {
		free(job);
		return 0;
	}
	job->snapshot = snapshot;
	job->n_bindings = n_bindings;
	job->last_event_id = last_event_id;
	pthread_mutex_lock(&lock);
	if (running && !stopping) {
		job->sequence = sequence = ++requested;
		replaced = pending;
		pending = job;
		job = NULL;
		pthread_cond_signal(&work);
	}
	pthread_mutex_unlock(&lock);
	job_free(replaced);
	if (job) { /* not running: the snapshot stays the caller's */
		free(job->bindings);
		free(job);
	}
	return sequence;
}

int saver_wait(uint64_t sequence)
{
	int result;

	pthread_mutex_lock(&lock);
	while (done < sequence && running)
		pthread_cond_wait(&finished, &lock);
	result = done >= sequence ? done_result : -ESHUTDOWN;
	pthread_mutex_unlock(&lock);
	return result;
}

int saver_fd(void)
{
	return event_fd;
}

int saver_collect(void)
{
	uint64_t count;
	int result;

	if (event_fd >= 0 && read(event_fd, &count, sizeof(count)) < 0)
		count = 0; /* EAGAIN: nothing new since the last collect */
	pthread_mutex_lock(&lock);
	result = done_result;
	pthread_mutex_unlock(&lock);
	return result;
}
