// SPDX-License-Identifier: GPL-2.0
/* See sockwatch.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"
#include "sockdiag.h"
#include "sockwatch.h"

int sockwatch_init(struct sockwatch *watch, const uint16_t *ports, int n_ports,
		   bool group_by_peer_ip, bool all_netns, size_t max_bindings)
{
	memset(watch, 0, sizeof(*watch));
	watch->diag_fd = -1;
	watch->bindings = calloc(max_bindings ?: 1, sizeof(*watch->bindings));
	watch->max_bindings = max_bindings;
	if (!watch->bindings || u64map_init(&watch->binding_by_endpoint, max_bindings)) {
		log_error("cannot allocate %zu peer bindings", max_bindings);
		return -ENOMEM;
	}
	watch->ports = ports;
	watch->n_ports = n_ports;
	watch->group_by_peer_ip = group_by_peer_ip;
	watch->all_netns = all_netns;
	if (!n_ports)
		return 0;
	watch->netns_cookie = sockdiag_netns_cookie();
	if (!watch->netns_cookie && !all_netns) {
		log_error(
			"cannot read this network namespace's cookie (SO_NETNS_COOKIE needs Linux "
			"5.14); use --all-netns");
		return -ENOTSUP;
	}
	watch->diag_fd = sockdiag_open();
	if (watch->diag_fd < 0) {
		log_error("cannot open a NETLINK_SOCK_DIAG socket: %s", strerror(-watch->diag_fd));
		return watch->diag_fd;
	}
	return 0;
}

void sockwatch_destroy(struct sockwatch *watch)
{
	free(watch->bindings);
	watch->bindings = NULL;
	u64map_free(&watch->binding_by_endpoint);
	if (watch->diag_fd >= 0)
		close(watch->diag_fd);
	watch->diag_fd = -1;
}

static bool port_watched(const struct sockwatch *watch, uint16_t port)
{
	for (int i = 0; i < watch->n_ports; i++) {
		if (watch->ports[i] == port)
			return true;
	}
	return false;
}

/* A live watched process with this pid, whatever its start time (connect() just ran in it). */
static struct worker *peer_worker(struct sockwatch *watch, struct fleet *fleet,
				  const struct conn *conn, uint64_t now_ns)
{
	char name[CONN_ENDPOINT_MAX];
	struct worker *worker;
	int err;

	conn_format_endpoint(conn->family, conn->peer_addr,
			     watch->group_by_peer_ip ? 0 : conn->peer_port, name, sizeof(name));
	worker = fleet_find(fleet, name);
	if (worker)
		return worker;
	err = fleet_add(fleet, name, 0, 0, NULL, ORIGIN_PEER, now_ns, &worker);
	if (err) {
		if (watch->stats.untracked_total++ == 0)
			log_warn("connection-only worker %s not tracked: %s (raise --max-workers)",
				 name, strerror(-err));
		return NULL;
	}
	return worker;
}

static bool forgotten(const struct sockwatch *watch, uint64_t cookie)
{
	size_t held = watch->n_forgotten < SOCKWATCH_FORGOTTEN_MAX ? watch->n_forgotten
								   : SOCKWATCH_FORGOTTEN_MAX;

	for (size_t i = 0; i < held; i++) {
		if (watch->forgotten[i] == cookie)
			return true;
	}
	return false;
}

static uint64_t endpoint_key(uint16_t family, const uint8_t *addr, uint16_t port)
{
	uint64_t hash = 0xcbf29ce484222325ull;
	uint8_t bytes[20];

	memcpy(bytes, addr, 16);
	bytes[16] = family;
	bytes[17] = family >> 8;
	bytes[18] = port;
	bytes[19] = port >> 8;
	for (size_t i = 0; i < sizeof(bytes); i++)
		hash = (hash ^ bytes[i]) * 0x100000001b3ull;
	return hash;
}

static struct sockwatch_binding *find_binding(const struct sockwatch *watch, uint16_t family,
					      const uint8_t *addr, uint16_t port)
{
	struct sockwatch_binding *binding;
	uint32_t index;

	if (!watch->n_bindings ||
	    !u64map_get(&watch->binding_by_endpoint, endpoint_key(family, addr, port), &index))
		return NULL;
	binding = &watch->bindings[index];
	if (binding->family != family || binding->port != port || memcmp(binding->addr, addr, 16))
		return NULL; /* a hash collision: unbound is the safe answer */
	return binding;
}

