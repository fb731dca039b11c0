#!/usr/bin/env bash
# make bench: figures, not pass/fail. Ratios are taken within one run with interleaved A/B pairs,
# because storm rates on these machines swing by +-30 % from minute to minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=build
PORT=${BENCH_PORT:-9499}
PIN=/sys/fs/bpf/liveprobe-bench-$$
URL=http://127.0.0.1:$PORT
KILLS=${BENCH_KILLS:-500}
STORM=${BENCH_STORM:-20000}
PAIRS=${BENCH_PAIRS:-5}
SOCK_TRIALS=${BENCH_SOCK_TRIALS:-200}
TCP_STORM=${BENCH_TCP_STORM:-20000}
HELD_CONNS=${BENCH_HELD_CONNS:-5000}
SOCK_PORT=${BENCH_SOCK_PORT:-9611}
STORM_PORT=${BENCH_STORM_PORT:-9612}
OTHER_PORT=${BENCH_OTHER_PORT:-9613}

# Storms run on the last CPU, everything else (daemon, peer tool, curl) on the others, so a
# ratio measures what the probe adds to the storm's CPU, not who won the scheduler.
STORM_CPU=$(($(nproc) - 1))
OTHER_CPUS=0-$((STORM_CPU > 0 ? STORM_CPU - 1 : 0))
storm() { taskset -c $STORM_CPU $BUILD/bench "$@"; }

BENCH_DIR=$(mktemp -d /tmp/lp-bench.XXXXXX) # private: the daemon refuses shared socket dirs
export LIVEPROBE_TOKEN_FILE=$BENCH_DIR/token
head -c 24 /dev/urandom | base64 >"$LIVEPROBE_TOKEN_FILE"
chmod 0600 "$LIVEPROBE_TOKEN_FILE"
start_daemon() { # ARGS...
	taskset -c $OTHER_CPUS $BUILD/liveprobed --listen 127.0.0.1:$PORT --pin-root $PIN --ingest $BENCH_DIR/ingest.sock \
		--state-dir $BENCH_DIR/state --api-token-file "$LIVEPROBE_TOKEN_FILE" \
		--api-socket $BENCH_DIR/api.sock --reset-pins --log-level warn "$@" &
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
	$BUILD/liveprobed --unload --pin-root $PIN >/dev/null # every section starts with nothing attached
	DAEMON=
	rm -rf $BENCH_DIR/state # every run starts without known workers
}
# add_workers PREFIX N: N workers PREFIX-0.. that reported one episode each, posted 1,000 a
# batch (request bodies are capped at 64 KiB)
add_workers() {
	for ((base = 0; base < $2; base += 1000)); do
		python3 -c '
import json, sys, time
prefix, base, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(json.dumps([{"worker": f"{prefix}-{base + i}", "completed_at": time.time()}
                  for i in range(min(1000, n - base))]))' "$1" "$base" "$2" >"$BENCH_DIR/batch.json"
		curl -s -H "Authorization: Bearer $(cat "$LIVEPROBE_TOKEN_FILE")" -X POST \
			$URL/api/v1/episodes --data-binary @"$BENCH_DIR/batch.json" >/dev/null
	done
}
# The peer tool a user would reach for; tracefs must be mounted for its tp/ programs.
start_tcpstates() {
	mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
	taskset -c $OTHER_CPUS /usr/sbin/tcpstates >/dev/null 2>&1 &
	PEER=$!
	# It prints nothing until the first event; wait until its programs are loaded.
	for _ in $(seq 100); do
		bpftool prog show 2>/dev/null | grep -q handle_set_stat && return 0
		sleep 0.05
	done
	echo "bench: tcpstates did not start" >&2
	exit 1
}
stop_tcpstates() {
	kill -INT $PEER 2>/dev/null || true
	wait $PEER || true
	PEER=
}
# Highest BPF program id so far: programs loaded later are the ones we start.
last_prog_id() {
	bpftool prog show --json | python3 -c 'import json,sys; print(max([p["id"] for p in json.load(sys.stdin)] or [0]))'
}
# prog_costs ID: run count and average run time of lp_* and tcpstates programs loaded after ID.
prog_costs() {
	bpftool prog show --json | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]) and p.get("run_cnt"):
        print("  %-18s runs %9d   avg %7.1f ns" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))
