// SPDX-License-Identifier: GPL-2.0
/* See lanes.h. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "lanes.h"
#include "log.h"

#define LANES_SCAN_MS	  100 /* how late a deadline or a paused listener may be looked at */
#define LANES_EPOLL_BATCH 64
#define LANES_KEY_STOP	  UINT64_MAX
#define LANES_KEY_LISTEN  (UINT64_MAX - 1)

struct waiting {
	int fd; /* -1: a free slot */
	socklen_t addr_len;
	uint64_t accepted_ns;
	struct sockaddr_storage addr;
};

struct lanes {
	struct lanes_config config;
	int epoll_fd, stop_fd;
	pthread_t thread;
	bool has_thread;
	bool listening;		  /* the listener is in the epoll set */
	uint64_t paused_until_ns; /* out of descriptors: accept again after this */
	bool pause_logged;	  /* once per run out of descriptors, not every retry */
	struct waiting *waiting;
	unsigned int *free_slots, free_count;
};

static bool same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return true; /* not an IP peer: they all share one budget */
}

static unsigned int waiting_from(const struct lanes *lanes, const struct sockaddr_storage *addr)
{
	unsigned int count = 0;

	for (unsigned int slot = 0; slot < lanes->config.max_waiting; slot++)
		count += lanes->waiting[slot].fd >= 0 &&
			 same_client(&lanes->waiting[slot].addr, addr);
	return count;
}

/* While every slot is taken, or descriptors ran out, new connections wait in the backlog. */
static void set_listening(struct lanes *lanes, bool on)
{
	struct epoll_event event = {.events = EPOLLIN, .data.u64 = LANES_KEY_LISTEN};

	if (on == lanes->listening)
		return;
	if (!epoll_ctl(lanes->epoll_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, lanes->config.listen_fd,
		       &event))
		lanes->listening = on;
}

static void free_slot(struct lanes *lanes, unsigned int slot)
{
	lanes->waiting[slot].fd = -1;
	lanes->free_slots[lanes->free_count++] = slot;
}

static void drop(struct lanes *lanes, unsigned int slot)
{
	close(lanes->waiting[slot].fd); /* also takes it out of the epoll set */
	free_slot(lanes, slot);
}

static void accept_all(struct lanes *lanes)
{
	while (lanes->free_count) {
		struct epoll_event event = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET};
		struct sockaddr_storage addr;
		socklen_t addr_len = sizeof(addr);
		unsigned int slot;
		int fd = accept4(lanes->config.listen_fd, (struct sockaddr *)&addr, &addr_len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				if (!lanes->pause_logged)
					log_warn("HTTP: cannot accept connections: %s; retrying "
						 "every %d ms",
						 strerror(errno), LANES_SCAN_MS);
				lanes->pause_logged = true;
				lanes->paused_until_ns =
					clock_mono_ns() + LANES_SCAN_MS * 1000000ull;
				set_listening(lanes, false);
			}
			return; /* EAGAIN: none left; anything else is the client's, and gone */
		}
		lanes->pause_logged = false;
		/* The scan is needed only once that many wait in all. */
		if (lanes->config.max_waiting - lanes->free_count >= lanes->config.per_client &&
		    waiting_from(lanes, &addr) >= lanes->config.per_client) {
			close(fd);
			continue;
		}
		slot = lanes->free_slots[--lanes->free_count];
		lanes->waiting[slot] = (struct waiting){
			.fd = fd,
			.addr_len = addr_len,
			.accepted_ns = clock_mono_ns(),
			.addr = addr,
		};
		event.data.u64 = slot;
		if (epoll_ctl(lanes->epoll_fd, EPOLL_CTL_ADD, fd, &event))
			drop(lanes, slot);
	}
	set_listening(lanes, false);
}

/* Edge-triggered: a head too short to decide is looked at again when more bytes come. */
static void read_head(struct lanes *lanes, unsigned int slot, uint32_t events)
{
	struct waiting *waiting = &lanes->waiting[slot];
	char head[ROUTE_LANE_DECIDES];
	ssize_t got = recv(waiting->fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
	enum route_lane lane;
	struct waiting handed;

	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0) {
		drop(lanes, slot); /* gone before it asked for anything */
		return;
	}
	lane = route_lane_of(head, got);
	if (lane == ROUTE_LANE_UNDECIDED) {
		if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
		lane = ROUTE_LANE_POOL; /* no more bytes will come: the pool answers what there is
					 */
	}
	handed = *waiting;
	epoll_ctl(lanes->epoll_fd, EPOLL_CTL_DEL, handed.fd, NULL);
	free_slot(lanes, slot);
	lanes->config.hand(lanes->config.ctx, lane, handed.fd, (struct sockaddr *)&handed.addr,
			   handed.addr_len, handed.accepted_ns);
}

