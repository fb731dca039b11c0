// SPDX-License-Identifier: GPL-2.0
/* See state.h. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bulk.h"
#include "clock.h"
#include "log.h"
#include "paths.h"
#include "render.h"
#include "state.h"
#include "text.h"

int state_prepare(const char *dir, int *lock_fd)
{
	int err = paths_mkdir_p(dir, 0700);
	char why[320];

	*lock_fd = -1;
	if (err) {
		log_error("--state-dir %s: cannot create it: %s", dir, strerror(-err));
		return err;
	}
	err = paths_check_private(dir, why, sizeof(why));
	if (err) {
		log_error("--state-dir: %s", why);
		return err;
	}
	*lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*lock_fd < 0 || flock(*lock_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		log_error("--state-dir %s: %s", dir,
			  err == -EWOULDBLOCK ? "another liveprobed uses it" : strerror(-err));
		if (*lock_fd >= 0)
			close(*lock_fd);
		*lock_fd = -1;
		return err;
	}
	if (access(dir, W_OK)) {
		err = -errno;
		log_error("--state-dir %s: not writable: %s", dir, strerror(errno));
		return err;
	}
	return 0;
}

static json_object *exit_json(const struct worker_exit *exit)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "code", json_object_new_int(exit->code));
	json_object_object_add(obj, "signal", json_object_new_int(exit->signal));
	json_object_object_add(obj, "core_dumped", json_object_new_boolean(exit->core_dumped));
	json_object_object_add(obj, "oom", json_object_new_boolean(exit->oom));
	json_object_object_add(obj, "has_killer", json_object_new_boolean(exit->has_killer));
	json_object_object_add(obj, "killer_pid", json_object_new_int64(exit->killer_pid));
	json_object_object_add(obj, "kill_signal", json_object_new_int(exit->kill_signal));
	json_object_object_add(obj, "killer_comm", json_object_new_string(exit->killer_comm));
	json_object_object_add(obj, "status_known", json_object_new_boolean(exit->status_known));
	return obj;
}

static json_object *worker_json(const struct worker *worker,
				const struct sockwatch_binding *bindings, size_t n_bindings)
{
	json_object *obj = json_object_new_object(), *peers = json_object_new_array();
	char endpoint[CONN_ENDPOINT_MAX];

	json_object_object_add(obj, "name", json_object_new_string(worker->name));
	json_object_object_add(obj, "comm", json_object_new_string(worker->comm));
	json_object_object_add(obj, "origin",
			       json_object_new_string(fleet_origin_name(worker->origin)));
	json_object_object_add(obj, "authority",
			       json_object_new_string(fleet_authority_name(worker->authority)));
	if (worker->owner_uid != FLEET_NO_OWNER)
		json_object_object_add(obj, "owner_uid", json_object_new_int64(worker->owner_uid));
	json_object_object_add(obj, "pid", json_object_new_int64(worker->pid));
	json_object_object_add(obj, "start_ticks", json_object_new_uint64(worker->start_ticks));
	json_object_object_add(obj, "state",
			       json_object_new_string(fleet_state_name(worker->state)));
	json_object_object_add(obj, "reason", json_object_new_string(worker->reason));
	json_object_object_add(obj, "exit", worker->has_exit ? exit_json(&worker->exit) : NULL);
	json_object_object_add(obj, "episodes_total",
			       json_object_new_uint64(worker->output.episodes_total));
	json_object_object_add(obj, "heartbeats_total",
			       json_object_new_uint64(worker->output.heartbeats_total));
	json_object_object_add(obj, "bye", json_object_new_boolean(worker->bye));
	json_object_object_add(obj, "expects_output",
			       json_object_new_boolean(worker->expects_output));
	json_object_object_add(obj, "expects_output_set",
			       json_object_new_boolean(worker->expects_output_set));
	json_object_object_add(obj, "restarts_total",
			       json_object_new_uint64(worker->restarts_total));
	json_object_object_add(obj, "exits_by_class", render_exit_counts(worker->exits_by_class));
	if (worker->origin == ORIGIN_CGROUP)
		json_object_object_add(
			obj, "child_exits_by_class",
			render_exit_counts(fleet_extras(worker)->child_exits_by_class));
	if (fleet_extras(worker)->has_last_exit) {
		json_object_object_add(obj, "last_exit",
				       exit_json(&fleet_extras(worker)->last_exit));
		json_object_object_add(obj, "last_exit_state",
				       json_object_new_string(fleet_state_name(
					       fleet_extras(worker)->last_exit_state)));
	}
	if (fleet_crashlooping(worker, clock_mono_ns())) {
		json_object_object_add(
			obj, "crashloop_left_s",
			json_object_new_double((worker->crashloop_until_ns - clock_mono_ns()) /
					       1e9));
		json_object_object_add(
			obj, "crashloop_reason",
			json_object_new_string(fleet_extras(worker)->crashloop_reason));
	}
	for (size_t i = 0; i < n_bindings && json_object_array_length(peers) < 8; i++) {
		const struct sockwatch_binding *binding = &bindings[i];

		if (binding->worker_id != worker->id)
			continue;
		conn_format_endpoint(binding->family, binding->addr, binding->port, endpoint,
				     sizeof(endpoint));
		json_object_array_add(peers, json_object_new_string(endpoint));
	}
	json_object_object_add(obj, "peers", peers);
	return obj;
}

/* A FILE over fd whose errors are -errno; stdio buffers the many small writes of a stream. */
static int write_text(FILE *out, const char *text)
{
	return fputs(text, out) == EOF ? -(errno ?: EIO) : 0;
}

