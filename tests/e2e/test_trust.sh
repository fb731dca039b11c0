#!/usr/bin/env bash
# Trust: only those with authority change a verdict. Each attack of the security model is run
# as a real unprivileged user made here (lp-mallory, allowed to report through the ingest
# socket's group like any worker), and must be refused and change nothing: the state, the exit
# facts, the worker list. Then the same writes succeed as root and as an --api-group member
# (lp-ops), the token rules hold, and the CLI writes through the control socket with no flags.
source "$(dirname "$0")/lib.sh"

REPORTERS=lp-reporters-$$
OPERATORS=lp-operators-$$
MALLORY=lp-mallory-$$
OPS=lp-ops-$$
groupadd -r "$REPORTERS" && groupadd -r "$OPERATORS" &&
	useradd -r -M -s /usr/sbin/nologin -G "$REPORTERS" "$MALLORY" &&
	useradd -r -M -s /usr/sbin/nologin -G "$OPERATORS" "$OPS" ||
	{ echo "FAIL: trust/make_users"; exit 1; }
remove_users() {
	userdel "$MALLORY" 2>/dev/null
	userdel "$OPS" 2>/dev/null
	groupdel "$REPORTERS" 2>/dev/null
	groupdel "$OPERATORS" 2>/dev/null
}
trap 'cleanup; remove_users' EXIT
chmod 711 "$TEST_TMP" # other users reach the sockets; their own modes decide the rest

as_user() { # USER CMD...: the user's uid, primary group and supplementary groups
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$user" --init-groups "$@"
}
# send_as USER LINE [SPAWN]: one datagram to the ingest socket; with SPAWN, LINE's "{child}" is
# the pid of a sleep the sender itself started (its own descendant).
send_as() {
	as_user "$1" /usr/bin/python3 -c '
import socket, subprocess, sys
line = sys.argv[2]
if len(sys.argv) > 3:
    child = subprocess.Popen(["sleep", "30"])
    line = line.replace("{child}", str(child.pid))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
s.send(line.encode())
if len(sys.argv) > 3:
    import time; time.sleep(0.3)  # the daemon checks the child is ours while we live
' "$A_INGEST" "$2" ${3:+spawn}
}
dropped() { curl -s "$A/api/v1/host" | jq -r ".ingest.dropped.$1 // 0"; }
# counted REASON N: the host counts at least N drops for REASON within 2 s (counts land on a tick)
counted() {
	for _ in $(seq 100); do
		[ "$(dropped "$1")" -ge "$2" ] && return 0
		sleep 0.02
	done
	echo "    $1: $(dropped "$1"), wanted >= $2" >&2
	return 1
}
# facts NAME: what an attack must not change
facts() { curl -s "$A/api/v1/workers/$1" | jq -c '{state, health, reason, pid, owner, exit: (.exit // {} | del(.age_s))}'; }
udp_send() { python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))' "$UDP_PORT" "$1"; }

UDP_PORT=$(free_port)
spawn_sleeper TRAINER
spawn_sleeper DECLARED
start_daemon A --ingest-group "$REPORTERS" --api-group "$OPERATORS" \
	--ingest-udp "127.0.0.1:$UDP_PORT" --watch-pid "declared=$DECLARED" ||
	{ echo "FAIL: trust/daemon_start"; exit 1; }
check "trust/control_socket_mode" test "$(stat -c '%a %U %G' "$A_API")" = "660 root $OPERATORS"

# --- reads stay open to anyone
check "trust/reads_open" test "$(as_user "$MALLORY" curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/workers")" = 200

