#!/usr/bin/env bash
# Fleet lifecycle (issue 13): a clean announced stop is grey, a crash loop is red while its
# current process works, an uninstrumented process is judged by the kernel alone, the dead of
# --watch-comm are forgotten, systemd-notify's protocol messages make no worker, and a cgroup is
# one worker whose every process the kernel watches.
source "$(dirname "$0")/lib.sh"

# report SOCKET LINE...: one datagram per line, from this short-lived python (its own pid)
report() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for line in sys.argv[2:]:
    s.sendto(line.encode(), sys.argv[1])' "$@"
}
# worker SOCKET NAME SECONDS THEN: reports every 0.1 s for SECONDS, then THEN (bye0, exit0,
# byesegv, segv)
worker() {
	python3 -c '
import os, signal, socket, sys, time
sock, name, seconds, then = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
end = time.time() + seconds
while time.time() < end:
    s.sendto(f"episode worker={name} completed_at={time.time()}".encode(), sock)
    time.sleep(0.1)
if then.startswith("bye"):
    s.sendto(f"bye worker={name}".encode(), sock)
    time.sleep(0.1)
if then.endswith("segv"):
    os.kill(os.getpid(), signal.SIGSEGV)
sys.exit(0)' "$@"
}
W() { curl -s "$A/api/v1/workers/$1"; }

start_daemon A --start-grace 1 --crash-loop 3,6 || { echo "FAIL: lifecycle/start"; exit 1; }

# --- stop, exit and crash, told apart
worker "$A_INGEST" clean 0.5 bye0 &
w1=$!
worker "$A_INGEST" quit 0.5 exit0 &
w2=$!
worker "$A_INGEST" byecrash 0.5 byesegv 2>/dev/null &
wait $w1 $! $w2 2>/dev/null
check "lifecycle/bye_exit0_stopped" wait_jq "$A/api/v1/workers/clean" .state stopped 3
check "lifecycle/stopped_is_grey" test "$(W clean | jq -r .health)" = grey
check "lifecycle/exit0_without_bye_exited" wait_jq "$A/api/v1/workers/quit" .state exited 3
check "lifecycle/exited_is_red" test "$(W quit | jq -r .health)" = red
check "lifecycle/bye_then_segv_crashed" wait_jq "$A/api/v1/workers/byecrash" .state crashed 3
host=$(curl -s "$A/api/v1/host")
check "lifecycle/host_lists_stopped_apart" test "$(jq -c .stopped <<<"$host")" = '["clean"]'
check "lifecycle/stopped_not_in_reasons" test "$(jq '[.reasons[] | select(test("clean"))] | length' <<<"$host")" = 0
curl -s -X DELETE "$A/api/v1/workers/quit" >/dev/null
curl -s -X DELETE "$A/api/v1/workers/byecrash" >/dev/null
check "lifecycle/stopped_alone_host_not_red" wait_jq "$A/api/v1/host" '.health != "red"' true 3

# --- an uninstrumented watched process: running (green) on the kernel's word; killed is killed
spawn_sleeper IDLE
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"idle\",\"pid\":$IDLE}" >/dev/null
sleep 1.5 # past the start grace
w=$(W idle)
check "lifecycle/uninstrumented_running" test "$(jq -r .state <<<"$w")" = running
check "lifecycle/uninstrumented_green" test "$(jq -r .health <<<"$w")" = green
check "lifecycle/uninstrumented_output_null" test "$(jq -c '[.expects_output, .episodes_per_min, .stale_after_s]' <<<"$w")" = '[false,null,null]'
spawn_sleeper EXPECTING
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"expecting\",\"pid\":$EXPECTING,\"expects_output\":true}" >/dev/null
check "lifecycle/expects_output_set_goes_stale" wait_jq "$A/api/v1/workers/expecting" .state stale 3
kill -KILL "$IDLE"
check "lifecycle/uninstrumented_killed" wait_jq "$A/api/v1/workers/idle" .state killed 2

