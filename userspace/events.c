// SPDX-License-Identifier: GPL-2.0
/* See events.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "events.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static struct events_entry ring[EVENTS_RING];
static uint64_t last_id; /* id of the newest entry; 0: none yet */
static bool stopped;
static int clients, max_clients = 16;
static void (*_Atomic on_publish)(void);

void events_init(int limit)
{
	pthread_mutex_lock(&lock);
	max_clients = limit;
	stopped = false;
	pthread_mutex_unlock(&lock);
}

void events_publish(const struct fleet_transition *transition, double at)
{
	struct events_entry *entry;

	pthread_mutex_lock(&lock);
	entry = &ring[(last_id + 1) % EVENTS_RING];
	entry->id = ++last_id;
	snprintf(entry->worker, sizeof(entry->worker), "%s", transition->worker);
	snprintf(entry->from, sizeof(entry->from), "%s",
		 transition->from < WS__COUNT ? fleet_state_name(transition->from) : "");
	snprintf(entry->to, sizeof(entry->to), "%s", fleet_state_name(transition->to));
	snprintf(entry->reason, sizeof(entry->reason), "%s", transition->reason);
	entry->at = at;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
	{
		void (*listener)(void) = on_publish;

		if (listener)
			listener();
	}
}

void events_set_listener(void (*listener)(void))
{
	on_publish = listener;
}

void events_stop(void)
{
	pthread_mutex_lock(&lock);
	stopped = true;
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

uint64_t events_last_id(void)
{
	uint64_t id;

	pthread_mutex_lock(&lock);
	id = last_id;
	pthread_mutex_unlock(&lock);
	return id;
}

void events_continue_after(uint64_t id)
{
	pthread_mutex_lock(&lock);
	if (id > last_id)
		last_id = id;
	pthread_mutex_unlock(&lock);
}

bool events_join(void)
{
	bool joined;

	pthread_mutex_lock(&lock);
	joined = clients < max_clients && !stopped;
	if (joined)
		clients++;
	pthread_mutex_unlock(&lock);
	return joined;
}

void events_leave(void)
{
	pthread_mutex_lock(&lock);
	clients--;
	pthread_mutex_unlock(&lock);
}

int events_next(uint64_t after, struct events_entry *out, int timeout_ms)
{
	struct timespec deadline;
	int ret = 0;

	/* A monotonic deadline: a step of the wall clock must not stall or spin a stream. */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	while (!stopped && last_id <= after && ret != ETIMEDOUT)
		ret = pthread_cond_clockwait(&changed, &lock, CLOCK_MONOTONIC, &deadline);
	if (stopped) {
		ret = -1;
	} else if (last_id > after) {
		uint64_t next = after + 1;

		if (last_id - after > EVENTS_RING)
			next = last_id - EVENTS_RING + 1;
		*out = ring[next % EVENTS_RING];
		ret = 1;
	} else {
		ret = 0;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

/* JSON string body: names and states are plain; reasons may hold quotes from comm names. */
static size_t escape(const char *in, char *out, size_t len)
{
	size_t used = 0;

	for (; *in && used + 7 < len; in++) {
		unsigned char c = *in;

		if (c == '"' || c == '\\') {
			out[used++] = '\\';
			out[used++] = c;
		} else if (c < 0x20) {
			used += snprintf(out + used, len - used, "\\u%04x", c);
		} else {
			out[used++] = c;
		}
	}
	out[used] = '\0';
	return used;
}

int events_format(const struct events_entry *entry, char *buf, size_t len)
{
	char reason[2 * FLEET_REASON_MAX + 8];

	escape(entry->reason, reason, sizeof(reason));
	return snprintf(buf, len,
			"id: %llu\nevent: transition\ndata: {\"id\":%llu,\"worker\":\"%s\","
			"\"from\":%s%s%s,\"to\":\"%s\",\"reason\":\"%s\",\"at\":%.3f}\n\n",
			(unsigned long long)entry->id, (unsigned long long)entry->id, entry->worker,
			entry->from[0] ? "\"" : "", entry->from[0] ? entry->from : "null",
			entry->from[0] ? "\"" : "", entry->to, reason, entry->at);
}
