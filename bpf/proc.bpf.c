// SPDX-License-Identifier: GPL-2.0
/*
 * Process path: who is watched (lp_procs, keyed by tgid), how each watched process ends (exit
 * status, the sender of the fatal signal, the OOM killer's mark) and which new processes are
 * adopted because their command name is watched (lp_comms). Every program looks up lp_procs
 * or lp_comms first and returns before touching the ring buffer when the process is not ours.
 * The facts of a death are written into the lp_procs value before the event is sent, so the
 * daemon can recover them after a ring-buffer drop.
 */
#include "liveprobe.bpf.h"

/* include/linux/sched/signal.h; a #define, so not in BTF. */
#define SIGNAL_GROUP_EXIT 0x00000004
/* Signals whose default action does not end the process: CHLD CONT STOP TSTP TTIN TTOU URG WINCH */
#define NONFATAL_SIGNALS                                                                           \
	((1ULL << 17) | (1ULL << 18) | (1ULL << 19) | (1ULL << 20) | (1ULL << 21) | (1ULL << 22) | \
	 (1ULL << 23) | (1ULL << 28))
#define SEND_SIG_PRIV_PTR 1UL
/* include/uapi/asm-generic/siginfo.h: si_codes the kernel sends from its own context. */
#define SI_TIMER	  -2
#define SI_ASYNCIO	  -4
#define SI_SIGIO	  -5
#define SI_DETHREAD	  -7
#define E2BIG		  7

/* Set before load: which adoptions lp_proc_exec and lp_proc_fork make (--watch-comm; cgroups
 * by --watch-cgroup or --watch-unit, whose ids lp_cgroups gets later). */
const volatile bool comms_watched = false;
const volatile bool cgroups_watched = false;

/* Size is set by the daemon before load (--max-workers). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct lp_proc);
} lp_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct lp_comm_key);
	__type(value, __u32);
} lp_comms SEC(".maps");

/* Watched cgroups (--watch-cgroup, --watch-unit), by cgroup v2 id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u64);
	__type(value, struct lp_cgroup_watch);
} lp_cgroups SEC(".maps");

/* Every task argument here is a BTF pointer: its fields, and the pointers it holds, are direct
 * loads (fault-safe, relocated by CO-RE), not a bpf_probe_read_kernel call per hop. */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
}

/*
 * A prefilter in front of lp_procs: a four-bit count per tgid, sixteen to a word, of the lp_procs
 * entries for that tgid (plus insertions under way). Every exit on the host asks "is this tgid
 * watched?"; a miss in a 16,384-entry hash costs a cold bucket (about 400 ns per exit during
 * an exit storm, measured), while a zero here costs one load from a small array. tgids beyond
 * the array (pid_max raised after start) fall through to the hash. The count goes up before an
 * entry is inserted and down after it is deleted, by whoever does it (here, or the daemon
 * through mmap), so a watched tgid never reads zero.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2048); /* set from pid_max by the daemon before load */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
} lp_pidmask SEC(".maps");

static __always_inline __u64 *pidmask_word(__u32 tgid, __u64 *one)
{
	__u32 index = tgid / LP_PIDMASK_PER_WORD;

	*one = 1ULL << ((tgid % LP_PIDMASK_PER_WORD) * LP_PIDMASK_BITS);
	return bpf_map_lookup_elem(&lp_pidmask, &index);
}

static __always_inline bool maybe_watched(__u32 tgid)
{
	__u64 one, *word = pidmask_word(tgid, &one);

	return !word || (*word & (one * LP_PIDMASK_LANE));
}

static __always_inline __u64 task_start_ticks(struct task_struct *task)
{
	return task->group_leader->start_boottime / LP_NSEC_PER_TICK;
}

/* The status wait(2) would report for the whole thread group. */
static __always_inline __u32 group_exit_status(struct task_struct *task)
{
	struct signal_struct *signal = task->signal;

	if (signal->flags & SIGNAL_GROUP_EXIT)
		return signal->group_exit_code;
	return task->group_leader->exit_code;
}

