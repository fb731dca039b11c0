// SPDX-License-Identifier: GPL-2.0
/* See proc.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc.h"
#include "text.h"

/* linux/pidfd.h of Linux 6.15; bookworm's headers are older. Version 0 of the struct. */
struct proc_pidfd_info {
	uint64_t mask;
	uint64_t cgroupid;
	uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
	int32_t exit_code;
	uint32_t coredump_mask;
	uint32_t spare;
};
#define PROC_PIDFD_GET_INFO	 _IOWR(0xFF, 11, struct proc_pidfd_info)
#define PROC_PIDFD_INFO_CGROUPID (1ULL << 2)
#define PROC_PIDFD_INFO_EXIT	 (1ULL << 3)

int proc_parse_stat(const char *text, struct proc_identity *id)
{
	const char *open = strchr(text, '(');
	const char *close = strrchr(text, ')'); /* comm may itself hold ')' */
	const char *field;
	size_t comm_len;
	int index;

	if (!open || !close || close < open || close[1] != ' ')
		return -EINVAL;
	comm_len = close - open - 1;
	text_clean(id->comm, sizeof(id->comm), open + 1, comm_len);
	id->state = close[2];

	/* Field 3 is the state, 4 the parent; starttime is field 22. */
	field = close + 2;
	for (index = 3; index < 22; index++) {
		field = strchr(field, ' ');
		if (!field)
			return -EINVAL;
		field++;
		if (index == 3) {
			if (!isdigit((unsigned char)*field))
				return -EINVAL;
			id->ppid = strtoul(field, NULL, 10);
		}
	}
	if (!isdigit((unsigned char)*field))
		return -EINVAL;
	id->start_ticks = strtoull(field, NULL, 10);
	return 0;
}

/* One read of /proc/PID/NAME into buf (at most size bytes): bytes read, or -errno (a process
 * that died under the read is -ENOENT, as one already gone). */
static ssize_t read_proc_file(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t len;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, size);
	err = -errno;
	close(fd);
	if (len < 0)
		return err == -ESRCH ? -ENOENT : err;
	return len;
}

int proc_read_identity(pid_t pid, struct proc_identity *id)
{
	char text[1024];
	ssize_t len = read_proc_file(pid, "stat", text, sizeof(text) - 1);

	if (len < 0)
		return len;
	text[len] = '\0';
	return proc_parse_stat(text, id);
}

int proc_pidfd_open(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

int proc_pidfd_cgroup_id(int pidfd, uint64_t *id)
{
	struct proc_pidfd_info info = {.mask = PROC_PIDFD_INFO_CGROUPID | PROC_PIDFD_INFO_EXIT};

	if (ioctl(pidfd, PROC_PIDFD_GET_INFO, &info))
		return -errno;
	if (!(info.mask & PROC_PIDFD_INFO_CGROUPID))
		return -ESRCH;
	*id = info.cgroupid;
	return 0;
}

bool proc_pidfd_exited(int pidfd)
{
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

	return poll(&pfd, 1, 0) > 0;
}

int proc_for_each(void (*fn)(pid_t pid, void *ctx), void *ctx)
{
	struct dirent *entry;
	int seen = 0;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((entry = readdir(dir))) {
		char *end;
		long pid = strtol(entry->d_name, &end, 10);

		if (*end || pid <= 0 || pid > INT32_MAX)
			continue;
		fn(pid, ctx);
		seen++;
	}
	closedir(dir);
	return seen;
}

int proc_read_comm(pid_t pid, char comm[16])
{
	ssize_t len = read_proc_file(pid, "comm", comm, 16);

	if (len <= 0)
		return len < 0 ? len : -ENOENT;
	/* The kernel ends it with a newline; a comm of 15 bytes fills all but that. */
	if (comm[len - 1] == '\n')
		len--;
	memset(comm + len, 0, 16 - len);
	return 0;
}

uint32_t proc_parse_status_uid(const char *text)
{
	const char *line = strstr(text, "\nUid:");
	char *end;
	unsigned long uid;

	if (!line)
		return PROC_NO_UID;
	line += strlen("\nUid:");
	while (*line == '\t' || *line == ' ')
		line++;
	if (!isdigit((unsigned char)*line))
		return PROC_NO_UID;
	errno = 0;
	uid = strtoul(line, &end, 10);
	if (errno || uid >= PROC_NO_UID || (*end != '\t' && *end != ' '))
		return PROC_NO_UID;
	return uid;
}

uint32_t proc_read_uid(pid_t pid)
{
	char text[4096];
	ssize_t len = read_proc_file(pid, "status", text, sizeof(text) - 1);

	if (len <= 0)
		return PROC_NO_UID;
	text[len] = '\0';
	return proc_parse_status_uid(text);
}

bool proc_is_self_or_descendant(pid_t pid, pid_t ancestor)
{
	struct proc_identity id;

	for (int step = 0; step < 256 && pid > 1; step++) {
		if (pid == ancestor)
			return true;
		if (proc_read_identity(pid, &id))
			return false;
		pid = id.ppid;
	}
	return pid == ancestor;
}

unsigned int proc_count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	unsigned int count = 0;
	struct dirent *entry;

	if (!dir)
		return 0;
	while ((entry = readdir(dir)))
		count += entry->d_name[0] != '.';
	closedir(dir);
	return count;
}