/* The worker a proxy bound this connection's peer to, if it still exists. */
static struct worker *bound_worker(const struct sockwatch *watch, struct fleet *fleet,
				   const struct conn *conn)
{
	const struct sockwatch_binding *binding =
		find_binding(watch, conn->family, conn->peer_addr, conn->peer_port);

	return binding ? fleet_find_id(fleet, binding->worker_id) : NULL;
}

/*
 * The placeholder rule: a connection-only worker (named after its peer) exists only for its
 * connections, so it goes with the last of them. Invalidates worker pointers (fleet_remove).
 */
static void drop_placeholder(struct fleet *fleet, uint32_t id)
{
	struct worker *worker = fleet_find_id(fleet, id);

	if (worker && worker->origin == ORIGIN_PEER && worker->n_conns == 0 && !worker->has_exit)
		fleet_remove(fleet, worker);
}

static void drop_binding(struct sockwatch *watch, size_t index)
{
	struct sockwatch_binding *binding = &watch->bindings[index];
	struct sockwatch_binding *last = &watch->bindings[watch->n_bindings - 1];

	u64map_del(&watch->binding_by_endpoint,
		   endpoint_key(binding->family, binding->addr, binding->port));
	if (binding != last) {
		*binding = *last;
		u64map_put(&watch->binding_by_endpoint,
			   endpoint_key(binding->family, binding->addr, binding->port), index);
	}
	watch->n_bindings--;
}

/* A worker's bindings, bounded: at SOCKWATCH_PEERS_PER_WORKER its oldest one goes. */
static void make_room_for_binding(struct sockwatch *watch, uint32_t worker_id)
{
	size_t held = 0, oldest = 0;

	for (size_t i = 0; i < watch->n_bindings; i++) {
		if (watch->bindings[i].worker_id != worker_id)
			continue;
		if (!held++ || watch->bindings[i].made < watch->bindings[oldest].made)
			oldest = i;
	}
	if (held >= SOCKWATCH_PEERS_PER_WORKER)
		drop_binding(watch, oldest);
}

static bool holds_endpoint(const struct conn *conn, uint16_t family, const uint8_t *addr,
			   uint16_t port)
{
	return conn->family == family && conn->peer_port == port &&
	       !memcmp(conn->peer_addr, addr, 16);
}

int sockwatch_bind_peer(struct sockwatch *watch, struct fleet *fleet, uint16_t family,
			const uint8_t addr[16], uint16_t port, struct worker *worker,
			sockwatch_may_take_fn may_take, void *ctx, uint64_t now_ns)
{
	struct sockwatch_binding *binding = find_binding(watch, family, addr, port);
	uint32_t worker_id = worker->id;

	if (binding && binding->worker_id == worker_id)
		return 0;
	if (may_take) {
		const struct worker *holder =
			binding ? fleet_find_id(fleet, binding->worker_id) : NULL;

		if (holder && !may_take(ctx, holder))
			return -EPERM;
		for (size_t i = 0; i < fleet->n_conns; i++) {
			const struct conn *conn = &fleet->conns[i];

			if (conn->worker_id == worker_id ||
			    !holds_endpoint(conn, family, addr, port))
				continue;
			holder = fleet_find_id(fleet, conn->worker_id);
			if (holder && !may_take(ctx, holder))
				return -EPERM;
		}
	}
	if (!binding) {
		make_room_for_binding(watch, worker_id);
		if (watch->n_bindings == watch->max_bindings ||
		    u64map_put(&watch->binding_by_endpoint, endpoint_key(family, addr, port),
			       watch->n_bindings))
			return -ENOSPC;
		binding = &watch->bindings[watch->n_bindings++];
		binding->family = family;
		binding->port = port;
		memcpy(binding->addr, addr, 16);
	}
	binding->worker_id = worker_id;
	binding->made = ++watch->bindings_made;
	fleet_touch_saved(fleet, NULL);
	/* Connections already tracked under the peer's own name move now. */
	for (size_t i = 0; i < fleet->n_conns; i++) {
		struct conn *conn = &fleet->conns[i];
		uint32_t from = conn->worker_id;

		if (from == worker_id || !holds_endpoint(conn, family, addr, port))
			continue;
		fleet_conn_move(fleet, conn, fleet_find_id(fleet, worker_id));
		drop_placeholder(fleet, from);
	}
	worker = fleet_find_id(fleet, worker_id);
	if (worker)
		fleet_evaluate(fleet, worker, now_ns);
	return 0;
}

