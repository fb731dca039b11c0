#!/usr/bin/env bash
# End to end, issue "core": the real daemon, real processes, the HTTP API, the CLI.
source "$(dirname "$0")/lib.sh"

# --- start-up errors: one line on stderr, exit 1
out=$("$BUILD/liveprobed" --bogus 2>&1); rc=$?
check "cli/bad_flag_exits_1_with_one_line" test "$rc" = 1 -a "$(printf '%s\n' "$out" | wc -l)" = 1
out=$("$BUILD/liveprobed" --listen nowhere 2>&1); rc=$?
check "cli/bad_listen_value" test "$rc" = 1 -a "$(printf '%s\n' "$out" | wc -l)" = 1
"$BUILD/liveprobed" --help | grep -q "^Usage: liveprobed"
check "cli/help" test $? = 0
python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)' >"$TEST_TMP/busy" &
PIDS_TO_KILL+=("$!")
for _ in $(seq 50); do [ -s "$TEST_TMP/busy" ] && break; sleep 0.05; done
busy_port=$(cat "$TEST_TMP/busy")
out=$("$BUILD/liveprobed" --listen "127.0.0.1:$busy_port" --pin-root /sys/fs/bpf/liveprobe-e2e-busy-$$ 2>&1); rc=$?
check "cli/occupied_port" test "$rc" = 1 -a "$(printf '%s\n' "$out" | wc -l)" = 1
check "cli/occupied_port_message" grep -q "Address already in use" <<<"$out"
out=$("$BUILD/liveprobed" --watch-pid 4194000 --pin-root /sys/fs/bpf/liveprobe-e2e-dead-$$ --listen 127.0.0.1:$(free_port) 2>&1); rc=$?
check "cli/watch_pid_missing_process" test "$rc" = 1 -a "$(printf '%s\n' "$out" | wc -l)" = 1

# --- a daemon with a flag-registered worker
spawn_sleeper early
start_daemon A --watch-pid "$early" || { echo "FAIL: e2e/daemon_start"; exit 1; }
check "api/healthz_ok" test "$(status_of GET "$A/healthz")" = 200
# Not instrumented: judged by the kernel alone, running (green) while its process lives.
check "api/watch_pid_default_name" wait_state "$A" "sleep-$early" running
check "api/running_is_green" test "$(curl -s "$A/api/v1/workers/sleep-$early" | jq -r .health)" = green
check "api/host_green_on_the_kernels_word" test "$(curl -s "$A/api/v1/host" | jq -r .health)" = green

# --- registration over HTTP
spawn_sleeper w1
check "api/post_201" test "$(status_of POST "$A/api/v1/workers" "{\"name\":\"w1\",\"pid\":$w1}")" = 201
check "api/post_duplicate_409" test "$(status_of POST "$A/api/v1/workers" "{\"name\":\"w1\",\"pid\":$early}")" = 409
check "api/post_bad_json_400" test "$(status_of POST "$A/api/v1/workers" '{"name":')" = 400
check "api/post_missing_pid_400" test "$(status_of POST "$A/api/v1/workers" '{"name":"x"}')" = 400
check "api/post_bad_name_400" test "$(status_of POST "$A/api/v1/workers" "{\"name\":\"a b\",\"pid\":$w1}")" = 400
body=$(curl -s -X POST "$A/api/v1/workers" -d '{"name":"ghost","pid":4194000}')
check "api/post_missing_process_400" grep -q "no process with pid 4194000" <<<"$body"
spawn_sleeper wx
check "api/post_unknown_fields_ignored" test "$(status_of POST "$A/api/v1/workers" "{\"name\":\"wx\",\"pid\":$wx,\"future\":{\"a\":1}}")" = 201
check "api/post_same_process_twice_409" test "$(status_of POST "$A/api/v1/workers" "{\"name\":\"w1b\",\"pid\":$w1}")" = 409
big=$(head -c 70000 /dev/zero | tr '\0' a)
check "api/post_body_limit_413" test "$(status_of POST "$A/api/v1/workers" "{\"name\":\"$big\"}")" = 413
check "api/unknown_worker_404" test "$(status_of GET "$A/api/v1/workers/nope")" = 404
check "api/unknown_path_404_json" test "$(curl -s "$A/nope" | jq -r .error)" = "no such path"
check "api/wrong_method_405" test "$(status_of PUT "$A/api/v1/host")" = 405

