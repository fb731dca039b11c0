// SPDX-License-Identifier: GPL-2.0
/* See privs.h. */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

static const cap_value_t kept[] = {CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};

static int drop_capabilities(void)
{
	cap_t caps = cap_init();
	int err = 0;

	if (!caps)
		return -errno;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. */
	for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++) {
		bool keep = cap == kept[0] || cap == kept[1];

		/* Only what is still bounded: a unit's CapabilityBoundingSet may have done most. */
		if (!keep && CAP_IS_SUPPORTED(cap) && cap_get_bound(cap) == 1 &&
		    cap_drop_bound(cap)) {
			err = -errno;
			goto cleanup;
		}
	}
	if (cap_reset_ambient() && errno != EINVAL) {
		err = -errno;
		goto cleanup;
	}
	if (cap_set_flag(caps, CAP_EFFECTIVE, 2, kept, CAP_SET) ||
	    cap_set_flag(caps, CAP_PERMITTED, 2, kept, CAP_SET) || cap_set_proc(caps))
		err = -errno;
cleanup:
	cap_free(caps);
	return err;
}

/* Every system call the running daemon makes (glibc, libbpf, libmicrohttpd, json-c, and the
 * sanitizers' runtime in a SANITIZE=1 build); anything else is an attacker's. */
static const char *const allowed[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "open", "openat", "close",
	"fstat", "stat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "lseek", "mmap",
	"munmap", "mprotect", "mremap", "madvise", "brk", "rt_sigaction", "rt_sigprocmask",
	"rt_sigreturn", "sigaltstack", "ioctl", "poll", "ppoll", "select", "pselect6",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2", "timerfd_create",
	"timerfd_settime", "timerfd_gettime", "signalfd4", "socket", "bind", "listen", "accept",
	"accept4", "connect", "getsockname", "getpeername", "getsockopt", "setsockopt", "sendto",
	"recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "clone", "clone3",
	"exit", "exit_group", "wait4", "waitid", "kill", "tgkill", "tkill", "getpid", "gettid",
	"getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "futex",
	"set_robust_list", "get_robust_list", "nanosleep", "clock_nanosleep", "clock_gettime",
	"clock_getres", "gettimeofday", "time", "getrandom", "sched_yield", "sched_getaffinity",
	"prlimit64", "getrlimit", "uname", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2",
	"getdents", "getdents64", "readlink", "readlinkat", "unlink", "unlinkat", "rename", "renameat",
	"renameat2", "mkdir", "mkdirat", "rmdir", "fsync", "fdatasync", "ftruncate", "flock", "fchmod",
	"chmod", "access", "faccessat", "faccessat2", "umask", "getcwd", "bpf", "pidfd_open",
	"prctl", "rseq", "set_tid_address", "membarrier", "restart_syscall", "sched_getparam",
	"sched_getscheduler", "sysinfo", "capget", "getresuid", "getresgid", "mincore",
	"process_vm_readv", "getrusage", "memfd_create", "sendfile",
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer stops the world with a tracer thread at exit. */
	"ptrace",
#endif
};

static int install_seccomp(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int err = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && !err; i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr != __NR_SCMP_ERROR)
			err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	/* A thread may lower its own priority (the HTTP renderer does) and go back to the daemon's
	 * schedule (privs_leave_priority); never another's. RLIMIT_NICE and RLIMIT_RTPRIO,
	 * lowered by privs_take_priority, keep either from raising one. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setpriority), 2,
				       SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS), SCMP_A1(SCMP_CMP_EQ, 0));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sched_setattr), 1,
				       SCMP_A0(SCMP_CMP_EQ, 0));
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

/* struct sched_attr of <linux/sched/types.h> as of Linux 4.x (SCHED_ATTR_SIZE_VER0), which
 * every later kernel takes; that header cannot be included beside <sched.h>, and glibc 2.36
 * wraps neither call. */
struct sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime; /* SCHED_OTHER and SCHED_BATCH: the slice, Linux 6.12+ */
	uint64_t sched_deadline;
	uint64_t sched_period;
};
#define SCHED_FLAG_RESET_ON_FORK 0x01

static int get_own_schedule(struct sched_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	return syscall(SYS_sched_getattr, 0, attr, sizeof(*attr), 0) ? -errno : 0;
}

static int set_own_schedule(const struct sched_attr *attr)
{
	return syscall(SYS_sched_setattr, 0, attr, 0) ? -errno : 0;
}

static bool fair_policy(uint32_t policy)
{
	return policy == SCHED_OTHER || policy == SCHED_BATCH;
}

/* Every thread's schedule at start, kept by all but the loop. */
static struct sched_attr found;
static bool taken;

/* The schedule of the daemon's other threads: as found, with the kernel's own slice. */
static struct sched_attr daemon_schedule(void)
{
	struct sched_attr attr = {
		.size = sizeof(attr),
		.sched_policy = found.sched_policy,
		.sched_flags = found.sched_flags & SCHED_FLAG_RESET_ON_FORK,
		.sched_nice = found.sched_nice,
		.sched_priority = found.sched_priority,
	};

	return attr;
}

/* Nothing but the loop needs a higher priority than the daemon started with, even where a
 * unit's LimitNICE= or LimitRTPRIO= would allow it. Lowering a limit needs no privilege. */
static int lower_limit(int resource, rlim_t ceiling)
{
	struct rlimit limit;

	if (getrlimit(resource, &limit))
		return -errno;
	limit.rlim_cur = limit.rlim_cur < ceiling ? limit.rlim_cur : ceiling;
	limit.rlim_max = limit.rlim_max < ceiling ? limit.rlim_max : ceiling;
	return setrlimit(resource, &limit) ? -errno : 0;
}

int privs_take_priority(int nice, uint32_t slice_us, bool *slice_kept)
{
	struct sched_attr wanted, now;
	int err = get_own_schedule(&found);

	*slice_kept = false;
	if (err)
		return err;
	taken = true;
	/* A thread the operator made real-time, or idle, keeps that schedule. */
	if (fair_policy(found.sched_policy)) {
		wanted = daemon_schedule();
		/* A loop started at a higher priority keeps it. */
		wanted.sched_nice = nice < found.sched_nice ? nice : found.sched_nice;
		wanted.sched_runtime = (uint64_t)slice_us * 1000;
		err = set_own_schedule(&wanted);
		if (err)
			return err;
		/* Kernels before 6.12 take the call but have no slice to set. */
		*slice_kept = slice_us && !get_own_schedule(&now) &&
			      now.sched_runtime == wanted.sched_runtime;
	}
	err = lower_limit(RLIMIT_NICE, 20 - found.sched_nice);
	return err ?: lower_limit(RLIMIT_RTPRIO, found.sched_priority);
}

int privs_leave_priority(void)
{
	struct sched_attr daemon;

	if (!taken || !fair_policy(found.sched_policy))
		return 0;
	daemon = daemon_schedule();
	return set_own_schedule(&daemon);
}

int privs_drop(void)
{
	int err = drop_capabilities();

	if (err) {
		log_error("cannot drop capabilities: %s", strerror(-err));
		return err;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		err = -errno;
		log_error("cannot set no_new_privs: %s", strerror(errno));
		return err;
	}
	err = install_seccomp();
	if (err)
		log_error("cannot install the seccomp filter: %s", strerror(-err));
	return err;
}
