#!/usr/bin/env bash
# Zero-loss restarts: the kernel keeps watching while no daemon runs (pinned maps and links), and
# the next daemon takes over: deaths in the gap come back with their exact facts, not `unknown`.
source "$(dirname "$0")/lib.sh"

PORT=$(free_port)
PIN=/sys/fs/bpf/liveprobe-e2e-$$-restart
URL=http://127.0.0.1:$PORT
DAEMON_BIN=$BUILD/liveprobed
daemon() { # ARGS...: a daemon on fixed paths, so that the next one finds what this one left
	"$DAEMON_BIN" --listen "127.0.0.1:$PORT" --pin-root "$PIN" --ingest "$TEST_TMP/r.sock" \
		--api-socket "$TEST_TMP/r.api" --state-dir "$TEST_TMP/r-state" \
		--api-token-file "$TEST_TMP/token" "$@" 2>>"$TEST_TMP/restart.log" &
	DAEMON=$!
	PIDS_TO_KILL+=("$DAEMON")
	for _ in $(seq 100); do curl -fs "$URL/healthz" >/dev/null && return 0; sleep 0.05; done
	cat "$TEST_TMP/restart.log" >&2
	return 1
}
# child NAME: a process that waits, then exits as told by a file (code N, or a signal)
child() {
	bash -c 'while [ ! -s "$0" ]; do sleep 0.05; done; read -r how <"$0"; case $how in
		exit*) exit "${how#exit }" ;; *) kill -"$how" $$ ;; esac' "$TEST_TMP/how-$1" &
	PIDS_TO_KILL+=("$!")
	printf -v "PID_$1" '%s' "$!"
}
facts() { curl -s "$URL/api/v1/workers/$1" | jq -c '[.state, .exit.code, .exit.signal_name, .exit.status_known]'; }

# ids of what the pin root holds: the lp_procs map, and the program behind the exit link
pinned_ids() {
	local link prog
	link=$(ls "$PIN" | grep -m1 '^link_lp_proc_exit_')
	prog=$(bpftool -j link show pinned "$PIN/$link" | jq -r .prog_id)
	echo "map=$(bpftool -j map show pinned "$PIN/lp_procs" | jq -r .id)" \
		"tag=$(bpftool -j prog show id "$prog" | jq -r .tag)" "link=$link"
}
make_peer_host G || echo "FAIL: restart/make_peer_host"

# kill: SIGKILLed; term: a clean stop; upgrade: a clean stop, then a daemon whose BPF programs
# differ (built with LP_UPGRADE_VARIANT) takes over
for mode in kill term upgrade; do
	rm -rf "$TEST_TMP/r-state"
	DAEMON_BIN=$BUILD/liveprobed
	cport=$(free_port)
	daemon --watch-port "$cport" || { echo "FAIL: restart/$mode/start"; continue; }
	tcp_peer "srv_$mode" "" server "$G_LOCAL_IP" "$cport"
	tcp_peer "cli_$mode" "$G" client "$G_LOCAL_IP" "$cport"
	peer_pid=$(eval echo \$cli_${mode}_PID)
	peer_name="$G_IP:$(eval echo \$cli_${mode}_PORT)"
	wait_jq "$URL/api/v1/workers/$peer_name" .state running >/dev/null
	before=$(pinned_ids)
	for w in segv killed code3 term alive; do
		child "$w"
		curl -s -X POST "$URL/api/v1/workers" -d "{\"name\":\"$w\",\"pid\":$(eval echo \$PID_$w)}" >/dev/null
	done
	# registered 50 ms before the daemon dies: not yet in the state file, but in the kernel map
	child late
	curl -s -X POST "$URL/api/v1/workers" -d "{\"name\":\"late\",\"pid\":$PID_late}" >/dev/null
	sleep 0.05
	if [ $mode = kill ]; then kill -KILL "$DAEMON"; else kill -TERM "$DAEMON"; fi
	wait "$DAEMON" 2>/dev/null
	kill -KILL "$peer_pid" # a connection dies in the gap: its peer process is killed
	# the gap: deaths of four kinds while no daemon runs
	echo SEGV >"$TEST_TMP/how-segv"
	echo KILL >"$TEST_TMP/how-killed"
	echo "exit 3" >"$TEST_TMP/how-code3"
	echo TERM >"$TEST_TMP/how-term"
	echo "exit 0" >"$TEST_TMP/how-late"
	sleep 0.5
	check "restart/$mode/probe_kept_recording" test -n "$(ls "$PIN" | grep "^link_lp_proc_exit")"
	started=$(date +%s.%N)
	[ $mode = upgrade ] && DAEMON_BIN=$BUILD/upgrade/liveprobed
	daemon || { echo "FAIL: restart/$mode/restart"; continue; }
	ready=$(python3 -c "import sys; print(f'{$(date +%s.%N) - $started:.3f}')")
	echo "    $mode: ready again in $ready s"
	check "restart/$mode/took_over" test "$(curl -s "$URL/api/v1/host" | jq -r .probe.started)" = took_over
	check "restart/$mode/segv_exact" test "$(facts segv)" = '["crashed",null,"SIGSEGV",true]'
	check "restart/$mode/kill_exact" test "$(facts killed)" = '["killed",null,"SIGKILL",true]'
	check "restart/$mode/exit3_exact" test "$(facts code3)" = '["crashed",3,null,true]'
	check "restart/$mode/term_exact" test "$(facts term)" = '["exited",null,"SIGTERM",true]'
	check "restart/$mode/late_registration_kept" test "$(facts late)" = '["exited",0,null,true]'
	check "restart/$mode/recovered_counted" test "$(curl -s "$URL/api/v1/host" | jq -r .probe.recovered_total)" -ge 5
	check "restart/$mode/gap_conn_death_reason" wait_jq "$URL/api/v1/workers/$peer_name" '.connections[0].reason' peer_closed 2
	check "restart/$mode/gap_conn_death_state" test "$(curl -s "$URL/api/v1/workers/$peer_name" | jq -r .state)" = disconnected
	after=$(pinned_ids)
	echo "    $mode: before [$before] after [$after]"
	check "restart/$mode/maps_kept" test "${before%% *}" = "${after%% *}"
	check "restart/$mode/links_replaced" test "${before##* }" != "${after##* }"
	if [ $mode = upgrade ]; then
		tags() { sed 's/.*tag=\([0-9a-f]*\).*/\1/' <<<"$1"; }
		check "restart/upgrade/new_program_runs" test "$(tags "$before")" != "$(tags "$after")"
	fi
	check "restart/$mode/alive_still_watched" test "$(curl -s "$URL/api/v1/workers/alive" | jq -r .state)" = running
	echo SEGV >"$TEST_TMP/how-alive"
	check "restart/$mode/death_after_restart_seen" wait_jq "$URL/api/v1/workers/alive" .state crashed
	kill -TERM "$DAEMON"
	wait "$DAEMON" 2>/dev/null
	"$BUILD/liveprobed" --unload --pin-root "$PIN" >/dev/null
	rm -f "$TEST_TMP"/how-*
	kill "$(eval echo \$srv_${mode}_PID)" 2>/dev/null
