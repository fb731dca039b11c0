#!/usr/bin/env bash
# End to end, issue "dead sockets": a real daemon watching ports, peers in network namespaces
# joined by veth pairs (pretend remote hosts), deaths made by kill, SO_LINGER 0, nftables and a
# downed link. Addresses exist only inside the namespaces made here and on loopback.
source "$(dirname "$0")/lib.sh"

make_peer_host H || { echo "FAIL: sockets/make_peer_host"; exit 1; }
# H: peer host with clients of our servers; its address is $H_IP, ours on that link $H_LOCAL_IP.
quiet_port=$(free_port)
busy_port=$(free_port)
out_port=$(free_port)
v6_port=$(free_port)

start_daemon A --watch-port "$quiet_port" --watch-port "$busy_port" --watch-port "$out_port" \
	--watch-port "$v6_port" || { echo "FAIL: sockets/daemon_start"; exit 1; }
W="$A/api/v1/workers"

out=$("$BUILD/liveprobed" --keepalive 1,1 --watch-port 1 2>&1); rc=$?
check "cli/keepalive_needs_three_values" test "$rc" = 1 -a "$(printf '%s\n' "$out" | wc -l)" = 1
out=$("$BUILD/liveprobed" --keepalive 1,1,3 2>&1); rc=$?
check "cli/keepalive_needs_watch_port" grep -q "add --watch-port" <<<"$out"
out=$("$BUILD/liveprobed" --watch-port 70000 2>&1); rc=$?
check "cli/watch_port_range" test "$rc" = 1

# --- a remote actor connects to our server; the connection is a connection-only worker
tcp_peer quiet "" server "$H_LOCAL_IP" "$quiet_port"
tcp_peer c1 "$H" client "$H_LOCAL_IP" "$quiet_port"
c1_name="$H_IP:$c1_PORT"
check "sockets/peer_worker_appears" wait_jq "$W/$c1_name" .state running
w=$(curl -s "$W/$c1_name")
check "sockets/peer_worker_origin" test "$(jq -r .origin <<<"$w")" = peer
check "sockets/connection_listed" test "$(jq -r '.connections[0].state' <<<"$w")" = ESTABLISHED
check "sockets/connection_local" test "$(jq -r '.connections[0].local' <<<"$w")" = "$H_LOCAL_IP:$quiet_port"
check "sockets/connection_peer" test "$(jq -r '.connections[0].peer' <<<"$w")" = "$c1_name"
check "sockets/bpftool_prints_state_names" bash -c "bpftool map dump pinned '$A_PIN/lp_conns' | grep -q '\"state\": \"LP_TCP_ESTABLISHED\"'"
check "sockets/connection_alive_reason_null" test "$(jq -r '.connections[0].reason' <<<"$w")" = null
check "sockets/silence_figure" wait_jq "$W/$c1_name" '.connections[0].last_data_recv_age_s >= 0' true

# --- peer process crash: FIN from its kernel
kill -9 "$c1_PID"
check "sockets/peer_sigkill_disconnected" wait_jq "$W/$c1_name" .state disconnected 2
check "sockets/peer_sigkill_peer_closed" test "$(curl -s "$W/$c1_name" | jq -r '.connections[0].reason')" = peer_closed
check "sockets/disconnected_is_red" test "$(curl -s "$W/$c1_name" | jq -r .health)" = red
check "sockets/cli_status_shows_connections" bash -c "'$BUILD/liveprobe' --url '$A' status | grep -F '$c1_name' | grep -q ' 0/1 '"
check "sockets/host_names_disconnected" grep -q "worker $c1_name disconnected" <<<"$(curl -s "$A/api/v1/host" | jq -r '.reasons[]')"

# --- peer resets (SO_LINGER 0)
tcp_peer c2 "$H" client "$H_LOCAL_IP" "$quiet_port" --linger0
c2_name="$H_IP:$c2_PORT"
wait_jq "$W/$c2_name" .state running >/dev/null
kill -TERM "$c2_PID"
check "sockets/peer_rst_reset_received" wait_jq "$W/$c2_name" '.connections[0].reason' reset_received 2
check "sockets/peer_rst_disconnected" test "$(curl -s "$W/$c2_name" | jq -r .state)" = disconnected

# --- peer host goes silent while our server sends: suspect, then recovery
tcp_peer busy "" server "$H_LOCAL_IP" "$busy_port" --send-interval 0.2
tcp_peer c3 "$H" client "$H_LOCAL_IP" "$busy_port"
c3_name="$H_IP:$c3_PORT"
wait_jq "$W/$c3_name" .state running >/dev/null
ip netns exec "$H" nft -f - <<'EOF'
table inet lp_silence {
	chain input { type filter hook input priority 0; policy drop; }
}
EOF
check "sockets/silent_host_suspect" wait_jq "$W/$c3_name" .state suspect 4
w=$(curl -s "$W/$c3_name")
check "sockets/suspect_is_amber" test "$(jq -r .health <<<"$w")" = amber
check "sockets/suspect_connection_flagged" test "$(jq -r '.connections[0].suspect' <<<"$w")" = true
check "sockets/suspect_retransmits_counted" test "$(jq -r '.connections[0].retransmits >= 1' <<<"$w")" = true
check "sockets/host_names_suspect" grep -q "worker $c3_name suspect" <<<"$(curl -s "$A/api/v1/host" | jq -r '.reasons[]')"
check "sockets/silence_grows" wait_jq "$W/$c3_name" '.connections[0].last_data_recv_age_s > 1.5' true 4
ip netns exec "$H" nft delete table inet lp_silence
check "sockets/suspect_recovers" wait_jq "$W/$c3_name" .state running 10

