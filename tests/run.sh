#!/usr/bin/env bash
# Runs every test: unit, kernel (real BPF, needs root) and end-to-end scripts. Each prints one
# "PASS: name" or "FAIL: name" line per check; a suite that dies without saying why counts as a
# failure. The last line is the total: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
log=$(mktemp)

run_suite() { # name, command...
	local name=$1
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local p f
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name exited with status $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

if [ "$(id -u)" -ne 0 ]; then
	echo "tests must run as root: they load BPF programs" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

run_suite unit build/test_unit
run_suite kernel timeout -s KILL 300 build/test_kernel
for script in tests/e2e/test_*.sh; do
	run_suite "$script" timeout -s KILL 300 bash "$script"
done
for script in tests/prometheus/test_*.sh; do
	[ -e "$script" ] && run_suite "$script" timeout -s KILL 300 bash "$script"
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