# --- deaths, seen by the kernel
kill -9 "$w1"
check "api/sigkill_killed" wait_state "$A" w1 killed
w=$(curl -s "$A/api/v1/workers/w1")
check "api/killer_pid_recorded" test "$(jq -r .exit.killer_pid <<<"$w")" = "$$"
check "api/exit_signal_name" test "$(jq -r .exit.signal_name <<<"$w")" = SIGKILL
check "api/killed_is_red" test "$(jq -r .health <<<"$w")" = red
check "api/host_red_names_worker" grep -q "worker w1 killed" <<<"$(curl -s "$A/api/v1/host" | jq -r '.reasons[]')"
check "api/host_counts_states" test "$(curl -s "$A/api/v1/host" | jq -r .states.killed)" = 1

( sleep 0.2; exit 3 ) &
c3=$!
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"c3\",\"pid\":$c3}" >/dev/null
check "api/exit_code_crashed" wait_state "$A" c3 crashed
check "api/exit_code_value" test "$(curl -s "$A/api/v1/workers/c3" | jq -r .exit.code)" = 3

# A SIGTERM it handled, then exit 0: its sender is recorded, and is no killer.
# It says when its trap is set; a SIGTERM before that would kill it outright.
bash -c 'trap "exit 0" TERM; : >"$0"; while :; do sleep 0.05; done' "$TEST_TMP/ht.ready" &
ht=$!
PIDS_TO_KILL+=("$ht")
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"ht\",\"pid\":$ht}" >/dev/null
wait_until 5 test -e "$TEST_TMP/ht.ready"
kill -TERM "$ht"
check "api/handled_sigterm_exited" wait_state "$A" ht exited
w=$(curl -s "$A/api/v1/workers/ht")
check "api/handled_sigterm_no_killer" test "$(jq -c '[.exit.code, .exit.killer_pid, .exit.sent_signal, .exit.sent_by_pid]' <<<"$w")" = "[0,null,15,$$]"
check "cli/status_shows_signal_sent" grep -q "last fatal signal sent: 15, by .*\[$$\]" <<<"$("$BUILD/liveprobe" --url "$A" status ht)"