# --- the link to the peer host is cut: suspect, not dead, without --keepalive
ip -n "$H" link set "$H_LINK" down
check "sockets/link_cut_suspect" wait_jq "$W/$c3_name" .state suspect 4
ip -n "$H" link set "$H_LINK" up

# --- a worker here connecting out: the remote port is watched
tcp_peer remote "$H" server "$H_IP" "$out_port"
tcp_peer actor "" client "$H_IP" "$out_port"
check "sockets/outgoing_tracked" wait_jq "$W/$H_IP:$out_port" '.connections[0].local' "$H_LOCAL_IP:$actor_PORT"
# Registered after connecting: the socket's inode in /proc/PID/fd ties it to the process.
curl -s -X POST "$W" -d "{\"name\":\"actor\",\"pid\":$actor_PID}" >/dev/null
check "sockets/connection_moves_to_process" wait_jq "$W/actor" '.connections | length' 1 3
check "sockets/placeholder_removed" test "$(status_of GET "$W/$H_IP:$out_port")" = 404
kill -9 "$remote_PID"
check "sockets/process_alive_connections_dead" wait_jq "$W/actor" .state disconnected 2
w=$(curl -s "$W/actor")
check "sockets/both_facts_shown" grep -q "process $actor_PID alive" <<<"$(jq -r .reason <<<"$w")"
check "sockets/outgoing_peer_closed" test "$(jq -r '.connections[0].reason' <<<"$w")" = peer_closed

# --- IPv6, and IPv4-mapped addresses on an AF_INET6 socket
tcp_peer v6 "" server "::" "$v6_port"
tcp_peer m1 "" client "::ffff:127.0.0.1" "$v6_port"
check "sockets/v4_mapped_normalised" wait_jq "$W/127.0.0.1:$m1_PORT" '.connections[0].peer' "127.0.0.1:$m1_PORT"
tcp_peer s6 "" client "::1" "$v6_port"
check "sockets/ipv6_named" wait_jq "$W/%5B::1%5D:$s6_PORT" '.connections[0].local' "[::1]:$v6_port"

# --- forget a disconnected worker: it stays gone
check "sockets/forget_disconnected" test "$(status_of DELETE "$W/$c1_name")" = 200
sleep 1.2
check "sockets/forgotten_stays_gone" test "$(status_of GET "$W/$c1_name")" = 404

# --- kernel-enforced keepalive; and connections older than the daemon
make_peer_host K || { echo "FAIL: sockets/make_peer_host_k"; exit 1; }
ka_port=$(free_port)
old_port=$(free_port)
tcp_peer old_server "" server "$K_LOCAL_IP" "$old_port"
tcp_peer old "$K" client "$K_LOCAL_IP" "$old_port"
# Older than the daemon too, and it will time out with data unacknowledged: the kernel's record
# of it is first made by a retransmission, and its close must still be named by its cause.
old2_port=$(free_port)
tcp_peer old2_server "" server "$K_LOCAL_IP" "$old2_port" --send-interval 0.1 --user-timeout-ms 1500
tcp_peer old2 "$K" client "$K_LOCAL_IP" "$old2_port"
start_daemon B --keepalive 1,1,3 --watch-port "$ka_port" --watch-port "$old_port" --watch-port "$old2_port" \
	--group-by-peer-ip || { echo "FAIL: sockets/daemon_b_start"; exit 1; }
check "sockets/preexisting_found" wait_jq "$B/api/v1/workers/$K_IP" '.connections[0].state' ESTABLISHED 3
check "sockets/group_by_peer_ip" test "$(curl -s "$B/api/v1/workers/$K_IP" | jq -r '[.connections[].peer] | index("'"$K_IP:$old_PORT"'") != null')" = true

tcp_peer ka_server "" server "$K_LOCAL_IP" "$ka_port"
tcp_peer ka "$K" client "$K_LOCAL_IP" "$ka_port"
check "sockets/keepalive_applied" wait_jq "$B/api/v1/host" '.probe.keepalive_set_total >= 1' true 3
check "sockets/keepalive_timer_visible" bash -c "ss -tno state established '( sport = :$ka_port )' | grep -q keepalive"
kill -9 "$old_PID"
check "sockets/preexisting_death_seen" wait_jq "$B/api/v1/workers/$K_IP" '[.connections[] | select(.peer == "'"$K_IP:$old_PORT"'") | .reason][0]' peer_closed 2
ip netns exec "$K" nft -f - <<'EOF'
table inet lp_silence {
	chain input { type filter hook input priority 0; policy drop; }
}
EOF
check "sockets/preexisting_timeout_named" wait_jq "$B/api/v1/workers/$K_IP" \
	'[.connections[] | select(.peer == "'"$K_IP:$old2_PORT"'") | .reason][0]' timeout 4
start=$SECONDS
check "sockets/keepalive_silent_host_timeout" wait_jq "$B/api/v1/workers/$K_IP" \
	'[.connections[] | select(.peer == "'"$K_IP:$ka_PORT"'") | .reason][0]' timeout 9
echo "    silent host declared dead after $((SECONDS - start)) s with --keepalive 1,1,3"
check "sockets/keepalive_worker_disconnected" test "$(curl -s "$B/api/v1/workers/$K_IP" | jq -r .state)" = disconnected
check "sockets/timeout_error_named" test "$(curl -s "$B/api/v1/workers/$K_IP" | jq -r '[.connections[] | select(.reason == "timeout") | .error][0]')" = ETIMEDOUT