/* A connection the fleet has not seen: find its owner, then record it. */
static struct conn *track(struct sockwatch *watch, struct fleet *fleet, const struct conn *facts,
			  uint64_t now_ns)
{
	struct worker *owner = NULL;
	struct conn *conn;

	if (watch->n_forgotten && forgotten(watch, facts->cookie))
		return NULL;
	owner = bound_worker(watch, fleet, facts);
	if (!owner && facts->owner_tgid)
		owner = fleet_find_live_pid(fleet, facts->owner_tgid);
	if (!owner)
		owner = peer_worker(watch, fleet, facts, now_ns);
	if (!owner)
		return NULL;
	conn = fleet_conn_add(fleet, facts->cookie, owner, now_ns);
	if (!conn) {
		if (watch->stats.untracked_total++ == 0)
			log_warn(
				"connection limit reached (--max-connections %zu): new connections "
				"are not tracked",
				fleet->conn_capacity);
		drop_placeholder(fleet, owner->id);
		return NULL;
	}
	*conn = *facts;
	conn->worker_id = owner->id;
	conn->first_seen_ns = now_ns;
	/* It was counted as a fresh, live connection when added. */
	fleet_conn_changed(fleet, conn, false, false);
	return conn;
}

static struct conn *apply_kernel(struct sockwatch *watch, struct fleet *fleet, uint64_t cookie,
				 const struct lp_conn *kernel, uint64_t now_ns)
{
	struct conn *conn = fleet_conn_find(fleet, cookie);
	bool was_dead, was_suspect;

	if (!conn) {
		struct conn facts;

		conn_init(&facts, cookie, now_ns);
		conn_apply_kernel(&facts, kernel, now_ns);
		return track(watch, fleet, &facts, now_ns);
	}
	was_dead = conn_is_dead(conn);
	was_suspect = conn->suspect;
	if (conn_apply_kernel(conn, kernel, now_ns))
		fleet_touch_conns(fleet);
	fleet_conn_changed(fleet, conn, was_dead, was_suspect);
	return conn;
}

static void evaluate_owner(struct fleet *fleet, const struct conn *conn, uint64_t now_ns)
{
	struct worker *owner = fleet_find_id(fleet, conn->worker_id);

	if (owner)
		fleet_evaluate(fleet, owner, now_ns);
}

void sockwatch_on_event(struct sockwatch *watch, struct fleet *fleet,
			const struct lp_conn_event *event, uint64_t now_ns)
{
	struct conn *conn = apply_kernel(watch, fleet, event->cookie, &event->conn, now_ns);

	if (!conn)
		return;
	log_debug("connection %llx: event %u, state %s, reason %s",
		  (unsigned long long)event->cookie, event->what, conn_tcp_state_name(conn->state),
		  conn_is_dead(conn) ? conn_reason_name(conn->reason) : "-");
	evaluate_owner(fleet, conn, now_ns);
}

/* Everything the kernel recorded, so a lost event costs latency only; then forget the closed. */
static void reconcile_kernel(struct sockwatch *watch, struct fleet *fleet, struct probe *probe,
			     uint64_t now_ns, void (*between)(void *ctx), void *ctx)
{
	uint64_t cookies[PROBE_READ_BATCH], doomed[PROBE_READ_BATCH];
	struct lp_conn records[PROBE_READ_BATCH];
	struct probe_cursor cursor = {0};
	int n;

	while ((n = probe_conn_read(probe, &cursor, cookies, records, PROBE_READ_BATCH)) > 0) {
		uint32_t n_doomed = 0;

		for (int i = 0; i < n; i++) {
			apply_kernel(watch, fleet, cookies[i], &records[i], now_ns);
			if ((records[i].flags & LP_CONN_F_GONE) &&
			    records[i].changed_ns + SOCKWATCH_GONE_GRACE_NS < now_ns)
				doomed[n_doomed++] = cookies[i];
		}
		/* Their buckets are read: deleting now does not disturb the read. */
		probe_conn_delete_many(probe, doomed, n_doomed);
		if (between)
			between(ctx);
	}
	if (n < 0 && watch->stats.read_errors++ == 0)
		log_warn("cannot read lp_conns: %s; sock_diag alone repairs lost events",
			 strerror(-n));
}

