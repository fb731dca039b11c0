/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reporting to liveprobed from C: header only, no library to link. A worker opens the ingest
 * socket once and reports each finished episode; liveprobed learns the worker's pid from the
 * kernel (SO_PASSCRED), so a worker that reports is watched without any other registration.
 *
 *	struct liveprobe lp;
 *	liveprobe_open(&lp, NULL);                      // $LIVEPROBE_SOCKET or the default path
 *	liveprobe_hello(&lp, "actor-7");
 *	for (;;) {
 *		run_one_episode();
 *		liveprobe_report_episode(&lp, "actor-7", liveprobe_now(), 1);
 *	}
 *	liveprobe_bye(&lp, "actor-7");                  // a clean stop is `exited`, not `crashed`
 *	liveprobe_close(&lp);
 *
 * Sends never stall the worker for long: when the daemon's queue is full a send waits for
 * room at most LIVEPROBE_RETRY_MS, and when the daemon restarted (the socket was bound anew) it
 * reconnects once; what still cannot be sent is dropped with -EAGAIN (or -ECONNREFUSED while
 * no daemon runs) and counted in lp.unsent. The wire format is the line protocol in README.md,
 * so any language can do the same with a plain datagram socket.
 */
#ifndef LIVEPROBE_H
#define LIVEPROBE_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LIVEPROBE_DEFAULT_SOCKET "/run/liveprobe/ingest.sock"
#define LIVEPROBE_LINE_MAX	 1024
#define LIVEPROBE_RETRY_MS	 20

struct liveprobe {
	int fd;
	char path[108];
	unsigned long unsent; /* reports that could not be sent (queue full, no daemon) */
};

static inline int liveprobe_connect(struct liveprobe *lp)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	strcpy(addr.sun_path, lp->path);
	return connect(lp->fd, (struct sockaddr *)&addr, sizeof(addr)) ? -errno : 0;
}

/* path NULL: $LIVEPROBE_SOCKET, else the default. 0 or -errno. */
static inline int liveprobe_open(struct liveprobe *lp, const char *path)
{
	int err;

	lp->unsent = 0;
	if (!path)
		path = getenv("LIVEPROBE_SOCKET");
	if (!path || !path[0])
		path = LIVEPROBE_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(lp->path))
		return -ENAMETOOLONG;
	strcpy(lp->path, path);
	lp->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (lp->fd < 0)
		return -errno;
	err = liveprobe_connect(lp);
	if (err) {
		close(lp->fd);
		lp->fd = -1;
	}
	return err;
}

static inline void liveprobe_close(struct liveprobe *lp)
{
	if (lp->fd >= 0)
		close(lp->fd);
	lp->fd = -1;
}

/* Wall-clock seconds, as completed_at wants them. */
static inline double liveprobe_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One or more protocol lines, newline-separated, in one datagram. 0 or -errno. */
static inline int liveprobe_send(struct liveprobe *lp, const char *lines)
{
	size_t len = strlen(lines);
	int err = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct pollfd room = {.fd = lp->fd, .events = POLLOUT};

		if (send(lp->fd, lines, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		err = errno;
		if (err == EAGAIN)
			poll(&room, 1, LIVEPROBE_RETRY_MS); /* the daemon drains in bursts */
		else if (err == ENOTCONN || err == ECONNREFUSED)
			liveprobe_connect(lp); /* a restarted daemon bound a new socket */
		else
			break;
	}
	lp->unsent++;
	return -err;
}

/* completed_at 0: the daemon uses the time it receives the report. */
static inline int liveprobe_report_episode(struct liveprobe *lp, const char *worker,
					   double completed_at, unsigned int count)
{
	char line[LIVEPROBE_LINE_MAX];
	int len;

	if (completed_at > 0)
		len = snprintf(line, sizeof(line), "episode worker=%s completed_at=%.6f count=%u",
			       worker, completed_at, count ? count : 1);
	else
		len = snprintf(line, sizeof(line), "episode worker=%s count=%u", worker,
			       count ? count : 1);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -E2BIG;
	return liveprobe_send(lp, line);
}

static inline int liveprobe_hello(struct liveprobe *lp, const char *worker)
{
	char line[LIVEPROBE_LINE_MAX];

	if ((size_t)snprintf(line, sizeof(line), "hello worker=%s", worker) >= sizeof(line))
		return -E2BIG;
	return liveprobe_send(lp, line);
}

static inline int liveprobe_bye(struct liveprobe *lp, const char *worker)
{
	char line[LIVEPROBE_LINE_MAX];

	if ((size_t)snprintf(line, sizeof(line), "bye worker=%s", worker) >= sizeof(line))
		return -E2BIG;
	return liveprobe_send(lp, line);
}

#endif /* LIVEPROBE_H */
