// SPDX-License-Identifier: GPL-2.0
/* See dump.h. */
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "dump.h"
#include "fleet.h"
#include "lp_events.h"
#include "text.h"

/* enum lp_stat, in order. */
static const char *const stat_names[LP_STAT__COUNT] = {
	"ringbuf_drops",      "exits_seen",	 "exits_watched",    "signals_watched",
	"oom_watched",	      "procs_adopted",	 "adopt_full",	     "pid_reused",
	"tcp_states_seen",    "conn_events",	 "conns_full",	     "keepalive_set",
	"keepalive_failed",
};

static int open_pin(const char *pin_root, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", pin_root, name);
	return bpf_obj_get(path);
}

static void dump_stats(int fd, FILE *out)
{
	int n_cpus = sysconf(_SC_NPROCESSORS_CONF);
	__u64 *values = calloc(n_cpus > 0 ? n_cpus : 1, sizeof(*values));

	fprintf(out, "lp_stats (summed over CPUs)\n");
	for (__u32 key = 0; values && key < LP_STAT__COUNT; key++) {
		__u64 sum = 0;

		if (bpf_map_lookup_elem(fd, &key, values))
			continue;
		for (int cpu = 0; cpu < n_cpus; cpu++)
			sum += values[cpu];
		fprintf(out, "  %-18s %llu\n", stat_names[key], (unsigned long long)sum);
	}
	free(values);
}

static void describe_flags(__u32 flags, char *out, size_t len)
{
	snprintf(out, len, "%s%s%s%s%s", flags & LP_PROC_EXITED ? "exited " : "",
		 flags & LP_PROC_OOM ? "oom " : "", flags & LP_PROC_ADOPTED ? "adopted " : "",
		 flags & LP_PROC_SIGNALED ? "signaled " : "",
		 flags & LP_PROC_CGROUP ? "cgroup " : "");
	if (!out[0])
		snprintf(out, len, "alive");
	else
		out[strlen(out) - 1] = '\0';
}

static void dump_procs(int fd, FILE *out)
{
	__u32 tgid, *prev = NULL;
	struct lp_proc proc;
	size_t n = 0;

	fprintf(out, "lp_procs (watched processes, by tgid)\n");
	while (bpf_map_get_next_key(fd, prev, &tgid) == 0) {
		char name[LP_NAME_LEN + 1], comm[LP_COMM_LEN + 1], killer[LP_COMM_LEN + 1];
		char flags[64], how[64] = "";

		prev = &tgid;
		if (bpf_map_lookup_elem(fd, &tgid, &proc))
			continue;
		n++;
		text_clean(name, sizeof(name), proc.name, LP_NAME_LEN);
		text_clean(comm, sizeof(comm), proc.comm, LP_COMM_LEN);
		describe_flags(proc.flags, flags, sizeof(flags));
		if (proc.flags & LP_PROC_EXITED) {
			int signal = proc.exit_code & 0x7f;
			const char *signal_name = fleet_signal_name(signal);

			if (signal)
				snprintf(how, sizeof(how), " %s%s",
					 signal_name ? signal_name : "signal",
					 proc.exit_code & 0x80 ? " (core dumped)" : "");
			else
				snprintf(how, sizeof(how), " exit code %u",
					 (proc.exit_code >> 8) & 0xff);
		}
		fprintf(out, "  %-8u %-24s comm=%-16s [%s]%s", tgid, name, comm, flags, how);
		if (proc.flags & LP_PROC_SIGNALED) {
			text_clean(killer, sizeof(killer), proc.killer_comm, LP_COMM_LEN);
			fprintf(out, " signal %d from %s[%u]", proc.kill_signal, killer,
				proc.killer_pid);
		}
		fputc('\n', out);
	}
	fprintf(out, "  (%zu entries)\n", n);
}

/* The prefilter's counts: as many counted tgids as lp_procs has entries, when all is well. */
static void dump_pidmask(int fd, FILE *out)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	size_t counted = 0, total = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return;
	for (__u32 key = 0; key < info.max_entries; key++) {
		__u64 word;

		if (bpf_map_lookup_elem(fd, &key, &word))
			continue;
		for (int lane = 0; lane < LP_PIDMASK_PER_WORD; lane++) {
			__u64 count = (word >> (lane * LP_PIDMASK_BITS)) & LP_PIDMASK_LANE;

			counted += count != 0;
			total += count;
		}
	}
	fprintf(out, "lp_pidmask (prefilter of lp_procs)\n  %zu tgids counted (sum %zu), for pids "
		     "below %u\n",
		counted, total, info.max_entries * LP_PIDMASK_PER_WORD);
}

