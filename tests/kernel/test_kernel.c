// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel tests: the real BPF programs, loaded by the daemon's own loop module, watching real
 * children that end in every way the issue names. Needs root. Each test forks children that
 * wait on a pipe, registers them, releases them to die, and polls the loop until the worker's
 * state is final.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "clock.h"
#include "log.h"
#include "loop.h"
#include "probe.h"

static struct opts main_opts;
static struct loop main_loop;
static bool main_loop_ready;

typedef void (*child_body)(void *arg);

struct child {
	pid_t pid;
	int go_fd;
};

/* The child blocks until released, so it is alive when registered. */
static struct child spawn(child_body body, void *arg)
{
	struct child child = {.pid = -1, .go_fd = -1};
	int fds[2];
	char byte;

	if (pipe(fds))
		return child;
	child.pid = fork();
	if (child.pid == 0) {
		sigset_t none;

		/* The loop blocks SIGINT and SIGTERM for its signalfd; children must not inherit
		 * it. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close(fds[1]);
		if (read(fds[0], &byte, 1) != 1)
			_exit(99);
		body(arg);
		_exit(0);
	}
	close(fds[0]);
	child.go_fd = fds[1];
	return child;
}

static void release(struct child *child)
{
	if (write(child->go_fd, "g", 1) != 1)
		HARNESS_FAIL("cannot release child %d", child->pid);
	close(child->go_fd);
	child->go_fd = -1;
}

static void reap(struct child *child)
{
	if (child->go_fd >= 0)
		close(child->go_fd);
	if (child->pid > 0)
		waitpid(child->pid, NULL, 0);
}

static struct worker *find(struct loop *loop, const char *name)
{
	return fleet_find(&loop->fleet, name);
}

/* Polls the loop until the worker leaves `starting` or the timeout passes. */
static struct worker *wait_final(struct loop *loop, const char *name, int timeout_ms)
{
	uint64_t deadline = clock_mono_ns() + timeout_ms * 1000000ull;
	struct worker *worker;

	do {
		loop_poll_once(loop, 10);
		worker = find(loop, name);
		if (worker && fleet_state_is_dead(worker->state))
			return worker;
	} while (clock_mono_ns() < deadline);
	return worker;
}

static bool register_child(struct loop *loop, const char *name, pid_t pid)
{
	char err[160];
	int ret = procwatch_register(&loop->procs, &loop->fleet, name, pid, ORIGIN_API, NULL, err,
				     sizeof(err));

	if (ret)
		HARNESS_FAIL("register %s (pid %d): %s", name, pid, err);
	return ret == 0;
}

/* Options for a loop of its own, pinned under a name of its own; ingest and state have their
 * own tests. */
static void test_opts(struct opts *opts, const char *tag)
{
	opts_defaults(opts);
	opts->ingest_path[0] = '\0';
	opts->state_dir[0] = '\0';
	snprintf(opts->pin_root, sizeof(opts->pin_root), "/sys/fs/bpf/liveprobe-test%s-%d", tag,
		 getpid());
}

static void body_exit(void *arg)
{
	_exit((int)(long)arg);
}

static void body_sleep(void *arg)
{
	(void)arg;
	pause();
}

/* A real fault the kernel signals, also in a sanitized build: a page with no access, and the
 * default action restored (ASan installs a SIGSEGV handler of its own). */
static void body_segv(void *arg)
{
	struct rlimit core = {0, 0};
	volatile int *no_access = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (arg) {
		core.rlim_cur = core.rlim_max = RLIM_INFINITY;
		if (chdir("/tmp") != 0)
			_exit(98);
	}
	setrlimit(RLIMIT_CORE, &core);
	signal(SIGSEGV, SIG_DFL);
	*no_access = 1;
}

static void forget(struct loop *loop, const char *name)
{
	struct worker *worker = find(loop, name);

	if (worker)
		loop_forget(loop, worker);
}

static void test_exit_zero(void)
{
	struct child child = spawn(body_exit, (void *)0L);
	struct worker *worker;

	if (register_child(&main_loop, "exit0", child.pid)) {
		ASSERT_EQ(find(&main_loop, "exit0")->state, WS_STARTING,
			  "alive worker is starting");
		release(&child);
		worker = wait_final(&main_loop, "exit0", 2000);
		ASSERT_EQ(worker->state, WS_EXITED, "state");
		ASSERT_EQ(worker->exit.code, 0, "code");
		ASSERT_TRUE(worker->exit.status_known, "status from the kernel");
	}
	reap(&child);
	forget(&main_loop, "exit0");
}

static void test_exit_three(void)
{
	struct child child = spawn(body_exit, (void *)3L);
	struct worker *worker;

	if (register_child(&main_loop, "exit3", child.pid)) {
		release(&child);
		worker = wait_final(&main_loop, "exit3", 2000);
		ASSERT_EQ(worker->state, WS_CRASHED, "state");
		ASSERT_EQ(worker->exit.code, 3, "code");
		ASSERT_STREQ(worker->reason, "exit code 3", "reason");
	}
	reap(&child);
	forget(&main_loop, "exit3");
}

static bool core_files_possible(void)
{
	char pattern[256] = "";
	int fd = open("/proc/sys/kernel/core_pattern", O_RDONLY);
	ssize_t len = fd >= 0 ? read(fd, pattern, sizeof(pattern) - 1) : -1;

	if (fd >= 0)
		close(fd);
	return len > 0 && pattern[0] != '|';
}

static void run_segv(bool with_core)
{
	struct child child = spawn(body_segv, with_core ? (void *)1L : NULL);
	const char *name = with_core ? "segv-core" : "segv";
	struct worker *worker;

	if (register_child(&main_loop, name, child.pid)) {
		release(&child);
		worker = wait_final(&main_loop, name, 5000);
		ASSERT_EQ(worker->state, WS_CRASHED, "state");
		ASSERT_EQ(worker->exit.signal, SIGSEGV, "signal");
		ASSERT_EQ(worker->exit.core_dumped, with_core, "core flag");
		/* A fault's SIGSEGV comes from the kernel, not from a process. */
		ASSERT_TRUE(worker->exit.has_killer, "signal sender recorded");
		ASSERT_EQ(worker->exit.killer_pid, 0, "sent by the kernel");
	}
	reap(&child);
	forget(&main_loop, name);
	if (with_core) {
		char core[64];

		snprintf(core, sizeof(core), "/tmp/core.%d", child.pid);
		unlink(core);
		unlink("/tmp/core");
	}
}

static void test_segv_without_core(void)
{
	run_segv(false);
}

static void test_segv_with_core(void)
{
	if (!core_files_possible()) {
		test__skip("core_pattern pipes cores to a helper; core flag not checked");
		return;
	}
	run_segv(true);
}

/* Registers the child as worker NAME, lets it run, sends it SIGNAL: its final state, or NULL
 * when it could not be registered. */
static struct worker *signal_registered(struct child *child, const char *name, int signal)
{
	if (!register_child(&main_loop, name, child->pid))
		return NULL;
	release(child);
	usleep(20000);
	kill(child->pid, signal);
	return wait_final(&main_loop, name, 2000);
}

static void run_signal(int signal, const char *name, enum worker_state expected)
{
	struct child child = spawn(body_sleep, NULL);
	struct worker *worker = signal_registered(&child, name, signal);
	char comm[16];

	prctl(PR_GET_NAME, comm);
	if (worker) {
		ASSERT_EQ(worker->state, expected, "state");
		ASSERT_EQ(worker->exit.signal, signal, "signal");
		ASSERT_TRUE(worker->exit.has_killer, "killer recorded");
		ASSERT_EQ(worker->exit.killer_pid, getpid(), "killer pid");
		ASSERT_STREQ(worker->exit.killer_comm, comm, "killer comm");
		ASSERT_TRUE(!worker->exit.oom, "not an OOM kill");
	}
	reap(&child);
	forget(&main_loop, name);
}

static void test_sigkill(void)
{
	run_signal(SIGKILL, "sigkill", WS_KILLED);
}

static void test_sigterm(void)
{
	run_signal(SIGTERM, "sigterm", WS_EXITED);
}

static void exit_cleanly(int signal)
{
	(void)signal;
	_exit(0);
}

static void body_handles_sigterm(void *arg)
{
	(void)arg;
	signal(SIGTERM, exit_cleanly);
	for (;;)
		pause();
}

/* A SIGTERM it handled, then exit(0): the sender is recorded, but it killed no one. */
static void test_handled_sigterm_no_killer(void)
{
	struct child child = spawn(body_handles_sigterm, NULL);
	struct worker *worker = signal_registered(&child, "handled", SIGTERM);

	if (worker) {
		ASSERT_EQ(worker->state, WS_EXITED, "state");
		ASSERT_EQ(worker->exit.signal, 0, "no signal ended it");
		ASSERT_EQ(worker->exit.code, 0, "exit code");
		ASSERT_TRUE(worker->exit.has_killer, "the signal sent is recorded");
		ASSERT_EQ(worker->exit.kill_signal, SIGTERM, "which signal");
		ASSERT_EQ(worker->exit.killer_pid, getpid(), "its sender");
		ASSERT_TRUE(!fleet_exit_by_sender(&worker->exit), "the sender is no killer");
		ASSERT_STREQ(worker->reason, "exit code 0", "the reason names no killer");
	}
	reap(&child);
	forget(&main_loop, "handled");
}

/* Its own POSIX timer kills it: the signal is sent from the timer's interrupt, where the task
 * that happens to be running is no sender. */
static void body_posix_timer(void *arg)
{
	struct sigevent event = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM};
	struct itimerspec when = {.it_value.tv_nsec = 20000000};
	timer_t timer;

	(void)arg;
	signal(SIGALRM, SIG_DFL);
	if (timer_create(CLOCK_MONOTONIC, &event, &timer) || timer_settime(timer, 0, &when, NULL))
		_exit(97);
	for (;;)
		pause();
}

static void test_timer_signal_from_kernel(void)
{
	struct child child = spawn(body_posix_timer, NULL);
	struct worker *worker;

	if (register_child(&main_loop, "timer", child.pid)) {
		release(&child);
		/* Busy here, so the timer's interrupt may well land on this process. */
		for (uint64_t until = clock_mono_ns() + 100000000ull; clock_mono_ns() < until;)
			loop_poll_once(&main_loop, 0);
		worker = wait_final(&main_loop, "timer", 2000);
		ASSERT_EQ(worker->exit.signal, SIGALRM, "signal");
		ASSERT_TRUE(worker->exit.has_killer, "sender recorded");
		ASSERT_EQ(worker->exit.killer_pid, 0, "no process sent it");
		ASSERT_STREQ(worker->exit.killer_comm, "kernel", "the kernel did");
	}
	reap(&child);
	forget(&main_loop, "timer");
}

/* The memory controller's directory: cgroup v1 "memory" or v2 with memory.max. */
static bool find_memory_cgroup(char *dir, size_t len, bool *v2)
{
	char line[512], device[64], mount[256], type[32], options[256];
	FILE *mounts = fopen("/proc/mounts", "r");
	bool found = false;

	while (mounts && fgets(line, sizeof(line), mounts)) {
		if (sscanf(line, "%63s %255s %31s %255s", device, mount, type, options) != 4)
			continue;
		if (!strcmp(type, "cgroup") && strstr(options, "memory")) {
			snprintf(dir, len, "%s", mount);
			*v2 = false;
			found = true;
			break;
		}
		if (!strcmp(type, "cgroup2")) {
			char controllers[320];
			FILE *file;

			snprintf(controllers, sizeof(controllers), "%s/cgroup.controllers", mount);
			file = fopen(controllers, "r");
			if (file && fgets(line, sizeof(line), file) && strstr(line, "memory")) {
				snprintf(dir, len, "%s", mount);
				*v2 = true;
				found = true;
			}
			if (file)
				fclose(file);
			if (found)
				break;
		}
	}
	if (mounts)
		fclose(mounts);
	return found;
}

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);

	if (fd >= 0)
		close(fd);
	return ok;
}

