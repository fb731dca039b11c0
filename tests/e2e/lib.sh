# Helpers for end-to-end tests: start a real liveprobed on its own port, pin root and ingest
# path, query it with curl and jq, and report one "PASS: name" / "FAIL: name" line per check.
# Every daemon and child started here is killed on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LP_BUILD:-$ROOT/build}
TEST_TMP=$(mktemp -d /tmp/liveprobe-e2e.XXXXXX)
PIDS_TO_KILL=()
NETNS_TO_DELETE=()
LINKS_TO_DELETE=()

cleanup() {
	# TERM first so daemons unpin their maps; KILL whatever is left.
	for pid in "${PIDS_TO_KILL[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	# Up to 2 s for clean exits (a sanitized daemon checks for leaks on its way out).
	for _ in $(seq 20); do
		local alive=0 pid
		for pid in "${PIDS_TO_KILL[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${PIDS_TO_KILL[@]}"; do kill -9 "$pid" 2>/dev/null; done
	wait 2>/dev/null
	# A sanitized daemon's report lands in its log: any report fails the suite.
	local log
	for log in "$TEST_TMP"/*.log; do
		[ -f "$log" ] && grep -Eq 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' "$log" &&
			{ sed 's/^/    /' "$log"; echo "FAIL: sanitizer report in ${log##*/}"; }
	done
	for ns in "${NETNS_TO_DELETE[@]}"; do ip netns del "$ns" 2>/dev/null; done
	for link in "${LINKS_TO_DELETE[@]}"; do ip link del "$link" 2>/dev/null; done
	rm -rf "$TEST_TMP" /sys/fs/bpf/liveprobe-e2e-$$-*
}
trap cleanup EXIT

# Writes over TCP need the bearer token: every daemon here shares one, and curl and the CLI in
# these scripts send it. Attacks run as another user through `runuser`, without it.
LP_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$LP_TOKEN" >"$TEST_TMP/token"
chmod 0600 "$TEST_TMP/token"
export LIVEPROBE_TOKEN_FILE=$TEST_TMP/token
curl() { command curl -H "Authorization: Bearer $LP_TOKEN" "$@"; }

check() { # name, command...
	local name=$1
	shift
	if "$@"; then
		echo "PASS: $name"
	else
		echo "FAIL: $name"
	fi
}

# free_port: a port free on IPv4 and IPv6 loopback, below the ephemeral range, so that no
# outgoing connection of the tests takes it between this call and its use.
free_port() {
	python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(1000):
    port = random.randrange(10000, max(low, 10001))
    try:
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")):
            s = socket.socket(family)
            s.bind((host, port))
            s.close()
    except OSError:
        continue
    print(port)
    break
'
}

# start_daemon VAR [ARGS...]: sets VAR to the base URL; the daemon's pid is in VAR_PID.
# start_prometheus JOB RULES [ALERTMANAGER_ADDR]: Debian's real Prometheus on loopback scrapes
# daemons A and B every second as JOB, with RULES loaded; PROM is its URL.
start_prometheus() {
	local port alerting=""
	port=$(free_port)
	if [ -n "${3:-}" ]; then
		alerting="alerting:
  alertmanagers:
    - static_configs:
        - targets: ['$3']"
	fi
	cat >"$TEST_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $2
$alerting
scrape_configs:
  - job_name: $1
    static_configs:
      - targets: ['${A#http://}', '${B#http://}']
YML
	prometheus --config.file="$TEST_TMP/prometheus.yml" --storage.tsdb.path="$TEST_TMP/tsdb" \
		--web.listen-address="127.0.0.1:$port" >"$TEST_TMP/prometheus.log" 2>&1 &
	PIDS_TO_KILL+=("$!")
	PROM="http://127.0.0.1:$port"
}
start_daemon() {
	local var=$1
	shift
	local port
	port=$(free_port)
	local tag="e2e-$$-$port"
	"$BUILD/liveprobed" --listen "127.0.0.1:$port" --pin-root "/sys/fs/bpf/liveprobe-$tag" \
		--ingest "$TEST_TMP/$tag.sock" --state-dir "$TEST_TMP/$tag-state" \
		--api-token-file "$TEST_TMP/token" --api-socket "$TEST_TMP/$tag.api" "$@" \
		2>"$TEST_TMP/$tag.log" &
	local pid=$!
	PIDS_TO_KILL+=("$pid")
	printf -v "$var" 'http://127.0.0.1:%s' "$port"
	printf -v "${var}_PID" '%s' "$pid"
	printf -v "${var}_PIN" '%s' "/sys/fs/bpf/liveprobe-$tag"
	printf -v "${var}_API" '%s' "$TEST_TMP/$tag.api"
	printf -v "${var}_INGEST" '%s' "$TEST_TMP/$tag.sock"
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "daemon did not start:" >&2
	cat "$TEST_TMP/$tag.log" >&2
	return 1
}