# --- a crashed worker must stay crashed
check "trust/admin_registers" test "$(status_of POST "$A/api/v1/workers" "{\"name\":\"trainer\",\"pid\":$TRAINER}")" = 201
check "trust/owner_is_process_uid" test "$(curl -s "$A/api/v1/workers/trainer" | jq -c .owner)" = '{"authority":"admin","uid":0}'
# a bye for someone else's worker, sent just before its crash, must not soften the crash
send_as "$MALLORY" "bye worker=trainer"
sleep 0.2
kill -SEGV "$TRAINER"
wait_state "$A" trainer crashed
check "trust/foreign_bye_ignored" test "$(curl -s "$A/api/v1/workers/trainer" | jq -r .state)" = crashed
before=$(facts trainer)
# rebinding the dead worker to one of the attacker's own processes
send_as "$MALLORY" "episode worker=trainer pid={child}" spawn
send_as "$MALLORY" "hello worker=trainer"
check "trust/mallory_cannot_post_episodes" test "$(as_user "$MALLORY" curl -s -o /dev/null -w '%{http_code}' -X POST "$A/api/v1/episodes" -d "[{\"worker\":\"trainer\",\"pid\":$$}]")" = 401
sleep 0.3
check "trust/crash_stays_crashed" test "$(facts trainer)" = "$before"
check "trust/not_owner_counted" counted not_owner 3
check "trust/refusals_logged_by_reason" grep -q "refused: not_owner" "$TEST_TMP/e2e-$$-${A##*:}.log"

# --- forgetting a red worker, then re-creating it green
check "trust/mallory_cannot_delete" test "$(as_user "$MALLORY" curl -s -o /dev/null -w '%{http_code}' -X DELETE "$A/api/v1/workers/trainer")" = 401
check "trust/mallory_cannot_register" test "$(as_user "$MALLORY" curl -s -o /dev/null -w '%{http_code}' -X POST "$A/api/v1/workers" -d "{\"name\":\"trainer\",\"pid\":1}")" = 401
check "trust/still_there" test "$(facts trainer)" = "$before"
check "trust/mallory_cannot_use_control_socket" test "$(as_user "$MALLORY" curl -s -o /dev/null -w '%{http_code}' --unix-socket "$A_API" -X DELETE http://localhost/api/v1/workers/trainer)" != 200

# --- squatting a declared name, and binding someone else's process
before=$(facts declared)
send_as "$MALLORY" "hello worker=declared pid={child}" spawn
send_as "$MALLORY" "episode worker=declared"
sleep 0.3
check "trust/declared_name_reserved" test "$(facts declared)" = "$before"
spawn_sleeper ROOTS
send_as "$MALLORY" "hello worker=borrowed pid=$ROOTS"
sleep 0.2
check "trust/pid_of_another_refused" test "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/workers/borrowed")" = 404
check "trust/pid_not_sender_counted" counted pid_not_sender 1

# --- a reporter speaks for itself: its own worker, owned by its uid
mallory_uid=$(id -u "$MALLORY")
send_as "$MALLORY" "episode worker=mallory-own pid={child}" spawn
wait_state "$A" mallory-own working
check "trust/self_report_works" test "$(curl -s "$A/api/v1/workers/mallory-own" | jq -r .state)" = working
check "trust/self_report_owned" test "$(curl -s "$A/api/v1/workers/mallory-own" | jq -c .owner)" = "{\"authority\":\"uid\",\"uid\":$mallory_uid}"

# --- UDP: only UDP workers, never a kernel-bound one, and nothing it makes survives a restart
before=$(facts declared)
udp_send "bye worker=declared"
udp_send "episode worker=mallory-own"
udp_send "episode worker=udp-only"
sleep 0.3
check "trust/udp_cannot_touch_kernel_worker" test "$(facts declared)" = "$before"
check "trust/udp_forbidden_counted" counted udp_forbidden 2
check "trust/udp_worker_made" test "$(curl -s "$A/api/v1/workers/udp-only" | jq -r .owner.authority)" = udp
udp_send "episode worker=udp-peer peer=10.9.9.9:4000"
sleep 0.2
check "trust/udp_peer_refused" test "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/workers/udp-peer")" = 404

# --- every refusal is counted under its reason, in the API and in /metrics
check "trust/writes_refused_counted" counted write_without_credentials 3
check "trust/metrics_count_refusals" grep -q 'liveprobe_ingest_dropped_total{reason="not_owner"}' <<<"$(curl -s "$A/metrics")"

