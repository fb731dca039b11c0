#!/usr/bin/env bash
# make demo: a living fleet on this host, then the ways fleets break, one narrated step at a
# time, each followed by what liveprobe says. Real processes, real network namespaces joined by
# veth pairs (addresses only inside them), a real cgroup; everything it makes is removed on
# exit, and leftovers of a demo that was SIGKILLed are removed at the next start.
#
# Environment: DEMO_FAST=1 (no pauses for reading), DEMO_CHECK=1 (each step's verdict checked
# against the API: a PASS:/FAIL: line each, and exit when done instead of waiting for Ctrl-C),
# DEMO_HOLD=FILE (in check mode, keep the fleet running until FILE is removed),
# DEMO_PORT (HTTP, default 9480), DEMO_BUILD (default build).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${DEMO_BUILD:-$ROOT/build}
PORT=${DEMO_PORT:-9480}
LEARNER_PORT=$((PORT + 1))
URL=http://127.0.0.1:$PORT
RUN=/run/liveprobe-demo
PIN=/sys/fs/bpf/liveprobe-demo
CG_MOUNT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
CG=${CG_MOUNT:+$CG_MOUNT/lpdemo-trainer}
MEMCG=/sys/fs/cgroup/memory/lpdemo-trainer
FAST=${DEMO_FAST:-0}
CHECK=${DEMO_CHECK:-0}
FLEET="python3 $ROOT/scripts/demo/fleet.py"
failed=0

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo needs root: it loads BPF programs and makes network namespaces" >&2
	exit 1
fi

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
say() { echo; bold "== $*"; [ "$FAST" = 1 ] || sleep 2; }
lp() { "$BUILD/liveprobe" --url "$URL" "$@"; }
field() { curl -s "$URL/api/v1/workers/$1" | jq -r "$2"; }

# Everything a demo makes, by name, so a new one can remove what a killed one left.
cleanup() {
	if [ -f "$RUN/pids" ]; then
		while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$RUN/pids"
	fi
	for ns in $(ip netns list 2>/dev/null | awk '/^lpdemo-/ {print $1}'); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns delete "$ns" 2>/dev/null
	done
	for link in $(ip -o link show 2>/dev/null | awk -F': ' '/lpdemo/ {print $2}' | cut -d@ -f1); do
		ip link delete "$link" 2>/dev/null
	done
	for dir in "$CG" "$MEMCG"; do
		[ -n "$dir" ] && [ -d "$dir" ] || continue
		xargs -r kill -KILL <"$dir/cgroup.procs" 2>/dev/null
		sleep 0.1
		rmdir "$dir" 2>/dev/null
	done
	[ -x "$BUILD/liveprobed" ] && "$BUILD/liveprobed" --unload --pin-root "$PIN" >/dev/null 2>&1
	rm -rf "$RUN"
}
# Remembered for the cleanup, and disowned: the shell need not announce each one's end.
started() {
	echo "$1" >>"$RUN/pids"
	disown "$1" 2>/dev/null
}

# spawn NAME NS CMD...: a process of the fleet, in namespace NS (or here when empty), waiting
# until it prints its first line
spawn() {
	local name=$1 ns=$2 out="$RUN/$1.out"
	shift 2
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@" >"$out" 2>&1 &
	else
		"$@" >"$out" 2>&1 &
	fi
	printf -v "PID_${name//-/_}" '%s' "$!"
	started "$!"
	for _ in $(seq 250); do [ -s "$out" ] && return 0; sleep 0.02; done
	echo "demo: $name did not start: $(cat "$out")" >&2
	return 1
}

# host N: a pretend remote host, namespace lpdemo-N with 10.232.N.2, reached at 10.232.N.1
host() {
	local n=$1 ns=lpdemo-$1
	ip netns add "$ns"
	ip link add "lpdemo$n" type veth peer name eth0 netns "$ns"
	ip addr add "10.232.$n.1/24" dev "lpdemo$n"
	ip link set "lpdemo$n" up
	ip -n "$ns" addr add "10.232.$n.2/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
}

