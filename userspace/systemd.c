// SPDX-License-Identifier: GPL-2.0
/* See systemd.h. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "systemd.h"

#define LISTEN_FDS_START 3
#define LISTEN_FDS_MAX	 16

static int passed[LISTEN_FDS_MAX];
static int n_passed = -1; /* -1: the environment not read yet */

static long env_number(const char *name)
{
	const char *text = getenv(name);
	char *end;
	long value;

	if (!text || !text[0])
		return -1;
	value = strtol(text, &end, 10);
	return *end ? -1 : value;
}

static void read_passed(void)
{
	long pid = env_number("LISTEN_PID"), fds = env_number("LISTEN_FDS");

	n_passed = 0;
	/* Meant for us, not for a process we were started by. */
	if (pid != getpid() || fds <= 0)
		return;
	for (long i = 0; i < fds && n_passed < LISTEN_FDS_MAX; i++) {
		passed[n_passed++] = LISTEN_FDS_START + i;
		fcntl(LISTEN_FDS_START + i, F_SETFD, FD_CLOEXEC);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

static bool matches(int fd, int type, const char *unix_path, uint16_t port)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	int got_type;
	socklen_t type_len = sizeof(got_type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &got_type, &type_len) || got_type != type ||
	    getsockname(fd, (struct sockaddr *)&addr, &len))
		return false;
	if (unix_path)
		return addr.ss_family == AF_UNIX &&
		       !strcmp(((struct sockaddr_un *)&addr)->sun_path, unix_path);
	if (addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&addr)->sin_port) == port;
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port) == port;
	return false;
}

int systemd_listen_fd(int type, const char *unix_path, uint16_t port)
{
	if (n_passed < 0)
		read_passed();
	for (int i = 0; i < n_passed; i++) {
		if (passed[i] >= 0 && matches(passed[i], type, unix_path, port)) {
			int fd = passed[i];

			passed[i] = -1;
			return fd;
		}
	}
	return -1;
}

void systemd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(addr.sun_path))
		return;
	strcpy(addr.sun_path, path);
	if (path[0] == '@')
		addr.sun_path[0] = '\0'; /* an abstract socket */
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, len) < 0) {
		/* dropped: systemd judges by its own timeouts */
	}
	close(fd);
}

uint64_t systemd_watchdog_usec(void)
{
	long pid = env_number("WATCHDOG_PID"), usec = env_number("WATCHDOG_USEC");

	if (usec <= 0 || (pid > 0 && pid != getpid()))
		return 0;
	return usec;
}