# --- with authority the same writes succeed: root's token, an --api-group member's socket
check "trust/ops_member_registers" test "$(as_user "$OPS" curl -s -o /dev/null -w '%{http_code}' --unix-socket "$A_API" -X POST http://localhost/api/v1/workers -d "{\"name\":\"ops-made\",\"pid\":$ROOTS}")" = 201
check "trust/ops_member_forgets" test "$(as_user "$OPS" curl -s -o /dev/null -w '%{http_code}' --unix-socket "$A_API" -X DELETE http://localhost/api/v1/workers/trainer)" = 200
check "trust/root_socket_writes" test "$(command curl -s -o /dev/null -w '%{http_code}' --unix-socket "$A_API" -X DELETE http://localhost/api/v1/workers/ops-made)" = 200
send_as root "bye worker=mallory-own"
check "trust/root_reporter_is_admin" wait_jq "$A/api/v1/workers/mallory-own" .bye true

# --- the token
check "trust/right_token_accepted" test "$(status_of POST "$A/api/v1/episodes" '[{"worker":"tok"}]')" = 200
check "trust/wrong_token_401" test "$(command curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer not-the-token-at-all' -X POST "$A/api/v1/episodes" -d '[]')" = 401
check "trust/no_token_401" test "$(command curl -s -o /dev/null -w '%{http_code}' -X POST "$A/api/v1/episodes" -d '[]')" = 401
check "trust/bad_token_counted" counted write_bad_token 1
check "trust/refusal_is_json" test "$(command curl -s -X POST "$A/api/v1/episodes" -d '[]' | jq -r .error)" = "writes need Authorization: Bearer TOKEN"
cp "$TEST_TMP/token" "$TEST_TMP/loose-token" && chmod 0644 "$TEST_TMP/loose-token"
out=$("$BUILD/liveprobed" --api-token-file "$TEST_TMP/loose-token" --listen "127.0.0.1:$(free_port)" \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-loose" --ingest "$TEST_TMP/loose.sock" \
	--api-socket "$TEST_TMP/loose.api" --state-dir "$TEST_TMP/loose-state" 2>&1)
rc=$?
check "trust/loose_token_file_refused" test "$rc" -ne 0 -a "$(wc -l <<<"$out")" -eq 1
check "trust/loose_token_file_says_why" grep -q "mode 0600 or 0640" <<<"$out"

# --- no token file: writes over TCP are 403, reads open
spawn_sleeper OTHER
port=$(free_port)
"$BUILD/liveprobed" --listen "127.0.0.1:$port" --pin-root "/sys/fs/bpf/liveprobe-e2e-$$-notoken" \
	--ingest "$TEST_TMP/notoken.sock" --api-socket /run/liveprobe/api.sock \
	--state-dir "$TEST_TMP/notoken-state" 2>"$TEST_TMP/notoken.log" &
PIDS_TO_KILL+=("$!")
for _ in $(seq 100); do command curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
check "trust/no_token_file_403" test "$(status_of POST "http://127.0.0.1:$port/api/v1/workers" "{\"pid\":$OTHER}")" = 403

# --- the CLI, as root, with no flags: the control socket at its default path
(
	unset LIVEPROBE_TOKEN_FILE LIVEPROBE_URL
	check "trust/cli_watch_via_socket" "$BUILD/liveprobe" watch --pid "$OTHER" --name cli-made
	check "trust/cli_forget_via_socket" "$BUILD/liveprobe" forget cli-made
	check "trust/cli_report_as_root" "$BUILD/liveprobe" report hello --worker cli-report --socket "$TEST_TMP/notoken.sock"
)
check "trust/cli_report_arrived" wait_jq "http://127.0.0.1:$port/api/v1/workers/cli-report" .name cli-report
check "trust/cli_forget_took" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/workers/cli-made")" = 404

# --- UDP workers are not saved: junk names do not come back after a restart
kill -TERM "$A_PID"
wait "$A_PID" 2>/dev/null
state_file=$(ls "$TEST_TMP"/e2e-*-state/workers.json | head -1)
check "trust/udp_workers_not_saved" test "$(jq '[.workers[] | select(.name == "udp-only")] | length' "$state_file")" = 0
check "trust/owner_saved" test "$(jq -r '.workers[] | select(.name == "mallory-own") | .authority' "$state_file")" = uid
