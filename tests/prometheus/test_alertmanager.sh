#!/usr/bin/env bash
# Alert delivery end to end: two liveprobe daemons (two pretend hosts), Debian's Prometheus with
# the project's rules, Debian's Alertmanager routed by scripts/prometheus/alertmanager.yml, and a
# webhook receiver (a small HTTP listener here). A crash on one host arrives as
# LiveprobeWorkerDied naming the worker, the host and how it died; a clean stop on the other
# does not page.
source "$(dirname "$0")/../e2e/lib.sh"

check "alertmanager/example_config_valid" amtool check-config "$ROOT/scripts/prometheus/alertmanager.yml"

start_daemon A || { echo "FAIL: alertmanager/daemon_a"; exit 1; }
start_daemon B || { echo "FAIL: alertmanager/daemon_b"; exit 1; }
spawn_sleeper b1
curl -s -X POST "$B/api/v1/episodes" -d "[{\"worker\":\"beta\",\"pid\":$b1}]" >/dev/null
# alpha: announces its stop, then exits 0 (reports through the ingest socket, as itself)
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(f"episode worker=alpha completed_at={time.time()}".encode(), sys.argv[1])
time.sleep(4)
s.sendto(b"bye worker=alpha", sys.argv[1])
time.sleep(0.2)' "$A_INGEST" &
ALPHA=$!

hook_port=$(free_port)
HOOK_LOG=$TEST_TMP/webhook.jsonl
python3 -c '
import http.server, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "ab") as log:
            log.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()' "$hook_port" "$HOOK_LOG" &
PIDS_TO_KILL+=("$!")

am_port=$(free_port)
# The shipped routing, with the receiver's URL pointed here and the waits shortened.
sed -e "s|http://127.0.0.1:9095/liveprobe|http://127.0.0.1:$hook_port/liveprobe|" \
	-e 's/group_wait: 10s/group_wait: 1s/' -e 's/group_interval: 1m/group_interval: 1s/' \
	"$ROOT/scripts/prometheus/alertmanager.yml" >"$TEST_TMP/alertmanager.yml"
prometheus-alertmanager --config.file="$TEST_TMP/alertmanager.yml" --storage.path="$TEST_TMP/am" \
	--web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
	>"$TEST_TMP/alertmanager.log" 2>&1 &
PIDS_TO_KILL+=("$!")

# The shipped rules, with the 30 s start-up quiet shortened to 2 s so the test does not wait.
sed 's/liveprobe_start_time_seconds) > 30/liveprobe_start_time_seconds) > 2/' \
	"$ROOT/scripts/prometheus/liveprobe.rules.yml" >"$TEST_TMP/rules.yml"
start_prometheus fleet-hosts "$TEST_TMP/rules.yml" "127.0.0.1:$am_port"

kill -SEGV "$b1"
wait "$ALPHA"
check "alertmanager/alpha_stopped" wait_jq "$A/api/v1/workers/alpha" .state stopped 3
delivered() { # ALERTNAME: the first firing alert of that name the receiver got, as JSON
	[ -s "$HOOK_LOG" ] || return 1
	jq -c --arg name "$1" '.alerts[] | select(.labels.alertname == $name and .status == "firing")' "$HOOK_LOG" | head -1
}
for _ in $(seq 300); do
	[ -n "$(delivered LiveprobeWorkerDied)" ] && break
	sleep 0.1
done
alert=$(delivered LiveprobeWorkerDied)
echo "    delivered: $(jq -c '{labels, annotations: {summary: .annotations.summary, reason: .annotations.reason}}' <<<"$alert")"
check "alertmanager/crash_delivered" test -n "$alert"
check "alertmanager/names_the_worker" test "$(jq -r .labels.worker <<<"$alert")" = beta
check "alertmanager/names_the_host" test "$(jq -r .labels.instance <<<"$alert")" = "${B#http://}"
check "alertmanager/says_how" test "$(jq -r .annotations.reason <<<"$alert")" = SIGSEGV
check "alertmanager/severity_critical" test "$(jq -r .labels.severity <<<"$alert")" = critical
sleep 3 # the clean stop has had as long as the crash to page
check "alertmanager/clean_stop_does_not_page" test -z "$(delivered LiveprobeWorkerStopped)"
check "alertmanager/clean_stop_alert_exists" bash -c "curl -s '$PROM/api/v1/alerts' | jq -e '.data.alerts[] | select(.labels.alertname == \"LiveprobeWorkerStopped\")' >/dev/null"