' "$1"
}
# start_floor TRACEPOINT: the floor program (an empty tp_btf), measured on the same calls as ours.
start_floor() {
	taskset -c $OTHER_CPUS $BUILD/bench floor-prog "$1" >$BENCH_DIR/floor.out &
	FLOOR=$!
	for _ in $(seq 100); do
		grep -q attached $BENCH_DIR/floor.out 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench: the floor program did not attach" >&2
	exit 1
}
stop_floor() {
	kill $FLOOR 2>/dev/null || true
	wait $FLOOR 2>/dev/null || true
	FLOOR=
}
ratio() { python3 -c "print(f'{$1/$2:.3f}')"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.3f}')" "$@"; }

DAEMON=
PEER=
FLOOR=
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap '[ -n "$DAEMON" ] && stop_daemon; [ -n "$PEER" ] && stop_tcpstates; [ -n "$FLOOR" ] && stop_floor; sysctl -qw kernel.bpf_stats_enabled="$old_stats"' EXIT

echo "== crash detection latency, $KILLS SIGKILLs (kernel: $(uname -r), $(nproc) CPUs)"
start_daemon
$BUILD/bench exit-latency $URL $KILLS
stop_daemon

echo
echo "== fork/exit storm overhead, $PAIRS interleaved pairs of $STORM forks"
ratios=()
for i in $(seq $PAIRS); do
	off=$(storm fork-storm $STORM)
	start_daemon
	on=$(storm fork-storm $STORM)
	stop_daemon
	r=$(ratio "$on" "$off")
	ratios+=("$r")
	printf 'pair %d: off %8d/s   on %8d/s   on/off %s\n' "$i" "$off" "$on" "$r"
done
echo "median on/off ratio: $(median "${ratios[@]}") (target >= 0.98)"

echo
echo "== kernel cost per program during one fork storm (kernel.bpf_stats_enabled)"
sysctl -qw kernel.bpf_stats_enabled=1
last_id=$(last_prog_id)
start_daemon
start_floor sched_process_exit
storm fork-storm $STORM >/dev/null
prog_costs "$last_id"
stop_floor
stop_daemon
echo "lp_floor_empty: a tp_btf program that only returns, on the same exits (the floor)"
# The peer: libbpf-tools' exitsnoop, which sends every exit to user space.
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
last_id=$(last_prog_id)
/usr/sbin/exitsnoop >/dev/null 2>&1 &
PEER=$!
sleep 2
storm fork-storm $STORM >/dev/null
bpftool prog show --json | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p["id"] > int(sys.argv[1]) and p.get("run_cnt"):
        print("  peer exitsnoop %-18s runs %9d   avg %7.1f ns" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))
' "$last_id"
kill -INT $PEER 2>/dev/null || true
wait $PEER 2>/dev/null || true
PEER=
sysctl -qw kernel.bpf_stats_enabled="$old_stats"

echo
echo "== socket-death latency, $SOCK_TRIALS peer SIGKILLs on loopback port $SOCK_PORT"
start_daemon --watch-port $SOCK_PORT
$BUILD/bench sock-latency $URL $SOCK_PORT $SOCK_TRIALS
stop_daemon