# --- a crash loop: a supervisor restarts a worker that crashes after about a second, 4 times;
# the fifth incarnation stays up
(
	for i in 1 2 3 4; do worker "$A_INGEST" looper 1 segv 2>/dev/null; done
	exec python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
while True:
    s.sendto(f"episode worker=looper completed_at={time.time()}".encode(), sys.argv[1])
    time.sleep(0.1)' "$A_INGEST"
) &
SUPERVISOR=$!
PIDS_TO_KILL+=("$SUPERVISOR")
check "lifecycle/crashloop_restarts_counted" wait_jq "$A/api/v1/workers/looper" .restarts_total 4 15
sleep 0.5
w=$(W looper)
echo "    looper: $(jq -c '{state, health, restarts_total, exits_by_class, crashloop, crashloop_reason}' <<<"$w")"
check "lifecycle/crashloop_fifth_producing" test "$(jq -r .state <<<"$w")" = working
check "lifecycle/crashloop_flagged" test "$(jq -r .crashloop <<<"$w")" = true
check "lifecycle/crashloop_red_while_working" test "$(jq -r .health <<<"$w")" = red
check "lifecycle/crashloop_reason" grep -q "^crash loop: [34] crashes in 6 s (last: SIGSEGV" <<<"$(jq -r .crashloop_reason <<<"$w")"
check "lifecycle/exits_by_class" test "$(jq -r .exits_by_class.crashed <<<"$w")" = 4
check "lifecycle/last_exit_kept" test "$(jq -r .last_exit.signal_name <<<"$w")" = SIGSEGV
check "lifecycle/crashloop_in_host_reasons" grep -q "worker looper crash loop" <<<"$(curl -s "$A/api/v1/host" | jq -r '.reasons[]')"
metrics=$(curl -s "$A/metrics")
check "lifecycle/metric_restarts" grep -q '^liveprobe_worker_restarts_total{worker="looper"} 4$' <<<"$metrics"
check "lifecycle/metric_exits_by_class" grep -q '^liveprobe_worker_exits_total{worker="looper",class="crashed"} 4$' <<<"$metrics"
check "lifecycle/metric_crashlooping" grep -q '^liveprobe_worker_crashlooping{worker="looper"} 1$' <<<"$metrics"
check "lifecycle/crashloop_ends_after_window" wait_jq "$A/api/v1/workers/looper" .health green 9
kill "$SUPERVISOR" 2>/dev/null