/*
 * Streams the state file one worker at a time: a tree of the whole fleet would hold tens of
 * megabytes at 10,000 workers, and the heap keeps what a peak touched.
 */
static int write_state(FILE *out, const struct snapshot *snapshot,
		       const struct sockwatch_binding *bindings, size_t n_bindings,
		       uint64_t last_event_id)
{
	bool first = true;
	int err;

	if (fprintf(out, "{\"version\":%d,\"saved_at\":%lld,\"last_event_id\":%llu,\"workers\":[",
		    STATE_VERSION, (long long)time(NULL), (unsigned long long)last_event_id) < 0)
		return -(errno ?: EIO);
	for (size_t i = 0; i < snapshot->count; i++) {
		json_object *obj;

		/* What unauthenticated UDP made comes back with its next report, not from disk:
		 * junk names must not outlive a restart. */
		if (snapshot->workers[i]->authority == AUTHORITY_UDP)
			continue;
		bulk_pause();
		obj = worker_json(snapshot->workers[i], bindings, n_bindings);
		err = first ? 0 : write_text(out, ",");
		if (!err)
			err = write_text(
				out, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
		json_object_put(obj);
		if (err)
			return err;
		first = false;
	}
	err = write_text(out, "]}");
	if (!err && fflush(out))
		err = -(errno ?: EIO);
	if (!err && fsync(fileno(out)))
		err = -errno;
	return err;
}

int state_save(const char *dir, const struct snapshot *snapshot,
	       const struct sockwatch_binding *bindings, size_t n_bindings, uint64_t last_event_id)
{
	char path[512], tmp[512];
	FILE *out = NULL;
	int fd, dir_fd, err;

	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, STATE_FILE);
	/* Never through a link someone planted: a stale temp file goes, a new one is ours. */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	out = fdopen(fd, "w");
	if (!out) {
		err = -errno;
		close(fd);
		goto cleanup;
	}
	setvbuf(out, NULL, _IOFBF, 64 * 1024);
	err = write_state(out, snapshot, bindings, n_bindings, last_event_id);
	if (fclose(out) && !err)
		err = -(errno ?: EIO);
	if (!err && rename(tmp, path))
		err = -errno;
cleanup:
	if (err) {
		unlink(tmp);
		return err;
	}
	/* The rename is durable only once the directory is. */
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd >= 0) {
		fsync(dir_fd);
		close(dir_fd);
	}
	return 0;
}