echo
echo "== silent peer host: time until the connection is declared dead"
keepidle=$(sysctl -n net.ipv4.tcp_keepalive_time)
keepintvl=$(sysctl -n net.ipv4.tcp_keepalive_intvl)
keepcnt=$(sysctl -n net.ipv4.tcp_keepalive_probes)
retries2=$(sysctl -n net.ipv4.tcp_retries2)
echo "Linux defaults here (computed, not waited for):"
echo "  idle connection, SO_KEEPALIVE off:  never"
echo "  idle connection, SO_KEEPALIVE on:   $((keepidle + keepintvl * keepcnt)) s (tcp_keepalive_time $keepidle + $keepcnt x $keepintvl)"
python3 -c '
import sys
retries = int(sys.argv[1])
# RTO doubles from 200 ms (TCP_RTO_MIN, loopback/LAN) up to 120 s (TCP_RTO_MAX); the
# connection dies when the timeout a retries2 timer would reach runs out.
rto, total = 0.2, 0.0
for _ in range(retries + 1):
    total += rto
    rto = min(rto * 2, 120.0)
print("  busy connection (data unacked):    %.0f s (tcp_retries2 = %d, RTO from 200 ms)" % (total, retries))
' "$retries2"
echo "liveprobe --keepalive 1,1,3 (measured, one trial with a real silent namespace):"
ns=lp-bench-$$
ip netns add $ns
ip link add lpbr$$ type veth peer name lpbp$$
ip link set lpbp$$ netns $ns
ip addr add 10.232.1.1/24 dev lpbr$$ && ip link set lpbr$$ up
ip -n $ns addr add 10.232.1.2/24 dev lpbp$$ && ip -n $ns link set lpbp$$ up
trap '[ -n "$DAEMON" ] && stop_daemon; [ -n "$PEER" ] && stop_tcpstates; ip netns del '$ns' 2>/dev/null || true; ip link del lpbr$$ 2>/dev/null || true; sysctl -qw kernel.bpf_stats_enabled="$old_stats"' EXIT
start_daemon --watch-port $SOCK_PORT --keepalive 1,1,3 --group-by-peer-ip
python3 tests/e2e/tcp_peer.py server 10.232.1.1 $SOCK_PORT >/dev/null &
server=$!
sleep 0.3
ip netns exec $ns python3 tests/e2e/tcp_peer.py client 10.232.1.1 $SOCK_PORT >/dev/null &
client=$!
for _ in $(seq 100); do
	[ "$(curl -s $URL/api/v1/workers/10.232.1.2 | jq -r '.connections[0].state' 2>/dev/null)" = ESTABLISHED ] && break
	sleep 0.05
done
ip netns exec $ns nft add table inet lp_silence
ip netns exec $ns nft add chain inet lp_silence input '{ type filter hook input priority 0; policy drop; }'
start=$(date +%s.%N)
for _ in $(seq 300); do
	[ "$(curl -s $URL/api/v1/workers/10.232.1.2 | jq -r .state)" = disconnected ] && break
	sleep 0.05
done
echo "  idle connection: $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s to disconnected, reason $(curl -s $URL/api/v1/workers/10.232.1.2 | jq -r '.connections[0].reason') (budget 1 + 1 x 3 = 4 s)"
kill $client $server 2>/dev/null || true
wait $client $server 2>/dev/null || true
stop_daemon

echo
echo "== loopback connect/accept/close storm, $PAIRS interleaved rounds of $TCP_STORM connections"
echo "   off: no probe; unwatched: liveprobe watching another port; watched: liveprobe watching"
echo "   the storm's port; tcpstates: libbpf-tools tcpstates tracing every state change"
declare -a r_unwatched r_watched r_tcpstates
for i in $(seq $PAIRS); do
	off=$(storm tcp-storm $STORM_PORT $TCP_STORM)
	start_daemon --watch-port $OTHER_PORT
	unwatched=$(storm tcp-storm $STORM_PORT $TCP_STORM)
	stop_daemon
	start_daemon --watch-port $STORM_PORT --max-connections 1048576
	watched=$(storm tcp-storm $STORM_PORT $TCP_STORM)
	stop_daemon
	start_tcpstates
	peer=$(storm tcp-storm $STORM_PORT $TCP_STORM)
	stop_tcpstates
	r_unwatched+=("$(ratio "$unwatched" "$off")")
	r_watched+=("$(ratio "$watched" "$off")")
	r_tcpstates+=("$(ratio "$peer" "$off")")
	printf 'round %d: off %6d/s  unwatched %6d/s  watched %6d/s  tcpstates %6d/s\n' \
		"$i" "$off" "$unwatched" "$watched" "$peer"