# --- sd_notify as systemd speaks it: BARRIER=1 (from systemd-notify's own process) makes no
# worker; READY, STATUS and STOPPING from one script are one worker
before=$(curl -s "$A/api/v1/workers" | jq '.workers | length')
NOTIFY_SOCKET=$A_INGEST bash -c 'systemd-notify --ready; systemd-notify --status=x; systemd-notify STOPPING=1; echo $$ >"$0"' "$TEST_TMP/notify.pid"
NOTIFY_SOCKET=$A_INGEST bash -c 'systemd-notify --no-block --ready; systemd-notify --no-block --status=y; echo $$ >"$0"; sleep 0.3' "$TEST_TMP/notify2.pid"
NOTIFY_SOCKET=$A_INGEST python3 -c '
import ctypes, os, time
sd = ctypes.CDLL("libsystemd.so.0")
sd.sd_notify(0, b"READY=1\nSTATUS=from libsystemd")
sd.sd_notify(0, b"BARRIER=1")
time.sleep(0.3)'
sleep 0.5
names=$(curl -s "$A/api/v1/workers" | jq -r '.workers[].name')
check "lifecycle/notify_no_barrier_workers" test "$(grep -c '^systemd-notify' <<<"$names")" = 0
check "lifecycle/notify_one_worker_per_sender" test "$(curl -s "$A/api/v1/workers" | jq '.workers | length')" = $((before + 3))
check "lifecycle/notify_script_is_one_worker" test "$(grep -c "^bash-$(cat "$TEST_TMP/notify.pid")$" <<<"$names")" = 1
check "lifecycle/notify_no_block_one_worker" test "$(grep -c "^bash-$(cat "$TEST_TMP/notify2.pid")$" <<<"$names")" = 1
check "lifecycle/notify_stopping_then_exit_stopped" wait_jq "$A/api/v1/workers/bash-$(cat "$TEST_TMP/notify.pid")" .state stopped 3
# MAINPID=: a wrapper hands the worker over to the daemon it started
NOTIFY_SOCKET=$A_INGEST python3 -c '
import ctypes, subprocess, sys, time
child = subprocess.Popen(["sleep", "30"])
open(sys.argv[1], "w").write(f"{child.pid}")
ctypes.CDLL("libsystemd.so.0").sd_notify(0, f"READY=1\nSTATUS=wrapper\nMAINPID={child.pid}".encode())
time.sleep(0.5)' "$TEST_TMP/mainpid" &
WRAPPER=$!
PIDS_TO_KILL+=("$WRAPPER")
wait_until 10 test -s "$TEST_TMP/mainpid"
MAINPID=$(cat "$TEST_TMP/mainpid")
PIDS_TO_KILL+=("$MAINPID")
check "lifecycle/notify_mainpid_rebinds" wait_jq "$A/api/v1/workers/python3-$WRAPPER" .pid "$MAINPID" 3
check "lifecycle/libsystemd_status" test "$(curl -s "$A/api/v1/workers" | jq -r '[.workers[] | select(.status == "from libsystemd")] | length')" = 1
kill "$MAINPID" 2>/dev/null

# --- --watch-comm with --forget-after: the dead of 200 short-lived processes do not pile up
cp "$(command -v sleep)" "$TEST_TMP/lpshort"
start_daemon B --watch-comm lpshort --forget-after 2 || echo "FAIL: lifecycle/start_b"
shorts=()
for i in $(seq 200); do
	"$TEST_TMP/lpshort" 0.01 &
	shorts+=($!)
done
wait "${shorts[@]}"
check "lifecycle/forget_after_empties" wait_jq "$B/api/v1/workers" '[.workers[] | select(.comm == "lpshort")] | length' 0 8
dump=$("$BUILD/liveprobed" --dump-maps --pin-root "$B_PIN")
entries=$(sed -n 's/^  (\([0-9]*\) entries)$/\1/p' <<<"$dump" | head -1)
check "lifecycle/pidmask_exact_after_churn" grep -q "^  $entries tgids counted (sum $entries)" <<<"$dump"
check "lifecycle/forgotten_counted" test "$(curl -s "$B/metrics" | awk '/^liveprobe_workers_forgotten_total/ {print $2}')" -ge 200
echo "    --watch-comm: $(curl -s "$B/metrics" | awk '/^liveprobe_workers_forgotten_total/ {print $2}') ended workers forgotten"

