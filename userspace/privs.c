// SPDX-License-Identifier: GPL-2.0
/* See privs.h. */
#include <errno.h>
#include <stdbool.h>
#include <seccomp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>

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
/* Wrapped by hand: clang-format would give each name a line of its own. */
/* clang-format off */
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
	"getdents", "getdents64", "readlink", "readlinkat", "unlink", "unlinkat", "rename",
	"renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "fsync", "fdatasync", "ftruncate",
	"flock", "fchmod", "chmod", "access", "faccessat", "faccessat2", "umask", "getcwd", "bpf",
	"pidfd_open", "prctl", "rseq", "set_tid_address", "membarrier", "restart_syscall",
	"sched_getparam", "sched_getscheduler", "sysinfo", "capget", "getresuid", "getresgid",
	"mincore", "process_vm_readv", "getrusage", "memfd_create", "sendfile",
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer stops the world with a tracer thread at exit. */
	"ptrace",
#endif
};
/* clang-format on */

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
	/* A thread may lower its own priority (the HTTP renderer does); never another's. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setpriority), 2,
				       SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS), SCMP_A1(SCMP_CMP_EQ, 0));
	if (!err)
		err = seccomp_load(ctx);
	seccomp_release(ctx);
	return err;
}

static int nice_found; /* every thread's nice at start, kept by all but the loop */
static bool nice_taken;

int privs_take_nice(int nice)
{
	struct rlimit limit;
	rlim_t others;

	errno = 0;
	nice_found = getpriority(PRIO_PROCESS, 0);
	if (errno)
		return -errno;
	if (nice < nice_found && setpriority(PRIO_PROCESS, 0, nice))
		return -errno;
	nice_taken = true;
	/* Nothing but the loop needs a higher priority than the daemon started with, even where
	 * a unit's LimitNICE= would allow it. Lowering a limit needs no privilege. */
	others = 20 - nice_found;
	if (getrlimit(RLIMIT_NICE, &limit))
		return -errno;
	limit.rlim_cur = limit.rlim_cur < others ? limit.rlim_cur : others;
	limit.rlim_max = limit.rlim_max < others ? limit.rlim_max : others;
	return setrlimit(RLIMIT_NICE, &limit) ? -errno : 0;
}

int privs_leave_nice(void)
{
	return nice_taken && setpriority(PRIO_PROCESS, 0, nice_found) ? -errno : 0;
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