done
echo "median rate over off: liveprobe unwatched $(median "${r_unwatched[@]}") (target >= 0.97)," \
	"liveprobe watched $(median "${r_watched[@]}"), tcpstates $(median "${r_tcpstates[@]}")"

echo
echo "== kernel cost per program during one TCP storm (kernel.bpf_stats_enabled)"
sysctl -qw kernel.bpf_stats_enabled=1
for mode in unwatched watched tcpstates; do
	echo "$mode:"
	last_id=$(last_prog_id)
	case $mode in
	unwatched) start_daemon --watch-port $OTHER_PORT ;;
	watched) start_daemon --watch-port $STORM_PORT --max-connections 1048576 ;;
	tcpstates) start_tcpstates ;;
	esac
	start_floor inet_sock_set_state
	storm tcp-storm $STORM_PORT $TCP_STORM >/dev/null
	prog_costs "$last_id"
	stop_floor
	if [ $mode = tcpstates ]; then stop_tcpstates; else stop_daemon; fi
done
echo "lp_floor_empty: a tp_btf program on inet_sock_set_state that only returns (the floor)"
sysctl -qw kernel.bpf_stats_enabled="$old_stats"

echo
echo "== kill latency beside $HELD_CONNS watched connections (both ends on loopback, $((2 * HELD_CONNS)) sockets;"
echo "   every second a reconcile pass reads their records and sock_diag dumps them)"
start_daemon --watch-port $STORM_PORT --max-connections 65536
coproc HOLDER { taskset -c $STORM_CPU $BUILD/bench hold-conns $STORM_PORT $HELD_CONNS; }
read -r _ <&"${HOLDER[0]}"
sleep 3 # the connections are tracked and a pass has run over them
chrt -f 50 $BUILD/bench exit-latency $URL 400 | sed 's/^/  /'
chrt -f 50 $BUILD/bench sse-latency $URL 400 | sed 's/^/  /'
eval "exec ${HOLDER[1]}>&-"
wait $HOLDER_PID || true
stop_daemon

echo
echo "== ingest: episodes per second one daemon (one event-loop core) takes"
INGEST=$BENCH_DIR/ingest.sock
start_daemon
printf 'unix socket, 500 lines per datagram: %10s /s (target >= 500000)\n' "$($BUILD/bench ingest-unix $URL $INGEST ${BENCH_INGEST:-5000000} 500)"
printf 'unix socket, 1 line per datagram:    %10s /s\n' "$($BUILD/bench ingest-unix $URL $INGEST $((${BENCH_INGEST:-5000000} / 10)) 1)"
printf 'HTTP POST /api/v1/episodes, 500/batch:%10s /s\n' "$($BUILD/bench ingest-http $URL $((${BENCH_INGEST:-5000000} / 10)) 500)"
stop_daemon
# With a cgroup watched every datagram brings its sender's pidfd: what that costs, A/B.
CG_MOUNT=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
if [ -n "$CG_MOUNT" ] && mkdir "$CG_MOUNT/lp-bench-$$"; then
	for i in 1 2 3; do
		start_daemon
		plain=$($BUILD/bench ingest-unix $URL $INGEST $((${BENCH_INGEST:-5000000} / 10)) 1)
		stop_daemon
		start_daemon --watch-cgroup "lp-bench-$$"
		pidfds=$($BUILD/bench ingest-unix $URL $INGEST $((${BENCH_INGEST:-5000000} / 10)) 1)
		stop_daemon
		printf 'unix socket, 1 line per datagram, round %d: %8s /s; with a cgroup watched (a pidfd per datagram) %8s /s\n' \
			"$i" "$plain" "$pidfds"
	done
	rmdir "$CG_MOUNT/lp-bench-$$"
