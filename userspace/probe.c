// SPDX-License-Identifier: GPL-2.0
/* See probe.h. */
#include <stdatomic.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "liveprobe.skel.h"
#include "log.h"
#include "paths.h"
#include "probe.h"

#define BPFFS_DEFAULT "/sys/fs/bpf"

struct probe {
	struct liveprobe_bpf *skel;
	struct ring_buffer *ringbuf;
	struct bpf_link *links[PROBE_MAX_PROGS];
	char link_names[PROBE_MAX_PROGS][64];
	int n_links;
	int pin_root_fd; /* the pin root's lock (lock_pin_root): one daemon per pin root */
	int stats_fd;	 /* BPF_ENABLE_STATS: run times are counted while it is open */
	char pin_root[256];
	bool pinned;
	enum probe_start_mode mode;
	int n_cpus;
	_Atomic uint64_t *pidmask; /* lp_pidmask, mmap'd: counts of lp_procs entries per tgid */
	size_t pidmask_bytes;
	uint32_t pidmask_words;
	probe_event_fn on_event;
	void *ctx;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* libbpf's own lines (the verifier log included) only at --log-level debug: our one
	 * line says what failed. */
	(void)level;
	if (!log_is_verbose())
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int ringbuf_record(void *ctx, void *data, size_t size)
{
	struct probe *probe = ctx;

	probe->on_event(probe->ctx, data, size);
	return 0;
}

static bool on_bpffs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

/*
 * One daemon per pin root, held by a lock that cannot be removed from under it: a file under
 * /run/liveprobe named after the pin root (the pin directory itself may be removed, and then a
 * second daemon would start on it). Returns the locked fd, or -errno (-EBUSY: held).
 */
static int lock_pin_root(const char *pin_root)
{
	char path[512], name[300];
	int fd, err;

	err = paths_mkdir_p(PROBE_LOCK_DIR, 0755);
	if (err)
		return err;
	snprintf(name, sizeof(name), "%s", pin_root);
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '%';
	snprintf(path, sizeof(path), PROBE_LOCK_DIR "/%s.lock", name);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A fresh boot may have no bpffs; mount the conventional one when the pin root lives there. */
static int prepare_pin_root(struct probe *probe, const char *pin_root)
{
	int err;

	if (!strncmp(pin_root, BPFFS_DEFAULT "/", sizeof(BPFFS_DEFAULT)) &&
	    !on_bpffs(BPFFS_DEFAULT)) {
		paths_mkdir_p(BPFFS_DEFAULT, 0700);
		if (mount("bpf", BPFFS_DEFAULT, "bpf", 0, "mode=0700")) {
			err = -errno;
			log_error("cannot mount bpffs at %s: %s", BPFFS_DEFAULT, strerror(errno));
			return err;
		}
	}
	err = paths_mkdir_p(pin_root, 0700);
	if (err) {
		log_error("cannot create pin root %s: %s%s", pin_root, strerror(-err),
			  err == -EACCES || err == -EPERM
				  ? " (liveprobed needs root, or CAP_BPF and CAP_PERFMON)"
				  : "");
		return err;
	}
	if (!on_bpffs(pin_root)) {
		log_error("pin root %s is not on a BPF filesystem (mount -t bpf bpf DIR)",
			  pin_root);
		return -EINVAL;
	}
	{
		char why[320];

		err = paths_check_private(pin_root, why, sizeof(why));
		if (err) {
			log_error("--pin-root: %s", why);
			return err;
		}
	}
	probe->pin_root_fd = lock_pin_root(pin_root);
	if (probe->pin_root_fd < 0) {
		err = probe->pin_root_fd;
		log_error("pin root %s: %s", pin_root,
			  err == -EBUSY ? "in use by another liveprobed (use --pin-root)"
					: strerror(-err));
		return err;
	}
	snprintf(probe->pin_root, sizeof(probe->pin_root), "%s", pin_root);
	return 0;
}

static int pin_maps(struct probe *probe)
{
	struct bpf_map *map;
	char path[512];
	int err;

	bpf_object__for_each_map(map, probe->skel->obj)
	{
		/* .rodata and .bss are internal; only our named maps are worth a pin. */
		if (strncmp(bpf_map__name(map), "lp_", 3))
			continue;
		snprintf(path, sizeof(path), "%s/%s", probe->pin_root, bpf_map__name(map));
		if (!access(path, F_OK)) {
			log_debug("replacing stale pin %s", path);
			unlink(path);
		}
		err = bpf_map__pin(map, path);
		if (err) {
			log_error("cannot pin map %s at %s: %s", bpf_map__name(map), path,
				  strerror(-err));
			return err;
		}
	}
	probe->pinned = true;
	return 0;
}

/* Removes every pin under the pin root: what it pinned detaches once nothing holds it. */
static int unpin_all(const char *pin_root)
{
	DIR *dir = opendir(pin_root);
	struct dirent *entry;
	char path[512];
	int removed = 0;

	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_root, entry->d_name);
		if (!unlink(path))
			removed++;
	}
	closedir(dir);
	return removed;
}

