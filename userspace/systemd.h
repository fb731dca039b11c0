/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What systemd offers a service, spoken without libsystemd: sockets passed by socket activation
 * (LISTEN_PID, LISTEN_FDS; sd_listen_fds semantics), so reports and requests sent while the
 * daemon restarts wait in the socket's queue; and the notify protocol ($NOTIFY_SOCKET: READY=1,
 * STOPPING=1, WATCHDOG=1), for Type=notify and WatchdogSec=.
 *
 * Errors: none reach callers. A passed socket that matches nothing is left alone; a notify
 * that cannot be sent is dropped (systemd then judges by its own timeouts).
 */
#ifndef LP_SYSTEMD_H
#define LP_SYSTEMD_H

#include <stdint.h>

/* A passed socket of this type bound to unix_path (AF_UNIX) or to port (AF_INET, AF_INET6),
 * or -1 when none was passed; each is handed out once. */
int systemd_listen_fd(int type, const char *unix_path, uint16_t port);
void systemd_notify(const char *state);
/* WatchdogSec= for this process, in microseconds; 0 when none. */
uint64_t systemd_watchdog_usec(void);

#endif
