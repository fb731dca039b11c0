#!/usr/bin/env bash
# End to end, the fleet story: 11 actors each hold a TCP connection to a learner that reports
# their episodes with peer=; two of them live on pretend remote hosts (network namespaces).
# Six fail in six ways; the API must say 5 of 11 producing, name each of the six with the right
# state and reason, and count the survivors' rate, and only theirs, in the total.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
start_daemon A --watch-port "$port" --keepalive 1,1,3 || { echo "FAIL: fleet/daemon_start"; exit 1; }
SOCK=$(ls "$TEST_TMP"/*.sock | head -1)
W="$A/api/v1/workers"
make_peer_host P1 || { echo "FAIL: fleet/peer_host_1"; exit 1; }
make_peer_host P2 || { echo "FAIL: fleet/peer_host_2"; exit 1; }

fleet_peer() { # VAR NS ARGS...: like tcp_peer, for fleet.py
	local var=$1 ns=$2 out="$TEST_TMP/fleet-$1"
	shift 2
	if [ -n "$ns" ]; then
		ip netns exec "$ns" python3 "$ROOT/tests/e2e/fleet.py" "$@" >"$out" 2>&1 &
	else
		python3 "$ROOT/tests/e2e/fleet.py" "$@" >"$out" 2>&1 &
	fi
	printf -v "$var" '%s' "$!"
	PIDS_TO_KILL+=("$!")
	for _ in $(seq 200); do [ -s "$out" ] && return 0; sleep 0.02; done
	echo "fleet.py $* did not start: $(cat "$out")" >&2
	return 1
}

fleet_peer learner "" learner "$port" "$SOCK"
for i in 1 2 3 4 5 6 7 8 9; do
	fleet_peer "actor$i" "" actor "actor-$i" 127.0.0.1 "$port" "$SOCK"
done
fleet_peer actor10 "$P1" actor actor-10 "$P1_LOCAL_IP" "$port" "$SOCK"
fleet_peer actor11 "$P2" actor actor-11 "$P2_LOCAL_IP" "$port" "$SOCK"

producing() { curl -s "$A/api/v1/host" | jq -r .workers_producing; }
for _ in $(seq 100); do [ "$(producing)" = 11 ] && break; sleep 0.1; done
check "fleet/eleven_producing" test "$(producing)" = 11
host=$(curl -s "$A/api/v1/host")
check "fleet/host_green" test "$(jq -r .health <<<"$host")" = green
# A connection the kernel reports before the learner's first peer= report has a placeholder
# worker for that moment; once the report binds it, the placeholder is gone.
check "fleet/no_placeholder_workers" wait_jq "$A/api/v1/host" .workers_total 11 5
if [ "$(curl -s "$A/api/v1/host" | jq -r .workers_total)" != 11 ]; then
	curl -s "$A/api/v1/workers" | jq -c '[.workers[] | {name, origin, state}]' >&2
fi
check "fleet/connection_claimed_by_peer_report" test "$(curl -s "$W/actor-10" | jq -r '[.connections[].local] | index("'"$P1_LOCAL_IP:$port"'") != null')" = true

# six failures, six ways
kill -KILL "$actor1"
kill -SEGV "$actor2"
kill -STOP "$actor3"
kill -USR1 "$actor4"
ip -n "$P1" link set "$P1_LINK" down
ip netns exec "$P2" nft -f - <<'NFT'
table inet lp_drop {
	chain input { type filter hook input priority 0; policy drop; }
}
NFT

expect() { # NAME STATE REASON-PATTERN
	local deadline=$((SECONDS + 10)) w
	while [ "$SECONDS" -le "$deadline" ]; do
		w=$(curl -s "$W/$1")
		if [ "$(jq -r .state <<<"$w")" = "$2" ] && grep -Eq "$3" <<<"$(jq -r .reason <<<"$w")"; then
			return 0
		fi
		sleep 0.1
	done
	echo "    $1: $(jq -c '{state, reason}' <<<"$w"), wanted $2 /$3/" >&2
	return 1
}
check "fleet/sigkill_killed" expect actor-1 killed "SIGKILL from"
check "fleet/sigsegv_crashed" expect actor-2 crashed "SIGSEGV"
check "fleet/sigstop_stale" expect actor-3 stale "no output for over"
check "fleet/bye_stopped" expect actor-4 stopped "stopped after bye"
check "fleet/link_cut_disconnected" expect actor-10 disconnected "alive, but every connection is dead: .* timeout"
check "fleet/traffic_dropped_disconnected" expect actor-11 disconnected "alive, but every connection is dead: .* timeout"

host=$(curl -s "$A/api/v1/host")
workers=$(curl -s "$W")
check "fleet/five_of_eleven_producing" test "$(jq -r .workers_producing <<<"$host")" = 5
check "fleet/survivors_are_the_producers" test "$(jq -c '[.producing[].name] | sort' <<<"$host")" = '["actor-5","actor-6","actor-7","actor-8","actor-9"]'
check "fleet/total_is_survivors_rate" test "$(jq -r '(.episodes_per_min_total - ([.producing[].episodes_per_min] | add)) | fabs < 0.01' <<<"$host")" = true
check "fleet/workers_view_adds_up" test "$(jq -r '(.episodes_per_min_total - ([.workers[].episodes_per_min] | add)) | fabs < 0.01' <<<"$workers")" = true
check "fleet/dead_contribute_nothing" test "$(jq -r '[.workers[] | select(.state != "working") | .episodes_per_min] | all(. == 0)' <<<"$workers")" = true
check "fleet/survivor_rate_plausible" test "$(jq -r '.producing | all(.episodes_per_min > 200 and .episodes_per_min < 330)' <<<"$host")" = true
check "fleet/host_red_names_five" test "$(jq -r '[.reasons[] | select(test("^worker actor-(1|2|3|4|10|11) "))] | length' <<<"$host")" = 5
check "fleet/clean_stop_listed_apart" test "$(jq -c .stopped <<<"$host")" = '["actor-4"]'
kill -CONT "$actor3"
