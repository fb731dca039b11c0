// SPDX-License-Identifier: GPL-2.0
/* See ingest.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "ingest.h"
#include "log.h"
#include "paths.h"
#include "systemd.h"

#define RCVBUF_BYTES (4 << 20)

/* Linux 6.5 (SO_PASSPIDFD, SCM_PIDFD); bookworm's headers are older. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

/*
 * A Unix datagram socket queues at most net.unix.max_dgram_qlen datagrams (10 by default)
 * whatever its buffer, so ordinary load makes honest non-blocking reporters drop. Raise it
 * (it is per network namespace and read when a socket is made) before binding ours.
 */
static void raise_dgram_queue(void)
{
	const char *path = "/proc/sys/net/unix/max_dgram_qlen";
	FILE *file = fopen(path, "re");
	int qlen = 0;

	if (file) {
		if (fscanf(file, "%d", &qlen) != 1)
			qlen = 0;
		fclose(file);
	}
	if (qlen >= INGEST_QUEUE_MIN)
		return;
	file = fopen(path, "we");
	if (!file || fprintf(file, "%d\n", INGEST_QUEUE_MIN) < 0 || fclose(file)) {
		log_warn("net.unix.max_dgram_qlen is %d and cannot be raised to %d: under load, "
			 "non-blocking reporters will see EAGAIN (set it with sysctl)",
			 qlen, INGEST_QUEUE_MIN);
		return;
	}
	log_info("raised net.unix.max_dgram_qlen from %d to %d for the ingest socket", qlen,
		 INGEST_QUEUE_MIN);
}

static void grow_rcvbuf(int fd)
{
	int bytes = RCVBUF_BYTES;

	/* FORCE passes rmem_max for root; without privilege the plain one is the best we get. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

static int open_unix(struct ingest *ingest, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int one = 1, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("--ingest %s: longer than %zu bytes", path, sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	/* Passed by systemd (liveprobed.socket): it outlives the daemon, and reports sent while
	 * the daemon restarts wait in its queue. Its mode and group are the socket unit's. */
	ingest->unix_fd = systemd_listen_fd(SOCK_DGRAM, path, 0);
	if (ingest->unix_fd >= 0) {
		int flags = fcntl(ingest->unix_fd, F_GETFL);

		if (fcntl(ingest->unix_fd, F_SETFL, flags | O_NONBLOCK) ||
		    setsockopt(ingest->unix_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one))) {
			err = -errno;
			log_error("--ingest %s: the socket systemd passed: %s", path,
				  strerror(errno));
			return err;
		}
		snprintf(ingest->path, sizeof(ingest->path), "%s", path);
		ingest->from_systemd = true;
		grow_rcvbuf(ingest->unix_fd);
		return 0;
	}
	{
		char why[320];

		err = paths_prepare_socket(path, SOCK_DGRAM, why, sizeof(why));
		if (err) {
			log_error("--ingest: %s%s", why,
				  err == -EADDRINUSE
					  ? " (another liveprobed reads it; use --ingest)"
					  : "");
			return err;
		}
	}
	raise_dgram_queue();
	ingest->unix_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ingest->unix_fd < 0 ||
	    setsockopt(ingest->unix_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    bind(ingest->unix_fd, (struct sockaddr *)&addr, sizeof(addr))) {
		err = -errno;
		log_error("--ingest %s: cannot bind: %s", path, strerror(errno));
		return err;
	}
	snprintf(ingest->path, sizeof(ingest->path), "%s", path);
	ingest->unlink_on_close = true;
	/* Workers need write access; group members may report, others may not. */
	if (chmod(path, 0660)) {
		err = -errno;
		log_error("--ingest %s: cannot chmod: %s", path, strerror(errno));
		return err;
	}
	grow_rcvbuf(ingest->unix_fd);
	return 0;
}

/* Workers run as other users: the socket's group decides who may report. */
static int give_to_group(const char *path, const char *name)
{
	struct group *group = getgrnam(name);
	int err;

	if (!group) {
		log_error("--ingest-group %s: no such group", name);
		return -ENOENT;
	}
	if (chown(path, -1, group->gr_gid)) {
		err = -errno;
		log_error("--ingest-group %s: cannot chown %s: %s", name, path, strerror(errno));
		return err;
	}
	return 0;
}

static int open_udp(struct ingest *ingest, const char *host, uint16_t port)
{
	struct sockaddr_in6 addr6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in addr4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr *addr = (struct sockaddr *)&addr4;
	socklen_t len = sizeof(addr4);
	int err;

	if (inet_pton(AF_INET, host, &addr4.sin_addr) != 1) {
		if (inet_pton(AF_INET6, host, &addr6.sin6_addr) != 1) {
			log_error("--ingest-udp %s: not an IP address", host);
			return -EINVAL;
		}
		addr = (struct sockaddr *)&addr6;
		len = sizeof(addr6);
	}
	if ((addr->sa_family == AF_INET && (ntohl(addr4.sin_addr.s_addr) >> 24) != 127) ||
	    (addr->sa_family == AF_INET6 && !IN6_IS_ADDR_LOOPBACK(&addr6.sin6_addr)))
		log_warn("--ingest-udp %s:%u is not loopback: anyone who can reach it can report "
			 "for any worker",
			 host, port);
	ingest->udp_fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ingest->udp_fd < 0 || bind(ingest->udp_fd, addr, len)) {
		err = -errno;
		log_error("--ingest-udp %s:%u: %s", host, port, strerror(errno));
		return err;
	}
	grow_rcvbuf(ingest->udp_fd);
	return 0;
}

