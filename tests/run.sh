#!/usr/bin/env bash
# Runs every test: unit, kernel (real BPF, needs root) and end-to-end scripts. Each prints one
# "PASS: name", "FAIL: name" or "SKIP: name (why)" line per check; a suite that dies without
# saying why counts as a failure, and a skip is never a pass. The last line is the total:
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
skipped=0
log=$(mktemp)

run_suite() { # name, command...
	local name=$1
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local p f s
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	s=$(grep -c '^SKIP: ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL: $name exited with status $rc"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

if [ "$(id -u)" -ne 0 ]; then
	echo "tests must run as root: they load BPF programs" >&2
	echo "0 passed, 1 failed, 0 skipped"
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
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
