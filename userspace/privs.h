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

#include <stdbool.h>
#include <stdint.h>

int privs_drop(void);

/*
 * The event loop's priority (--loop-nice, --loop-slice-us). A thread starts with its creator's
 * schedule, and the sandbox forbids raising a priority once capabilities are gone. So
 * privs_take_priority, on the loop's thread before privs_drop (it needs CAP_SYS_NICE, or
 * RLIMIT_NICE from systemd's LimitNICE=), sets the loop's nice (a loop started at a higher
 * priority keeps it) and its EEVDF slice (Linux 6.12+; 0: the kernel's). A waking thread whose
 * slice is shorter than the running thread's preempts it at once; with the kernel's slice it
 * waits for the running thread to use up its own, or for the next tick. *slice_kept tells
 * whether the kernel took the slice. It then lowers RLIMIT_NICE and RLIMIT_RTPRIO to the
 * daemon's own, so no thread can raise its priority later. A thread the operator made
 * real-time or idle keeps its schedule. Threads are then started from a thread that called
 * privs_leave_priority, which goes back to the daemon's own nice and the kernel's slice
 * (neither needs privilege), so they run at them.
 * Both return 0 or -errno.
 */
int privs_take_priority(int nice, uint32_t slice_us, bool *slice_kept);
int privs_leave_priority(void);

#endif