static void body_hog(void *arg)
{
	(void)arg;
	for (;;) {
		char *block = mmap(NULL, 16 << 20, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (block == MAP_FAILED)
			_exit(97);
		memset(block, 1, 16 << 20);
	}
}

static void test_oom_kill(void)
{
	char root[256], group[300], path[400], pid_text[16];
	struct child child;
	struct worker *worker;
	bool v2;

	if (!find_memory_cgroup(root, sizeof(root), &v2)) {
		test__skip("no memory cgroup controller mounted; OOM kill not tested");
		return;
	}
	snprintf(group, sizeof(group), "%s/liveprobe-test-oom-%d", root, getpid());
	if (mkdir(group, 0755) && errno != EEXIST) {
		HARNESS_FAIL("mkdir %s: %s", group, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", group, v2 ? "memory.max" : "memory.limit_in_bytes");
	if (!ASSERT_TRUE(write_file(path, "33554432"), "set a 32 MiB memory limit"))
		goto cleanup;
	if (!v2) {
		snprintf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes", group);
		write_file(path, "33554432"); /* absent without swap accounting */
	} else {
		snprintf(path, sizeof(path), "%s/memory.swap.max", group);
		write_file(path, "0");
	}
	child = spawn(body_hog, NULL);
	snprintf(path, sizeof(path), "%s/cgroup.procs", group);
	snprintf(pid_text, sizeof(pid_text), "%d", child.pid);
	if (ASSERT_TRUE(write_file(path, pid_text), "move the child into the cgroup") &&
	    register_child(&main_loop, "oom", child.pid)) {
		release(&child);
		worker = wait_final(&main_loop, "oom", 20000);
		ASSERT_EQ(worker->state, WS_KILLED, "state");
		ASSERT_EQ(worker->exit.signal, SIGKILL, "signal");
		ASSERT_TRUE(worker->exit.oom, "marked as an OOM kill");
		ASSERT_STREQ(worker->reason, "killed by the OOM killer", "reason");
	}
	reap(&child);
	forget(&main_loop, "oom");
cleanup:
	rmdir(group);
}

static void *late_exit_thread(void *arg)
{
	(void)arg;
	usleep(400000);
	exit(7);
}

static void body_main_thread_exits(void *arg)
{
	pthread_t thread;

	(void)arg;
	pthread_create(&thread, NULL, late_exit_thread, NULL);
	pthread_exit(NULL);
}

/*
 * Registered after its main thread called pthread_exit: /proc/PID/stat shows the leader as a
 * zombie, but the process lives on in its other threads, so it is accepted, then seen to die.
 */
static void test_register_after_pthread_exit(void)
{
	struct child child = spawn(body_main_thread_exits, NULL);
	struct worker *worker;

	release(&child);
	usleep(100000); /* the leader is a zombie now; its thread lives for 300 ms more */
	if (register_child(&main_loop, "headless", child.pid)) {
		worker = wait_final(&main_loop, "headless", 3000);
		ASSERT_EQ(worker->state, WS_CRASHED, "dead once the last thread exits");
		ASSERT_EQ(worker->exit.code, 7, "code from the last thread");
	}
	reap(&child);
	forget(&main_loop, "headless");
}

static void test_main_thread_pthread_exit(void)
{
	struct child child = spawn(body_main_thread_exits, NULL);
	struct worker *worker;

	if (register_child(&main_loop, "pthread", child.pid)) {
		release(&child);
		worker = wait_final(&main_loop, "pthread", 250);
		ASSERT_EQ(worker->state, WS_RUNNING, "alive after its main thread exited");
		worker = wait_final(&main_loop, "pthread", 3000);
		ASSERT_EQ(worker->state, WS_CRASHED, "dead once the last thread exits");
		ASSERT_EQ(worker->exit.code, 7, "code from the last thread");
	}
	reap(&child);
	forget(&main_loop, "pthread");
}

/* Forgetting a live worker frees its pid and its peer bindings; bindings stay bounded. */
static void test_forget_frees_everything(void)
{
	struct child child = spawn(body_sleep, NULL);
	struct worker *worker;
	uint8_t addr[16] = {10, 9, 9, 9};
	uint32_t id;

	if (!register_child(&main_loop, "held", child.pid))
		goto cleanup;
	worker = find(&main_loop, "held");
	id = worker->id;
	for (uint16_t port = 4000; port < 4020; port++) {
		worker = fleet_find_id(&main_loop.fleet, id);
		ASSERT_OK(sockwatch_bind_peer(&main_loop.sockets, &main_loop.fleet, AF_INET, addr,
					      port, worker, NULL, NULL, clock_mono_ns()),
			  "bind a peer");
	}
	ASSERT_EQ(main_loop.sockets.n_bindings, SOCKWATCH_PEERS_PER_WORKER,
		  "a worker's bindings are bounded; the oldest went");
	forget(&main_loop, "held");
	ASSERT_TRUE(fleet_find_live_pid(&main_loop.fleet, child.pid) == NULL, "the pid is free");
	ASSERT_EQ(main_loop.sockets.n_bindings, 0, "the bindings are gone");
	ASSERT_TRUE(register_child(&main_loop, "held-again", child.pid),
		    "the pid can be watched again");
	forget(&main_loop, "held-again");
cleanup:
	kill(child.pid, SIGKILL);
	reap(&child);
}

/* Fork a child with a chosen pid through ns_last_pid; -1 when the kernel would not. */
static struct child spawn_with_pid(pid_t wanted, child_body body)
{
	struct child child = {.pid = -1, .go_fd = -1};
	char text[16];

	for (int attempt = 0; attempt < 5; attempt++) {
		snprintf(text, sizeof(text), "%d", wanted - 1);
		if (!write_file("/proc/sys/kernel/ns_last_pid", text))
			return child;
		child = spawn(body, NULL);
		if (child.pid == wanted)
			return child;
		reap(&child);
		kill(child.pid, SIGKILL);
		child.pid = -1;
	}
	return child;
}

static void test_pid_reuse(void)
{
	struct child first = spawn(body_sleep, NULL), second;
	uint64_t reused_before = 0, stats[LP_STAT__COUNT];
	struct worker *worker;
	struct lp_proc stale = {};
	pid_t pid = first.pid;

	if (!register_child(&main_loop, "reuse-old", pid))
		goto cleanup;
	release(&first);
	kill(pid, SIGKILL);
	worker = wait_final(&main_loop, "reuse-old", 2000);
	ASSERT_EQ(worker->state, WS_KILLED, "first process killed");
	reap(&first);
	first.pid = -1;

	second = spawn_with_pid(pid, body_exit);
	if (!ASSERT_EQ(second.pid, pid, "a new process got the same pid"))
		goto cleanup;

	/* A stale kernel entry with the old start time must not match the new process. */
	stale.start_ticks = 1;
	probe_watch(main_loop.probe, pid, &stale);
	probe_read_stats(main_loop.probe, stats);
	reused_before = stats[LP_STAT_PID_REUSED];
	release(&second);
	reap(&second);
	usleep(50000);
	loop_poll_once(&main_loop, 10);
	probe_read_stats(main_loop.probe, stats);
	ASSERT_EQ(stats[LP_STAT_PID_REUSED], reused_before + 1, "kernel ignored the new process");
	worker = find(&main_loop, "reuse-old");
	ASSERT_EQ(worker->state, WS_KILLED, "old worker stays killed");
	ASSERT_EQ(worker->exit.signal, SIGKILL, "old worker keeps its exit");
	probe_unwatch(main_loop.probe, pid, 1);

	/* The reused pid can be watched as a new worker, and its death is its own. */
	second = spawn_with_pid(pid, body_exit);
	if (second.pid == pid && register_child(&main_loop, "reuse-new", pid)) {
		release(&second);
		worker = wait_final(&main_loop, "reuse-new", 2000);
		ASSERT_EQ(worker->state, WS_EXITED, "new worker exited");
		ASSERT_EQ(find(&main_loop, "reuse-old")->state, WS_KILLED, "old worker untouched");
	}
	reap(&second);
	forget(&main_loop, "reuse-new");
cleanup:
	reap(&first);
	forget(&main_loop, "reuse-old");
}

static void test_unwatched_exit_burst(void)
{
	struct child watched = spawn(body_sleep, NULL);
	uint64_t before[LP_STAT__COUNT], after[LP_STAT__COUNT];
	uint64_t events_before;
	const int burst = 3000;

	if (!register_child(&main_loop, "survivor", watched.pid))
		goto cleanup;
	loop_poll_once(&main_loop, 0);
	events_before = main_loop.status.events_received;
	probe_read_stats(main_loop.probe, before);
	for (int i = 0; i < burst; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	for (int i = 0; i < 20; i++)
		loop_poll_once(&main_loop, 10);
	probe_read_stats(main_loop.probe, after);
	ASSERT_GE(after[LP_STAT_EXITS_SEEN] - before[LP_STAT_EXITS_SEEN], burst,
		  "the kernel saw every exit");
	ASSERT_EQ(after[LP_STAT_EXITS_WATCHED], before[LP_STAT_EXITS_WATCHED],
		  "none of them was a watched exit");
	ASSERT_EQ(main_loop.status.events_received, events_before,
		  "no ring-buffer event for unwatched exits");
	ASSERT_EQ(find(&main_loop, "survivor")->state, WS_RUNNING, "watched worker undisturbed");
	kill(watched.pid, SIGKILL);
	ASSERT_EQ(wait_final(&main_loop, "survivor", 2000)->state, WS_KILLED,
		  "watched worker's death still seen");
cleanup:
	reap(&watched);
	forget(&main_loop, "survivor");
}

/* A 4 KiB ring buffer holds about 35 exit events: killing hundreds at once must drop. */
static void test_drop_storm(void)
{
	enum { N = 300 };
	static struct child children[N];
	static struct opts opts;
	static struct loop loop;
	uint64_t stats[LP_STAT__COUNT];
	char name[32];
	int killed = 0, known = 0;

	test_opts(&opts, "-drops");
	opts.ringbuf_bytes = 4096;
	opts.reconcile_ms = 60000; /* only a drop may trigger reconciliation */
	if (!ASSERT_OK(loop_init(&loop, &opts), "load a probe with a tiny ring buffer"))
		goto cleanup;
	for (int i = 0; i < N; i++) {
		children[i] = spawn(body_sleep, NULL);
		snprintf(name, sizeof(name), "storm-%d", i);
		register_child(&loop, name, children[i].pid);
		release(&children[i]);
	}
	for (int i = 0; i < N; i++)
		kill(children[i].pid, SIGKILL);
	for (int i = 0; i < N; i++)
		reap(&children[i]);

	probe_read_stats(loop.probe, stats);
	ASSERT_GE(stats[LP_STAT_RINGBUF_DROPS], 1, "the storm overflowed the ring buffer");
	for (int i = 0; i < 30; i++)
		loop_poll_once(&loop, 20);
	for (int i = 0; i < N; i++) {
		struct worker *worker;

		snprintf(name, sizeof(name), "storm-%d", i);
		worker = find(&loop, name);
		killed += worker && worker->state == WS_KILLED;
		known += worker && worker->exit.status_known && worker->exit.has_killer;
	}
	ASSERT_EQ(killed, N, "every death reported as a kill");
	ASSERT_EQ(known, N, "with exit status and killer, recovered from lp_procs");
	probe_read_stats(loop.probe, stats);
	ASSERT_EQ(loop.status.drops_reconciled, stats[LP_STAT_RINGBUF_DROPS],
		  "no drop left unreconciled");
	printf("    drop storm: %llu events dropped, %llu received, %d of %d deaths reported\n",
	       (unsigned long long)stats[LP_STAT_RINGBUF_DROPS],
	       (unsigned long long)loop.status.events_received, killed, N);
cleanup:
	loop_destroy(&loop);
}

static void body_exec_comm(void *arg)
{
	execl((const char *)arg, "lp-comm-wkr", "1000", (char *)NULL);
	_exit(96);
}

static struct worker *find_adopted(struct loop *loop, pid_t pid)
{
	for (size_t i = 0; i < loop->fleet.count; i++) {
		if (loop->fleet.workers[i].pid == (uint32_t)pid &&
		    loop->fleet.workers[i].origin == ORIGIN_COMM)
			return &loop->fleet.workers[i];
	}
	return NULL;
}

static void test_watch_comm(void)
{
	const char *link = "/tmp/lp-comm-wkr";
	struct child child;
	struct worker *worker = NULL;
	char name[64];

	unlink(link);
	if (!ASSERT_EQ(symlink("/bin/sleep", link), 0, "make a program named lp-comm-wkr"))
		return;
	child = spawn(body_exec_comm, (void *)link);
	release(&child);
	for (int i = 0; i < 100 && !worker; i++) {
		loop_poll_once(&main_loop, 10);
		worker = find_adopted(&main_loop, child.pid);
	}
	if (ASSERT_OK_PTR(worker, "process adopted by comm at exec")) {
		snprintf(name, sizeof(name), "lp-comm-wkr-%d", child.pid);
		ASSERT_STREQ(worker->name, name, "named COMM-PID");
		kill(child.pid, SIGKILL);
		worker = wait_final(&main_loop, name, 2000);
		ASSERT_EQ(worker->state, WS_KILLED, "adopted worker's death seen");
		forget(&main_loop, name);
	}
	reap(&child);
	unlink(link);
}

static void test_dead_pid_refused(void)
{
	struct child child = spawn(body_exit, (void *)0L);
	char err[160];

	release(&child);
	reap(&child);
	ASSERT_EQ(procwatch_register(&main_loop.procs, &main_loop.fleet, "gone", child.pid,
				     ORIGIN_API, NULL, err, sizeof(err)),
		  -ESRCH, "a reaped pid is refused");
	ASSERT_TRUE(find(&main_loop, "gone") == NULL, "no worker was made");

	child = spawn(body_exit, (void *)0L);
	release(&child);
	usleep(100000); /* a zombie: dead, not yet reaped */
	ASSERT_EQ(procwatch_register(&main_loop.procs, &main_loop.fleet, "zombie", child.pid,
				     ORIGIN_API, NULL, err, sizeof(err)),
		  -ESRCH, "a zombie is refused");
	ASSERT_TRUE(strstr(err, "already exited") != NULL, "error says it exited");
	reap(&child);
}

/* --- connections: a loop that watches one loopback port, and peers forked from here */

static struct opts sock_opts;
static struct loop sock_loop;
static int sock_listener = -1;
static uint16_t sock_port;

/* A listener on 127.0.0.1 at a port the kernel picks; addr gets its address. -1 on failure,
 * which has been reported. */
static int listen_loopback(int backlog, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*addr = (struct sockaddr_in){.sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (!ASSERT_GE(fd, 0, "socket") ||
	    !ASSERT_EQ(bind(fd, (struct sockaddr *)addr, len), 0, "bind") ||
	    !ASSERT_EQ(listen(fd, backlog), 0, "listen") ||
	    !ASSERT_EQ(getsockname(fd, (struct sockaddr *)addr, &len), 0, "getsockname")) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void close_if_open(int fd)
{
	if (fd >= 0)
		close(fd);
}

static bool start_sock_loop(void)
{
	struct sockaddr_in addr;

	if (sock_listener >= 0)
		return true;
	sock_listener = listen_loopback(64, &addr);
	if (sock_listener < 0)
		return false;
	sock_port = ntohs(addr.sin_port);
	test_opts(&sock_opts, "-sock");
	sock_opts.watch_ports[sock_opts.n_watch_ports++] = sock_port;
	return loop_init(&sock_loop, &sock_opts) == 0;
}

static void stop_sock_loop(void)
{
	if (sock_listener < 0)
		return;
	loop_destroy(&sock_loop);
	close(sock_listener);
	sock_listener = -1;
}

/* The child connects, says so on `ready`, and waits to be killed. */
static pid_t spawn_peer(int *ready_fd)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sockaddr_in addr = {
			.sin_family = AF_INET,
			.sin_port = htons(sock_port),
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		close(fds[0]);
		if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
			_exit(95);
		if (write(fds[1], "c", 1) != 1)
			_exit(94);
		pause();
		_exit(0);
	}
	close(fds[1]);
	*ready_fd = fds[0];
	return pid;
}

/* The connection whose local port is the watched one: the server side. */
static struct conn *server_side(struct loop *loop, uint16_t peer_port)
{
	for (size_t i = 0; i < loop->fleet.n_conns; i++) {
		struct conn *conn = &loop->fleet.conns[i];

		if (conn->local_port == sock_port && conn->peer_port == peer_port)
			return conn;
	}
	return NULL;
}

static struct conn *poll_server_side(uint16_t peer_port, bool want_dead, int timeout_ms)
{
	uint64_t deadline = clock_mono_ns() + timeout_ms * 1000000ull;
	struct conn *conn;

	do {
		loop_poll_once(&sock_loop, 5);
		conn = server_side(&sock_loop, peer_port);
		if (conn && (!want_dead || conn_is_dead(conn)))
			return conn;
	} while (clock_mono_ns() < deadline);
	return conn;
}

static void run_peer_kill(bool unread_data, uint32_t expected_reason)
{
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	int ready_fd = -1, accepted = -1;
	uint64_t killed_ns, seen_ns;
	struct worker *owner;
	struct conn *conn;
	pid_t pid = -1;
	char byte;

	if (!ASSERT_TRUE(start_sock_loop(), "load a probe watching a loopback port"))
		return;
	pid = spawn_peer(&ready_fd);
	if (!ASSERT_EQ(read(ready_fd, &byte, 1), 1, "peer connected"))
		goto cleanup;
	accepted = accept(sock_listener, (struct sockaddr *)&peer, &len);
	if (!ASSERT_GE(accepted, 0, "accept"))
		goto cleanup;
	/* Bytes the peer never reads make its kernel answer the exit with RST, not FIN. */
	if (unread_data && !ASSERT_EQ(write(accepted, "unread", 6), 6, "send unread data"))
		goto cleanup;
	conn = poll_server_side(ntohs(peer.sin_port), false, 2000);
	if (!ASSERT_OK_PTR(conn, "server side tracked") ||
	    !ASSERT_EQ(conn->reason, LP_CONN_ALIVE, "alive before the kill"))
		goto cleanup;

	killed_ns = clock_mono_ns();
	kill(pid, SIGKILL);
	conn = poll_server_side(ntohs(peer.sin_port), true, 2000);
	seen_ns = clock_mono_ns();
	if (!ASSERT_TRUE(conn && conn_is_dead(conn), "death seen"))
		goto cleanup;
	ASSERT_STREQ(conn_reason_name(conn->reason), conn_reason_name(expected_reason),
		     "death reason");
	/* The kernel's own timestamp: what the probe knew, free of this test's polling. */
	ASSERT_TRUE(conn->dead_ns - killed_ns < 100000000ull, "kernel saw it within 100 ms");
	owner = fleet_find_id(&sock_loop.fleet, conn->worker_id);
	if (ASSERT_OK_PTR(owner, "owned by a worker"))
		ASSERT_EQ(owner->state, WS_DISCONNECTED, "its worker is disconnected");
	printf("    peer kill -> %s: kernel %.3f ms, loop %.3f ms\n",
	       conn_reason_name(conn->reason), (conn->dead_ns - killed_ns) / 1e6,
	       (seen_ns - killed_ns) / 1e6);

	/* The close that follows is seen too, though the socket has given its port back. */
	close(accepted);
	accepted = -1;
	for (uint64_t deadline = clock_mono_ns() + 2000000000ull; clock_mono_ns() < deadline;) {
		loop_poll_once(&sock_loop, 5);
		conn = server_side(&sock_loop, ntohs(peer.sin_port));
		if (!conn || conn->gone)
			break;
	}
	if (ASSERT_TRUE(conn && conn->gone, "our close seen"))
		ASSERT_STREQ(conn_tcp_state_name(conn->state), "CLOSE", "final state");
cleanup:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (ready_fd >= 0)
		close(ready_fd);
	if (accepted >= 0)
		close(accepted);
}

static void test_peer_kill_fin(void)
{
	run_peer_kill(false, LP_CONN_PEER_CLOSED);
}

static void test_peer_kill_unread_rst(void)
{
	run_peer_kill(true, LP_CONN_RESET_RECEIVED);
}

/*
 * A MSG_ZEROCOPY send's completion (like a TX timestamp) is queued on the socket's error queue,
 * which reports an "error" with sk_err 0: the connection is alive and must stay so.
 */
static void test_zerocopy_is_no_error(void)
{
	char data[4096] = {0}, control[256], sink[65536];
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int client = -1, server = -1, one = 1, notices = 0;
	struct sockaddr_in local;
	socklen_t len = sizeof(local);
	struct conn *conn;

	if (!ASSERT_TRUE(start_sock_loop(), "load a probe watching a loopback port"))
		return;
	addr.sin_port = htons(sock_port);
	client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ASSERT_EQ(connect(client, (struct sockaddr *)&addr, sizeof(addr)), 0, "connect") ||
	    !ASSERT_EQ(getsockname(client, (struct sockaddr *)&local, &len), 0, "getsockname"))
		goto cleanup;
	server = accept(sock_listener, NULL, NULL);
	if (!ASSERT_GE(server, 0, "accept") ||
	    !ASSERT_EQ(setsockopt(client, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)), 0,
		       "SO_ZEROCOPY"))
		goto cleanup;
	conn = poll_server_side(ntohs(local.sin_port), false, 2000);
	if (!ASSERT_OK_PTR(conn, "server side tracked"))
		goto cleanup;
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(send(client, data, sizeof(data), MSG_ZEROCOPY), (ssize_t)sizeof(data),
			  "zerocopy send");
		while (recv(server, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	}
	for (int i = 0; i < 20; i++) {
		struct msghdr msg = {.msg_control = control, .msg_controllen = sizeof(control)};

		notices += recvmsg(client, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0;
		loop_poll_once(&sock_loop, 10);
	}
	ASSERT_GE(notices, 1, "the kernel queued completion notices");
	for (size_t i = 0; i < sock_loop.fleet.n_conns; i++) {
		conn = &sock_loop.fleet.conns[i];
		if (conn->peer_port == ntohs(local.sin_port) ||
		    conn->local_port == ntohs(local.sin_port))
			ASSERT_EQ(conn->reason, LP_CONN_ALIVE, "both ends stay alive");
	}
cleanup:
	close_if_open(client);
	close_if_open(server);
}

/* Connections on other ports must cost no ring-buffer record and no daemon work. */
static void test_unwatched_connections(void)
{
	enum { N = 10000 };
	struct sockaddr_in addr;
	uint64_t before[LP_STAT__COUNT], after[LP_STAT__COUNT], received;
	int listener, opened = 0;

	if (!ASSERT_TRUE(start_sock_loop(), "load a probe watching a loopback port"))
		return;
	for (int i = 0; i < 20; i++)
		loop_poll_once(&sock_loop, 5);
	listener = listen_loopback(1024, &addr);
	if (listener < 0)
		goto cleanup;
	probe_read_stats(sock_loop.probe, before);
	received = sock_loop.status.events_received;
	for (int i = 0; i < N; i++) {
		int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), server;
		struct linger reset = {.l_onoff = 1, .l_linger = 0};

		if (client < 0 || connect(client, (struct sockaddr *)&addr, sizeof(addr)))
			break;
		server = accept(listener, NULL, NULL);
		/* An RST close leaves no TIME_WAIT behind to exhaust local ports. */
		setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		close(client);
		close(server);
		opened++;
	}
	for (int i = 0; i < 20; i++)
		loop_poll_once(&sock_loop, 5);
	probe_read_stats(sock_loop.probe, after);
	ASSERT_EQ(opened, N, "connections opened and closed");
	ASSERT_GE(after[LP_STAT_TCP_STATES_SEEN] - before[LP_STAT_TCP_STATES_SEEN], 4 * N,
		  "the probe saw their state changes");
	ASSERT_EQ(after[LP_STAT_CONN_EVENTS] - before[LP_STAT_CONN_EVENTS], 0,
		  "none passed the port filter");
	ASSERT_EQ(sock_loop.status.events_received - received, 0, "no ring-buffer records");
	ASSERT_EQ(after[LP_STAT_RINGBUF_DROPS], before[LP_STAT_RINGBUF_DROPS], "no drops");
	printf("    %d unwatched connections: %llu state changes seen, 0 sent\n", opened,
	       (unsigned long long)(after[LP_STAT_TCP_STATES_SEEN] -
				    before[LP_STAT_TCP_STATES_SEEN]));
cleanup:
	if (listener >= 0)
		close(listener);
}

/* Connection events overflow a 4 KiB ring buffer; lp_conns and sock_diag must repair it all. */
/* A probe of its own watching one port, no loop: the test reads its maps and records itself. */
static bool start_port_probe(struct opts *opts, const char *tag, const uint16_t *port,
			     uint32_t max_conns, probe_event_fn on_event, void *ctx,
			     struct probe **probe)
{
	struct probe_config config = {0};

	test_opts(opts, tag);
	config.pin_root = opts->pin_root;
	config.ringbuf_bytes = opts->ringbuf_bytes;
	config.max_procs = opts->max_workers;
	config.ports = port;
	config.n_ports = 1;
	config.max_conns = max_conns;
	config.reset_pins = true;
	config.on_event = on_event;
	config.ctx = ctx;
	return ASSERT_OK(probe_start(&config, probe), "load a probe of its own");
}

static void stop_port_probe(struct opts *opts, struct probe *probe)
{
	if (!probe)
		return;
	probe_stop(probe);
	probe_unload(opts->pin_root);
}

/* One loopback connection on a port a probe of its own watches. */
struct watched_pair {
	struct opts opts;
	struct probe *probe;
	int listener, client, server;
	uint16_t port;
};

static bool open_watched_pair(struct watched_pair *pair, const char *tag, probe_event_fn on_event,
			      void *ctx)
{
	struct sockaddr_in addr;

	pair->probe = NULL;
	pair->client = pair->server = -1;
	pair->listener = listen_loopback(4, &addr);
	if (pair->listener < 0)
		return false;
	pair->port = ntohs(addr.sin_port);
	if (!start_port_probe(&pair->opts, tag, &pair->port, 1024, on_event, ctx, &pair->probe))
		return false;
	pair->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!ASSERT_EQ(connect(pair->client, (struct sockaddr *)&addr, sizeof(addr)), 0, "connect"))
		return false;
	pair->server = accept(pair->listener, NULL, NULL);
	return ASSERT_GE(pair->server, 0, "accept");
}

static void close_watched_pair(struct watched_pair *pair)
{
	stop_port_probe(&pair->opts, pair->probe);
	close_if_open(pair->client);
	close_if_open(pair->server);
	close_if_open(pair->listener);
}

/* The server side's CLOSE record, as the ring buffer carried it. */
struct close_seen {
	uint16_t port;
	bool seen;
	struct lp_conn conn;
};

static void on_close_event(void *ctx, const void *data, size_t size)
{
	const struct lp_conn_event *event = data;
	struct close_seen *seen = ctx;

	if (size < sizeof(*event) || event->header.kind != LP_EV_CONN ||
	    event->what != LP_CONN_EV_STATE || event->conn.state != LP_TCP_CLOSE ||
	    event->conn.local_port != seen->port || seen->seen)
		return;
	seen->conn = event->conn;
	seen->seen = true;
}

/*
 * The kernel closes a socket before it reports the error (tcp_done_with_error), and a tracing
 * program that interrupts itself on a CPU is skipped: the CLOSE record must carry the cause on
 * its own. A peer's RST makes the error ECONNRESET.
 */
static void test_close_carries_error(void)
{
	struct linger hard = {.l_onoff = 1, .l_linger = 0};
	struct close_seen seen = {0};
	struct watched_pair pair;

	if (!open_watched_pair(&pair, "-close", on_close_event, &seen))
		goto cleanup;
	seen.port = pair.port; /* read only when the ring buffer is consumed, below */
	setsockopt(pair.client, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	close(pair.client);
	pair.client = -1;
	for (int i = 0; i < 100 && !seen.seen; i++) {
		probe_consume(pair.probe);
		if (!seen.seen)
			usleep(10000);
	}
	if (!ASSERT_TRUE(seen.seen, "the server side's CLOSE was sent"))
		goto cleanup;
	ASSERT_EQ(seen.conn.error, ECONNRESET, "the CLOSE record names the error");
	ASSERT_STREQ(conn_reason_name(seen.conn.reason), "reset_received", "and its reason");
cleanup:
	close_watched_pair(&pair);
}

struct storm_acceptor {
	int listener, count;
};

/* The server sides close on another thread, so the two CPUs' state changes interleave. */
static void *accept_and_close(void *arg)
{
	struct storm_acceptor *acceptor = arg;

	for (int i = 0; i < acceptor->count; i++) {
		int server = accept(acceptor->listener, NULL, NULL);

		if (server < 0)
			break;
		close(server);
	}
	return NULL;
}

static void ignore_event(void *ctx, const void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
}

/* Deletes the records in lp_conns (up to 64, enough for a pair), as the daemon does with closed
 * ones, or as if the connections were older than the daemon. */
static void delete_records(struct probe *probe)
{
	uint64_t cookies[64];
	struct lp_conn records[64];
	struct probe_cursor cursor = {0};
	int n = probe_conn_read(probe, &cursor, cookies, records, 64);

	if (n > 0)
		probe_conn_delete_many(probe, cookies, n);
}

/* Records in lp_conns; *open gets how many of them are not marked closed. */
static int count_records(struct probe *probe, int *open)
{
	uint64_t cookies[PROBE_READ_BATCH];
	struct lp_conn records[PROBE_READ_BATCH];
	struct probe_cursor cursor = {0};
	int n, total = 0;

	*open = 0;
	while ((n = probe_conn_read(probe, &cursor, cookies, records, PROBE_READ_BATCH)) > 0) {
		total += n;
		for (int i = 0; i < n; i++)
			*open += !(records[i].flags & LP_CONN_F_GONE);
	}
	return total;
}

/* An abortive close (SO_LINGER 0) resets the peer: this side sent the reset, whatever
 * ECONNRESET its error report carries afterwards. */
static void test_abortive_close_reset_sent(void)
{
	struct linger hard = {.l_onoff = 1, .l_linger = 0};
	struct watched_pair pair;
	struct lp_conn records[8];
	struct probe_cursor cursor = {0};
	uint64_t cookies[8];
	int n, server_records = 0;

	if (!open_watched_pair(&pair, "-abort", ignore_event, NULL))
		goto cleanup;
	setsockopt(pair.server, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	close(pair.server);
	pair.server = -1;
	usleep(20000);
	n = probe_conn_read(pair.probe, &cursor, cookies, records, 8);
	for (int i = 0; i < n; i++) {
		if (records[i].local_port != pair.port)
			continue;
		server_records++;
		ASSERT_STREQ(conn_reason_name(records[i].reason), "reset_sent",
			     "the server's reason");
	}
	ASSERT_EQ(server_records, 1, "the server side recorded");
cleanup:
	close_watched_pair(&pair);
}

/*
 * A socket in TIME_WAIT answers a stray segment with a reset, and tcp_send_reset then carries
 * the timewait socket, which is no struct sock past its common part. It must leave no record:
 * nothing would ever mark one closed. Here the client closes first, so its closed socket waits
 * in FIN_WAIT2 as a timewait socket, and the server's data after that is answered with RST.
 */
static void test_timewait_reset_no_record(void)
{
	struct watched_pair pair;
	int open;

	if (!open_watched_pair(&pair, "-tw", ignore_event, NULL))
		goto cleanup;
	close(pair.client);
	pair.client = -1;
	usleep(20000);
	/* As the daemon does once they are closed: the records go, the timewait socket stays. */
	delete_records(pair.probe);
	ASSERT_EQ(send(pair.server, "late", 4, MSG_NOSIGNAL), 4, "data after the client's close");
	usleep(20000);
	count_records(pair.probe, &open);
	ASSERT_EQ(open, 0, "no record left that nothing will close");
cleanup:
	close_watched_pair(&pair);
}

/*
 * A connection older than the daemon (its record is deleted here) whose peer stops reading: the
 * sender probes a zero window, and TCP_USER_TIMEOUT ends it with ETIMEDOUT. No retransmission
 * and no reset comes first, and its CLOSE finds no record (a socket first seen closed makes
 * none): the error report after it must make one, already closed, naming the timeout.
 */
static void test_zero_window_timeout_recorded(void)
{
	enum { RECORDS_MAX = 64 };
	uint64_t cookies[RECORDS_MAX];
	struct lp_conn records[RECORDS_MAX];
	struct probe_cursor cursor = {0};
	struct watched_pair pair;
	int user_timeout_ms = 300, n, timed_out = 0;
	static char chunk[65536];
	struct tcp_info info = {0};
	struct pollfd ready;

	if (!open_watched_pair(&pair, "-zw", ignore_event, NULL))
		goto cleanup;
	setsockopt(pair.client, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
		   sizeof(user_timeout_ms));
	fcntl(pair.client, F_SETFL, O_NONBLOCK);
	/* Fill the peer's window and this side's send buffer: the server never reads. */
	for (int i = 0; i < 100000 && send(pair.client, chunk, sizeof(chunk), MSG_NOSIGNAL) > 0;
	     i++)
		;
	/* Until the sender probes the window with nothing in flight (a loss or a tail probe
	 * before that is a retransmission, which would make a record by itself). */
	for (int i = 0; i < 2000; i++) {
		socklen_t len = sizeof(info);

		if (getsockopt(pair.client, IPPROTO_TCP, TCP_INFO, &info, &len) ||
		    info.tcpi_state != TCP_ESTABLISHED ||
		    (info.tcpi_unacked == 0 && info.tcpi_backoff > 0))
			break;
		usleep(1000);
	}
	if (!ASSERT_TRUE(info.tcpi_state == TCP_ESTABLISHED && info.tcpi_backoff > 0,
			 "probing a zero window, still established"))
		goto cleanup;
	delete_records(pair.probe);
	ready = (struct pollfd){.fd = pair.client, .events = POLLERR};
	if (!ASSERT_EQ(poll(&ready, 1, 10000), 1, "the user timeout ended the connection"))
		goto cleanup;
	usleep(20000);
	n = probe_conn_read(pair.probe, &cursor, cookies, records, RECORDS_MAX);
	for (int i = 0; i < n; i++) {
		if (records[i].peer_port != pair.port)
			continue;
		timed_out++;
		ASSERT_EQ(records[i].retransmits, 0, "no retransmission made the record");
		ASSERT_TRUE(records[i].flags & LP_CONN_F_GONE, "recorded closed");
		ASSERT_EQ(records[i].error, ETIMEDOUT, "its error");
		ASSERT_STREQ(conn_reason_name(records[i].reason), "timeout", "its reason");
	}
	ASSERT_EQ(timed_out, 1, "the client side's end recorded");
cleanup:
	close_watched_pair(&pair);
}

/*
 * The kernel skips lp_tcp_state when a softirq's state change lands while it runs on that CPU;
 * lp_tcp_nested records those. After a loopback storm every record in lp_conns must have seen
 * its socket's CLOSE, and the rescues must cover the kernel's count of skips (more would mean
 * lp_tcp_nested ran before lp_tcp_state and did everything twice).
 */
static void test_tcp_nested_rescued(void)
{
	enum { N = 4000 };
	struct sockaddr_in addr;
	struct probe_prog_stats progs[PROBE_MAX_PROGS];
	uint64_t cookies[PROBE_READ_BATCH], misses = 0, rescued;
	struct lp_conn records[PROBE_READ_BATCH];
	struct probe_cursor cursor = {0};
	struct probe *probe = NULL;
	int listener, n, n_progs, records_read = 0, open_records = 0, connected = 0;
	static uint64_t doomed[4 * N + 2];
	uint32_t n_listed;
	struct storm_acceptor acceptor;
	pthread_t thread;
	struct opts opts;
	uint16_t port;

	listener = listen_loopback(1024, &addr);
	if (listener < 0)
		goto cleanup;
	port = ntohs(addr.sin_port);
	/* Its ring buffer is never consumed: lp_conns is what is checked. */
	if (!start_port_probe(&opts, "-nested", &port, 4 * N, ignore_event, NULL, &probe))
		goto cleanup;
	acceptor = (struct storm_acceptor){listener, N};
	if (!ASSERT_OK(pthread_create(&thread, NULL, accept_and_close, &acceptor), "acceptor"))
		goto cleanup;
	for (int i = 0; i < N; i++) {
		int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (client >= 0 && connect(client, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			connected++;
		if (client >= 0)
			close(client);
	}
	/* An acceptor still waiting for connections that failed leaves with the listener. */
	shutdown(listener, SHUT_RDWR);
	pthread_join(thread, NULL);
	ASSERT_EQ(connected, N, "every connect succeeded");
	/* A storm overflows the loopback backlog: a dropped FIN or ACK comes again after an RTO. */
	for (uint64_t deadline = clock_mono_ns() + 5000000000ull;;) {
		records_read = count_records(probe, &open_records);
		if (!open_records || clock_mono_ns() > deadline)
			break;
		usleep(50000);
	}
	ASSERT_GE(records_read, 2 * N * 9 / 10, "the storm's sockets are recorded");
	ASSERT_EQ(open_records, 0, "every recorded socket's CLOSE was seen");
	rescued = probe_tcp_states_rescued(probe);
	n_progs = probe_prog_stats(probe, progs);
	for (int i = 0; i < n_progs; i++)
		if (!strcmp(progs[i].name, "lp_tcp_state"))
			misses = progs[i].recursion_misses;
	ASSERT_GE(rescued, misses, "every skipped change rescued");
	ASSERT_TRUE(rescued <= 2 * misses + 20, "lp_tcp_nested runs after lp_tcp_state");
	printf("    %d connections: lp_tcp_state skipped %llu times, lp_tcp_nested rescued %llu\n",
	       N, (unsigned long long)misses, (unsigned long long)rescued);

	/* The records go in one batch delete, which stops at the first key already gone: the rest
	 * must go all the same. */
	n_listed = 0;
	doomed[n_listed++] = 1; /* no socket has cookie 1 */
	cursor = (struct probe_cursor){0};
	while ((n = probe_conn_read(probe, &cursor, cookies, records, PROBE_READ_BATCH)) > 0)
		for (int i = 0; i < n && n_listed < 4 * N; i++) {
			doomed[n_listed++] = cookies[i];
			if (n_listed == 100)
				doomed[n_listed++] = 1;
		}
	probe_conn_delete_many(probe, doomed, n_listed);
	cursor = (struct probe_cursor){0};
	ASSERT_EQ(probe_conn_read(probe, &cursor, cookies, records, PROBE_READ_BATCH), 0,
		  "a batch delete past missing keys empties lp_conns");
cleanup:
	stop_port_probe(&opts, probe);
	close_if_open(listener);
}

static void test_conn_drop_storm(void)
{
	enum { N = 200 };
	struct sockaddr_in addr;
	static int clients[N], servers[N];
	static struct opts opts;
	static struct loop loop;
	uint64_t stats[LP_STAT__COUNT];
	int listener, alive = 0, reset = 0;

	for (int i = 0; i < N; i++)
		clients[i] = servers[i] = -1;
	listener = listen_loopback(N, &addr);
	if (listener < 0)
		goto cleanup;
	test_opts(&opts, "-cdrops");
	opts.ringbuf_bytes = 4096;
	opts.reconcile_ms = 60000; /* only a drop may trigger reconciliation */
	opts.watch_ports[opts.n_watch_ports++] = ntohs(addr.sin_port);
	if (!ASSERT_OK(loop_init(&loop, &opts), "load a probe with a tiny ring buffer"))
		goto cleanup;

	for (int i = 0; i < N; i++) {
		clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(clients[i], (struct sockaddr *)&addr, sizeof(addr)))
			break;
		servers[i] = accept(listener, NULL, NULL);
	}
	for (int i = 0; i < N; i++) {
		struct linger hard = {.l_onoff = 1, .l_linger = 0};

		setsockopt(clients[i], SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
		close(clients[i]);
		clients[i] = -1;
	}
	probe_read_stats(loop.probe, stats);
	ASSERT_GE(stats[LP_STAT_RINGBUF_DROPS], 1, "the storm overflowed the ring buffer");
	for (int i = 0; i < 30; i++)
		loop_poll_once(&loop, 20);
	for (size_t i = 0; i < loop.fleet.n_conns; i++) {
		const struct conn *conn = &loop.fleet.conns[i];

		if (conn->local_port != ntohs(addr.sin_port))
			continue;
		alive += !conn_is_dead(conn);
		reset += conn->reason == LP_CONN_RESET_RECEIVED;
	}
	ASSERT_EQ(reset, N, "every server side seen reset, recovered from lp_conns");
	ASSERT_EQ(alive, 0, "none left alive");
	probe_read_stats(loop.probe, stats);
	ASSERT_EQ(loop.status.drops_reconciled, stats[LP_STAT_RINGBUF_DROPS],
		  "no drop left unreconciled");
	printf("    connection storm: %llu events dropped, %llu received, %d of %d resets known\n",
	       (unsigned long long)stats[LP_STAT_RINGBUF_DROPS],
	       (unsigned long long)loop.status.events_received, reset, N);
	loop_destroy(&loop);
cleanup:
	for (int i = 0; i < N; i++) {
		if (clients[i] >= 0)
			close(clients[i]);
		if (servers[i] >= 0)
			close(servers[i]);
	}
	if (listener >= 0)
		close(listener);
}

static const struct harness_test tests[] = {
	{"kernel/exit_zero", test_exit_zero},
	{"kernel/exit_three", test_exit_three},
	{"kernel/segv_without_core", test_segv_without_core},
	{"kernel/segv_with_core", test_segv_with_core},
	{"kernel/sigkill_killer_recorded", test_sigkill},
	{"kernel/sigterm", test_sigterm},
	{"kernel/handled_sigterm_no_killer", test_handled_sigterm_no_killer},
	{"kernel/timer_signal_from_kernel", test_timer_signal_from_kernel},
	{"kernel/oom_kill", test_oom_kill},
	{"kernel/main_thread_pthread_exit", test_main_thread_pthread_exit},
	{"kernel/register_after_pthread_exit", test_register_after_pthread_exit},
	{"kernel/forget_frees_everything", test_forget_frees_everything},
	{"kernel/pid_reuse", test_pid_reuse},
	{"kernel/unwatched_exit_burst", test_unwatched_exit_burst},
	{"kernel/watch_comm", test_watch_comm},
	{"kernel/dead_pid_refused", test_dead_pid_refused},
	{"kernel/drop_storm", test_drop_storm},
	{"kernel/peer_kill_fin", test_peer_kill_fin},
	{"kernel/peer_kill_unread_rst", test_peer_kill_unread_rst},
	{"kernel/zerocopy_is_no_error", test_zerocopy_is_no_error},
	{"kernel/unwatched_connections", test_unwatched_connections},
	{"kernel/conn_drop_storm", test_conn_drop_storm},
	{"kernel/close_carries_error", test_close_carries_error},
	{"kernel/tcp_nested_rescued", test_tcp_nested_rescued},
	{"kernel/timewait_reset_no_record", test_timewait_reset_no_record},
	{"kernel/abortive_close_reset_sent", test_abortive_close_reset_sent},
	{"kernel/zero_window_timeout_recorded", test_zero_window_timeout_recorded},
};

int main(int argc, char **argv)
{
	int failed;

	if (geteuid() != 0) {
		fprintf(stderr, "test_kernel: must run as root (it loads BPF programs)\n");
		return 2;
	}
	log_init("test_kernel", getenv("LP_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	prctl(PR_SET_NAME, "lp-test-kernel");
	test_opts(&main_opts, "");
	strcpy(main_opts.watch_comms[main_opts.n_watch_comms++], "lp-comm-wkr");
	main_loop_ready = loop_init(&main_loop, &main_opts) == 0;
	if (!main_loop_ready) {
		printf("FAIL: kernel/load_probe\n");
		return 1;
	}
	printf("PASS: kernel/load_probe\n");
	failed = harness_run(tests, sizeof(tests) / sizeof(tests[0]), argc > 1 ? argv[1] : NULL);
	stop_sock_loop();
	loop_destroy(&main_loop);
	return failed ? 1 : 0;
}