# verdict STEP WORKER JQ EXPECTED [SECONDS]: waits until the API says so; in check mode, one
# PASS:/FAIL: line
verdict() {
	local step=$1 worker=$2 filter=$3 expected=$4 seconds=${5:-10} got=
	for _ in $(seq $((seconds * 20))); do
		got=$(field "$worker" "$filter")
		[ "$got" = "$expected" ] && break
		sleep 0.05
	done
	if [ "$CHECK" = 1 ]; then
		if [ "$got" = "$expected" ]; then
			echo "PASS: demo/$step"
		else
			echo "FAIL: demo/$step ($worker: $filter is $got, wanted $expected)"
			failed=1
		fi
	fi
}
show() { lp status | sed 's/^/  /'; }

trap 'cleanup; exit' INT TERM
trap cleanup EXIT
cleanup
mkdir -p "$RUN" && chmod 0700 "$RUN"
for tool in jq curl ip python3; do
	command -v $tool >/dev/null || { echo "demo: $tool is missing (make deps installs it)" >&2; exit 1; }
done

bold "liveprobe demo: a fleet of real processes on this host, then the ways fleets break"
# The trainer: a cgroup (a container, say) whose main process reports its own work.
cgroup_args=()
if [ -n "$CG" ] && mkdir "$CG" 2>/dev/null; then
	cgroup_args=(--watch-cgroup "$CG")
fi
"$BUILD/liveprobed" --listen "127.0.0.1:$PORT" --pin-root "$PIN" --ingest "$RUN/ingest.sock" \
	--api-socket "$RUN/api.sock" --state-dir "$RUN/state" --watch-port "$LEARNER_PORT" \
	--keepalive 1,1,3 --crash-loop 3,60 --start-grace 5 --reset-pins --log-level warn \
	"${cgroup_args[@]}" 2>"$RUN/liveprobed.log" &
DAEMON=$!
started "$DAEMON"
for _ in $(seq 100); do curl -fs "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
curl -fs "$URL/healthz" >/dev/null || { echo "demo: liveprobed did not start:" >&2; cat "$RUN/liveprobed.log" >&2; exit 1; }
SOCK=$RUN/ingest.sock
echo "dashboard: $URL/   (the terminal tells the same story)"

# The fleet: a learner here, eight actors on four pretend remote hosts reporting through it,
# two local workers reporting for themselves, an uninstrumented service, the trainer.
spawn learner "" $FLEET learner "$LEARNER_PORT" "$SOCK"
for n in 1 2 3 4; do host "$n"; done
for i in 1 2 3 4 5 6 7 8; do
	n=$(((i + 1) / 2))
	spawn "actor-$i" "lpdemo-$n" $FLEET actor "actor-$i" "10.232.$n.1" "$LEARNER_PORT"
done
spawn local-a "" $FLEET worker local-a "$SOCK"
spawn local-b "" $FLEET worker local-b "$SOCK"
sleep infinity &
SERVICE=$!
started "$SERVICE"
curl -s --unix-socket "$RUN/api.sock" -X POST localhost/api/v1/workers \
	-d "{\"name\":\"service\",\"pid\":$SERVICE}" >/dev/null