struct diag_pass {
	struct sockwatch *watch;
	struct fleet *fleet;
	uint64_t now_ns;
	void (*between)(void *ctx);
	void *between_ctx;
};

static void between_diag_batches(void *ctx)
{
	struct diag_pass *pass = ctx;

	if (pass->between)
		pass->between(pass->between_ctx);
}

static void on_diag_conn(void *ctx, const struct sockdiag_conn *diag)
{
	struct diag_pass *pass = ctx;
	bool was_dead, was_suspect;
	struct conn *conn;

	pass->watch->stats.entries++;
	if (!port_watched(pass->watch, diag->local_port) &&
	    !port_watched(pass->watch, diag->peer_port))
		return;
	conn = fleet_conn_find(pass->fleet, diag->cookie);
	if (!conn) {
		struct conn facts;

		/* Older than the daemon, or its events were lost: sock_diag is the only witness. */
		conn_init(&facts, diag->cookie, pass->now_ns);
		facts.netns_cookie = pass->watch->netns_cookie;
		conn_apply_diag(&facts, diag, pass->watch->pass, pass->now_ns);
		conn = track(pass->watch, pass->fleet, &facts, pass->now_ns);
		if (conn)
			log_debug("connection %llx found by sock_diag",
				  (unsigned long long)diag->cookie);
		return;
	}
	was_dead = conn_is_dead(conn);
	was_suspect = conn->suspect;
	/* A tcp_info sample that moved (silence, unacked data) is a fact readers see, verdict or
	 * not: the next snapshot must copy it rather than share the previous copy. */
	if (conn_apply_diag(conn, diag, pass->watch->pass, pass->now_ns))
		fleet_touch_conns(pass->fleet);
	fleet_conn_changed(pass->fleet, conn, was_dead, was_suspect);
}

/* Connections of our namespace that sock_diag no longer lists were closed unseen. */
static void reconcile_vanished(struct sockwatch *watch, struct fleet *fleet, struct probe *probe,
			       uint64_t pass_start_ns, uint64_t now_ns)
{
	for (size_t i = 0; i < fleet->n_conns; i++) {
		struct conn *conn = &fleet->conns[i];
		bool was_dead = conn_is_dead(conn), was_suspect = conn->suspect;
		struct lp_conn kernel;

		if (conn->gone || conn->diag_pass == watch->pass ||
		    conn->first_seen_ns >= pass_start_ns ||
		    conn->netns_cookie != watch->netns_cookie)
			continue;
		if (probe_conn_lookup(probe, conn->cookie, &kernel) == 0 &&
		    (kernel.flags & LP_CONN_F_GONE)) {
			conn_apply_kernel(conn, &kernel, now_ns);
		} else {
			watch->stats.vanished_total++;
			conn_mark_vanished(conn, now_ns);
		}
		fleet_touch_conns(fleet);
		fleet_conn_changed(fleet, conn, was_dead, was_suspect);
	}
}

struct socket_owner {
	uint32_t inode;
	uint32_t worker_id;
};

static int compare_owner(const void *a, const void *b)
{
	const struct socket_owner *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static void collect_sockets(const struct worker *worker, struct socket_owner **owners,
			    size_t *count, size_t *capacity)
{
	char path[64], link[64];
	struct dirent *entry;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%u/fd", worker->pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((entry = readdir(dir))) {
		unsigned int inode;
		ssize_t len;

		if (entry->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(dir), entry->d_name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%u]", &inode) != 1)
			continue;
		if (*count == *capacity) {
			size_t grown = *capacity ? *capacity * 2 : 64;
			struct socket_owner *more = realloc(*owners, grown * sizeof(**owners));

			if (!more)
				break;
			*owners = more;
			*capacity = grown;
		}
		(*owners)[(*count)++] = (struct socket_owner){inode, worker->id};
	}
	closedir(dir);
}

/*
 * An accepted connection is established in softirq context, before any process holds it; it
 * starts under its peer's name and moves to the watched process whose fd table holds its inode.
 */
