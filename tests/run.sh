#!/usr/bin/env bash
# Runs every test: unit, kernel (real BPF, needs root) and end-to-end scripts. Each prints one
# "PASS: name", "FAIL: name" or "SKIP: name (why)" line per check; a suite that dies without
# saying why counts as a failure, and a skip is never a pass. The last line is the total:
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
# The build tree under test (build, or build-san for `make test SANITIZE=1`).
export LP_BUILD=${LP_BUILD:-$PWD/build}
LP_FUZZ=${LP_FUZZ:-$PWD/build/fuzz}
if [ "${LP_SANITIZE:-}" = 1 ]; then
	# Any report is a failure: abort at the first one, and look for them in every log.
	export ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	echo "== sanitized build: $LP_BUILD (ASan, UBSan)"
fi
SANITIZER_REPORT='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:'
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
	if grep -Eq "$SANITIZER_REPORT" "$log"; then
		echo "FAIL: $name: a sanitizer report (above)"
		f=$((f + 1))
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

run_suite unit "$LP_BUILD/test_unit"
run_suite kernel timeout -s KILL 300 "$LP_BUILD/test_kernel"
replay_fuzz() { # every seed and every crash ever found, through each harness once
	for harness in "$LP_FUZZ"/fuzz_*; do
		local target=${harness##*/fuzz_}
		local inputs
		mapfile -t inputs < <(find "tests/fuzz/corpus/$target" "tests/fuzz/crashes/$target" -type f 2>/dev/null)
		if "$harness" "${inputs[@]}" >/dev/null 2>"$LP_FUZZ/replay-$target.log"; then
			echo "PASS: fuzz/replay_$target (${#inputs[@]} inputs)"
		else
			cat "$LP_FUZZ/replay-$target.log"
			echo "FAIL: fuzz/replay_$target"
		fi
	done
}
run_suite fuzz replay_fuzz
for script in tests/e2e/test_*.sh; do
	run_suite "$script" timeout -s KILL 300 bash "$script"
done
for script in tests/prometheus/test_*.sh; do
	[ -e "$script" ] && run_suite "$script" timeout -s KILL 300 bash "$script"
done
rm -f "$log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