# --- a cgroup is one worker: its main process decides, the others are counted; a process that
# lives 1 ms is still seen, because the kernel adopts it at fork
CG_MOUNT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
CG_NAME=lp-e2e-$$
CG=$CG_MOUNT/$CG_NAME
mkdir "$CG"
bash -c 'echo $$ >"$0/cgroup.procs"; exec sleep 1000' "$CG" &
CG_MAIN=$!
PIDS_TO_KILL+=("$CG_MAIN")
for _ in $(seq 100); do grep -qx "$CG_MAIN" "$CG/cgroup.procs" && break; sleep 0.02; done
start_daemon C --watch-cgroup "$CG_NAME" || echo "FAIL: lifecycle/start_c"
C_W=$C/api/v1/workers/$CG_NAME
check "cgroup/one_worker_named_after_it" wait_jq "$C_W" .state running 3
check "cgroup/main_is_the_oldest" test "$(curl -s "$C_W" | jq -r .pid)" = "$CG_MAIN"
# a process moved in that forks two 1 ms children and exits 0
bash -c 'echo $$ >"$0/cgroup.procs"; /bin/true; /bin/true; exit 0' "$CG"
check "cgroup/children_counted" wait_jq "$C_W" .child_exits_by_class.exited 3 3
check "cgroup/children_do_not_change_the_verdict" test "$(curl -s "$C_W" | jq -r .state)" = running
# a process inside speaks for the cgroup's worker: its identity is the cgroup
before=$(curl -s "$C/api/v1/workers" | jq '.workers | length')
NOTIFY_SOCKET=$C_INGEST bash -c 'echo $$ >"$0/cgroup.procs"; exec python3 -c "
import ctypes
ctypes.CDLL(\"libsystemd.so.0\").sd_notify(0, b\"STATUS=inside the cgroup\")"' "$CG"
check "cgroup/member_notify_is_the_workers" wait_jq "$C_W" .status "inside the cgroup" 3
check "cgroup/member_notify_makes_no_worker" test "$(curl -s "$C/api/v1/workers" | jq '.workers | length')" = "$before"
# one that exits, and is reaped, before the daemon reads its datagram still spoke from inside:
# the datagram's pidfd says where it died (/proc no longer can, or names a new process)
kill -STOP "$C_PID"
NOTIFY_SOCKET=$C_INGEST bash -c 'echo $$ >"$0/cgroup.procs"; exec python3 -c "
import ctypes
ctypes.CDLL(\"libsystemd.so.0\").sd_notify(0, b\"STATUS=said, then gone\")"' "$CG"
kill -CONT "$C_PID"
check "cgroup/member_notify_after_exit" wait_jq "$C_W" .status "said, then gone" 3
# descriptors a reporter attaches to its datagrams are closed, never kept
datagrams() { curl -s "$C/metrics" | awk '/^liveprobe_ingest_datagrams_total/ {print $2}'; }
fds_before=$(ls "/proc/$C_PID/fd" | wc -l)
sent_before=$(datagrams)
python3 - "$C_INGEST" <<'PY'
import array, os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
fd = os.open("/dev/null", os.O_RDONLY)
for _ in range(50):
    sock.sendmsg([b"STATUS=with a descriptor"],
                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]).tobytes())],
                 0, sys.argv[1])
PY
for _ in $(seq 150); do [ "$(datagrams)" -ge $((sent_before + 50)) ] && break; sleep 0.02; done
fds_after=$(ls "/proc/$C_PID/fd" | wc -l)
echo "    descriptors: $fds_before before 50 datagrams that each passed one, $fds_after after"
check "hardening/ingest_passed_fds_closed" test "$fds_after" -lt $((fds_before + 10))
check "hardening/ingest_passed_fds_read" test "$(datagrams)" -ge $((sent_before + 50))
MEMCG=/sys/fs/cgroup/memory/$CG_NAME
if [ -d /sys/fs/cgroup/memory ] && mkdir "$MEMCG" 2>/dev/null; then
	# memory is a v1 controller here: the child is in the watched v2 cgroup and in a v1
	# memory cgroup with a limit, whose OOM killer picks it
	echo $((32 << 20)) >"$MEMCG/memory.limit_in_bytes"
	[ -e "$MEMCG/memory.memsw.limit_in_bytes" ] && echo $((32 << 20)) >"$MEMCG/memory.memsw.limit_in_bytes"
	bash -c 'echo $$ >"$0/cgroup.procs"; echo $$ >"$1/cgroup.procs"; exec python3 -c "x = b\"x\" * (256 << 20)"' "$CG" "$MEMCG" 2>/dev/null
	check "cgroup/oom_inside_reported" wait_jq "$C_W" '.last_child_oom.comm' python3 3
	check "cgroup/oom_inside_amber" test "$(curl -s "$C_W" | jq -r .health)" = amber
	check "cgroup/oom_inside_named_in_host" grep -q "OOM killer killed python3" <<<"$(curl -s "$C/api/v1/host" | jq -r '.reasons[]')"