static const char *get_string(json_object *obj, const char *key)
{
	json_object *value;

	if (!json_object_object_get_ex(obj, key, &value) ||
	    !json_object_is_type(value, json_type_string))
		return "";
	return json_object_get_string(value);
}

static int64_t get_int(json_object *obj, const char *key)
{
	json_object *value;

	if (!json_object_object_get_ex(obj, key, &value))
		return 0;
	return json_object_get_int64(value);
}

static bool get_bool(json_object *obj, const char *key)
{
	json_object *value;

	return json_object_object_get_ex(obj, key, &value) && json_object_get_boolean(value);
}

static void read_exit(json_object *obj, struct worker_exit *exit)
{
	exit->code = get_int(obj, "code");
	exit->signal = get_int(obj, "signal");
	exit->core_dumped = get_bool(obj, "core_dumped");
	exit->oom = get_bool(obj, "oom");
	exit->has_killer = get_bool(obj, "has_killer");
	exit->killer_pid = get_int(obj, "killer_pid");
	exit->kill_signal = get_int(obj, "kill_signal");
	text_clean(exit->killer_comm, sizeof(exit->killer_comm), get_string(obj, "killer_comm"),
		   SIZE_MAX);
	exit->status_known = get_bool(obj, "status_known");
}

/* The counts under key, where they are exit classes and fit; anything else is left at 0. */
static void read_exit_counts(json_object *obj, const char *key, uint32_t counts[WS__COUNT])
{
	json_object *classes;

	if (!json_object_object_get_ex(obj, key, &classes) ||
	    !json_object_is_type(classes, json_type_object))
		return;
	for (int state = 0; state < WS__COUNT; state++) {
		int64_t count = get_int(classes, fleet_state_name(state));

		if (fleet_state_is_exit_class(state) && count > 0 && count <= UINT32_MAX)
			counts[state] = count;
	}
}