/*
 * A pin root holding our maps is taken over: the maps (and what the kernel recorded in them
 * while no daemon ran, the ring buffer's backlog included) are reused as they are. One of
 * another layout is refused, never half-read.
 */
static int reuse_pinned_maps(struct probe *probe)
{
	char path[512];
	struct bpf_map *map;
	__u32 key = 0, layout = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/lp_meta", probe->pin_root);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0; /* nothing to take over */
	if (bpf_map_lookup_elem(fd, &key, &layout) || layout != LP_LAYOUT_VERSION) {
		close(fd);
		log_error(
			"pin root %s holds maps of layout %u and this liveprobed uses layout %u: "
			"start it with --reset-pins (what they recorded is lost), or keep the old "
			"daemon",
			probe->pin_root, layout, LP_LAYOUT_VERSION);
		return -EPROTO;
	}
	close(fd);
	bpf_object__for_each_map(map, probe->skel->obj)
	{
		int err;

		if (strncmp(bpf_map__name(map), "lp_", 3))
			continue;
		snprintf(path, sizeof(path), "%s/%s", probe->pin_root, bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue; /* a map this layout added since: made anew */
		err = bpf_map__reuse_fd(map, fd);
		close(fd);
		if (err) {
			log_error("cannot take over pinned map %s: %s", path, strerror(-err));
			return err;
		}
	}
	probe->mode = PROBE_TOOK_OVER;
	return 0;
}

/* The previous daemon's configuration does not carry over: its comms and ports go. */
static void clear_map(struct bpf_map *map, size_t key_size)
{
	char key[64];
	int fd = bpf_map__fd(map);

	while (key_size <= sizeof(key) && bpf_map_get_next_key(fd, NULL, key) == 0)
		if (bpf_map_delete_elem(fd, key))
			break;
}

/* The first cgroup v2 mount in /proc/mounts: cgroup programs attach to its root. */
static int open_cgroup2_root(void)
{
	char dir[512];
	int fd, err = paths_cgroup2_mount(dir, sizeof(dir));

	if (err)
		return err;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	log_debug("cgroup v2 root: %s", dir);
	return fd < 0 ? -errno : fd;
}

static struct bpf_link *attach_one(struct bpf_program *prog)
{
	struct bpf_link *link;
	int cgroup_fd, err;

	if (bpf_program__type(prog) != BPF_PROG_TYPE_SOCK_OPS)
		return bpf_program__attach(prog);
	cgroup_fd = open_cgroup2_root();
	if (cgroup_fd < 0) {
		log_error("--keepalive needs cgroup v2, and none is mounted (%s); mount one with "
			  "'mount -t cgroup2 none /sys/fs/cgroup/unified'",
			  strerror(-cgroup_fd));
		errno = -cgroup_fd;
		return NULL;
	}
	link = bpf_program__attach_cgroup(prog, cgroup_fd);
	err = errno;
	close(cgroup_fd);
	errno = err;
	return link;
}

/*
 * Make before break: each daemon pins its links under names of its own (link_PROG_START), so
 * the new program is attached and pinned before the previous daemon's links are removed; no
 * event goes unseen during a takeover (at worst one is seen twice, which the fleet ignores).
 * bpffs has neither rename nor dotted names, hence these.
 */
static int pin_link(struct probe *probe, struct bpf_link *link, int index)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", probe->pin_root, probe->link_names[index]);
	return bpf_link__pin(link, path);
}