static void cut_late(struct lanes *lanes, uint64_t now_ns)
{
	uint64_t deadline_ns = lanes->config.deadline_s * 1000000000ull;

	if (lanes->free_count == lanes->config.max_waiting)
		return;
	for (unsigned int slot = 0; slot < lanes->config.max_waiting; slot++)
		if (lanes->waiting[slot].fd >= 0 &&
		    now_ns > lanes->waiting[slot].accepted_ns + deadline_ns)
			drop(lanes, slot);
}

static void *lanes_run(void *arg)
{
	struct lanes *lanes = arg;
	uint64_t next_scan_ns = 0;

	pthread_setname_np(pthread_self(), "lp-lanes");
	for (;;) {
		struct epoll_event events[LANES_EPOLL_BATCH];
		bool idle = lanes->free_count == lanes->config.max_waiting && lanes->listening;
		int n = epoll_wait(lanes->epoll_fd, events, LANES_EPOLL_BATCH,
				   idle ? -1 : LANES_SCAN_MS);
		uint64_t now_ns = clock_mono_ns();

		if (n < 0 && errno != EINTR) {
			log_error("HTTP: the accept thread's epoll failed: %s; it stops",
				  strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			uint64_t key = events[i].data.u64;

			if (key == LANES_KEY_STOP)
				return NULL;
			if (key == LANES_KEY_LISTEN)
				accept_all(lanes);
			else if (lanes->waiting[key].fd >= 0)
				read_head(lanes, key, events[i].events);
		}
		if (now_ns >= next_scan_ns) {
			cut_late(lanes, now_ns);
			next_scan_ns = now_ns + LANES_SCAN_MS * 1000000ull;
		}
		if (lanes->free_count && now_ns >= lanes->paused_until_ns)
			set_listening(lanes, true);
	}
}

int lanes_start(const struct lanes_config *config, struct lanes **out)
{
	struct epoll_event stop = {.events = EPOLLIN, .data.u64 = LANES_KEY_STOP};
	struct lanes *lanes;
	int flags, err;

	*out = NULL;
	lanes = calloc(1, sizeof(*lanes));
	if (!lanes)
		return -ENOMEM;
	lanes->config = *config;
	lanes->epoll_fd = lanes->stop_fd = -1;
	lanes->waiting = calloc(config->max_waiting, sizeof(*lanes->waiting));
	lanes->free_slots = calloc(config->max_waiting, sizeof(*lanes->free_slots));
	if (!lanes->waiting || !lanes->free_slots) {
		err = -ENOMEM;
		log_error("HTTP: no memory for %u waiting connections", config->max_waiting);
		goto cleanup;
	}
	for (unsigned int slot = config->max_waiting; slot-- > 0;)
		free_slot(lanes, slot);
	flags = fcntl(config->listen_fd, F_GETFL);
	lanes->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	lanes->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (flags < 0 || fcntl(config->listen_fd, F_SETFL, flags | O_NONBLOCK) ||
	    lanes->epoll_fd < 0 || lanes->stop_fd < 0 ||
	    epoll_ctl(lanes->epoll_fd, EPOLL_CTL_ADD, lanes->stop_fd, &stop)) {
		err = -errno;
		log_error("HTTP: cannot set up the accept thread: %s", strerror(errno));
		goto cleanup;
	}
	set_listening(lanes, true);
	if (!lanes->listening) {
		err = -errno;
		log_error("HTTP: cannot watch the listening socket: %s", strerror(errno));
		goto cleanup;
	}
	err = -pthread_create(&lanes->thread, NULL, lanes_run, lanes);
	if (err) {
		log_error("HTTP: cannot start the accept thread: %s", strerror(-err));
		goto cleanup;
	}
	lanes->has_thread = true;
	*out = lanes;
	return 0;

cleanup:
	lanes_stop(lanes);
	return err;
}

void lanes_stop(struct lanes *lanes)
{
	if (!lanes)
		return;
	if (lanes->has_thread) {
		eventfd_write(lanes->stop_fd, 1);
		pthread_join(lanes->thread, NULL);
	}
	if (lanes->waiting && lanes->free_slots) /* else no slot was ever marked free */
		for (unsigned int slot = 0; slot < lanes->config.max_waiting; slot++)
			if (lanes->waiting[slot].fd >= 0)
				close(lanes->waiting[slot].fd);
	if (lanes->epoll_fd >= 0)
		close(lanes->epoll_fd);
	if (lanes->stop_fd >= 0)
		close(lanes->stop_fd);
	free(lanes->waiting);
	free(lanes->free_slots);
	free(lanes);
}
