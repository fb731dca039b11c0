/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The directories a root daemon creates and trusts: the pin root, the state dir and the socket
 * directories. Creates missing ones (mkdir -p) with the mode asked for. Returns 0 or -errno and
 * logs nothing: the caller knows which option the path came from and says so in its one line.
 */
#ifndef LP_PATHS_H
#define LP_PATHS_H

#include <stddef.h>
#include <sys/types.h>

/* Creates path and its missing parents with mode; an existing directory is fine. */
int paths_mkdir_p(const char *path, mode_t mode);
/* Creates the parents of a file path (a socket), not the file. */
int paths_mkdir_parents(const char *file_path, mode_t mode);
/*
 * A directory the daemon may trust: a real directory (not a symlink), owned by root or by the
 * daemon's own user, and writable by no one else. 0, -ENOTDIR, or -EPERM with why in err.
 */
int paths_check_private(const char *dir, char *err, size_t err_len);
/* The same for the directory a file (a socket) lives in. */
int paths_check_private_parent(const char *file_path, char *err, size_t err_len);
/*
 * A Unix socket path made ready to bind: its directory created (0755) and checked private, and
 * a stale socket from a daemon that died removed. 0, or -errno with why in err (-EADDRINUSE:
 * a live daemon answers there).
 */
int paths_prepare_socket(const char *path, int type, char *err, size_t err_len);
/*
 * Makes a Unix socket path free to bind: a socket file left by a daemon that died is stale and
 * removed; one that answers is -EADDRINUSE; anything but a socket is -ENOTSOCK.
 */
int paths_claim_socket(const char *path, int type);
/* Where cgroup v2 is mounted, the first cgroup2 line of /proc/mounts; 0 or -ENOENT. */
int paths_cgroup2_mount(char *dir, size_t dir_len);

#endif
