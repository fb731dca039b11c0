#!/usr/bin/env bash
# End to end, operator surfaces: the SSE stream (every transition, in order, capped), the CLI
# following it, --on-transition, the dashboard in headless Chromium (a killed worker turns red;
# the screenshot is kept under build/test-output/), and --config.
source "$(dirname "$0")/lib.sh"
OUT=$ROOT/build/test-output
mkdir -p "$OUT"
HOOK_LOG=$TEST_TMP/hook.log

start_daemon A --sse-clients 2 \
	--on-transition "echo \"\$LIVEPROBE_WORKER \$LIVEPROBE_FROM>\$LIVEPROBE_TO\" >>$HOOK_LOG" ||
	{ echo "FAIL: operator/daemon_start"; exit 1; }
W="$A/api/v1/workers"

# two followers: raw SSE and the CLI
curl -sN "$A/api/v1/events" >"$TEST_TMP/sse" &
PIDS_TO_KILL+=("$!")
"$BUILD/liveprobe" --url "$A" events >"$TEST_TMP/cli-events" &
PIDS_TO_KILL+=("$!")
for _ in $(seq 50); do [ -s "$TEST_TMP/sse" ] && break; sleep 0.05; done
sleep 0.2
check "operator/sse_cap_503" test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$A/api/v1/events")" = 503
check "operator/sse_opens_with_comment" grep -q '^: liveprobe transitions' "$TEST_TMP/sse"

# the scripted scenario: registered, producing, frozen, resumed, killed
spawn_sleeper victim
curl -s -X POST "$A/api/v1/episodes" -d "[{\"worker\":\"op-1\",\"pid\":$victim}]" >/dev/null
wait_state "$A" op-1 working
curl -s -X POST "$A/api/v1/episodes" -d '[{"worker":"op-2"}]' >/dev/null
kill -9 "$victim"
wait_state "$A" op-1 killed
sleep 0.5
got=$(grep '^data: ' "$TEST_TMP/sse" | sed 's/^data: //' | jq -r 'select(.worker == "op-1") | "\(.from)>\(.to)"' | paste -sd ' ')
check "operator/sse_every_transition_in_order" test "$got" = "null>starting starting>working working>killed"
check "operator/sse_ids_increase" test "$(grep '^id: ' "$TEST_TMP/sse" | awk '{print $2}' | sort -n -c && echo sorted)" = sorted
check "operator/sse_has_reason" grep -q '"to":"killed","reason":"SIGKILL from' "$TEST_TMP/sse"
check "operator/cli_events_follows" grep -Eq 'op-1 +working +-> killed +SIGKILL' "$TEST_TMP/cli-events"
# A reconnecting client resumes after the last id it saw (a slot is freed first).
kill "$(pgrep -f "curl .*-sN $A/api/v1/events")" 2>/dev/null
sleep 1.5 # a stream notices its client left within a second
last_id=$(grep '^id: ' "$TEST_TMP/sse" | tail -1 | awk '{print $2}')
resumed=$(curl -sN --max-time 1 -H "Last-Event-ID: $((last_id - 1))" "$A/api/v1/events" 2>/dev/null | grep '^id: ' | awk '{print $2}' | paste -sd ' ')
check "operator/sse_last_event_id_resumes" test "$resumed" = "$last_id"
# An id from before a daemon restart (ids start again at 1) replays what is kept, not nothing.
sleep 1.5 # the previous stream's slot is freed within a second
stale=$(curl -sN --max-time 1 -H "Last-Event-ID: 999999" "$A/api/v1/events" 2>/dev/null | grep -c '^id: ')
check "operator/sse_stale_id_replays" test "$stale" = "$last_id"
check "operator/hook_ran_for_each" test "$(grep -c '^op-1 ' "$HOOK_LOG")" = 3
check "operator/hook_env" grep -q '^op-1 working>killed$' "$HOOK_LOG"
sleep 0.3 # reaped on the next tick
check "operator/hook_counted" grep -q '^liveprobe_transition_commands_total{result="started"} [1-9]' <<<"$(curl -s "$A/metrics")"

