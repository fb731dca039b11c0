/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What userspace can learn about a process without BPF: its identity (comm and start time from
 * /proc/PID/stat) and whether it still lives (a pidfd, which cannot be fooled by pid reuse).
 * Used to validate registrations and to reconcile after lost events.
 *
 * Errors: 0 or -errno (-ENOENT when the process is gone); nothing is logged.
 */
#ifndef LP_PROC_H
#define LP_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_identity {
	char comm[16];
	char state; /* R S D Z T ... as in /proc/PID/stat */
	uint32_t ppid;
	uint64_t start_ticks;
};

#define PROC_NO_UID UINT32_MAX

/* 0, -ENOENT (no such process) or another -errno. */
int proc_read_identity(pid_t pid, struct proc_identity *id);
/* Parses the text of /proc/PID/stat; 0 or -EINVAL. */
int proc_parse_stat(const char *text, struct proc_identity *id);
/* The real uid of pid (the one SO_PASSCRED reports), or PROC_NO_UID. */
uint32_t proc_read_uid(pid_t pid);
/* Parses the "Uid:" line of /proc/PID/status text; PROC_NO_UID when there is none. */
uint32_t proc_parse_status_uid(const char *text);
/* True when pid is ancestor itself or one of its descendants (walks ppid, at most 256 steps). */
bool proc_is_self_or_descendant(pid_t pid, pid_t ancestor);
int proc_pidfd_open(pid_t pid);
/* Descriptors this process holds now (/proc/self/fd). */
unsigned int proc_count_open_fds(void);
/*
 * The cgroup v2 id of the process behind the pidfd: where it is, or where it died if it has
 * exited (PIDFD_GET_INFO, Linux 6.13; kept after the exit since 6.15). 0, -ENOTTY on an older
 * kernel, -ESRCH when it is gone and the kernel kept nothing.
 */
int proc_pidfd_cgroup_id(int pidfd, uint64_t *id);
/* True once the process behind the pidfd has exited (zombie or reaped). */
bool proc_pidfd_exited(int pidfd);
/* Calls fn for every process in /proc, in its order; returns how many, or -errno. */
int proc_for_each(void (*fn)(pid_t pid, void *ctx), void *ctx);
/* The comm alone (/proc/PID/comm, much cheaper for the kernel than the stat line); 0 or -errno. */
int proc_read_comm(pid_t pid, char comm[16]);

#endif