static void dump_conns(int fd, FILE *out)
{
	__u64 cookie, *prev = NULL;
	struct lp_conn conn;
	size_t n = 0;

	fprintf(out, "lp_conns (watched TCP connections, by socket cookie)\n");
	while (bpf_map_get_next_key(fd, prev, &cookie) == 0) {
		char local[CONN_ENDPOINT_MAX], peer[CONN_ENDPOINT_MAX];
		const char *reason, *error;

		prev = &cookie;
		if (bpf_map_lookup_elem(fd, &cookie, &conn))
			continue;
		n++;
		conn_format_endpoint(conn.family, conn.local_addr, conn.local_port, local,
				     sizeof(local));
		conn_format_endpoint(conn.family, conn.peer_addr, conn.peer_port, peer,
				     sizeof(peer));
		reason = conn_reason_name(conn.reason);
		error = conn_errno_name(conn.error);
		fprintf(out, "  %-10llu %s -> %s %s (was %s) reason=%s error=%s retransmits=%u owner=%u\n",
			(unsigned long long)cookie, local, peer, conn_tcp_state_name(conn.state),
			conn_tcp_state_name(conn.old_state), reason ? reason : "alive",
			error ? error : "-", conn.retransmits, conn.owner_tgid);
	}
	fprintf(out, "  (%zu entries)\n", n);
}

static void dump_keys(int fd, const char *title, size_t key_size, FILE *out)
{
	unsigned char key[LP_COMM_LEN], next[LP_COMM_LEN];
	bool first = true;

	fprintf(out, "%s\n ", title);
	while (key_size <= sizeof(key) && bpf_map_get_next_key(fd, first ? NULL : key, next) == 0) {
		first = false;
		memcpy(key, next, key_size);
		if (key_size == sizeof(__u16)) {
			__u16 port;

			memcpy(&port, key, sizeof(port));
			fprintf(out, " %u", port);
		} else {
			char comm[LP_COMM_LEN + 1];

			text_clean(comm, sizeof(comm), (const char *)key, LP_COMM_LEN);
			fprintf(out, " %s", comm);
		}
	}
	fprintf(out, first ? " (none)\n" : "\n");
}

static void dump_cgroups(int fd, FILE *out)
{
	__u64 id, *prev = NULL;
	struct lp_cgroup_watch watch;

	fprintf(out, "lp_cgroups (watched cgroups, by cgroup id)\n");
	while (bpf_map_get_next_key(fd, prev, &id) == 0) {
		char name[LP_NAME_LEN + 1];

		prev = &id;
		if (bpf_map_lookup_elem(fd, &id, &watch))
			continue;
		text_clean(name, sizeof(name), watch.name, LP_NAME_LEN);
		fprintf(out, "  %-12llu %s\n", (unsigned long long)id, name);
	}
}

static void dump_comms(int fd, FILE *out)
{
	dump_keys(fd, "lp_comms (watched command names)", LP_COMM_LEN, out);
}

static void dump_ports(int fd, FILE *out)
{
	dump_keys(fd, "lp_ports (watched TCP ports)", sizeof(__u16), out);
}

/* In the order they are printed. */
static const struct {
	const char *map;
	void (*dump)(int fd, FILE *out);
} sections[] = {
	{"lp_stats", dump_stats},     {"lp_procs", dump_procs}, {"lp_pidmask", dump_pidmask},
	{"lp_conns", dump_conns},     {"lp_comms", dump_comms}, {"lp_ports", dump_ports},
	{"lp_cgroups", dump_cgroups},
};

int dump_maps(const char *pin_root, FILE *out)
{
	__u32 key = 0, layout = 0;
	int fd = open_pin(pin_root, "lp_meta");

	if (fd < 0) {
		fprintf(stderr, "liveprobed: --dump-maps: nothing pinned under %s (%s)\n", pin_root,
			strerror(errno));
		return -ENOENT;
	}
	bpf_map_lookup_elem(fd, &key, &layout);
	close(fd);
	fprintf(out, "pin root %s, layout %u\n", pin_root, layout);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		fd = open_pin(pin_root, sections[i].map);
		if (fd < 0)
			continue; /* a map this daemon did not load (no ports watched, say) */
		sections[i].dump(fd, out);
		close(fd);
	}
	return 0;
}
