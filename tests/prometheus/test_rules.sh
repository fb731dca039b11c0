#!/usr/bin/env bash
# The Prometheus side: promtool checks the alert rules and runs their unit tests, and checks
# the exposition of a real daemon's /metrics, with workers in several states.
source "$(dirname "$0")/../e2e/lib.sh"
RULES=$ROOT/scripts/prometheus

check "prometheus/rules_check" promtool check rules "$RULES/liveprobe.rules.yml"
check "prometheus/rules_unit_tests" promtool test rules "$RULES/liveprobe.rules.test.yml"
check "prometheus/example_config_check" promtool check config --syntax-only "$RULES/prometheus.yml"

port=$(free_port)
start_daemon A --watch-port "$port" --expected-workers 3 --bpf-stats || { echo "FAIL: prometheus/daemon_start"; exit 1; }
spawn_sleeper s1
spawn_sleeper s2
curl -s -X POST "$A/api/v1/episodes" -d "[{\"worker\":\"good\",\"pid\":$s1},{\"worker\":\"doomed\",\"pid\":$s2},{\"worker\":\"bad name\"}]" >/dev/null
kill -9 "$s2"
wait_state "$A" doomed killed
sleep 1.2 # one reconciliation: program statistics are read then
curl -s "$A/metrics" >"$TEST_TMP/metrics.txt"
metrics=$(cat "$TEST_TMP/metrics.txt")
promtool check metrics <"$TEST_TMP/metrics.txt" >"$TEST_TMP/lint.txt" 2>&1
check "prometheus/metrics_promtool_check" test $? = 0
[ -s "$TEST_TMP/lint.txt" ] && sed 's/^/    /' "$TEST_TMP/lint.txt" >&2
check "prometheus/content_type" bash -c "curl -sI '$A/metrics' | grep -qi 'content-type: text/plain; version=0.0.4'"
check "prometheus/worker_state_series" grep -q '^liveprobe_worker_state{worker="doomed",state="killed"} 1$' <<<"$metrics"
check "prometheus/one_series_per_state" test "$(grep -c '^liveprobe_worker_state{worker="good",' <<<"$metrics")" = "$(curl -s "$A/api/v1/host" | jq '.states | length')"
check "prometheus/exits_by_class" grep -q '^liveprobe_exits_total{class="killed"} 1$' <<<"$metrics"
check "prometheus/ingest_drops_by_reason" grep -q '^liveprobe_ingest_dropped_total{reason="bad_worker"} 1$' <<<"$metrics"
check "prometheus/expected_workers" grep -q '^liveprobe_workers_expected 3$' <<<"$metrics"
check "prometheus/bpf_prog_cost" grep -Eq '^liveprobe_bpf_prog_runs_total\{prog="lp_proc_exit"\} [1-9]' <<<"$metrics"
check "prometheus/bpf_recursion_misses" grep -Eq '^liveprobe_bpf_prog_recursion_misses_total\{prog="lp_proc_exit"\} [0-9]+$' <<<"$metrics"
check "prometheus/tcp_states_rescued" grep -q '^liveprobe_tcp_state_changes_rescued_total 0$' <<<"$metrics"
check "prometheus/bpf_stats_enabled" grep -q '^liveprobe_bpf_stats_enabled 1$' <<<"$metrics"
check "prometheus/kernel_events_by_kind" grep -Eq '^liveprobe_kernel_events_total\{kind="process_exit"\} [1-9]' <<<"$metrics"