int ingest_open(struct ingest *ingest, const char *path, const char *group, const char *udp_host,
		uint16_t udp_port)
{
	int err;

	memset(ingest, 0, sizeof(*ingest));
	ingest->unix_fd = ingest->udp_fd = -1;
	ingest->buffers = malloc((size_t)INGEST_BATCH * INGEST_DATAGRAM_MAX);
	if (!ingest->buffers)
		return -ENOMEM;
	err = open_unix(ingest, path);
	if (!err && group && group[0] && !ingest->from_systemd)
		err = give_to_group(path, group);
	if (!err && udp_host && udp_host[0])
		err = open_udp(ingest, udp_host, udp_port);
	return err;
}

bool ingest_want_pidfds(struct ingest *ingest)
{
	int one = 1;

	if (ingest->unix_fd < 0)
		return false;
	if (setsockopt(ingest->unix_fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one))) {
		log_warn("--ingest %s: no sender pidfds (%s): a process of a watched cgroup that "
			 "exits right after its report may not be known as the cgroup's",
			 ingest->path, strerror(errno));
		return false;
	}
	ingest->pidfds = true;
	return true;
}

void ingest_close(struct ingest *ingest)
{
	if (ingest->unix_fd >= 0)
		close(ingest->unix_fd);
	if (ingest->udp_fd >= 0)
		close(ingest->udp_fd);
	if (ingest->unlink_on_close)
		unlink(ingest->path);
	free(ingest->buffers);
	ingest->buffers = NULL;
	ingest->unix_fd = ingest->udp_fd = -1;
	ingest->unlink_on_close = false;
}

struct dispatch {
	struct ingest *ingest;
	ingest_fn fn;
	void *ctx;
	struct ingest_sender sender;
};

static void dispatch_report(void *ctx, const struct report *report)
{
	struct dispatch *dispatch = ctx;

	dispatch->ingest->stats.reports++;
	dispatch->fn(dispatch->ctx, report, &dispatch->sender);
}

/* The sender's credentials and pidfd; any descriptor it passed itself is closed unread. */
static void read_sender(struct msghdr *msg, bool want_pidfd, struct ingest_sender *sender)
{
	sender->pid = 0;
	sender->uid = INGEST_NO_UID;
	sender->admin = false;
	sender->has_pidfd = false;
	for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg); cmsg; cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET)
			continue;
		if (cmsg->cmsg_type == SCM_CREDENTIALS &&
		    cmsg->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred cred;

			memcpy(&cred, CMSG_DATA(cmsg), sizeof(cred));
			sender->pid = cred.pid;
			sender->uid = cred.uid;
			sender->admin = cred.uid == 0;
		} else if (cmsg->cmsg_type == SCM_PIDFD &&
			   cmsg->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int pidfd;

			/* A negative value is the kernel's error in making one. */
			memcpy(&pidfd, CMSG_DATA(cmsg), sizeof(pidfd));
			if (pidfd >= 0) {
				if (sender->has_pidfd)
					close(sender->pidfd);
				sender->pidfd = pidfd;
				sender->has_pidfd = true;
			}
		} else if (cmsg->cmsg_type == SCM_RIGHTS && cmsg->cmsg_len > CMSG_LEN(0)) {
			size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n; i++) {
				int passed;

				memcpy(&passed, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(passed));
				close(passed);
			}
		}
	}
	sender->pidfd_lost = want_pidfd && !sender->has_pidfd;
}

int ingest_drain(struct ingest *ingest, int fd, ingest_fn fn, ingest_between_fn between,
		 void *ctx)
{
	/* Room for the credentials and a pidfd, no more: what a sender attaches itself
	 * (SCM_RIGHTS) mostly does not fit, and what does is closed below. */
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control[INGEST_BATCH];
	struct mmsghdr messages[INGEST_BATCH];
	struct iovec iov[INGEST_BATCH];
	struct dispatch dispatch = {
		.ingest = ingest,
		.fn = fn,
		.ctx = ctx,
		.sender.via = fd == ingest->udp_fd ? INGEST_UDP : INGEST_UNIX,
	};
	int total = 0;

	while (total < INGEST_PER_WAKE) {
		int n;

		for (int i = 0; i < INGEST_BATCH; i++) {
			iov[i].iov_base = ingest->buffers + (size_t)i * INGEST_DATAGRAM_MAX;
			iov[i].iov_len = INGEST_DATAGRAM_MAX;
			memset(&messages[i], 0, sizeof(messages[i]));
			messages[i].msg_hdr.msg_iov = &iov[i];
			messages[i].msg_hdr.msg_iovlen = 1;
			messages[i].msg_hdr.msg_control = control[i].buf;
			messages[i].msg_hdr.msg_controllen = sizeof(control[i].buf);
		}
		n = recvmmsg(fd, messages, INGEST_BATCH, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* EAGAIN: drained */
		}
		for (int i = 0; i < n; i++) {
			struct msghdr *msg = &messages[i].msg_hdr;

			ingest->stats.datagrams++;
			read_sender(msg, ingest->pidfds, &dispatch.sender);
			dispatch.sender.received_ns = clock_mono_ns();
			if (msg->msg_flags & MSG_TRUNC)
				ingest->stats.dropped[REPORT_ERR_TRUNCATED]++;
			else
				report_parse_datagram(iov[i].iov_base, messages[i].msg_len,
						      dispatch_report, &dispatch,
						      ingest->stats.dropped);
			if (dispatch.sender.has_pidfd)
				close(dispatch.sender.pidfd);
			if (between && !(msg->msg_flags & MSG_TRUNC))
				between(ctx);
		}
		total += n;
		if (n < INGEST_BATCH)
			break;
	}
	return total;
}