done
DAEMON_BIN=$BUILD/liveprobed
check "restart/unload_leaves_nothing" test ! -e "$PIN"

# --- events across a restart: ids go on, a resumed stream gets what it missed once, and
# --on-transition runs once per transition
HOOK_LOG=$TEST_TMP/hook.log
rm -rf "$TEST_TMP/r-state"
daemon --on-transition "echo \"\$LIVEPROBE_WORKER \$LIVEPROBE_TO\" >>$HOOK_LOG" || echo "FAIL: restart/events/start"
child ev
curl -s -X POST "$URL/api/v1/workers" -d "{\"name\":\"ev\",\"pid\":$PID_ev}" >/dev/null
sleep 1.2 # saved
last_id=$(curl -sN --max-time 1 -H "Last-Event-ID: 0" "$URL/api/v1/events" | grep '^id: ' | tail -1 | awk '{print $2}')
kill -TERM "$DAEMON"
wait "$DAEMON" 2>/dev/null
echo SEGV >"$TEST_TMP/how-ev"
sleep 0.3
daemon --on-transition "echo \"\$LIVEPROBE_WORKER \$LIVEPROBE_TO\" >>$HOOK_LOG" || echo "FAIL: restart/events/restart"
wait_jq "$URL/api/v1/workers/ev" .state crashed
resumed=$(curl -sN --max-time 1 -H "Last-Event-ID: $last_id" "$URL/api/v1/events" | grep '^data: ' | sed 's/^data: //' | jq -r '"\(.id) \(.worker) \(.to)"')
echo "    resumed after id $last_id: $(tr '\n' ';' <<<"$resumed")"
check "restart/events/ids_go_on" test "$(awk '{print $1}' <<<"$resumed" | head -1)" -gt "$last_id"
check "restart/events/resumed_gets_the_gap_death_once" test "$(grep -c '^[0-9]* ev crashed$' <<<"$resumed")" = 1
sleep 0.5
check "restart/events/hook_once_per_transition" test "$(sort "$HOOK_LOG" | uniq -d | wc -l)" = 0
check "restart/events/hook_saw_the_gap_death" grep -q "^ev crashed$" "$HOOK_LOG"