# the dashboard, in a real browser
page=$(curl -s "$A/")
check "operator/dashboard_served" grep -q '<title>liveprobe</title>' <<<"$page"
check "operator/dashboard_self_contained" test -z "$(grep -Eo '(src|href)="(https?:)?//[^"]*"' <<<"$page")"
# Debian's Chromium, driven by playwright-core from the npm registry (installed under build/).
ensure_playwright
check "operator/playwright_available" test -d "$NODE_DIR/node_modules/playwright-core"
spawn_sleeper shown
curl -s -X POST "$A/api/v1/episodes" -d "[{\"worker\":\"op-3\",\"pid\":$shown}]" >/dev/null
# a worker killed by a process named "<b>xss</b>": its reason carries markup
spawn_sleeper xss_victim
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"xss\",\"pid\":$xss_victim}" >/dev/null
python3 -c 'import ctypes, os, sys; ctypes.CDLL(None).prctl(15, b"<b>xss</b>", 0, 0, 0); os.kill(int(sys.argv[1]), 9)' "$xss_victim"
wait_state "$A" xss killed
cp "$ROOT/tests/e2e/dashboard.mjs" "$NODE_DIR/"
# keep op-3 producing while the page watches it
( while kill -0 "$shown" 2>/dev/null; do
	curl -s -X POST "$A/api/v1/episodes" -d '[{"worker":"op-3"}]' >/dev/null; sleep 0.3
done ) &
PIDS_TO_KILL+=("$!")
page=$(cd "$NODE_DIR" && timeout 60 node dashboard.mjs "$A/" "$shown" op-3 "$OUT/dashboard.png" 2>&1)
sed 's/^/    /' <<<"$page"
check "operator/dashboard_shows_working_live" grep -q "worker working, stream live" <<<"$page"
check "operator/dashboard_turns_red_on_kill" grep -q "worker red after" <<<"$page"
check "operator/dashboard_host_red" grep -q "host red" <<<"$page"
check "operator/dashboard_markup_is_text" grep -q "markup in a reason shown as text" <<<"$page"
check "operator/dashboard_screenshot_saved" test -s "$OUT/dashboard.png"
echo "    screenshot: $OUT/dashboard.png"

# --- the dashboard at 1,000 workers: first paint inline, under a second, sorted, filtered, live
start_daemon F --start-grace 600 || echo "FAIL: operator/daemon_f"
python3 -c '
import json, sys, time
now = time.time()
print(json.dumps([{"worker": f"fleet-{i}", "completed_at": now} for i in range(1000)]))' >"$TEST_TMP/fleet.json"
curl -s -X POST "$F/api/v1/episodes" --data-binary @"$TEST_TMP/fleet.json" >/dev/null
( sleep 0.2; exit 7 ) &
curl -s -X POST "$F/api/v1/workers" -d "{\"name\":\"fleet-dead\",\"pid\":$!}" >/dev/null
wait_state "$F" fleet-dead crashed
inline=$(curl -s "$F/")
check "dashboard/page_carries_data" grep -q '"fleet-999"' <<<"$inline"
check "dashboard/inline_data_cannot_close_script" test "$(grep -c '</script>' <<<"$inline")" = 1
cp "$ROOT/tests/e2e/dashboard_fleet.mjs" "$NODE_DIR/"
fleet=$(cd "$NODE_DIR" && timeout 90 node dashboard_fleet.mjs "$F/" "$F_INGEST" "$OUT/dashboard-fleet.png" 2>&1)
sed 's/^/    /' <<<"$fleet"
check "dashboard/first_paint_before_any_fetch" grep -Eq "^first paint: 100[0-9] rows, verdict red, host [^ ]+$" <<<"$fleet"
ms=$(sed -n 's/^rendered 1000 workers in \([0-9]*\) ms$/\1/p' <<<"$fleet")
# How fast is a figure for `make bench` (these machines are noisy); here: that it renders.
check "dashboard/thousand_workers_rendered" test -n "$ms"
check "dashboard/dead_on_top" grep -q "^order: first red, last green$" <<<"$fleet"
check "dashboard/death_facts_shown" grep -q "^detail: ended at .*exit code 7" <<<"$fleet"
check "dashboard/filter_box" grep -q "^filter fleet-99: 11 rows$" <<<"$fleet"
check "dashboard/stays_live" grep -q "^live: a new worker shown" <<<"$fleet"

# --config: key = value lines; flags on the command line win; errors name the line
cat >"$TEST_TMP/liveprobed.conf" <<CONF
# a comment, then a blank line