else
	echo "unix socket with a cgroup watched: not measured (no cgroup2 mount to make one in)"
fi

echo
echo "== memory per worker (RSS growth of the daemon; the fleet plus its published snapshot)"
for n in 10000 100000; do
	start_daemon --max-workers $n
	$BUILD/bench workers $URL $INGEST $DAEMON $n
	stop_daemon
done

echo
echo "== memory under concurrent reads: 16,384 workers, 64 readers of GET /api/v1/workers"
start_daemon --ingest-udp 127.0.0.1:$((PORT + 1)) --max-workers 20000
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(16384):
    s.sendto(f"episode worker=w-{i}".encode(), ("127.0.0.1", int(sys.argv[1])))
' $((PORT + 1))
sleep 2
# View bodies live in memfds (shmem, outside RSS): count each distinct one once, beside RSS.
memory_kib() {
	local rss shmem
	rss=$(awk '/VmRSS/ {print $2}' /proc/$DAEMON/status)
	shmem=$(for fd in /proc/$DAEMON/fd/*; do
		case $(readlink "$fd" 2>/dev/null) in /memfd:liveprobe-view*) stat -L -c '%i %s' "$fd" 2>/dev/null ;; esac
	done | sort -u | awk '{sum += $2} END {print int(sum / 1024)}')
	echo $((rss + shmem))
}
before=$(memory_kib)
body=$(curl -s -o /dev/null -w '%{size_download}' $URL/api/v1/workers)
(for _ in $(seq 64); do (for _ in $(seq 10); do curl -s -o /dev/null $URL/api/v1/workers; done) & done; wait) &
readers=$!
peak=0
while kill -0 $readers 2>/dev/null; do
	now=$(memory_kib)
	[ "$now" -gt "$peak" ] && peak=$now
	sleep 0.05
done
echo "body $((body / 1024)) KiB; RSS + view memfds $before KiB idle, peak $peak KiB during 640 reads by 64 readers"
echo "(shared render per snapshot, one worker's JSON tree at a time; was 5.6 GB at 64 readers)"
stop_daemon

echo
echo "== availability under abuse: an honest reporter during a flood, a good client among slow ones"
chmod 711 "$BENCH_DIR"
start_daemon --ingest-group nogroup
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$ROOT/tests/e2e/flood.py" \
	"$BENCH_DIR/ingest.sock" 7 >"$BENCH_DIR/flood.out" &
flood=$!
sleep 1
unsent=$($BUILD/honest "$BENCH_DIR/ingest.sock" 500)
wait $flood
got=$(curl -s $URL/api/v1/workers/honest | jq -r .episodes_total)
echo "flood from uid nobody: $(cat "$BENCH_DIR/flood.out") datagrams in 7 s"
echo "honest 100 Hz reporter (include/liveprobe.h): 500 sent, $unsent unsent, $got received (target: 0 lost)"
python3 "$ROOT/tests/e2e/slow_clients.py" "$PORT" 1000 14 >"$BENCH_DIR/slow.out" 2>&1 &
slow=$!
for _ in $(seq 100); do grep -q connected "$BENCH_DIR/slow.out" && break; sleep 0.1; done
for i in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' $URL/api/v1/host; done | sort -n >"$BENCH_DIR/good.times"
echo "good client among 1,000 slow ones (20 GETs): median $(sed -n 10p "$BENCH_DIR/good.times") s, max $(tail -1 "$BENCH_DIR/good.times") s (target < 0.1 s)"
wait $slow
echo "slow clients cut by the 10 s request deadline: $(awk '/^closed/ {print $2}' "$BENCH_DIR/slow.out") of 1000"
stop_daemon

echo
echo "== restart: from a daemon SIGKILL to the new daemon serving the exact facts of the gap"
for ring in 4096 1048576; do
	start_daemon --ringbuf-size $ring
	sleepers=()
	for i in $(seq 200); do
		sleep 1000 &
		sleepers+=($!)
		curl -s -H "Authorization: Bearer $(cat "$LIVEPROBE_TOKEN_FILE")" -X POST $URL/api/v1/workers \
			-d "{\"name\":\"gap-$i\",\"pid\":$!}" >/dev/null
	done
	kill -KILL $DAEMON
	wait $DAEMON 2>/dev/null || true
	for pid in "${sleepers[@]}"; do kill -KILL $pid; done
	wait "${sleepers[@]}" 2>/dev/null || true
	started=$(date +%s%N)
	# take over this time: no --reset-pins
	taskset -c $OTHER_CPUS $BUILD/liveprobed --listen 127.0.0.1:$PORT --pin-root $PIN \
		--ingest $BENCH_DIR/ingest.sock --state-dir $BENCH_DIR/state \
		--api-token-file "$LIVEPROBE_TOKEN_FILE" --api-socket $BENCH_DIR/api.sock 2>/dev/null &
	DAEMON=$!
	until [ "$(curl -s $URL/api/v1/host 2>/dev/null | jq -r '.states.killed // 0')" = 200 ]; do
		sleep 0.002
		[ $(($(date +%s%N) - started)) -gt 10000000000 ] && break
	done
	took=$((($(date +%s%N) - started) / 1000000))
	echo "ring buffer $ring bytes: 200 deaths in the gap, $(curl -s $URL/api/v1/host | jq -r '.states.killed // 0') reported killed with their facts $took ms after the new daemon was started ($(curl -s $URL/api/v1/host | jq -r .probe.recovered_total) from the kernel's record)"
	stop_daemon
	rm -rf $BENCH_DIR/state
done

echo
# under_load RATE LABEL: the kills measured while a flood of RATE reports/s (0: as fast as the
# daemon takes them; the sends block) and 16 readers of the full list load the daemon.
under_load() {
	taskset -c $STORM_CPU $BUILD/bench ingest-unix $URL $BENCH_DIR/ingest.sock 100000000 64 $1 >"$BENCH_DIR/flood.out" 2>&1 &
	FLOOD=$!
	wrk -t2 -c16 -d60s $URL/api/v1/workers >"$BENCH_DIR/wrk.out" 2>&1 &
	WRK=$!
	sleep 2
	before=$(curl -s $URL/api/v1/host | jq -r .ingest.reports_total)
	t0=$(date +%s.%N)
	echo "under load, $2:"
	measure 300
	after=$(curl -s $URL/api/v1/host | jq -r .ingest.reports_total)
	rate=$(python3 -c "print(int(($after - $before) / ($(date +%s.%N) - $t0)))")
	wait $WRK || true
	kill $FLOOD 2>/dev/null || true
	wait $FLOOD 2>/dev/null || true
	echo "  ingest during the measurement: $rate reports/s (64 per datagram)"
	echo "  readers: $(awk '/Requests\/sec/ {print $2}' "$BENCH_DIR/wrk.out") GET /api/v1/workers per second over 16 connections, $(awk '/Transfer\/sec/ {print $2}' "$BENCH_DIR/wrk.out")/s ($(grep -c "Non-2xx" "$BENCH_DIR/wrk.out") non-2xx lines; 10,000 workers each)"
}
# The measuring client runs at SCHED_FIFO: its own wake-up then costs microseconds, so the
# figure is the daemon's delay, and the pidfd floor is what the kernel itself takes.
# The stream is measured twice: on its own thread (lanes, the default), and served by the
# thread pool as every stream was before, for the A/B in the same minute.
measure() { # KILLS
	chrt -f 50 $BUILD/bench exit-latency $URL $1 | sed 's/^/  /'
	chrt -f 50 $BUILD/bench sse-latency $URL $1 | sed 's/^/  /'
	chrt -f 50 $BUILD/bench sse-latency $URL $1 pool | sed 's/^/  /'
}
echo "== latency under load: 10,000 workers, 500,000 reports/s, 16 concurrent GET /api/v1/workers"
start_daemon --max-workers 20000 --start-grace 600
add_workers load 10000
echo "workers: $(curl -s $URL/api/v1/host | jq -r .workers_total)"
ticks() { awk '{print $14 + $15}' /proc/$DAEMON/stat; }
cpu_before=$(ticks)
wrk -t2 -c16 -d10s $URL/api/v1/workers >"$BENCH_DIR/wrk.out" 2>&1
cpu_after=$(ticks)
bodies=$(awk '/requests in/ {print $1}' "$BENCH_DIR/wrk.out")
echo "reads alone: $(awk '/Requests\/sec/ {print $2}' "$BENCH_DIR/wrk.out") bodies/s over 16 connections, $(awk '/Transfer\/sec/ {print $2}' "$BENCH_DIR/wrk.out")/s; daemon CPU $(python3 -c "print(f'{($cpu_after - $cpu_before) * 1000 / $(getconf CLK_TCK) / max($bodies, 1):.2f}')") ms per body (sent from a memfd by sendfile)"
echo "quiet, for comparison:"
measure 100
# --loop-nice A/B in one daemon: setting the loop's thread (its tid is the pid) and the
# event-stream thread (MHD-single) to nice 0 is what --loop-nice 0 starts with; interleaved,
# because the load swings from minute to minute.
EVENTS_TID=$(grep -l '^MHD-single$' /proc/$DAEMON/task/*/comm | cut -d/ -f5)
verdict_nice() { $BUILD/bench schedule other $1 0 $DAEMON $EVENTS_TID; }
for pair in 1 2; do
	verdict_nice -10
	under_load 500000 "the target load: 500,000 reports/s, paced; event loop and stream thread at nice -10 (the default), pair $pair"
	verdict_nice 0
	under_load 500000 "the target load; event loop and stream thread at nice 0 (--loop-nice 0), pair $pair"
done
verdict_nice -10
under_load 0 "beyond it: a flood as fast as the daemon takes it; event loop and stream thread at nice -10"
stop_daemon

echo
echo "== idle CPU of a daemon with 100,000 workers (nothing happening; only due workers are re-judged)"
start_daemon --max-workers 100000 --start-grace 600
add_workers idle 100000
sleep 3 # the state save and the publishes of the registrations are over
ticks() { awk '{print $14 + $15}' /proc/$DAEMON/stat; }
before=$(ticks)
sleep 10
after=$(ticks)
echo "workers: $(curl -s $URL/api/v1/host | jq -r .workers_total); CPU over 10 s idle: $(python3 -c "print(f'{($after - $before) / $(getconf CLK_TCK) / 10 * 100:.1f}')") % of a core (target < 1 %); RSS $(awk '/VmRSS/ {print $2}' /proc/$DAEMON/status) KiB"
stop_daemon

echo
echo "== dashboard: navigation to 1,000 workers drawn, in Debian's headless Chromium"
NODE_DIR=$ROOT/build/node
if [ -d "$NODE_DIR/node_modules/playwright-core" ] && [ -x /usr/bin/chromium ]; then
	start_daemon --start-grace 600
	add_workers fleet 1000
	cp "$ROOT/tests/e2e/dashboard_fleet.mjs" "$NODE_DIR/"
	for run in 1 2 3; do
		(cd "$NODE_DIR" && timeout 90 node dashboard_fleet.mjs "$URL/" "$BENCH_DIR/ingest.sock" \
			"$BENCH_DIR/dashboard.png" 2>&1) | sed -n "s/^rendered 1000 workers in \(.*\)$/run $run: \1 (target < 1000 ms)/p"
	done
	stop_daemon
else
	echo "skipped: playwright-core is installed by make test (tests/e2e/test_operator.sh)"
fi