/* The record goes out after the facts are in lp_procs: a failed reserve costs latency only. */
static __always_inline void send_proc_event(__u32 kind, __u32 tgid, const struct lp_proc *proc,
					    __u64 cgroup_id, __u64 now_ns)
{
	struct lp_proc_event *event;

	event = lp_event_reserve(sizeof(*event), kind, now_ns);
	if (!event)
		return;
	event->tgid = tgid;
	event->pad = 0;
	__builtin_memcpy(&event->proc, proc, sizeof(event->proc));
	event->cgroup_id = cgroup_id;
	bpf_ringbuf_submit(event, 0);
}

static __always_inline struct lp_proc *watched_proc(struct task_struct *task, __u32 *tgid)
{
	*tgid = task->tgid; /* a tp_btf argument: a direct load, no probe read */
	if (!maybe_watched(*tgid))
		return NULL;
	return bpf_map_lookup_elem(&lp_procs, tgid);
}

/* An entry made here, counted in lp_pidmask first; 0 or the error of the insert. */
static __always_inline long adopt_insert(__u32 tgid, const struct lp_proc *proc)
{
	__u64 one, *word = pidmask_word(tgid, &one);
	long err;

	if (word)
		__sync_fetch_and_add(word, one);
	err = bpf_map_update_elem(&lp_procs, &tgid, proc, BPF_NOEXIST);
	if (err && word)
		__sync_fetch_and_add(word, -one);
	return err;
}

/* The kernel's own adoption (watched comm or cgroup): the entry, counted, then the event. */
static __always_inline void adopt(__u32 tgid, const struct lp_proc *proc, __u64 cgroup_id)
{
	long err = adopt_insert(tgid, proc);

	if (err) {
		if (err == -E2BIG)
			lp_stat_inc(LP_STAT_ADOPT_FULL);
		return;
	}
	lp_stat_inc(LP_STAT_PROCS_ADOPTED);
	send_proc_event(LP_EV_PROC_NEW, tgid, proc, cgroup_id, bpf_ktime_get_ns());
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lp_proc_exit, struct task_struct *task, bool group_dead)
{
	struct lp_proc *proc;
	__u32 tgid;

	/* A thread's exit, even the main thread's, is not the process's. */
	if (!group_dead)
		return 0;
#ifdef LP_UPGRADE_VARIANT
	/* The restart test's next version: other instructions, the same behaviour. */
	if (bpf_get_smp_processor_id() == 0xffffffff)
		return 0;
#endif
	lp_stat_inc(LP_STAT_EXITS_SEEN);

	proc = watched_proc(task, &tgid);
	if (!proc)
		return 0;
	if (proc->start_ticks != task_start_ticks(task)) {
		lp_stat_inc(LP_STAT_PID_REUSED);
		return 0;
	}
	/* A cgroup's process was adopted at fork or attach, before its exec: name it as it is. */
	if (proc->flags & LP_PROC_CGROUP)
		bpf_get_current_comm(proc->comm, sizeof(proc->comm));
	proc->exit_code = group_exit_status(task);
	proc->exit_ns = bpf_ktime_get_ns();
	proc->flags |= LP_PROC_EXITED;
	lp_stat_inc(LP_STAT_EXITS_WATCHED);
	send_proc_event(LP_EV_PROC_EXIT, tgid, proc,
			(proc->flags & LP_PROC_CGROUP) ? task_cgroup_id(task) : 0, proc->exit_ns);
	return 0;
}