# spawn_sleeper VAR: a child that sleeps until killed.
spawn_sleeper() {
	sleep 1000 &
	PIDS_TO_KILL+=("$!")
	printf -v "$1" '%s' "$!"
}

# wait_state URL NAME STATE: polls for up to 3 s.
wait_state() {
	for _ in $(seq 300); do
		[ "$(curl -s "$1/api/v1/workers/$2" | jq -r .state)" = "$3" ] && return 0
		sleep 0.01
	done
	return 1
}

# status_of METHOD URL [BODY]: prints the HTTP status code.
status_of() {
	if [ $# -ge 3 ]; then
		curl -s -o /dev/null -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
			--data "$3" "$2"
	else
		curl -s -o /dev/null -w '%{http_code}' -X "$1" "$2"
	fi
}

# make_peer_host VAR: a network namespace joined to this one by a veth pair, a pretend remote
# host. Sets VAR (namespace name), VAR_IP (its address), VAR_LOCAL_IP (ours), VAR_LINK (its end).
make_peer_host() {
	local var=$1 ns="lp-$$-$1" octet=$((RANDOM % 200 + 20))
	# A subnet no other pretend host uses now: two with one subnet would steal each other's
	# replies.
	while ip -br addr | grep -q "10\.231\.$octet\."; do octet=$((RANDOM % 200 + 20)); done
	local ours="lpr$$$1" theirs="lpp$$$1"
	ip netns add "$ns" || return 1
	NETNS_TO_DELETE+=("$ns")
	ip link add "$ours" type veth peer name "$theirs" || return 1
	LINKS_TO_DELETE+=("$ours")
	ip link set "$theirs" netns "$ns"
	ip addr add "10.231.$octet.1/24" dev "$ours"
	ip link set "$ours" up
	ip -n "$ns" addr add "10.231.$octet.2/24" dev "$theirs"
	ip -n "$ns" link set "$theirs" up
	ip -n "$ns" link set lo up
	printf -v "$var" '%s' "$ns"
	printf -v "${var}_IP" '%s' "10.231.$octet.2"
	printf -v "${var}_LOCAL_IP" '%s' "10.231.$octet.1"
	printf -v "${var}_LINK" '%s' "$theirs"
}

# in_ns NS CMD...: runs CMD in namespace NS, or here when NS is empty.
in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# tcp_peer VAR NS ARGS...: starts tests/e2e/tcp_peer.py ARGS in NS and waits for its first line.
# Sets VAR_PID, and VAR_PORT to the local port when it is a client.
tcp_peer() {
	local var=$1 ns=$2
	shift 2
	local out="$TEST_TMP/peer-$var"
	# No shell function in between: $! must be the peer itself, so kill reaches it.
	if [ -n "$ns" ]; then
		ip netns exec "$ns" python3 "$ROOT/tests/e2e/tcp_peer.py" "$@" >"$out" 2>&1 &
	else
		python3 "$ROOT/tests/e2e/tcp_peer.py" "$@" >"$out" 2>&1 &
	fi
	local pid=$!
	PIDS_TO_KILL+=("$pid")
	printf -v "${var}_PID" '%s' "$pid"
	for _ in $(seq 500); do # 10 s: python starts slowly on a loaded machine
		if [ -s "$out" ]; then
			printf -v "${var}_PORT" '%s' "$(awk '/^connected/ {print $2}' "$out")"
			return 0
		fi
		sleep 0.02
	done
	echo "tcp_peer $* did not start: $(cat "$out")" >&2
	return 1
}

# wait_jq URL FILTER EXPECTED [SECONDS]: polls until jq FILTER on the body prints EXPECTED.
# wait_until SECONDS COMMAND...: runs COMMAND every 20 ms until it succeeds; 1 once SECONDS have
# passed. For what a child does at its own pace (a slow machine starts Python in over 0.3 s).
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -le "$deadline" ] || return 1
		sleep 0.02
	done
}

wait_jq() {
	local url=$1 filter=$2 expected=$3 limit=${4:-3}
	local deadline=$((SECONDS + limit))
	while [ "$SECONDS" -le "$deadline" ]; do
		[ "$(curl -s "$url" | jq -r "$filter" 2>/dev/null)" = "$expected" ] && return 0
		sleep 0.02
	done
	echo "    $url: $filter is $(curl -s "$url" | jq -c "$filter" 2>/dev/null), wanted $expected" >&2
	return 1
}

# skip NAME WHY: a check that cannot run here; counted as skipped, never as passed.
skip() {
	echo "SKIP: $1 ($2)"
}

# ensure_playwright: Debian's Chromium is driven by playwright-core from the npm registry,
# installed once under build/node; sets NODE_DIR. Returns 1 when it cannot be installed.
ensure_playwright() {
	NODE_DIR=$ROOT/build/node
	if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
		mkdir -p "$NODE_DIR"
		(cd "$NODE_DIR" && npm install --no-audit --no-fund --silent playwright-core@1 >/dev/null 2>&1)
	fi
	[ -d "$NODE_DIR/node_modules/playwright-core" ]
}
