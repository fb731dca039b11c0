#!/usr/bin/env bash
# End to end, issue "episodes": workers report over the ingest socket (a five-line Python
# snippet, the CLI, sd_notify, UDP, HTTP batches); the verdict rests on recent output; rates
# count by event time; clocks are not trusted; garbage never hurts well-formed reporters; known
# workers survive a daemon restart. Every host and workers response read through `get` is
# checked for the identity: episodes_per_min_total = sum of the listed workers' rates.
source "$(dirname "$0")/lib.sh"

IDENTITY_FAILURES=$TEST_TMP/identity-failures
: >"$IDENTITY_FAILURES"
# get URL: the body, after checking the throughput identity on it.
get() {
	local body
	body=$(curl -s "$1")
	if ! jq -e '
		def close(a; b): (a - b) as $d | ($d < 0.01 and $d > -0.01);
		if has("producing") then
			close(.episodes_per_min_total; ([.producing[].episodes_per_min] | add // 0))
			and .workers_producing == (.producing | length)
		elif has("workers") then
			close(.episodes_per_min_total; ([.workers[].episodes_per_min] | add // 0))
			and .workers_producing == ([.workers[] | select(.state == "working")] | length)
			and ([.workers[] | select(.state != "working") | .episodes_per_min] | all(. == 0))
		else true end' >/dev/null <<<"$body"; then
		echo "$1: $body" >>"$IDENTITY_FAILURES"
	fi
	printf '%s' "$body"
}
# field URL FILTER
field() { get "$1" | jq -r "$2"; }
wait_field() { # URL FILTER EXPECTED [SECONDS]
	local deadline=$((SECONDS + ${4:-3}))
	while [ "$SECONDS" -le "$deadline" ]; do
		[ "$(field "$1" "$2")" = "$3" ] && return 0
		sleep 0.05
	done
	echo "    $1: $2 is $(field "$1" "$2"), wanted $3" >&2
	return 1
}

udp_port=$(free_port)
start_daemon A --ingest-udp "127.0.0.1:$udp_port" --ingest-group daemon || { echo "FAIL: episodes/daemon_start"; exit 1; }
SOCK=$A_INGEST
W="$A/api/v1/workers"
export LIVEPROBE_SOCKET=$SOCK

check "episodes/host_amber_without_evidence" test "$(field "$A/api/v1/host" .health)" = amber
check "episodes/ingest_socket_mode_0660" test "$(stat -c %a "$SOCK")" = 660
check "episodes/ingest_group" test "$(stat -c %G "$SOCK")" = daemon
# A worker running as another user, in the socket's group, may report; others may not.
chmod 711 "$TEST_TMP" # let other users reach the socket; its own mode decides the rest
setpriv --reuid=nobody --regid=daemon --clear-groups /usr/bin/python3 -c "
import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect('$SOCK')
s.send(b'episode worker=unprivileged')" 2>/dev/null
check "episodes/group_member_reports" wait_field "$W/unprivileged" .episodes_total 1
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c "
import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect('$SOCK')" 2>/dev/null
check "episodes/others_refused" test $? != 0

# --- the README's five-line Python reporter, verbatim but for the path and name
sed -n '/^```python$/,/^```$/p' "$ROOT/README.md" | sed '1d;$d' |
	sed "s|/run/liveprobe/ingest.sock|$SOCK|; s|time.sleep(1)|time.sleep(0.1)|" >"$TEST_TMP/reporter.py"
check "episodes/readme_snippet_found" test "$(wc -l <"$TEST_TMP/reporter.py")" -ge 5
python3 "$TEST_TMP/reporter.py" &
snippet=$!
PIDS_TO_KILL+=("$snippet")
check "episodes/snippet_worker_working" wait_field "$W/actor-1" .state working 5
check "episodes/self_registered_by_sender_pid" test "$(field "$W/actor-1" .pid)" = "$snippet"
check "episodes/working_is_green" test "$(field "$W/actor-1" .health)" = green
check "episodes/rate_counted" wait_field "$W/actor-1" '.episodes_per_min > 0' true
kill -9 "$snippet"
check "episodes/kernel_death_beats_output" wait_field "$W/actor-1" .state killed 2

# --- the CLI, from a script: the script is the worker
bash -c "'$BUILD/liveprobe' report hello --worker script-1 && '$BUILD/liveprobe' report episode --worker script-1 --completed-at \$(date +%s.%N) && sleep 30" &
script=$!
PIDS_TO_KILL+=("$script")
check "episodes/cli_report_working" wait_field "$W/script-1" .state working
check "episodes/cli_binds_calling_script" test "$(field "$W/script-1" .pid)" = "$script"
out=$("$BUILD/liveprobe" report episode 2>&1); rc=$?
check "episodes/cli_report_needs_worker" test "$rc" = 64 -a -n "$out"

# --- bye, then a non-zero exit: a stop that did not end cleanly is crashed, with its facts
python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect('$SOCK')
s.send(b'hello worker=polite'); time.sleep(0.3); s.send(b'bye worker=polite'); time.sleep(0.3)
raise SystemExit(3)" &
check "episodes/bye_then_exit3_is_crashed" wait_field "$W/polite" .state crashed 3
check "episodes/bye_keeps_exit_code" test "$(field "$W/polite" .exit.code)" = 3

# --- sd_notify, unchanged: the sender pid names the worker
python3 -c "
import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(os.environ['LIVEPROBE_SOCKET'])
s.send(b'READY=1\nSTATUS=warming up')
for _ in range(20): s.send(b'WATCHDOG=1'); time.sleep(0.1)
s.send(b'STOPPING=1'); time.sleep(0.5)" &
notifier=$!
check "episodes/sd_notify_registers" wait_field "$W/python3-$notifier" .status "warming up"
check "episodes/watchdog_is_output" wait_field "$W/python3-$notifier" .state working
check "episodes/heartbeats_counted_apart" test "$(field "$W/python3-$notifier" '.heartbeats_total > 0 and .episodes_total == 0')" = true
wait "$notifier"
check "episodes/stopping_then_exit_is_stopped" wait_field "$W/python3-$notifier" .state stopped

# --- UDP and HTTP batches: no pid is bound
python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'episode worker=remote-1 completed_at=%f pid=1' % time.time(), ('127.0.0.1', $udp_port))"
check "episodes/udp_report" wait_field "$W/remote-1" .state working
check "episodes/udp_binds_no_pid" test "$(field "$W/remote-1" .pid)" = null
answer=$(curl -s -X POST "$A/api/v1/episodes" -d '[{"worker":"batch-1","count":5},{"worker":"batch-1","completed_at":'"$(date +%s)"',"seq":1,"future":true},{"worker":"bad name"},{"count":2},{"worker":"batch-1","completed_at":"soon"}]')
check "episodes/http_batch_accepted" test "$(jq -r .accepted <<<"$answer")" = 2
check "episodes/http_batch_dropped_by_reason" test "$(jq -cS .dropped_by_reason <<<"$answer")" = '{"bad_completed_at":1,"bad_worker":1,"missing_worker":1}'
check "episodes/http_batch_counts" test "$(field "$W/batch-1" .episodes_total)" = 6
check "episodes/http_bad_body_400" test "$(status_of POST "$A/api/v1/episodes" '{"worker":')" = 400

# --- event time: a burst of buffered episodes does not inflate the rate; skewed clocks don't matter
python3 - "$SOCK" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(sys.argv[1])
end = time.time() + 40
while time.time() < end:
    now = time.time()
    s.send(("episode worker=steady completed_at=%f\n"
            "episode worker=fast-clock completed_at=%f\n"
            "episode worker=slow-clock completed_at=%f" % (now, now + 600, now - 600)).encode())
    time.sleep(0.2)
EOF
PIDS_TO_KILL+=("$!")
sleep 4
rate() { field "$W/$1" .episodes_per_min; }
echo "    steady $(rate steady), fast clock $(rate fast-clock), slow clock $(rate slow-clock) per min"
check "episodes/steady_rate" test "$(python3 -c "print(240 <= $(rate steady) <= 330)")" = True
check "episodes/fast_clock_rated_alike" test "$(python3 -c "print(abs($(rate fast-clock) - $(rate steady)) <= 20)")" = True
check "episodes/slow_clock_rated_alike" test "$(python3 -c "print(abs($(rate slow-clock) - $(rate steady)) <= 20)")" = True
check "episodes/clock_offset_estimated" test "$(field "$W/fast-clock" '.clock_offset_s > 599 and .clock_offset_s < 601')" = true
check "episodes/negative_offset_estimated" test "$(field "$W/slow-clock" '.clock_offset_s < -599 and .clock_offset_s > -601')" = true
before=$(rate steady)
python3 -c "
import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect('$SOCK')
now = time.time()
s.send('\n'.join('episode worker=steady completed_at=%f' % (now - 300 + 6 * i) for i in range(30)).encode())"
sleep 0.3
check "episodes/burst_counted_in_total" test "$(field "$W/steady" '.episodes_total >= 50')" = true
echo "    after the burst: $(rate steady) per min (before: $before)"
check "episodes/burst_not_in_current_rate" test "$(python3 -c "print($(rate steady) <= $before * 1.1)")" = True

# --- adaptive staleness: a fast and a slow worker, both frozen
cat >"$TEST_TMP/rhythm.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(sys.argv[1])
while True:
    s.send(("episode worker=%s completed_at=%f" % (sys.argv[2], time.time())).encode())
    time.sleep(float(sys.argv[3]))
EOF
python3 "$TEST_TMP/rhythm.py" "$SOCK" fast 0.1 &
fast=$!
PIDS_TO_KILL+=("$fast")
python3 "$TEST_TMP/rhythm.py" "$SOCK" slow 2 &
slow=$!
PIDS_TO_KILL+=("$slow")
sleep 8.5 # four gaps of the slow one
check "episodes/both_working" test "$(field "$W/fast" .state),$(field "$W/slow" .state)" = working,working
check "episodes/expected_gap_learned" test "$(field "$W/slow" '.expected_gap_s > 1.5 and .expected_gap_s < 2.5')" = true
kill -STOP "$fast" "$slow"
check "episodes/fast_stops_goes_stale_in_seconds" wait_field "$W/fast" .state stale 3
check "episodes/slow_within_its_rhythm_not_flagged" test "$(field "$W/slow" .state)" = working
check "episodes/stale_is_amber" test "$(field "$W/fast" .health)" = amber
check "episodes/stale_reason_names_rhythm" grep -q "rhythm" <<<"$(field "$W/fast" .reason)"
check "episodes/slow_goes_stale_later" wait_field "$W/slow" .state stale 12
check "episodes/stale_contributes_nothing" test "$(field "$W/fast" .episodes_per_min)" = 0
check "episodes/query_stale_after_override" test "$(field "$W/fast?stale_after=3600" .state)" = working
check "episodes/query_stale_after_bad_400" test "$(status_of GET "$W/fast?stale_after=nan")" = 400
check "episodes/host_names_stale" grep -q "worker fast stale" <<<"$(field "$A/api/v1/host" '.reasons[]')"
kill -CONT "$fast" "$slow"
check "episodes/recovers_when_output_resumes" wait_field "$W/fast" .state working 3

# --- garbage in: the daemon stays up and right for well-formed reporters
python3 - "$SOCK" <<'EOF'
import os, random, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(sys.argv[1])
s.setblocking(False)
random.seed(7)
def send(data):
    try:
        s.send(data)
    except BlockingIOError:
        pass
for _ in range(2000):
    send(os.urandom(random.randint(1, 2000)))
s.setblocking(True)  # the named cases below must arrive
s.send(b"episode worker=x " + b"a" * 5000)
s.send(b"episode worker=x count=99999999999999999999\nepisode worker=x count=-1")
s.send(b"episode worker=x completed_at=-1\nepisode worker=x completed_at=nan\nepisode worker=x completed_at=1e400")
s.send(b"\n\n\n\r\n")
EOF
sleep 0.3
check "episodes/garbage_daemon_alive" kill -0 "$A_PID"
check "episodes/garbage_counted" test "$(field "$A/api/v1/host" '.ingest.dropped.binary > 0 and .ingest.dropped.line_too_long > 0 and .ingest.dropped.bad_count >= 2 and .ingest.dropped.bad_completed_at >= 3')" = true
check "episodes/well_formed_unharmed" wait_field "$W/steady" .state working

# --- the fleet story's identity held on every response read so far
check "episodes/sum_identity_on_every_read" test ! -s "$IDENTITY_FAILURES"
[ -s "$IDENTITY_FAILURES" ] && head -3 "$IDENTITY_FAILURES" >&2

# --- worker limit and flood: a second daemon capped at 50 workers
start_daemon B --max-workers 50 || { echo "FAIL: episodes/daemon_b_start"; exit 1; }
SOCK_B=$(ls "$TEST_TMP"/*.sock | grep -v "$(basename "$SOCK")" | head -1)
python3 "$TEST_TMP/rhythm.py" "$SOCK_B" keeper 0.1 &
PIDS_TO_KILL+=("$!")
sleep 0.5
python3 - "$SOCK_B" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(sys.argv[1])
s.setblocking(False)
sent = dropped = 0
end = time.time() + 3
i = 0
while time.time() < end:
    batch = "\n".join("episode worker=name-%d pid=1" % (i + j) for j in range(50))
    try:
        s.send(batch.encode()); sent += 1; i += 50
    except BlockingIOError:
        dropped += 1
print("    flood: %d datagrams sent, %d refused by a full socket, %d names" % (sent, dropped, i))
EOF
check "episodes/flood_daemon_alive" kill -0 "$B_PID"
check "episodes/worker_cap_holds" test "$(field "$B/api/v1/host" '.workers_total <= 50')" = true
check "episodes/worker_cap_counted" test "$(field "$B/api/v1/host" '.ingest.dropped.worker_limit > 0')" = true
check "episodes/worker_cap_said" grep -q "worker limit" <<<"$(field "$B/api/v1/host" '.reasons[]')"
check "episodes/keeper_still_working" wait_field "$B/api/v1/workers/keeper" .state working
check "episodes/keeper_still_counted" test "$(field "$B/api/v1/workers/keeper" '.episodes_per_min > 0')" = true

# --- a restart: dead stays dead, alive is amber until it reports, gone-while-down is unknown
STATE=$TEST_TMP/state
spawn_sleeper alive
spawn_sleeper doomed
spawn_sleeper victim
start_daemon C --state-dir "$STATE" || { echo "FAIL: episodes/daemon_c_start"; exit 1; }
for w in alive doomed victim; do
	eval "pid=\$$w"
	curl -s -X POST "$C/api/v1/episodes" -d "[{\"worker\":\"$w\",\"pid\":$pid}]" >/dev/null
done
curl -s -X POST "$C/api/v1/episodes" -d '[{"worker":"proxied","peer":"10.9.9.9:4000"}]' >/dev/null
kill -9 "$victim"
check "episodes/before_restart_killed" wait_field "$C/api/v1/workers/victim" .state killed
check "episodes/before_restart_working" wait_field "$C/api/v1/workers/alive" .state working
kill -TERM "$C_PID"
wait "$C_PID" 2>/dev/null
check "episodes/state_file_written" test -s "$STATE/workers.json"
kill -9 "$doomed"
start_daemon C2 --state-dir "$STATE" || { echo "FAIL: episodes/daemon_c2_start"; exit 1; }
check "episodes/restart_dead_stays_dead" test "$(field "$C2/api/v1/workers/victim" .state)" = killed
check "episodes/restart_keeps_exit_facts" test "$(field "$C2/api/v1/workers/victim" .exit.signal_name)" = SIGKILL
check "episodes/restart_alive_not_green" test "$(field "$C2/api/v1/workers/alive" .health)" = amber
check "episodes/restart_alive_still_watched" test "$(field "$C2/api/v1/workers/alive" .pid)" = "$alive"
check "episodes/restart_died_while_down_unknown" test "$(field "$C2/api/v1/workers/doomed" .state)" = unknown
check "episodes/restart_proxied_unknown" test "$(field "$C2/api/v1/workers/proxied" .state)" = unknown
check "episodes/restart_host_not_green" test "$(field "$C2/api/v1/host" .health)" = red
curl -s -X POST "$C2/api/v1/episodes" -d '[{"worker":"alive"}]' >/dev/null
check "episodes/restart_fresh_evidence_green" wait_field "$C2/api/v1/workers/alive" .state working
kill -9 "$alive"
check "episodes/restart_rewatched_death_seen" wait_field "$C2/api/v1/workers/alive" .state killed
echo garbage >"$STATE/workers.json"
out=$("$BUILD/liveprobed" --state-dir "$STATE" --listen "127.0.0.1:$(free_port)" --pin-root /sys/fs/bpf/liveprobe-e2e-$$-bad --ingest "$TEST_TMP/bad.sock" 2>&1); rc=$?
check "episodes/corrupt_state_one_line_exit_1" test "$rc" = 1 -a "$(printf '%s\n' "$out" | wc -l)" = 1