SEC("tp_btf/signal_generate")
int BPF_PROG(lp_signal_gen, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	struct lp_proc *proc;
	bool from_kernel;
	__u32 tgid;

	if (result != TRACE_SIGNAL_DELIVERED || sig <= 0 || sig > 64)
		return 0;
	if (sig < 64 && (NONFATAL_SIGNALS & (1ULL << sig)))
		return 0;
	proc = watched_proc(task, &tgid);
	if (!proc || (proc->flags & LP_PROC_EXITED))
		return 0;

	/* SEND_SIG_NOINFO (NULL) is a user's kill(); SEND_SIG_PRIV and si_code > 0 are the
	 * kernel's. So are a POSIX timer's expiry, an AIO completion and SIGIO, whatever their
	 * negative si_code says: they are sent from an interrupt or a worker, where the current
	 * task is whoever happened to run, and naming it would accuse a bystander. */
	if ((unsigned long)info == SEND_SIG_PRIV_PTR) {
		from_kernel = true;
	} else if (!info) {
		from_kernel = false;
	} else {
		/* A probe read: compared with SEND_SIG_PRIV above, info is a number to the
		 * verifier, no longer a pointer it lets us load from. */
		int code = BPF_CORE_READ(info, si_code);

		from_kernel = code > 0 || code == SI_TIMER || code == SI_ASYNCIO ||
			      code == SI_SIGIO || code == SI_DETHREAD;
	}

	if (from_kernel) {
		proc->killer_pid = 0;
		__builtin_memcpy(proc->killer_comm, "kernel", sizeof("kernel"));
	} else {
		proc->killer_pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(proc->killer_comm, sizeof(proc->killer_comm));
	}
	proc->kill_signal = sig;
	proc->flags |= LP_PROC_SIGNALED;
	lp_stat_inc(LP_STAT_SIGNALS_WATCHED);
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(lp_oom_victim, struct task_struct *task, uid_t uid)
{
	struct lp_proc *proc;
	__u32 tgid;

	proc = watched_proc(task, &tgid);
	if (!proc)
		return 0;
	proc->flags |= LP_PROC_OOM;
	lp_stat_inc(LP_STAT_OOM_WATCHED);
	return 0;
}

/* task->comm, NUL padded as lp_comms keys are (a kernel that does not pad comm would leave bytes
 * of an older name after the NUL). Direct loads, no bpf_probe_read_kernel_str call. */
static __always_inline void copy_comm(char *to, const struct task_struct *task)
{
	bool ended = false;

#pragma unroll
	for (int i = 0; i < LP_COMM_LEN; i++) {
		char c = task->comm[i];

		ended = ended || !c;
		to[i] = ended ? 0 : c;
	}
}

/* Adopt a process whose comm is watched, in the kernel, so even one that dies at once is seen. */
static __always_inline void adopt_if_comm_watched(struct task_struct *task)
{
	struct lp_comm_key key = {};
	struct lp_proc proc;
	__u32 tgid;

	copy_comm(key.comm, task);
	if (!bpf_map_lookup_elem(&lp_comms, &key))
		return;

	__builtin_memset(&proc, 0, sizeof(proc)); /* after the filter every exec runs */
	tgid = task->tgid;
	proc.start_ticks = task_start_ticks(task);
	proc.flags = LP_PROC_ADOPTED;
	__builtin_memcpy(proc.comm, key.comm, sizeof(proc.comm));
	__builtin_memcpy(proc.name, key.comm, sizeof(key.comm));
	adopt(tgid, &proc, 0);
}

/*
 * Adopt a process that is (or just moved) in a watched cgroup, in the kernel, so a process that
 * lives 1 ms is still seen; the daemon decides whether it is the worker's main process.
 */
static __always_inline void adopt_if_cgroup_watched(struct task_struct *task, __u64 cgroup_id)
{
	struct lp_cgroup_watch *watch;
	struct lp_proc proc;
	__u32 tgid;

	watch = bpf_map_lookup_elem(&lp_cgroups, &cgroup_id);
	if (!watch)
		return;
	__builtin_memset(&proc, 0, sizeof(proc)); /* after the filter every fork runs */
	tgid = task->tgid;
	proc.start_ticks = task_start_ticks(task);
	proc.flags = LP_PROC_CGROUP;
	copy_comm(proc.comm, task);
	__builtin_memcpy(proc.name, watch->name, sizeof(proc.name));
	adopt(tgid, &proc, cgroup_id);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lp_proc_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	if (comms_watched)
		adopt_if_comm_watched(task);
	if (cgroups_watched)
		adopt_if_cgroup_watched(task, task_cgroup_id(task));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(lp_proc_fork, struct task_struct *parent, struct task_struct *child)
{
	/* A new thread is not a new process. */
	if (child->pid != child->tgid)
		return 0;
	if (comms_watched)
		adopt_if_comm_watched(child);
	if (cgroups_watched)
		adopt_if_cgroup_watched(child, task_cgroup_id(child));
	return 0;
}

/* A process moved into a cgroup (a write to cgroup.procs): fork and exec never see that. */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(lp_cgroup_attach, struct cgroup *dst_cgrp, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	adopt_if_cgroup_watched(task, dst_cgrp->kn->id);
	return 0;
}