/* Once ours are pinned: every other link pin (a previous daemon's) goes, and detaches. */
static void unpin_stale_links(struct probe *probe)
{
	DIR *dir = opendir(probe->pin_root);
	struct dirent *entry;
	char path[512];

	if (!dir)
		return;
	while ((entry = readdir(dir))) {
		bool ours = false;

		if (strncmp(entry->d_name, "link_", 5))
			continue;
		for (int i = 0; i < probe->n_links; i++)
			ours |= !strcmp(entry->d_name, probe->link_names[i]);
		if (!ours) {
			snprintf(path, sizeof(path), "%s/%s", probe->pin_root, entry->d_name);
			unlink(path);
		}
	}
	closedir(dir);
}

static int attach_program(struct probe *probe, struct bpf_program *prog, uint64_t started_ns)
{
	struct bpf_link *link;
	int err;

	if (probe->n_links == PROBE_MAX_PROGS) {
		log_error("more BPF programs than PROBE_MAX_PROGS");
		return -E2BIG;
	}
	link = attach_one(prog);
	if (!link) {
		err = -errno;
		log_error("cannot attach BPF program %s (%s): %s", bpf_program__name(prog),
			  bpf_program__section_name(prog), strerror(-err));
		return err;
	}
	probe->links[probe->n_links] = link;
	snprintf(probe->link_names[probe->n_links], sizeof(probe->link_names[0]), "link_%s_%llx",
		 bpf_program__name(prog), (unsigned long long)started_ns);
	err = pin_link(probe, link, probe->n_links);
	probe->n_links++;
	if (err)
		log_error("cannot pin the link of %s under %s: %s", bpf_program__name(prog),
			  probe->pin_root, strerror(-err));
	return err;
}

static int attach_programs(struct probe *probe)
{
	struct bpf_program *nested = probe->skel->progs.lp_tcp_nested;
	struct timespec now;
	uint64_t started_ns;
	struct bpf_program *prog;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &now);
	started_ns = now.tv_sec * 1000000000ull + now.tv_nsec;

	bpf_object__for_each_program(prog, probe->skel->obj)
	{
		if (!bpf_program__autoload(prog) || prog == nested)
			continue;
		err = attach_program(probe, prog, started_ns);
		if (err)
			return err;
	}
	/* A tracepoint calls its programs in the order they attached: lp_tcp_nested must run after
	 * lp_tcp_state to see which change it started on. */
	if (bpf_program__autoload(nested)) {
		err = attach_program(probe, nested, started_ns);
		if (err)
			return err;
	}
	unpin_stale_links(probe);
	return 0;
}

/* Adds delta (1 or -1) to tgid's count in lp_pidmask; tgids beyond it need none. */
static void pidmask_count(struct probe *probe, uint32_t tgid, int delta)
{
	uint32_t word = tgid / LP_PIDMASK_PER_WORD;
	uint64_t one = 1ull << ((tgid % LP_PIDMASK_PER_WORD) * LP_PIDMASK_BITS);

	if (!probe->pidmask || word >= probe->pidmask_words)
		return;
	atomic_fetch_add(&probe->pidmask[word], delta > 0 ? one : -one);
}

static bool pidmask_counted(struct probe *probe, uint32_t tgid)
{
	uint32_t word = tgid / LP_PIDMASK_PER_WORD;
	unsigned int shift = (tgid % LP_PIDMASK_PER_WORD) * LP_PIDMASK_BITS;

	return !probe->pidmask || word >= probe->pidmask_words ||
	       ((atomic_load(&probe->pidmask[word]) >> shift) & LP_PIDMASK_LANE);
}

/*
 * Counts every lp_procs entry that has no count yet: after a takeover from pins that had no
 * lp_pidmask, once before our programs attach and once after the previous daemon's detach
 * (entries it made in between). Entries ours make are counted before they exist. 0 or -errno
 * after one logged line.
 */
static int pidmask_cover(struct probe *probe)
{
	uint32_t tgids[PROBE_READ_BATCH];
	struct lp_proc procs[PROBE_READ_BATCH];
	struct probe_cursor cursor = {0};
	int n;

	while ((n = probe_proc_read(probe, &cursor, tgids, procs, PROBE_READ_BATCH)) > 0)
		for (int i = 0; i < n; i++)
			if (!pidmask_counted(probe, tgids[i]))
				pidmask_count(probe, tgids[i], 1);
	/* An uncounted watched tgid would hide its exit from lp_proc_exit: no start without it. */
	if (n < 0)
		log_error("cannot read lp_procs to count it in lp_pidmask: %s", strerror(-n));
	return n;
}