if [ ${#cgroup_args[@]} -gt 0 ]; then
	spawn hog "" $FLEET hog lpdemo-trainer "$SOCK"
	echo "$PID_hog" >"$CG/cgroup.procs"
	if [ -d /sys/fs/cgroup/memory ] && mkdir "$MEMCG" 2>/dev/null; then
		# memory is a cgroup v1 controller on this host: the trainer is limited there
		echo $((64 << 20)) >"$MEMCG/memory.limit_in_bytes"
		[ -e "$MEMCG/memory.memsw.limit_in_bytes" ] && echo $((64 << 20)) >"$MEMCG/memory.memsw.limit_in_bytes"
		echo "$PID_hog" >"$MEMCG/cgroup.procs"
	elif [ -e "$CG/memory.max" ]; then
		echo $((64 << 20)) >"$CG/memory.max"
	fi
fi
for _ in $(seq 100); do [ "$(curl -s "$URL/api/v1/host" | jq -r .workers_producing)" -ge 10 ] && break; sleep 0.1; done
say "the fleet is up: 8 actors through a learner, 2 local workers, a service, a trainer cgroup"
verdict fleet_up actor-8 .state working
verdict service_running service .state running
show

say "1. local-a is killed (SIGKILL): dead the moment the kernel says so"
kill -KILL "$PID_local_a"
verdict sigkill local-a .state killed
show

say "2. local-b segfaults (SIGSEGV)"
kill -SEGV "$PID_local_b"
verdict sigsegv local-b .state crashed
show

if [ ${#cgroup_args[@]} -gt 0 ] && { [ -d "$MEMCG" ] || [ -e "$CG/memory.max" ]; }; then
	say "3. the trainer, a cgroup limited to 64 MiB, runs out of memory: the OOM killer"
	kill -USR1 "$PID_hog"
	verdict oom lpdemo-trainer .exit.oom true 15
	show
else
	say "3. (skipped: no memory controller to limit a cgroup with on this host)"
fi

say "4. actor-1 is frozen (SIGSTOP): its connection looks fine, its work stopped: stale"
kill -STOP "$PID_actor_1"
verdict sigstop actor-1 .state stale 15
show

say "5. actor-2 says bye and stops cleanly: grey, not red"
kill -USR1 "$PID_actor_2"
verdict bye actor-2 .state stopped
show

say "6. the link to actor-5's host is cut: suspect first, then dead (--keepalive 1,1,3)"
ip -n lpdemo-3 link set eth0 down
verdict link_suspect actor-5 .state suspect 10
show
verdict link_dead actor-5 .state disconnected 15
show

say "7. flaky crashes about every second and its supervisor restarts it: a crash loop"
( for _ in 1 2 3 4; do $FLEET flaky flaky "$SOCK" >/dev/null 2>&1; done
  exec $FLEET worker flaky "$SOCK" >/dev/null 2>&1 ) &
started "$!"
verdict crash_loop flaky .crashloop true 20
verdict crash_loop_red flaky .health red
show

say "8. actor-7 loses its connection, works on for a while, reconnects and flushes its buffer"
before=$(field actor-8 .episodes_per_min)
kill -USR2 "$PID_actor_7"
verdict outage_flushed actor-7 '.connections | length > 1' true 20
sleep 1
rate=$(field actor-7 .episodes_per_min)
echo "  actor-7: $rate episodes/min after the flush; actor-8, never interrupted: $before"
if [ "$CHECK" = 1 ]; then
	# counted by completion time, the flush is not a burst: about the steady actor's rate
	if python3 -c "import sys; sys.exit(0 if float('$rate') <= 1.5 * float('$before') else 1)"; then
		echo "PASS: demo/burst_not_inflated"
	else
		echo "FAIL: demo/burst_not_inflated ($rate vs $before)"
		failed=1
	fi
fi
show

say "the host, as an operator sees it"
curl -s "$URL/api/v1/host" | jq -r '"health: \(.health); \(.workers_producing) of \(.workers_total) producing, \(.episodes_per_min_total) episodes/min"'
if [ "$CHECK" = 1 ]; then
	if [ -n "${DEMO_HOLD:-}" ]; then
		echo "holding until $DEMO_HOLD is removed"
		while [ -e "$DEMO_HOLD" ]; do sleep 0.2; done
	fi
	exit $failed
fi
echo
echo "The fleet keeps running; dashboard: $URL/ . Ctrl-C ends the demo and removes everything."
wait "$DAEMON"
