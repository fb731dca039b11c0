#!/usr/bin/env bash
# A real Prometheus server (Debian's prometheus) on loopback scrapes two liveprobe daemons, two
# pretend hosts, with the project's alert rules loaded; a worker crashes on one of them, and a
# PromQL query names it, with the right instance.
source "$(dirname "$0")/../e2e/lib.sh"

start_daemon A || { echo "FAIL: scrape/daemon_a"; exit 1; }
start_daemon B || { echo "FAIL: scrape/daemon_b"; exit 1; }
spawn_sleeper a1
spawn_sleeper b1
curl -s -X POST "$A/api/v1/episodes" -d "[{\"worker\":\"alpha\",\"pid\":$a1}]" >/dev/null
curl -s -X POST "$B/api/v1/episodes" -d "[{\"worker\":\"beta\",\"pid\":$b1}]" >/dev/null

start_prometheus liveprobe "$ROOT/scripts/prometheus/liveprobe.rules.yml"
query() { curl -s --get "$PROM/api/v1/query" --data-urlencode "query=$1"; }
for _ in $(seq 150); do
	[ "$(query 'count(up{job="liveprobe"} == 1)' | jq -r '.data.result[0].value[1]' 2>/dev/null)" = 2 ] && break
	sleep 0.1
done
check "scrape/both_hosts_up" test "$(query 'count(up{job="liveprobe"} == 1)' | jq -r '.data.result[0].value[1]')" = 2

kill -SEGV "$b1"
wait_state "$B" beta crashed
for _ in $(seq 100); do
	result=$(query 'liveprobe_worker_state{state="crashed"} == 1')
	[ "$(jq -r '.data.result | length' <<<"$result")" = 1 ] && break
	sleep 0.1
done
check "scrape/promql_finds_the_crashed_worker" test "$(jq -r '.data.result[0].metric.worker' <<<"$result")" = beta
check "scrape/on_the_right_host" test "$(jq -r '.data.result[0].metric.instance' <<<"$result")" = "${B#http://}"
check "scrape/other_host_unaffected" test "$(query 'liveprobe_worker_state{worker="alpha",state="crashed"}' | jq -r '.data.result[0].value[1]')" = 0
check "scrape/rules_loaded" test "$(curl -s "$PROM/api/v1/rules" | jq '[.data.groups[].rules[]] | length')" -ge 7