static void reconcile_owners(struct fleet *fleet, uint64_t now_ns)
{
	struct socket_owner *owners = NULL;
	size_t count = 0, capacity = 0;
	bool movable = false, have_processes = false;

	for (size_t i = 0; i < fleet->n_conns && !movable; i++) {
		struct worker *owner = fleet_find_id(fleet, fleet->conns[i].worker_id);

		movable = fleet->conns[i].inode && owner && owner->origin == ORIGIN_PEER;
	}
	for (size_t i = 0; i < fleet->count && !have_processes; i++)
		have_processes = fleet->workers[i].pid && !fleet->workers[i].has_exit;
	if (!movable || !have_processes)
		return;

	for (size_t i = 0; i < fleet->count; i++) {
		if (fleet->workers[i].pid && !fleet->workers[i].has_exit)
			collect_sockets(&fleet->workers[i], &owners, &count, &capacity);
	}
	/* No process holds a socket yet (and qsort takes no NULL array). */
	if (!count) {
		free(owners);
		return;
	}
	qsort(owners, count, sizeof(*owners), compare_owner);
	for (size_t i = 0; i < fleet->n_conns; i++) {
		struct conn *conn = &fleet->conns[i];
		struct socket_owner key = {.inode = conn->inode}, *found;
		struct worker *from, *to;
		uint32_t from_id;

		if (!conn->inode || !count)
			continue;
		found = bsearch(&key, owners, count, sizeof(*owners), compare_owner);
		from = fleet_find_id(fleet, conn->worker_id);
		if (!found || !from || from->origin != ORIGIN_PEER)
			continue;
		to = fleet_find_id(fleet, found->worker_id);
		if (!to)
			continue;
		log_debug("connection %llx belongs to %s", (unsigned long long)conn->cookie,
			  to->name);
		from_id = from->id;
		fleet_conn_move(fleet, conn, to);
		drop_placeholder(fleet, from_id);
		fleet_evaluate(fleet, fleet_find_id(fleet, found->worker_id), now_ns);
	}
	free(owners);
}

void sockwatch_reconcile(struct sockwatch *watch, struct fleet *fleet, struct probe *probe,
			 uint64_t now_ns, void (*between)(void *ctx), void *ctx)
{
	struct diag_pass pass = {watch, fleet, now_ns, between, ctx};
	const struct fleet_dead_conn *pruned;
	size_t n_pruned;
	int err;

	if (!watch->n_ports)
		return;
	reconcile_kernel(watch, fleet, probe, now_ns, between, ctx);
	watch->pass++;
	err = sockdiag_dump(watch->diag_fd, watch->ports, watch->n_ports, on_diag_conn,
			    between_diag_batches, &pass);
	if (err) {
		if (watch->stats.pass_errors++ == 0)
			log_warn("sock_diag pass failed: %s", strerror(-err));
	} else {
		watch->stats.passes++;
		reconcile_vanished(watch, fleet, probe, now_ns, now_ns);
	}
	reconcile_owners(fleet, now_ns);
	n_pruned = fleet_prune_dead_conns(fleet, &pruned);
	/* The kernel records go too, or the next pass would bring the connections back. */
	for (size_t done = 0; done < n_pruned;) {
		uint64_t cookies[PROBE_READ_BATCH];
		uint32_t n = 0;

		for (; done < n_pruned && n < PROBE_READ_BATCH; done++)
			cookies[n++] = pruned[done].cookie;
		probe_conn_delete_many(probe, cookies, n);
	}
	for (size_t i = 0; i < fleet->count; i++) {
		struct worker *worker = &fleet->workers[i];

		if (worker->n_conns || worker->state == WS_DISCONNECTED ||
		    worker->state == WS_SUSPECT)
			fleet_evaluate(fleet, worker, now_ns);
	}
}

void sockwatch_forget(struct sockwatch *watch, struct fleet *fleet, struct probe *probe,
		      const struct worker *worker)
{
	for (size_t i = watch->n_bindings; i-- > 0;) {
		if (watch->bindings[i].worker_id == worker->id)
			drop_binding(watch, i);
	}
	for (size_t i = 0; i < fleet->n_conns; i++) {
		const struct conn *conn = &fleet->conns[i];

		if (conn->worker_id != worker->id || !conn_is_dead(conn))
			continue;
		watch->forgotten[watch->n_forgotten++ % SOCKWATCH_FORGOTTEN_MAX] = conn->cookie;
		if (conn->gone)
			probe_conn_delete(probe, conn->cookie);
	}
}