# --- logs: at the default level a crash is one line, words then a key=value tail; no libbpf
A_LOG=$TEST_TMP/e2e-$$-${A##*:}.log
check "log/crash_line_at_default_level" grep -q '^liveprobed: worker c3 running -> crashed: exit code 3 | event=transition worker=c3 from=running to=crashed reason="exit code 3"$' "$A_LOG"
check "log/no_libbpf_lines_by_default" test "$(grep -c 'libbpf' "$A_LOG")" = 0

# --- reads that scale: filters, and 304 for a poller that has the current body
check "api/filter_state" test "$(curl -s "$A/api/v1/workers?state=crashed" | jq -c '[.workers[].name]')" = '["c3"]'
check "api/filter_health" test "$(curl -s "$A/api/v1/workers?health=red" | jq -r '[.workers[].health] | unique | join(",")')" = red
limited=$(curl -s "$A/api/v1/workers?limit=1")
check "api/filter_limit" test "$(jq -c '[(.workers | length), .workers_matched >= 2, .workers_total >= 2]' <<<"$limited")" = '[1,true,true]'
check "api/filter_totals_add_up" test "$(jq -r '(.episodes_per_min_total - ([.workers[].episodes_per_min // 0] | add // 0)) | fabs < 0.01' <<<"$limited")" = true
check "api/filter_bad_400" test "$(status_of GET "$A/api/v1/workers?state=sleepy")" = 400
etag=$(curl -s -D - -o /dev/null "$A/api/v1/workers" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}')
check "api/etag_given" test -n "$etag"
check "api/etag_304" test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$A/api/v1/workers")" = 304
check "api/etag_stale_200" test "$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "lp-0-0"' "$A/api/v1/workers")" = 200

# --- CLI
"$BUILD/liveprobe" --url "$A" status >/dev/null; rc=$?
check "cli/status_red_exit_2" test "$rc" = 2
check "cli/status_json" test "$("$BUILD/liveprobe" --url "$A" status --json | jq -r .host.health)" = red
check "cli/status_plain_when_piped" bash -c "! '$BUILD/liveprobe' --url '$A' status | grep -q $'\033'"
spawn_sleeper w2
out=$("$BUILD/liveprobe" --url "$A" watch --pid "$w2" --name w2); rc=$?
check "cli/watch" test "$rc" = 0
check "cli/watch_says_so" test "$out" = "watching w2 (pid $w2)"
out=$("$BUILD/liveprobe" --url "$A" forget w1); rc=$?
check "cli/forget" test "$rc" = 0 -a "$out" = "forgot w1"
# exit codes, as sysexits where they apply: one per outcome
cli() { "$BUILD/liveprobe" "$@" >/dev/null 2>&1; echo $?; }
check "cli/exit_no_such_worker_4" test "$(cli --url "$A" forget w1)" = 4
check "cli/exit_status_name_missing_4" test "$(cli --url "$A" status no-such)" = 4
check "cli/exit_status_name_red_2" test "$(cli --url "$A" status c3)" = 2
check "cli/exit_status_name_green_0" test "$(cli --url "$A" status w2)" = 0
spawn_sleeper amber
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"amber\",\"pid\":$amber,\"expects_output\":true}" >/dev/null
check "cli/exit_status_name_amber_1" test "$(cli --url "$A" status amber)" = 1
curl -s -X DELETE "$A/api/v1/workers/amber" >/dev/null
check "cli/exit_unreachable_3" test "$(cli --url http://127.0.0.1:1 status)" = 3
check "cli/exit_usage_64" test "$(cli --url "$A" frobnicate)" = 64
check "cli/exit_bad_option_64" test "$(cli --url "$A" status --bogus)" = 64
check "cli/exit_watch_no_pid_64" test "$(cli --url "$A" watch --name x)" = 64
check "cli/version" bash -c "'$BUILD/liveprobe' --version | grep -q '^liveprobe [0-9]' && '$BUILD/liveprobed' --version | grep -q '^liveprobed [0-9]'"
check "cli/short_help_both" bash -c "'$BUILD/liveprobe' -h | grep -q Usage && '$BUILD/liveprobed' -h | grep -q Usage"
check "cli/watch_json" test "$("$BUILD/liveprobe" --url "$A" forget w2 --json | jq -r .forgotten)" = true
curl -s -X POST "$A/api/v1/workers" -d "{\"name\":\"w2\",\"pid\":$w2}" >/dev/null
check "cli/env_url" bash -c "LIVEPROBE_URL='$A' '$BUILD/liveprobe' status w2 | grep -q '^w2: green, running'"
table=$("$BUILD/liveprobe" --url "$A" status)
check "cli/sorted_by_severity" test "$(awk '/^WORKER/ {on=1; next} on {print $4}' <<<"$table" | uniq | tr '\n' ' ')" = "red green "
check "cli/ages_human" grep -Eq ' [0-9]+(ms|s|m[0-9]{2}s) ' <<<"$(grep '^w2 ' <<<"$table")"
check "cli/no_colour_with_NO_COLOR" bash -c "! NO_COLOR=1 script -qc \"'$BUILD/liveprobe' --url '$A' status\" /dev/null | grep -q $'\033\\[3'"
check "cli/colour_on_a_terminal" bash -c "script -qc \"'$BUILD/liveprobe' --url '$A' status\" /dev/null | grep -q $'\033\\[3'"
redraws=$(timeout 1.8 script -qfc "'$BUILD/liveprobe' --url '$A' status --watch 0.5" /dev/null 2>/dev/null | grep -o $'\033\\[2J' | wc -l)
check "cli/status_watch_redraws_in_place" test "$redraws" -ge 2
check "api/forgotten_404" test "$(status_of GET "$A/api/v1/workers/w1")" = 404
check "api/delete_unknown_404" test "$(status_of DELETE "$A/api/v1/workers/w1")" = 404

# --- bpftool sees the watched worker in the pinned map, by name; --dump-maps without bpftool
check "bpftool/pinned_map_names_worker" bash -c "bpftool map dump pinned '$A_PIN/lp_procs' | grep -q '\"w2\"'"
dump=$("$BUILD/liveprobed" --dump-maps --pin-root "$A_PIN")
check "dump/names_counters" grep -Eq '^  exits_watched +[1-9]' <<<"$dump"
check "dump/lists_live_worker" grep -Eq "^  $w2 +w2 +comm=sleep +\[alive\]" <<<"$dump"
entries=$(sed -n 's/^  (\([0-9]*\) entries)$/\1/p' <<<"$dump" | head -1)
check "dump/pidmask_counts_every_entry" grep -q "^  $entries tgids counted (sum $entries)" <<<"$dump"
check "dump/nothing_pinned_one_line" test "$("$BUILD/liveprobed" --dump-maps --pin-root /sys/fs/bpf/none-$$ 2>&1 | wc -l)" = 1

# --- journald: stderr named by JOURNAL_STREAM gets sd-daemon <N> priorities instead of the name
journal=$TEST_TMP/journal.log
: >"$journal"
jport=$(free_port)
JOURNAL_STREAM=$(stat -c '%d:%i' "$journal") "$BUILD/liveprobed" --listen "127.0.0.1:$jport" \
	--pin-root "/sys/fs/bpf/liveprobe-e2e-$$-journal" --ingest "$TEST_TMP/journal.sock" \
	--api-socket "$TEST_TMP/journal.api" --state-dir "$TEST_TMP/journal-state" \
	--watch-port 1 2>>"$journal" &
JPID=$!
PIDS_TO_KILL+=("$JPID")
wait_until 10 curl -fs "http://127.0.0.1:$jport/healthz" -o /dev/null
kill -TERM "$JPID"; wait "$JPID"
check "log/journal_priorities" grep -q '^<6>stopped; the probe keeps recording' "$journal"
check "log/journal_no_name_prefix" test "$(grep -c '^liveprobed:' "$journal")" = 0
"$BUILD/liveprobed" --unload --pin-root "/sys/fs/bpf/liveprobe-e2e-$$-journal" >/dev/null
out=$("$BUILD/liveprobed" --log-level loud 2>&1); rc=$?
check "log/bad_level_one_line" test "$rc" = 1 -a "$(wc -l <<<"$out")" = 1

# --- a second daemon side by side sees the same death on its own
start_daemon B || { echo "FAIL: e2e/second_daemon_start"; exit 1; }
curl -s -X POST "$B/api/v1/workers" -d "{\"name\":\"shared\",\"pid\":$w2}" >/dev/null
kill -SEGV "$w2"
check "api/two_daemons_a_sees" wait_state "$A" w2 crashed
check "api/two_daemons_b_sees" wait_state "$B" shared crashed

"$BUILD/liveprobe" --url "$B" status >/dev/null; rc=$?
check "cli/status_red_second" test "$rc" = 2
kill -TERM "$A_PID"; wait "$A_PID"; rc=$?
check "daemon/sigterm_clean_exit" test "$rc" = 0
check "daemon/keeps_pins_on_exit" test -e "$A_PIN/lp_procs" -a -n "$(ls "$A_PIN" | grep "^link_lp_proc_exit")"
link_id=$(bpftool -j link show pinned "$A_PIN/$(ls "$A_PIN" | grep "^link_lp_proc_exit" | head -1)" | jq -r .id)
out=$("$BUILD/liveprobed" --unload --pin-root "$A_PIN")
check "daemon/unload_says_so" grep -q "nothing of liveprobe stays attached" <<<"$out"
check "daemon/unload_removes_pins" test ! -e "$A_PIN"
check "daemon/unload_detaches" test -z "$(bpftool link show id "$link_id" 2>/dev/null)"