static int pidmask_map(struct probe *probe)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bpf_map *map = probe->skel->maps.lp_pidmask;

	probe->pidmask_words = bpf_map__max_entries(map);
	probe->pidmask_bytes = ((size_t)probe->pidmask_words * 8 + page - 1) / page * page;
	probe->pidmask = mmap(NULL, probe->pidmask_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			      bpf_map__fd(map), 0);
	if (probe->pidmask == MAP_FAILED) {
		probe->pidmask = NULL;
		return -errno;
	}
	return 0;
}

/* Enough words for every pid up to pid_max now (a pid_max raised later falls back to the hash). */
static uint32_t pidmask_words(void)
{
	FILE *file = fopen("/proc/sys/kernel/pid_max", "re");
	unsigned long pid_max = 4194304;

	if (file) {
		if (fscanf(file, "%lu", &pid_max) != 1 || pid_max > 4194304)
			pid_max = 4194304;
		fclose(file);
	}
	return (pid_max + LP_PIDMASK_PER_WORD - 1) / LP_PIDMASK_PER_WORD;
}

static int insert_comms(struct probe *probe, const struct probe_config *config)
{
	int fd = bpf_map__fd(probe->skel->maps.lp_comms);
	__u32 enabled = 1;

	for (int i = 0; i < config->n_comms; i++) {
		struct lp_comm_key key = {};

		strncpy(key.comm, config->comms[i], sizeof(key.comm) - 1);
		if (bpf_map_update_elem(fd, &key, &enabled, BPF_ANY)) {
			log_error("cannot add comm %s to lp_comms: %s", key.comm, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* The watched ports into lp_ports (the list readers see) and lp_portmask (what programs test). */
static int insert_ports(struct probe *probe, const struct probe_config *config)
{
	int fd = bpf_map__fd(probe->skel->maps.lp_ports);
	int mask_fd = bpf_map__fd(probe->skel->maps.lp_portmask);
	__u64 mask[LP_PORTMASK_WORDS] = {};
	__u32 words[LP_PORTMASK_WORDS], count = LP_PORTMASK_WORDS;
	__u32 enabled = 1;

	for (int i = 0; i < config->n_ports; i++) {
		__u16 port = config->ports[i];

		if (bpf_map_update_elem(fd, &port, &enabled, BPF_ANY)) {
			log_error("cannot add port %u to lp_ports: %s", port, strerror(errno));
			return -errno;
		}
		mask[port / 64] |= 1ULL << (port % 64);
	}
	/* Every word, so that a taken-over mask keeps none of the previous daemon's ports: one
	 * batch, not a syscall per word. */
	for (__u32 word = 0; word < LP_PORTMASK_WORDS; word++)
		words[word] = word;
	if (bpf_map_update_batch(mask_fd, words, mask, &count, NULL)) {
		log_error("cannot write lp_portmask: %s", strerror(errno));
		return -errno;
	}
	if (count != LP_PORTMASK_WORDS) {
		log_error("cannot write lp_portmask: %u of %u words written", count,
			  LP_PORTMASK_WORDS);
		return -EIO;
	}
	return 0;
}

static void configure_conns(struct probe *probe, const struct probe_config *config)
{
	struct liveprobe_bpf *skel = probe->skel;

	skel->rodata->watched_netns_cookie = config->netns_cookie;
	skel->rodata->keepalive_idle_s = config->keepalive_idle_s;
	skel->rodata->keepalive_intvl_s = config->keepalive_intvl_s;
	skel->rodata->keepalive_cnt = config->keepalive_cnt;
	/* Without watched ports every TCP program would only count and return: leave them out. */
	if (config->n_ports == 0) {
		bpf_program__set_autoload(skel->progs.lp_tcp_state, false);
		bpf_program__set_autoload(skel->progs.lp_tcp_nested, false);
		bpf_program__set_autoload(skel->progs.lp_tcp_rst_rx, false);
		bpf_program__set_autoload(skel->progs.lp_tcp_rst_tx, false);
		bpf_program__set_autoload(skel->progs.lp_tcp_error, false);
		bpf_program__set_autoload(skel->progs.lp_tcp_retrans, false);
	}
	if (config->n_ports == 0 || config->keepalive_idle_s == 0)
		bpf_program__set_autoload(skel->progs.lp_keepalive, false);
}

int probe_start(const struct probe_config *config, struct probe **out)
{
	struct probe *probe;
	int err;

	*out = NULL;
	libbpf_set_print(libbpf_print);
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		log_error("this kernel has no BTF (/sys/kernel/btf/vmlinux); liveprobe needs "
			  "CONFIG_DEBUG_INFO_BTF=y");
		return -ENOTSUP;
	}
	probe = calloc(1, sizeof(*probe));
	if (!probe)
		return -ENOMEM;
	probe->pin_root_fd = -1;
	probe->stats_fd = -1;
	probe->on_event = config->on_event;
	probe->ctx = config->ctx;
	probe->n_cpus = libbpf_num_possible_cpus();
	if (probe->n_cpus <= 0) {
		err = -EINVAL;
		log_error("cannot count possible CPUs");
		goto cleanup;
	}

	err = prepare_pin_root(probe, config->pin_root);
	if (err)
		goto cleanup;

	probe->skel = liveprobe_bpf__open();
	if (!probe->skel) {
		err = -errno;
		log_error("cannot open BPF object: %s", strerror(-err));
		goto cleanup;
	}

	err = bpf_map__set_max_entries(probe->skel->maps.lp_events, config->ringbuf_bytes);
	if (!err)
		err = bpf_map__set_max_entries(probe->skel->maps.lp_procs, config->max_procs);
	if (!err)
		err = bpf_map__set_max_entries(probe->skel->maps.lp_conns, config->max_conns);
	if (!err)
		err = bpf_map__set_max_entries(probe->skel->maps.lp_pidmask, pidmask_words());
	if (err) {
		log_error("cannot size BPF maps: %s", strerror(-err));
		goto cleanup;
	}
	/* Adoption by comm or cgroup costs a hash lookup per fork and exec: only when asked, and
	 * only the half that was asked for (the other is verified away). */
	probe->skel->rodata->comms_watched = config->n_comms > 0;
	probe->skel->rodata->cgroups_watched = config->watch_cgroups;
	if (config->n_comms == 0 && !config->watch_cgroups) {
		bpf_program__set_autoload(probe->skel->progs.lp_proc_exec, false);
		bpf_program__set_autoload(probe->skel->progs.lp_proc_fork, false);
	}
	if (!config->watch_cgroups)
		bpf_program__set_autoload(probe->skel->progs.lp_cgroup_attach, false);
	configure_conns(probe, config);

	if (config->reset_pins) {
		int removed = unpin_all(probe->pin_root);

		if (removed > 0)
			log_warn("--reset-pins: removed %d pins under %s; what they recorded while no "
				 "daemon ran is lost",
				 removed, probe->pin_root);
		probe->mode = PROBE_RESET;
	} else {
		err = reuse_pinned_maps(probe);
		if (err)
			goto cleanup;
	}
	err = liveprobe_bpf__load(probe->skel);
	if (err) {
		if (err == -EPERM)
			log_error("cannot load BPF programs: %s (run as root, or with CAP_BPF and "
				  "CAP_PERFMON)",
				  strerror(-err));
		else
			log_error("cannot load BPF programs: %s (--verbose shows the verifier log)",
				  strerror(-err));
		goto cleanup;
	}
	{
		__u32 key = 0, layout = LP_LAYOUT_VERSION;

		bpf_map__update_elem(probe->skel->maps.lp_meta, &key, sizeof(key), &layout,
				     sizeof(layout), BPF_ANY);
	}
	if (probe->mode == PROBE_TOOK_OVER) {
		clear_map(probe->skel->maps.lp_comms, sizeof(struct lp_comm_key));
		clear_map(probe->skel->maps.lp_ports, sizeof(__u16));
		clear_map(probe->skel->maps.lp_cgroups, sizeof(__u64));
	}
	err = insert_comms(probe, config);
	if (!err)
		err = insert_ports(probe, config);
	if (err)
		goto cleanup;
	err = pidmask_map(probe);
	if (err) {
		log_error("cannot map lp_pidmask: %s", strerror(-err));
		goto cleanup;
	}
	err = pidmask_cover(probe);
	if (err)
		goto cleanup;
	err = attach_programs(probe);
	if (err)
		goto cleanup;
	err = pidmask_cover(probe); /* what the previous daemon's programs added meanwhile */
	if (err)
		goto cleanup;
	err = pin_maps(probe);
	if (err)
		goto cleanup;

	probe->ringbuf = ring_buffer__new(bpf_map__fd(probe->skel->maps.lp_events), ringbuf_record,
					  probe, NULL);
	if (!probe->ringbuf) {
		err = -errno;
		log_error("cannot set up the ring-buffer consumer: %s", strerror(-err));
		goto cleanup;
	}
	if (config->bpf_stats) {
		probe->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (probe->stats_fd < 0) {
			err = probe->stats_fd;
			log_error("--bpf-stats: cannot enable BPF run-time statistics: %s",
				  strerror(-err));
			goto cleanup;
		}
	}
	*out = probe;
	return 0;

cleanup:
	probe_stop(probe);
	return err;
}

void probe_stop(struct probe *probe)
{
	if (!probe)
		return;
	ring_buffer__free(probe->ringbuf);
	if (probe->pidmask)
		munmap((void *)probe->pidmask, probe->pidmask_bytes);
	/* The pins stay: the kernel keeps recording for the next daemon (--unload ends that). */
	for (int i = 0; i < probe->n_links; i++)
		bpf_link__destroy(probe->links[i]);
	liveprobe_bpf__destroy(probe->skel);
	if (probe->pin_root_fd >= 0)
		close(probe->pin_root_fd);
	if (probe->stats_fd >= 0)
		close(probe->stats_fd);
	free(probe);
}

enum probe_start_mode probe_start_mode(const struct probe *probe)
{
	return probe->mode;
}

int probe_unload(const char *pin_root)
{
	int fd = lock_pin_root(pin_root); /* never the pins of a running daemon */
	int removed;

	if (fd < 0)
		return fd;
	removed = unpin_all(pin_root);
	close(fd);
	if (removed < 0)
		return removed;
	rmdir(pin_root);
	return removed;
}

int probe_epoll_fd(const struct probe *probe)
{
	return ring_buffer__epoll_fd(probe->ringbuf);
}

int probe_consume(struct probe *probe)
{
	return ring_buffer__consume(probe->ringbuf);
}

int probe_watch(struct probe *probe, uint32_t tgid, const struct lp_proc *proc)
{
	struct bpf_map *procs = probe->skel->maps.lp_procs;

	/* Counted before it exists, so an exit in between is never filtered out. */
	pidmask_count(probe, tgid, 1);
	if (bpf_map__update_elem(procs, &tgid, sizeof(tgid), proc, sizeof(*proc), BPF_NOEXIST) ==
	    0)
		return 0;
	pidmask_count(probe, tgid, -1); /* an entry there already carries its count */
	if (errno == EEXIST &&
	    bpf_map__update_elem(procs, &tgid, sizeof(tgid), proc, sizeof(*proc), BPF_EXIST) == 0)
		return 0;
	return errno == E2BIG ? -ENOSPC : -errno;
}

int probe_unwatch(struct probe *probe, uint32_t tgid, uint64_t start_ticks)
{
	struct lp_proc current;
	int err = probe_lookup(probe, tgid, &current);

	if (err)
		return err;
	if (current.start_ticks != start_ticks)
		return -ESRCH;
	if (bpf_map__delete_elem(probe->skel->maps.lp_procs, &tgid, sizeof(tgid), 0))
		return -errno;
	pidmask_count(probe, tgid, -1);
	return 0;
}

int probe_lookup(struct probe *probe, uint32_t tgid, struct lp_proc *out)
{
	if (bpf_map__lookup_elem(probe->skel->maps.lp_procs, &tgid, sizeof(tgid), out, sizeof(*out),
				 0))
		return -errno;
	return 0;
}

int probe_watch_cgroup(struct probe *probe, uint64_t cgroup_id, const char *name)
{
	struct lp_cgroup_watch watch = {};

	snprintf(watch.name, sizeof(watch.name), "%s", name);
	if (bpf_map_update_elem(bpf_map__fd(probe->skel->maps.lp_cgroups), &cgroup_id, &watch,
				BPF_ANY))
		return -errno;
	return 0;
}

int probe_conn_lookup(struct probe *probe, uint64_t cookie, struct lp_conn *out)
{
	if (bpf_map__lookup_elem(probe->skel->maps.lp_conns, &cookie, sizeof(cookie), out,
				 sizeof(*out), 0))
		return -errno;
	return 0;
}

static int read_batch(const struct bpf_map *map, struct probe_cursor *cursor, void *keys,
		      void *values, uint32_t max)
{
	uint32_t count = max, next;
	int err;

	if (cursor->done)
		return 0;
	err = bpf_map_lookup_batch(bpf_map__fd(map), cursor->started ? &cursor->batch : NULL, &next,
				   keys, values, &count, NULL);
	/* ENOENT: the last buckets were read, and count says what they held. */
	if (err && err != -ENOENT)
		return err;
	cursor->started = true;
	cursor->done = err == -ENOENT;
	cursor->batch = next;
	return count;
}

int probe_conn_read(struct probe *probe, struct probe_cursor *cursor, uint64_t *cookies,
		    struct lp_conn *conns, uint32_t max)
{
	return read_batch(probe->skel->maps.lp_conns, cursor, cookies, conns, max);
}

int probe_proc_read(struct probe *probe, struct probe_cursor *cursor, uint32_t *tgids,
		    struct lp_proc *procs, uint32_t max)
{
	return read_batch(probe->skel->maps.lp_procs, cursor, tgids, procs, max);
}

int probe_conn_delete(struct probe *probe, uint64_t cookie)
{
	if (bpf_map__delete_elem(probe->skel->maps.lp_conns, &cookie, sizeof(cookie), 0))
		return -errno;
	return 0;
}

void probe_conn_delete_many(struct probe *probe, const uint64_t *cookies, uint32_t n)
{
	int fd = bpf_map__fd(probe->skel->maps.lp_conns);

	/* The kernel stops at the first key it cannot delete and counts those it did. That key is
	 * skipped: gone already (ENOENT), or deleted alone, should the batch call itself fail. */
	for (uint32_t done = 0, count; done < n; done += count + 1) {
		int err;

		count = n - done;
		err = bpf_map_delete_batch(fd, cookies + done, &count, NULL);
		if (!err)
			break;
		if (count >= n - done)
			count = 0; /* nothing deleted, or a count not to be trusted */
		if (err != -ENOENT)
			bpf_map_delete_elem(fd, &cookies[done + count]);
	}
}

int probe_read_stats(struct probe *probe, uint64_t stats[LP_STAT__COUNT])
{
	uint64_t per_cpu[probe->n_cpus];

	for (uint32_t index = 0; index < LP_STAT__COUNT; index++) {
		if (bpf_map__lookup_elem(probe->skel->maps.lp_stats, &index, sizeof(index), per_cpu,
					 sizeof(per_cpu), 0))
			return -errno;
		stats[index] = 0;
		for (int cpu = 0; cpu < probe->n_cpus; cpu++)
			stats[index] += per_cpu[cpu];
	}
	return 0;
}

uint64_t probe_tcp_states_rescued(struct probe *probe)
{
	struct lp_tcp_last_change per_cpu[probe->n_cpus];
	uint64_t rescued = 0;
	uint32_t zero = 0;

	if (!bpf_program__autoload(probe->skel->progs.lp_tcp_nested) ||
	    bpf_map__lookup_elem(probe->skel->maps.tcp_last_change, &zero, sizeof(zero), per_cpu,
				 sizeof(per_cpu), 0))
		return 0;
	for (int cpu = 0; cpu < probe->n_cpus; cpu++)
		rescued += per_cpu[cpu].rescued;
	return rescued;
}

int probe_prog_stats(struct probe *probe, struct probe_prog_stats *out)
{
	struct bpf_program *prog;
	int count = 0;

	bpf_object__for_each_program(prog, probe->skel->obj)
	{
		struct bpf_prog_info info = {};
		__u32 info_len = sizeof(info);

		if (!bpf_program__autoload(prog) || count == PROBE_MAX_PROGS)
			continue;
		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &info_len))
			continue;
		snprintf(out[count].name, sizeof(out[count].name), "%s", bpf_program__name(prog));
		out[count].run_cnt = info.run_cnt;
		out[count].run_time_ns = info.run_time_ns;
		out[count].recursion_misses = info.recursion_misses;
		count++;
	}
	return count;
}