else
	skip "cgroup/oom_inside_reported" "no cgroup v1 memory controller to limit a child with"
fi
kill -SEGV "$CG_MAIN"
check "cgroup/main_crash_is_the_workers" wait_jq "$C_W" .state crashed 3
check "cgroup/main_crash_facts" test "$(curl -s "$C_W" | jq -r .exit.signal_name)" = SIGSEGV
bash -c 'echo $$ >"$0/cgroup.procs"; exec sleep 1000' "$CG" &
CG_MAIN2=$!
PIDS_TO_KILL+=("$CG_MAIN2")
check "cgroup/new_main_is_a_restart" wait_jq "$C_W" .restarts_total 1 3
check "cgroup/new_main_watched" wait_jq "$C_W" '"\(.state) \(.pid)"' "running $CG_MAIN2" 3
# the children's exit counts are facts of the worker: a restarted daemon still has them
children=$(curl -s "$C_W" | jq -c .child_exits_by_class)
kill -TERM "$C_PID"
wait "$C_PID" 2>/dev/null
start_daemon C2 --watch-cgroup "$CG_NAME" --state-dir "$TEST_TMP/e2e-$$-${C##*:}-state" ||
	echo "FAIL: lifecycle/start_c2"
echo "    children's exits before the restart: $children"
check "cgroup/children_counted_after_restart" wait_jq "$C2/api/v1/workers/$CG_NAME" ".child_exits_by_class | tojson" "$children" 3

# --- a forgotten cgroup worker comes back with the next process in its cgroup: the watch stays
start_daemon E --watch-cgroup "$CG_NAME" --forget-after 1 || echo "FAIL: lifecycle/start_e"
E_W=$E/api/v1/workers/$CG_NAME
check "cgroup/e_watches_main" wait_jq "$E_W" .state running 3
kill -KILL "$CG_MAIN2"
check "cgroup/forgotten_after_death" wait_jq "$E_W" .error "no such worker" 5
bash -c 'echo $$ >"$0/cgroup.procs"; exec sleep 1000' "$CG" &
CG_MAIN3=$!
PIDS_TO_KILL+=("$CG_MAIN3")
check "cgroup/back_with_next_process" wait_jq "$E_W" .pid "$CG_MAIN3" 3
kill -KILL "$E_PID" 2>/dev/null

# --- --watch-unit finds a unit's cgroup under system.slice (made here: no systemd may run)
UNIT=lp-e2e-$$.service
mkdir -p "$CG_MOUNT/system.slice"
mkdir "$CG_MOUNT/system.slice/$UNIT"
start_daemon D --watch-unit "$UNIT" || echo "FAIL: lifecycle/start_d"
check "cgroup/unit_found" test "$(curl -s "$D/api/v1/workers/$UNIT" | jq -r .origin)" = cgroup
if [ "$(cat /proc/1/comm)" = systemd ] && command -v systemd-run >/dev/null; then
	systemd-run --scope --unit "lp-e2e-scope-$$" sleep 2 &
	sleep 0.5
	out=$("$BUILD/liveprobed" --watch-unit "lp-e2e-scope-$$.scope" --unload 2>&1)
	check "cgroup/systemd_run_scope" test -n "$out"
else
	skip "cgroup/systemd_run_scope" "systemd is not PID 1 here ($(cat /proc/1/comm))"
fi
kill -KILL "$C_PID" "$D_PID" "$CG_MAIN2" "$CG_MAIN3" 2>/dev/null
sleep 0.2
rmdir "$CG" "$CG_MOUNT/system.slice/$UNIT" 2>/dev/null
rmdir "$MEMCG" 2>/dev/null
true
