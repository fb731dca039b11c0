#!/usr/bin/env bash
# Hardening: hostile input never makes the output invalid, never reaches a terminal raw, and
# never makes the daemon write through a planted link or share its state; a write is visible to
# the read that follows it.
source "$(dirname "$0")/lib.sh"

start_daemon A || { echo "FAIL: hardening/daemon_start"; exit 1; }
send() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(sys.argv[1]); s.send(sys.argv[2].encode("latin-1"))' "$A_INGEST" "$1"; }
# valid_json URL: the body parses as strict JSON from strict UTF-8
valid_json() { curl -s "$1" | python3 -c 'import json,sys; json.loads(sys.stdin.buffer.read().decode("utf-8", "strict"))'; }

# --- every response stays valid JSON (UTF-8), whatever was reported
spawn_sleeper S1
send "episode worker=far pid=$S1 completed_at=123456789012345678901234567890"
send "episode worker=far pid=$S1 completed_at=1e300"
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
s.send(b"READY=1\nLIVEPROBE_WORKER=latin\nSTATUS=caf\xe9 \xff<b>")
' "$A_INGEST"
sleep 0.3
check "hardening/far_completed_at_counted" test "$(curl -s "$A/api/v1/host" | jq -r .ingest.dropped.bad_completed_at)" -ge 2
check "hardening/workers_valid_json" valid_json "$A/api/v1/workers"
check "hardening/host_valid_json" valid_json "$A/api/v1/host"
status=$(curl -s "$A/api/v1/workers/latin" | jq -r .status)
echo "    status shown as: $status"
check "hardening/status_cleaned" test "$status" = "caf? ?<b>"

# --- JSON reports: wrong types and embedded NULs are entry errors, never a worker named "-"
answer=$(curl -s -X POST "$A/api/v1/episodes" -d '[{"worker":{"a":1}},{"worker":true},{"worker":-7},{"worker":"a\u0000b"},{"worker":"typed","count":"3"}]')
check "hardening/json_types_refused" test "$(jq -r .accepted <<<"$answer")" = 0
check "hardening/no_dash_worker" test "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/workers/-")" = 404
check "hardening/no_truncated_name" test "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/workers/a")" = 404

# --- read-your-writes: a 201 is always followed by a read that sees the worker
misses=0
for i in $(seq 100); do
	spawn_sleeper P
	[ "$(status_of POST "$A/api/v1/workers" "{\"name\":\"ryw-$i\",\"pid\":$P}")" = 201 ] || misses=$((misses + 1))
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/workers/ryw-$i")" = 200 ] || misses=$((misses + 1))
	curl -s -o /dev/null -X DELETE "$A/api/v1/workers/ryw-$i"
	kill "$P"
done
check "hardening/read_your_writes" test "$misses" = 0

# --- a process name with a terminal escape reaches `liveprobe status` escaped
python3 -c 'import ctypes, time; ctypes.CDLL(None).prctl(15, b"\x1b]0;owned\x07x", 0, 0, 0); time.sleep(1000)' &
EVIL=$!
PIDS_TO_KILL+=("$EVIL")
wait_until 10 grep -q owned "/proc/$EVIL/comm"
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"evil\",\"pid\":$EVIL}" >/dev/null
out=$("$BUILD/liveprobe" --url "$A" status)
check "hardening/cli_no_raw_escape" test "$(grep -c $'\x1b' <<<"$out")" = 0
check "hardening/comm_cleaned" test "$(curl -s "$A/api/v1/workers/evil" | jq -r .comm)" = "?]0;owned?x"

