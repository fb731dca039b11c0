/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Least privilege after start. Once the programs are loaded and attached and every socket is
 * open, the daemon keeps only what its running work needs: CAP_SYS_PTRACE and
 * CAP_DAC_READ_SEARCH (other users' /proc/PID/fd, to find who owns a connection); everything
 * else leaves the effective, permitted, inheritable, ambient and bounding sets. Then
 * PR_SET_NO_NEW_PRIVS, and a seccomp filter that allows only the system calls the daemon makes
 * and kills the process on any other. Call it from the main thread before any other thread
 * exists: threads inherit both.
 *
 * Errors: -errno after one logged line; a daemon that cannot drop does not start.
 */
#ifndef LP_PRIVS_H
#define LP_PRIVS_H


int privs_drop(void);

#endif