/* Unknown fields are ignored and missing ones default, as in every other protocol here. */
static bool read_worker(json_object *obj, struct state_worker *saved)
{
	json_object *exit, *peers;
	int origin, state, authority;
	int64_t owner;

	memset(saved, 0, sizeof(*saved));
	if (!json_object_is_type(obj, json_type_object) ||
	    snprintf(saved->name, sizeof(saved->name), "%s", get_string(obj, "name")) >=
		    (int)sizeof(saved->name) ||
	    !saved->name[0])
		return false;
	text_clean(saved->comm, sizeof(saved->comm), get_string(obj, "comm"), SIZE_MAX);
	origin = fleet_origin_from_name(get_string(obj, "origin"));
	saved->origin = origin < 0 ? ORIGIN_API : origin;
	authority = fleet_authority_from_name(get_string(obj, "authority"));
	saved->authority = authority < 0 ? AUTHORITY_ADMIN : authority;
	owner = get_int(obj, "owner_uid");
	saved->owner_uid = json_object_object_get_ex(obj, "owner_uid", NULL) && owner >= 0 &&
					   owner < FLEET_NO_OWNER
				   ? (uint32_t)owner
				   : FLEET_NO_OWNER;
	saved->pid =
		get_int(obj, "pid") > 0 && get_int(obj, "pid") <= 4194304 ? get_int(obj, "pid") : 0;
	saved->start_ticks = get_int(obj, "start_ticks");
	state = fleet_state_from_name(get_string(obj, "state"));
	saved->state = state < 0 ? WS_UNKNOWN : state;
	text_clean(saved->reason, sizeof(saved->reason), get_string(obj, "reason"), SIZE_MAX);
	if (json_object_object_get_ex(obj, "exit", &exit) &&
	    json_object_is_type(exit, json_type_object)) {
		saved->has_exit = true;
		read_exit(exit, &saved->exit);
	}
	saved->episodes_total = get_int(obj, "episodes_total");
	saved->heartbeats_total = get_int(obj, "heartbeats_total");
	saved->bye = get_bool(obj, "bye");
	/* Files of daemons before expects_output: a worker that reported expects it. */
	saved->expects_output =
		json_object_object_get_ex(obj, "expects_output", NULL)
			? get_bool(obj, "expects_output")
			: saved->origin == ORIGIN_REPORT || saved->episodes_total > 0;
	saved->expects_output_set = get_bool(obj, "expects_output_set");
	if (get_int(obj, "restarts_total") > 0 && get_int(obj, "restarts_total") <= UINT32_MAX)
		saved->restarts_total = get_int(obj, "restarts_total");
	read_exit_counts(obj, "exits_by_class", saved->exits_by_class);
	if (saved->origin == ORIGIN_CGROUP)
		read_exit_counts(obj, "child_exits_by_class", saved->child_exits_by_class);
	if (json_object_object_get_ex(obj, "last_exit", &exit) &&
	    json_object_is_type(exit, json_type_object)) {
		int last_state = fleet_state_from_name(get_string(obj, "last_exit_state"));

		saved->has_last_exit = true;
		read_exit(exit, &saved->last_exit);
		saved->last_exit_state = last_state >= 0 && fleet_state_is_exit_class(last_state)
						 ? last_state
						 : WS_UNKNOWN;
	}
	{
		json_object *left;

		/* At most a day: a window is minutes, and a hostile file cannot pin it red. */
		if (json_object_object_get_ex(obj, "crashloop_left_s", &left) &&
		    json_object_is_type(left, json_type_double)) {
			double seconds = json_object_get_double(left);

			if (seconds > 0 && seconds <= 86400)
				saved->crashloop_left_s = seconds;
		}
	}
	text_clean(saved->crashloop_reason, sizeof(saved->crashloop_reason),
		   get_string(obj, "crashloop_reason"), SIZE_MAX);
	if (json_object_object_get_ex(obj, "peers", &peers) &&
	    json_object_is_type(peers, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(peers) && saved->n_peers < 8; i++)
			snprintf(saved->peers[saved->n_peers++], CONN_ENDPOINT_MAX, "%s",
				 json_object_get_string(json_object_array_get_idx(peers, i)));
	}
	return true;
}

int state_load(const char *dir, state_worker_fn fn, void *ctx, struct state_header *header,
	       char *err, size_t err_len)
{
	json_object *root, *list;
	char path[512];
	struct stat st;
	int version;

	memset(header, 0, sizeof(*header));
	snprintf(path, sizeof(path), "%s/%s", dir, STATE_FILE);
	if (stat(path, &st))
		return 0;
	if (st.st_size > STATE_MAX_BYTES) {
		snprintf(err, err_len, "%s is larger than %d MiB (move it away to start afresh)",
			 path, STATE_MAX_BYTES >> 20);
		return -EINVAL;
	}
	root = json_object_from_file(path);
	if (!root || !json_object_object_get_ex(root, "workers", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		snprintf(err, err_len,
			 "%s is not a liveprobe state file (move it away to start "
			 "afresh)",
			 path);
		json_object_put(root);
		return -EINVAL;
	}
	version = get_int(root, "version");
	if (get_int(root, "last_event_id") > 0)
		header->last_event_id = get_int(root, "last_event_id");
	if (get_int(root, "saved_at") > 0)
		header->saved_at = get_int(root, "saved_at");
	if (version > STATE_VERSION)
		log_warn("%s was written by a newer liveprobed (version %d); reading what is known",
			 path, version);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct state_worker saved;

		if (read_worker(json_object_array_get_idx(list, i), &saved))
			fn(ctx, &saved);
	}
	json_object_put(root);
	return 0;
}