# --- a save that fails is visible: /healthz 503 and the host amber, until a save succeeds
chmod 0500 "$TEST_TMP/r-state" # the daemon keeps no CAP_DAC_OVERRIDE: root is refused too
spawn_sleeper SV
curl -s -X POST "$URL/api/v1/workers" -d "{\"name\":\"unsaved\",\"pid\":$SV}" >/dev/null
check "restart/save_failure_healthz_503" wait_jq "$URL/healthz" .status unhealthy 4
check "restart/save_failure_named" grep -q "cannot save known workers" <<<"$(curl -s "$URL/api/v1/host" | jq -r '.reasons[]')"
chmod 0700 "$TEST_TMP/r-state"
curl -s -X DELETE "$URL/api/v1/workers/unsaved" >/dev/null
check "restart/save_recovers" wait_jq "$URL/healthz" .status ok 4
kill -TERM "$DAEMON"
wait "$DAEMON" 2>/dev/null
"$BUILD/liveprobed" --unload --pin-root "$PIN" >/dev/null

# --- socket activation: a reporter at 100 Hz through a socket that outlives the daemon loses
# nothing across a restart; Type=notify's READY=1 and STOPPING=1 arrive
APORT=$(free_port)
A=http://127.0.0.1:$APORT
python3 "$ROOT/tests/e2e/activate.py" "$TEST_TMP/act.sock" "$BUILD/liveprobed" --listen "127.0.0.1:$APORT" \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-act" --ingest "$TEST_TMP/act.sock" \
	--api-socket "$TEST_TMP/act.api" --state-dir "$TEST_TMP/act-state" >"$TEST_TMP/act.out" 2>>"$TEST_TMP/restart.log" &
ACTIVATOR=$!
PIDS_TO_KILL+=("$ACTIVATOR")
for _ in $(seq 100); do curl -fs "$A/healthz" >/dev/null && break; sleep 0.05; done
check "restart/notify_ready" grep -q "READY=1" "$TEST_TMP/act.out"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
for i in range(300):  # blocking sends: a full queue waits, it does not drop
    s.send(f"episode worker=steady completed_at={time.time()}".encode())
    time.sleep(0.01)
' "$TEST_TMP/act.sock" &
REPORTER=$!
sleep 1
kill -USR1 "$ACTIVATOR" # restart the daemon; the socket stays
wait "$REPORTER"
check "restart/activated_restart_happened" test "$(grep -c '^started' "$TEST_TMP/act.out")" = 2
check "restart/notify_stopping" grep -q "STOPPING=1" "$TEST_TMP/act.out"
check "restart/activated_reports_none_lost" wait_jq "$A/api/v1/workers/steady" .episodes_total 300 5
echo "    through a restart with socket activation: $(curl -s "$A/api/v1/workers/steady" | jq -r .episodes_total) of 300 episodes"
kill -TERM "$ACTIVATOR"
wait "$ACTIVATOR" 2>/dev/null
"$BUILD/liveprobed" --unload --pin-root "/sys/fs/bpf/liveprobe-e2e-$$-act" >/dev/null

# --- durable before its 201, one daemon per pin root even when its directory goes, the gap
rm -rf "$TEST_TMP/r-state"
daemon || echo "FAIL: restart/durable/start"
child durable
long=a-worker-name-longer-than-the-kernel-maps-31-bytes
check "restart/durable/registered" test "$(status_of POST "$URL/api/v1/workers" "{\"name\":\"$long\",\"pid\":$PID_durable}")" = 201
# and one that registered itself by a datagram 50 ms before: no 201 to wait for
self=a-self-registered-reporter-name-longer-than-31-bytes
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(f"episode worker={sys.argv[2]} completed_at={time.time()}".encode(), sys.argv[1])
time.sleep(30)' "$TEST_TMP/r.sock" "$self" &
SELF=$!
PIDS_TO_KILL+=("$SELF")
wait_jq "$URL/api/v1/workers/$self" .episodes_total 1 >/dev/null
sleep 0.05
kill -KILL "$DAEMON" # at once: no periodic save could have run
wait "$DAEMON" 2>/dev/null
daemon || echo "FAIL: restart/durable/restart"
check "restart/durable/known_by_its_full_name" test "$(curl -s "$URL/api/v1/workers/$long" | jq -r .pid)" = "$PID_durable"
check "restart/durable/self_registered_known" test "$(curl -s "$URL/api/v1/workers/$self" | jq -r .pid)" = "$SELF"
kill "$SELF"
check "restart/gap_reported" test "$(curl -s "$URL/api/v1/host" | jq -r '.probe.restart_gap_s > 0')" = true
rm -rf "$PIN" # the pin directory removed from under a running daemon
out=$("$BUILD/liveprobed" --listen "127.0.0.1:$(free_port)" --pin-root "$PIN" --ingest "$TEST_TMP/r2.sock" \
	--api-socket "$TEST_TMP/r2.api" --state-dir "$TEST_TMP/r2-state" 2>&1)
check "restart/second_daemon_refused_without_the_dir" grep -q "in use by another liveprobed" <<<"$out"
check "restart/unload_refused_while_running" test "$("$BUILD/liveprobed" --unload --pin-root "$PIN" 2>&1 | grep -c 'stop it first')" = 1
kill -TERM "$DAEMON"
wait "$DAEMON" 2>/dev/null
"$BUILD/liveprobed" --unload --pin-root "$PIN" >/dev/null
