# Helpers for end-to-end tests: start a real liveprobed on its own port, pin root and ingest
# path, query it with curl and jq, and report one "PASS: name" / "FAIL: name" line per check.
# Every daemon and child started here is killed on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
TEST_TMP=$(mktemp -d /tmp/liveprobe-e2e.XXXXXX)
PIDS_TO_KILL=()

cleanup() {
	# TERM first so daemons unpin their maps; KILL whatever is left.
	for pid in "${PIDS_TO_KILL[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	sleep 0.2
	for pid in "${PIDS_TO_KILL[@]}"; do kill -9 "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TEST_TMP" /sys/fs/bpf/liveprobe-e2e-$$-*
}
trap cleanup EXIT

check() { # name, command...
	local name=$1
	shift
	if "$@"; then
		echo "PASS: $name"
	else
		echo "FAIL: $name"
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_daemon VAR [ARGS...]: sets VAR to the base URL; the daemon's pid is in VAR_PID.
start_daemon() {
	local var=$1
	shift
	local port
	port=$(free_port)
	local tag="e2e-$$-$port"
	"$BUILD/liveprobed" --listen "127.0.0.1:$port" --pin-root "/sys/fs/bpf/liveprobe-$tag" \
		--ingest "$TEST_TMP/$tag.sock" --state-dir "$TEST_TMP/$tag-state" "$@" \
		2>"$TEST_TMP/$tag.log" &
	local pid=$!
	PIDS_TO_KILL+=("$pid")
	printf -v "$var" 'http://127.0.0.1:%s' "$port"
	printf -v "${var}_PID" '%s' "$pid"
	printf -v "${var}_PIN" '%s' "/sys/fs/bpf/liveprobe-$tag"
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