# --- --state-dir: no write through a planted link, no shared or open directory
STATE=$TEST_TMP/hard-state
start_daemon B --state-dir "$STATE" || { echo "FAIL: hardening/daemon_b_start"; exit 1; }
echo precious >"$TEST_TMP/victim"
ln -sf "$TEST_TMP/victim" "$STATE/.workers.json.tmp"
spawn_sleeper S2
curl -s -X POST "$B/api/v1/workers" -d "{\"name\":\"saved\",\"pid\":$S2}" >/dev/null
sleep 1.5 # a save runs at most once a second
check "hardening/saved" wait_jq "file://$STATE/workers.json" '.workers[0].name' saved 3
check "hardening/planted_link_not_followed" test "$(cat "$TEST_TMP/victim")" = precious
out=$("$BUILD/liveprobed" --state-dir "$STATE" --listen "127.0.0.1:$(free_port)" \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-second" --ingest "$TEST_TMP/second.sock" \
	--api-socket "$TEST_TMP/second.api" 2>&1)
rc=$?
check "hardening/state_dir_locked" test "$rc" -ne 0
check "hardening/state_dir_locked_says_why" grep -q "another liveprobed uses it" <<<"$out"
kill -TERM "$B_PID"
wait "$B_PID" 2>/dev/null
before=$(sha256sum <"$STATE/workers.json")
# a start that fails (the ingest path is another daemon's) leaves the state file as it was
out=$("$BUILD/liveprobed" --state-dir "$STATE" --listen "127.0.0.1:$(free_port)" \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-third" --ingest "$A_INGEST" \
	--api-socket "$TEST_TMP/third.api" 2>&1)
rc=$?
check "hardening/failed_start_fails" test "$rc" -ne 0
check "hardening/failed_start_writes_nothing" test "$(sha256sum <"$STATE/workers.json")" = "$before"
mkdir -p "$TEST_TMP/open-state" && chmod 0777 "$TEST_TMP/open-state"
out=$("$BUILD/liveprobed" --state-dir "$TEST_TMP/open-state" --listen "127.0.0.1:$(free_port)" \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-fourth" --ingest "$TEST_TMP/fourth.sock" \
	--api-socket "$TEST_TMP/fourth.api" 2>&1)
rc=$?
check "hardening/open_state_dir_refused" test "$rc" -ne 0 -a "$(wc -l <<<"$out")" -eq 1
check "hardening/open_state_dir_says_why" grep -q "writable by no one else" <<<"$out"
mkdir -p /tmp/lp-open-$$ && chmod 1777 /tmp/lp-open-$$
out=$("$BUILD/liveprobed" --state-dir "$TEST_TMP/fifth-state" --listen "127.0.0.1:$(free_port)" \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-fifth" --ingest "/tmp/lp-open-$$/ingest.sock" \
	--api-socket "$TEST_TMP/fifth.api" 2>&1)
rc=$?
rmdir /tmp/lp-open-$$
check "hardening/open_socket_dir_refused" test "$rc" -ne 0
check "hardening/open_socket_dir_says_why" grep -q "^liveprobed: --ingest: .*writable by no one else" <<<"$out"

# --- descriptor limits: past the pidfd budget a live process is a named limit (503), never
# "already exited", and the daemon keeps answering
port=$(free_port)
prlimit --nofile=512:512 "$BUILD/liveprobed" --listen "127.0.0.1:$port" --http-connections 64 \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-nofile" --ingest "$TEST_TMP/nofile.sock" \
	--api-token-file "$TEST_TMP/token" --api-socket "$TEST_TMP/nofile.api" \
	--state-dir "$TEST_TMP/nofile-state" 2>"$TEST_TMP/nofile.log" &
PIDS_TO_KILL+=("$!")
N=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$N/healthz" >/dev/null && break; sleep 0.05; done
codes=""
for i in $(seq 260); do
	spawn_sleeper P
	codes+=" $(status_of POST "$N/api/v1/workers" "{\"name\":\"fd-$i\",\"pid\":$P}")"
done
echo "    260 registrations under RLIMIT_NOFILE 512:$(tr ' ' '\n' <<<"$codes" | sort | uniq -c | tr -s ' \n' ' ')"
check "hardening/fd_budget_fills" test "$(grep -o 201 <<<"$codes" | wc -l)" -ge 150
check "hardening/fd_limit_is_503" grep -q 503 <<<"$codes"
body=$(curl -s -X POST "$N/api/v1/workers" -d "{\"name\":\"fd-last\",\"pid\":$P}")
check "hardening/fd_limit_named" grep -q "open-file limit reached" <<<"$body"
check "hardening/fd_limit_not_exited" test "$(grep -c "already exited" <<<"$body")" = 0
check "hardening/fd_limit_healthz_answers" test "$(curl -s -o /dev/null -w '%{http_code}' "$N/healthz")" = 200
check "hardening/fd_limit_counted" wait_jq "$N/api/v1/host" '.probe.pidfd_limit_total > 0' true

# --- --on-transition under a flood: every worker's latest transition runs, merged, none lost
HOOK_LOG=$TEST_TMP/hook.log
start_daemon H --on-transition "sleep 0.2; echo \"\$LIVEPROBE_WORKER \$LIVEPROBE_FROM>\$LIVEPROBE_TO\" >>$HOOK_LOG" ||
	{ echo "FAIL: hardening/hook_daemon_start"; exit 1; }
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
for i in range(100):
    s.send(f"hello worker=flood-{i}".encode())
' "$H_INGEST"
spawn_sleeper VICTIM
curl -s -X POST "$H/api/v1/workers" -d "{\"name\":\"victim\",\"pid\":$VICTIM}" >/dev/null
kill -SEGV "$VICTIM"
for _ in $(seq 150); do grep -q "^victim " "$HOOK_LOG" 2>/dev/null && break; sleep 0.1; done
check "hardening/hook_crash_not_silenced" grep -q "^victim >crashed" "$HOOK_LOG"
sleep 1 # the last waiting commands
n_flood=$(grep '^flood-' "$HOOK_LOG" | cut -d' ' -f1 | sort -u | wc -l); echo "    flooded workers the hook ran for: $n_flood of 100, victim: $(grep "^victim" "$HOOK_LOG")"
check "hardening/hook_every_worker_seen" test "$n_flood" = 100
check "hardening/hook_merged_counted" grep -q '^liveprobe_transition_commands_total{result="merged"} [1-9]' <<<"$(curl -s "$H/metrics")"

# --- least privilege: a running daemon holds two capabilities, no_new_privs and a seccomp
# filter, and still does its work (connection owners from other users' /proc/PID/fd)
status=/proc/$A_PID/status
check "hardening/capeff_reduced" test "$(awk '/^CapEff:/ {print $2}' "$status")" = 0000000000080004
check "hardening/capbnd_reduced" test "$(awk '/^CapBnd:/ {print $2}' "$status")" = 0000000000080004
check "hardening/no_new_privs" test "$(awk '/^NoNewPrivs:/ {print $2}' "$status")" = 1
check "hardening/seccomp_filter" test "$(awk '/^Seccomp:/ {print $2}' "$status")" = 2
check "hardening/hook_spawner_keeps_privileges" test "$(awk '/^Seccomp:/ {print $2}' "/proc/$(pgrep -P "$H_PID" | head -1)/status")" = 0
check "hardening/still_works" test "$(curl -s "$A/healthz" | jq -r .status)" = ok
# --loop-nice: the event loop (its thread id is the pid) and the event-stream thread
# (libmicrohttpd's one single-threaded server, MHD-single) go first; every other thread, the
# saver the loop starts too, keeps the daemon's own nice (this shell's) or a lower priority
events_thread_nice() { for t in /proc/$1/task/*; do [ "$(cat "$t/comm")" != MHD-single ] || awk '{print $19}' "$t/stat"; done; }
thread_nices() { for t in /proc/$1/task/*; do [ "${t##*/}" = "$1" ] || [ "$(cat "$t/comm")" = MHD-single ] || awk '{print $19}' "$t/stat"; done; }
echo "    loop nice $(awk '{print $19}' "/proc/$A_PID/stat"), event streams $(events_thread_nice "$A_PID"), other threads: $(thread_nices "$A_PID" | tr '\n' ' ')"
check "hardening/loop_priority" test "$(awk '{print $19}' "/proc/$A_PID/stat")" = -10
check "hardening/events_thread_priority" test "$(events_thread_nice "$A_PID")" = -10
check "hardening/other_threads_not_raised" test "$(thread_nices "$A_PID" | sort -n | head -1)" = "$(nice)"
check "hardening/threads_counted" test "$(thread_nices "$A_PID" | wc -l)" -ge 10
# under the systemd unit's bounding set (scripts/systemd), the daemon starts and drops the same way
port=$(free_port)
setpriv --bounding-set -all,+bpf,+perfmon,+net_admin,+chown,+setpcap,+sys_nice,+sys_ptrace,+dac_read_search \
	"$BUILD/liveprobed" --listen "127.0.0.1:$port" --pin-root "/sys/fs/bpf/liveprobe-e2e-$$-unit" \
	--ingest "$TEST_TMP/unit.sock" --api-socket "$TEST_TMP/unit.api" \
	--state-dir "$TEST_TMP/unit-state" 2>"$TEST_TMP/unit.log" &
UNIT_PID=$!
PIDS_TO_KILL+=("$UNIT_PID")
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
check "hardening/unit_capabilities_start" test "$(curl -s "http://127.0.0.1:$port/healthz" | jq -r .status)" = ok
check "hardening/unit_capabilities_dropped" test "$(awk '/^CapEff:/ {print $2}' "/proc/$UNIT_PID/status")" = 0000000000080004
check "hardening/unit_loop_priority" test "$(awk '{print $19}' "/proc/$UNIT_PID/stat")" = -10
check "hardening/unit_no_priority_warning" test "$(grep -c "loop-nice" "$TEST_TMP/unit.log")" = 0

# --- an honest 100 Hz reporter (include/liveprobe.h) loses nothing while another uid floods
chmod 711 "$TEST_TMP" # the flooder reaches the socket; its mode decides the rest
start_daemon F --ingest-group nogroup || { echo "FAIL: hardening/flood_daemon_start"; exit 1; }
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$ROOT/tests/e2e/flood.py" \
	"$F_INGEST" 7 >"$TEST_TMP/flood.out" &
FLOOD=$!
sleep 1
unsent=$("$BUILD/honest" "$F_INGEST" 500)
wait "$FLOOD"
got=$(curl -s "$F/api/v1/workers/honest" | jq -r .episodes_total)
echo "    flood: $(cat "$TEST_TMP/flood.out") datagrams from uid nobody; honest reporter: 500 sent, $unsent unsent, $got received"
check "hardening/honest_reporter_unsent_none" test "$unsent" = 0
check "hardening/honest_reporter_all_received" test "$got" = 500

# --- slow clients: 1,000 connections that trickle one byte every 2 s hold no thread and no
# slot for long; a good client is served meanwhile, and the trickles are cut at the deadline
start_daemon S || { echo "FAIL: hardening/slow_daemon_start"; exit 1; }
SPORT=${S##*:}
python3 "$ROOT/tests/e2e/slow_clients.py" "$SPORT" 1000 14 >"$TEST_TMP/slow.out" 2>&1 &
SLOW=$!
for _ in $(seq 100); do grep -q connected "$TEST_TMP/slow.out" && break; sleep 0.1; done
good=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$S/api/v1/host")
echo "    with 1,000 slow clients connected, a good client: HTTP ${good% *} in ${good#* } s"
check "hardening/good_client_served_among_slow_ones" test "${good% *}" = 200
wait "$SLOW"
echo "    slow clients cut by the request deadline: $(cat "$TEST_TMP/slow.out" | tail -1)"
check "hardening/slow_clients_cut" test "$(awk '/^closed/ {print $2}' "$TEST_TMP/slow.out")" -ge 990
check "hardening/daemon_alive_after_slow_clients" test "$(curl -s -o /dev/null -w '%{http_code}' "$S/healthz")" = 200

# --- lanes (userspace/lanes.c): a TCP connection's first bytes pick its thread. An event stream
# has a thread of its own, where a refused stream closes its connection; connections that have
# not sent those bytes yet are limited per client address
start_daemon E --sse-clients 1 --http-connections-per-client 4 || echo "FAIL: hardening/lanes_daemon_start"
python3 - "${E##*:}" >"$TEST_TMP/lanes.out" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
stream = b"GET /api/v1/events HTTP/1.1\r\nHost: t\r\n\r\n"
def connect(first=b""):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(first)
    return s
one = connect(stream)
time.sleep(0.3)
print("first", one.recv(4096).split(b"\r\n")[0].decode())
two = connect(stream)
two.settimeout(2)
head = two.recv(4096).decode()
print("second", head.split("\r\n")[0])
print("second_closes", "connection: close" in head.lower())
one.close()
two.close()
silent = [connect() for _ in range(8)]
time.sleep(0.5)
closed = 0
for s in silent:
    s.setblocking(False)
    try:
        closed += s.recv(1) == b""
    except BlockingIOError:
        pass
    except ConnectionResetError:
        closed += 1
print("silent_closed", closed)
PY
cat "$TEST_TMP/lanes.out" | sed 's/^/    /'
check "hardening/lanes_stream_served" grep -q "^first HTTP/1.1 200" "$TEST_TMP/lanes.out"
check "hardening/lanes_stream_refused" grep -q "^second HTTP/1.1 503" "$TEST_TMP/lanes.out"
check "hardening/lanes_refusal_closes" grep -q "^second_closes True" "$TEST_TMP/lanes.out"
check "hardening/lanes_waiting_per_client" grep -q "^silent_closed 4$" "$TEST_TMP/lanes.out"
check "hardening/lanes_still_serves" test "$(curl -s -o /dev/null -w '%{http_code}' "$E/healthz")" = 200

# --- reporters survive a daemon restart without socket activation: the README snippet sends to
# the path each time, the C client reconnects
RPORT=$(free_port)
restartable() {
	"$BUILD/liveprobed" --listen "127.0.0.1:$RPORT" --pin-root "/sys/fs/bpf/liveprobe-e2e-$$-restart" \
		--ingest "$TEST_TMP/restart.sock" --api-socket "$TEST_TMP/restart.api" \
		--state-dir "$TEST_TMP/restart-state" 2>>"$TEST_TMP/restart.log" &
	RESTART_PID=$!
	PIDS_TO_KILL+=("$RESTART_PID")
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$RPORT/healthz" >/dev/null && return 0; sleep 0.05; done
	return 1
}
restartable || echo "FAIL: hardening/restartable_start"
sed -n '/^```python$/,/^```$/p' "$ROOT/README.md" | sed '1d;$d' |
	sed "s|/run/liveprobe/ingest.sock|$TEST_TMP/restart.sock|; s|time.sleep(1)|time.sleep(0.1)|" >"$TEST_TMP/snippet.py"
python3 "$TEST_TMP/snippet.py" &
PIDS_TO_KILL+=("$!")
"$BUILD/honest" "$TEST_TMP/restart.sock" 600 >"$TEST_TMP/honest-restart.out" &
PIDS_TO_KILL+=("$!")
R=http://127.0.0.1:$RPORT
wait_jq "$R/api/v1/workers/actor-1" .state working 5
kill -TERM "$RESTART_PID"
wait "$RESTART_PID" 2>/dev/null
sleep 0.5
restartable || echo "FAIL: hardening/restartable_restart"
check "hardening/snippet_survives_restart" wait_jq "$R/api/v1/workers/actor-1" .state working 5
check "hardening/c_client_survives_restart" wait_jq "$R/api/v1/workers/honest" .state working 5

# --- view bodies: readers that stall hold at most HTTP_BODY_FDS_MAX (64) memfd descriptors; the
# rest get copies, and every reader gets the whole body
start_daemon V || echo "FAIL: hardening/views_daemon_start"
python3 -c '
import json, sys
print(json.dumps([{"worker": f"body-{i}"} for i in range(1500)]))' >"$TEST_TMP/views.json"
curl -s -X POST "$V/api/v1/episodes" --data-binary @"$TEST_TMP/views.json" >/dev/null
python3 - "${V##*:}" "$V_PID" "$LP_TOKEN" >"$TEST_TMP/views.out" <<'PY'
import json, os, socket, sys, time
port, pid, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
# 80 readers from two loopback addresses (64 connections per client address at most)
readers = []
for i in range(80):
    s = socket.socket()
    s.bind((f"127.0.0.{1 + i % 2}", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /api/v1/workers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
    readers.append(s)
time.sleep(1.5)  # none reads: every body larger than the socket buffers stays pending
held = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:liveprobe-view"):
            held.add(fd)
    except OSError:
        pass
print("descriptors", len(held))
whole = 0
for s in readers:
    data = b""
    while chunk := s.recv(1 << 20):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        continue
    try:
        whole += len(json.loads(body)["workers"]) == 1500
    except ValueError:
        pass
print("whole", whole)
PY
echo "    80 stalled readers of a $(curl -s -o /dev/null -w '%{size_download}' "$V/api/v1/workers")-byte list: $(tr '\n' ' ' <"$TEST_TMP/views.out")"
check "hardening/view_descriptors_bounded" test "$(awk '/^descriptors/ {print $2}' "$TEST_TMP/views.out")" -le 67
check "hardening/view_descriptors_used" test "$(awk '/^descriptors/ {print $2}' "$TEST_TMP/views.out")" -ge 32
check "hardening/view_bodies_whole" test "$(awk '/^whole/ {print $2}' "$TEST_TMP/views.out")" = 80
