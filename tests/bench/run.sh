#!/usr/bin/env bash
# make bench: figures, not pass/fail. Ratios are taken within one run with interleaved A/B pairs,
# because storm rates on these machines swing by +-30 % from minute to minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=build
PORT=${BENCH_PORT:-9499}
PIN=/sys/fs/bpf/liveprobe-bench-$$
URL=http://127.0.0.1:$PORT
KILLS=${BENCH_KILLS:-500}
STORM=${BENCH_STORM:-20000}
PAIRS=${BENCH_PAIRS:-5}

start_daemon() {
	$BUILD/liveprobed --listen 127.0.0.1:$PORT --pin-root $PIN --ingest /tmp/lp-bench-$$.sock &
	DAEMON=$!
	for _ in $(seq 100); do
		kill -0 $DAEMON 2>/dev/null || break
		curl -fs $URL/healthz >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "bench: daemon did not start" >&2
	exit 1
}
stop_daemon() {
	kill -TERM $DAEMON 2>/dev/null || true
	wait $DAEMON || true
	DAEMON=
}
DAEMON=
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap '[ -n "$DAEMON" ] && stop_daemon; sysctl -qw kernel.bpf_stats_enabled="$old_stats"' EXIT

echo "== crash detection latency, $KILLS SIGKILLs (kernel: $(uname -r), $(nproc) CPUs)"
start_daemon
$BUILD/bench_exit latency $URL $KILLS
stop_daemon

echo
echo "== fork/exit storm overhead, $PAIRS interleaved pairs of $STORM forks"
ratios=()
for i in $(seq $PAIRS); do
	off=$($BUILD/bench_exit storm $STORM)
	start_daemon
	on=$($BUILD/bench_exit storm $STORM)
	stop_daemon
	ratio=$(python3 -c "print(f'{$on/$off:.3f}')")
	ratios+=("$ratio")
	printf 'pair %d: off %8d/s   on %8d/s   on/off %s\n' "$i" "$off" "$on" "$ratio"
done
python3 -c "import statistics,sys; r=[float(x) for x in sys.argv[1:]]; print(f'median on/off ratio: {statistics.median(r):.3f} (target >= 0.98)')" "${ratios[@]}"

echo
echo "== kernel cost per program during one storm (kernel.bpf_stats_enabled)"
sysctl -qw kernel.bpf_stats_enabled=1
# Programs loaded after this id are this daemon's (bpftool 7.1 cannot show owning pids).
last_id=$(bpftool prog show --json | python3 -c 'import json,sys; print(max([p["id"] for p in json.load(sys.stdin)] or [0]))')
start_daemon
$BUILD/bench_exit storm $STORM >/dev/null
bpftool prog show --json | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]) and p.get("name", "").startswith("lp_") and p.get("run_cnt"):
        print("%-16s runs %9d   avg %7.1f ns" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))
' "$last_id"
stop_daemon