expected-workers = 7
stale-after = 30
verbose = false
CONF
start_daemon B --config "$TEST_TMP/liveprobed.conf" || { echo "FAIL: operator/config_start"; exit 1; }
check "operator/config_applied" grep -q '^liveprobe_workers_expected 7$' <<<"$(curl -s "$B/metrics")"
check "operator/config_policy" test "$(curl -s "$B/api/v1/host" | jq -r .staleness.stale_after_s)" = 30
start_daemon C --config "$TEST_TMP/liveprobed.conf" --expected-workers 9 || { echo "FAIL: operator/config_override_start"; exit 1; }
check "operator/flags_win_over_config" grep -q '^liveprobe_workers_expected 9$' <<<"$(curl -s "$C/metrics")"
printf 'expected-workers = 3\nwatch-port = 99999\n' >"$TEST_TMP/bad.conf"
out=$("$BUILD/liveprobed" --config "$TEST_TMP/bad.conf" 2>&1); rc=$?
check "operator/config_error_names_line" test "$rc" = 1 -a "$(printf '%s\n' "$out" | wc -l)" = 1
check "operator/config_error_text" grep -q "bad.conf:2: --watch-port '99999'" <<<"$out"
printf 'no-such-key = 1\n' >"$TEST_TMP/bad2.conf"
check "operator/config_unknown_key" grep -q "bad2.conf:1: unknown option" <<<"$("$BUILD/liveprobed" --config "$TEST_TMP/bad2.conf" 2>&1)"

# make install: binaries, header, a hardened systemd unit and a config the daemon accepts
DEST=$TEST_TMP/install
make -C "$ROOT" --no-print-directory install PREFIX=/usr DESTDIR="$DEST" >/dev/null 2>&1
check "operator/install_layout" test -x "$DEST/usr/sbin/liveprobed" -a -x "$DEST/usr/bin/liveprobe" -a -f "$DEST/usr/include/liveprobe.h" -a -f "$DEST/usr/share/doc/liveprobe/prometheus/liveprobe.rules.yml"
check "operator/install_man_pages" bash -c "grep -q '^\.TH LIVEPROBED \"8\"' '$DEST/usr/share/man/man8/liveprobed.8' && grep -q '^\.TH LIVEPROBE \"1\"' '$DEST/usr/share/man/man1/liveprobe.1'"
check "operator/man_page_lists_options" grep -q 'crash\\-loop' "$DEST/usr/share/man/man8/liveprobed.8"
UNIT=$DEST/usr/lib/systemd/system/liveprobed.service
check "operator/unit_execstart" grep -q '^ExecStart=/usr/sbin/liveprobed --config /etc/liveprobe/liveprobed.conf$' "$UNIT"
check "operator/unit_capabilities" grep -q '^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN' "$UNIT"
check "operator/unit_type_notify" grep -q '^Type=notify' "$UNIT"
check "operator/socket_unit_installed" grep -q '^ListenDatagram=/run/liveprobe/ingest.sock' "${UNIT%.service}.socket"
check "operator/unit_no_placeholders" test -z "$(grep -o '@[A-Z]*@' "$UNIT")"
start_daemon D --config "$DEST/etc/liveprobe/liveprobed.conf" || { echo "FAIL: operator/installed_config_runs"; exit 1; }
check "operator/installed_config_runs" test "$(status_of GET "$D/healthz")" = 200

# --- install footprint: `make run` installs what building and running need, not the test tools
fakebin=$TEST_TMP/fakebin
mkdir -p "$fakebin"
printf '#!/bin/sh\nexit 1\n' >"$fakebin/dpkg-query" # a machine with nothing installed
chmod +x "$fakebin/dpkg-query"
run_set=$(PATH=$fakebin:$PATH bash "$ROOT/scripts/install-deps.sh" --list runtime build)
test_set=$(PATH=$fakebin:$PATH bash "$ROOT/scripts/install-deps.sh" --list test)
check "install/run_set_builds" grep -qx clang <<<"$run_set"
check "install/run_set_has_no_browser_or_prometheus" test -z "$(grep -xE 'chromium|prometheus|prometheus-alertmanager' <<<"$run_set")"
check "install/test_set_has_them" test "$(grep -cxE 'chromium|prometheus|prometheus-alertmanager' <<<"$test_set")" = 3
plan=$(make -n -W scripts/install-deps.sh -C "$ROOT" run 2>/dev/null | grep install-deps.sh)
check "install/make_run_asks_for_runtime_and_build_only" test "$plan" = "bash scripts/install-deps.sh runtime build"
