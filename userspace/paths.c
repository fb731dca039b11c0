// SPDX-License-Identifier: GPL-2.0
/* See paths.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "paths.h"

int paths_mkdir_p(const char *path, mode_t mode)
{
	char partial[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(partial))
		return -ENAMETOOLONG;
	memcpy(partial, path, len + 1);
	for (char *slash = partial + 1;; slash++) {
		slash = strchr(slash, '/');
		if (slash)
			*slash = '\0';
		if (partial[0] && mkdir(partial, mode) && errno != EEXIST)
			return -errno;
		if (!slash)
			return 0;
		*slash = '/';
	}
}

int paths_mkdir_parents(const char *file_path, mode_t mode)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", file_path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return paths_mkdir_p(dir, mode);
}

int paths_claim_socket(const char *path, int type)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int probe, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	err = connect(probe, (const struct sockaddr *)&addr, sizeof(addr)) ? errno : 0;
	close(probe);
	if (err == 0)
		return -EADDRINUSE;
	if (err != ECONNREFUSED)
		return -err;
	return unlink(path) ? -errno : 0;
}

int paths_check_private(const char *dir, char *err, size_t err_len)
{
	struct stat st;

	if (lstat(dir, &st)) {
		snprintf(err, err_len, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "%s is not a directory%s", dir,
			 S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
		return -ENOTDIR;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
		snprintf(err, err_len,
			 "%s must be owned by root and writable by no one else (it is uid %u, "
			 "mode %04o)",
			 dir, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int paths_check_private_parent(const char *file_path, char *err, size_t err_len)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", file_path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash)
		return paths_check_private(".", err, err_len);
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return paths_check_private(dir, err, err_len);
}

int paths_prepare_socket(const char *path, int type, char *err, size_t err_len)
{
	int ret = paths_mkdir_parents(path, 0755);

	if (!ret) {
		ret = paths_check_private_parent(path, err, err_len);
		if (ret)
			return ret;
		ret = paths_claim_socket(path, type);
	}
	if (ret)
		snprintf(err, err_len, "%s: %s", path, strerror(-ret));
	return ret;
}

int paths_cgroup2_mount(char *dir, size_t dir_len)
{
	char line[1024], mount[512], type[64];
	FILE *mounts = fopen("/proc/mounts", "re");
	int ret = -ENOENT;

	if (!mounts)
		return -errno;
	while (fgets(line, sizeof(line), mounts)) {
		if (sscanf(line, "%*s %511s %63s", mount, type) == 2 && !strcmp(type, "cgroup2")) {
			ret = snprintf(dir, dir_len, "%s", mount) < (int)dir_len ? 0
										 : -ENAMETOOLONG;
			break;
		}
	}
	fclose(mounts);
	return ret;
}
