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

/*
 * The event loop's priority (--loop-nice). A thread starts with its creator's nice, and the
 * sandbox forbids raising a priority once capabilities are gone. So privs_take_nice, on the
 * loop's thread before privs_drop (it needs CAP_SYS_NICE, or RLIMIT_NICE from systemd's
 * LimitNICE=), sets the loop's nice (a loop started at a higher priority keeps it) and lowers
 * RLIMIT_NICE to the daemon's own nice, so no thread can raise its priority later. Threads
 * are then started from a thread that called privs_leave_nice, which goes back to the
 * daemon's own nice (lowering a priority needs no privilege), so they run at it.
 * Both return 0 or -errno.
 */
int privs_take_nice(int nice);
int privs_leave_nice(void);

#endif
