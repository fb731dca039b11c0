#!/usr/bin/env bash
# make demo, in its fast mode: every narrated verdict is checked against the API (the demo
# prints a PASS:/FAIL: line for each), a screenshot of the dashboard is taken mid-demo in
# headless Chromium, and nothing the demo made is left behind.
source "$(dirname "$0")/lib.sh"

OUT=$ROOT/build/test-output
mkdir -p "$OUT"
port=$(free_port)
hold=$TEST_TMP/hold
touch "$hold"
DEMO_FAST=1 DEMO_CHECK=1 DEMO_HOLD=$hold DEMO_PORT=$port DEMO_BUILD=$BUILD \
	bash "$ROOT/scripts/demo/demo.sh" >"$TEST_TMP/demo.out" 2>&1 &
DEMO=$!
PIDS_TO_KILL+=("$DEMO")
for _ in $(seq 1200); do # the script takes about a minute
	grep -q "^holding until" "$TEST_TMP/demo.out" && break
	kill -0 "$DEMO" 2>/dev/null || break
	sleep 0.1
done
if ensure_playwright; then
	cp "$ROOT/tests/e2e/dashboard_shot.mjs" "$NODE_DIR/"
	shot=$(cd "$NODE_DIR" && timeout 60 node dashboard_shot.mjs "http://127.0.0.1:$port/" "$OUT/demo.png" 2>&1)
	echo "    $shot"
	check "demo/dashboard_screenshot" test -s "$OUT/demo.png"
else
	skip "demo/dashboard_screenshot" "playwright-core could not be installed from npm"
fi
rm -f "$hold"
wait "$DEMO"
rc=$?
sed 's/^/    /' "$TEST_TMP/demo.out" | grep -v '^    \(PASS\|FAIL\):'
grep -E '^(PASS|FAIL): ' "$TEST_TMP/demo.out"
check "demo/exits_zero" test "$rc" = 0
check "demo/no_namespace_left" test -z "$(ip netns list | grep '^lpdemo-')"
check "demo/no_pins_left" test ! -e /sys/fs/bpf/liveprobe-demo
check "demo/no_cgroup_left" test ! -e "$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)/lpdemo-trainer"
check "demo/no_process_left" test -z "$(pgrep -f 'scripts/demo/fleet.py')"
