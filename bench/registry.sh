#!/usr/bin/env bash
# Service-registry benchmarks: discovery query QPS and heartbeat throughput side by side with
# r-nacos, register → watcher notified latency (keel), and 100 000 instances held with 5 s
# heartbeats (RSS). Prints a markdown report for docs/benchmarks.md.
#
#   bench/registry.sh                                  # keel only
#   RNACOS_BIN=/path/to/rnacos bench/registry.sh       # and r-nacos side by side
#
# RNACOS_BIN is a release build of r-nacos (github.com/nacos-group/r-nacos) made outside this
# repository; this script neither downloads nor builds it. Knobs (environment):
# SECONDS_PER_RUN (10), CONNECTIONS (50), ROUNDS (2: keel, r-nacos, keel, r-nacos),
# LIST_INSTANCES (10), BEAT_INSTANCES (10000), WATCHERS ("100 1000"), NOTIFY_ROUNDS (20),
# HOLD_COUNT (100000), HOLD_SERVICES (100), HOLD_SECONDS (30), HOLD_INTERVAL (5s),
# HOLD_RNACOS (1: hold on r-nacos too), CEILING_RPS (unset: with it, the query, heartbeat and
# registration tables get a "ceiling fraction" column), RESULTS_OUT (unset: a file to copy the
# raw JSON lines of the runs to). bench/run.sh sets both.
#
# Everything runs on loopback; the servers are started here, on free ports with temporary data
# directories, and only they are stopped (by pid). Every load run is bounded in time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-2}
LIST_INSTANCES=${LIST_INSTANCES:-10}
BEAT_INSTANCES=${BEAT_INSTANCES:-10000}
WATCHERS=${WATCHERS:-100 1000}
NOTIFY_ROUNDS=${NOTIFY_ROUNDS:-20}
HOLD_COUNT=${HOLD_COUNT:-100000}
HOLD_SERVICES=${HOLD_SERVICES:-100}
HOLD_SECONDS=${HOLD_SECONDS:-30}
HOLD_INTERVAL=${HOLD_INTERVAL:-5s}
HOLD_RNACOS=${HOLD_RNACOS:-1}
RNACOS_BIN=${RNACOS_BIN:-}

ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet -p keel -p keel-bench
bin=$root/target/release

work_prefix=keel-registry-bench
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

stop() { # pid: stop one server this script started
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
results=$work/results.jsonl
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
reg() { "$bin/registry" "$@"; }

cat >"$work/keel.toml" <<TOML
log_level = "warn"
[ratelimit]
rate = 1000000000
burst = 1000000000
TOML
start_keel() { # name: sets kpid, keel
    local port
    port=$(free_port)
    "$bin/keel" serve --listen "127.0.0.1:$port" --data-dir "$work/$1" \
        --config "$work/keel.toml" >"$work/$1.log" 2>&1 &
    kpid=$!
    pids+=("$kpid")
    keel=http://127.0.0.1:$port
    wait_http "$keel/health"
    sleep 1
}

# r-nacos on fresh ports and a fresh data dir; only loopback; a missing --env-file so no
# stray .env is read. Sets npid, nacos.
start_rnacos() { # name
    local nport gport cport
    nport=$(free_port) gport=$(free_port) cport=$(free_port)
    mkdir -p "$work/$1"
    (cd "$work/$1" && exec env RNACOS_HTTP_PORT="$nport" RNACOS_GRPC_PORT="$gport" \
        RNACOS_HTTP_CONSOLE_PORT="$cport" RNACOS_SDK_HOST=127.0.0.1 RNACOS_CONSOLE_HOST=127.0.0.1 \
        RNACOS_RAFT_NODE_ADDR="127.0.0.1:$gport" RNACOS_DATA_DIR="$work/$1/data" \
        RUST_LOG=warn "$RNACOS_BIN" --env-file "$work/$1/none.env" >"$work/$1.log" 2>&1) &
    npid=$!
    pids+=("$npid")
    nacos=http://127.0.0.1:$nport
    wait_http "$nacos/nacos/v1/ns/instance/list?serviceName=none"
}
# A registration must show up in the list (retried for 30 s after start-up).
rnacos_works() {
    local hosts
    for _ in $(seq 300); do
        if [[ $(curl -s -XPOST "$nacos/nacos/v1/ns/instance" -d serviceName=probe \
            -d ip=10.255.255.1 -d port=8080 -d ephemeral=true 2>/dev/null) == ok ]]; then
            hosts=$(curl -s "$nacos/nacos/v1/ns/instance/list?serviceName=probe" | jq '.hosts | length' 2>/dev/null || echo 0)
            ((hosts == 1)) && return 0
        fi
        sleep 0.1
    done
    return 1
}
start_rnacos_checked() { # name
    start_rnacos "$1"
    if ! rnacos_works; then
        echo "r-nacos ($1): register-then-list failed; restarting on a new data dir" >&2
        stop "$npid"
        start_rnacos "$1-retry"
        rnacos_works || { echo "r-nacos: register-then-list still fails" >&2; exit 1; }
    fi
}

start_keel keel
keel_list="$keel/api/v1/services/list/instances"
if [[ -n $RNACOS_BIN ]]; then
    start_rnacos_checked rnacos
    nacos_list="$nacos/nacos/v1/ns/instance/list?serviceName=list"
    nacos_version=$("$RNACOS_BIN" --version 2>/dev/null | head -1 || true)
fi

# --- discovery QPS and heartbeats, the servers taking turns -----------------------------------
# List instances are registered again right before each list run, beat instances right before
# each beat run (ephemeral instances of both servers expire 30 s after their last heartbeat);
# a list that does not answer all LIST_INSTANCES instances stops the script.
declare -A list_bytes=()
list_run() { # api url list pid label
    local answer count
    reg register --api "$1" --url "$2" --count "$LIST_INSTANCES" --service list --connections 1 >/dev/null
    answer=$(curl -fsS "$3")
    count=$(jq '(.data.instances // .hosts) | length' <<<"$answer")
    if ((count != LIST_INSTANCES)); then
        echo "$5: the list answers $count instances, not $LIST_INSTANCES" >&2
        exit 1
    fi
    list_bytes[$1]=${#answer}
    "$bin/load" --url "$3" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" \
        --pid "$4" --label "$5" >>"$results"
}
beat_run() { # api url pid label
    local ids=$work/ids
    reg register --api "$1" --url "$2" --count "$BEAT_INSTANCES" --service beat \
        --connections "$CONNECTIONS" --ids-out "$ids" --label "$4" >>"$results"
    if [[ $1 == keel ]]; then
        reg beat --api keel --url "$2" --ids "$ids" --connections "$CONNECTIONS" \
            --seconds "$SECONDS_PER_RUN" --pid "$3" --label "$4" >>"$results"
    else
        reg beat --api nacos --url "$2" --count "$BEAT_INSTANCES" --service beat \
            --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" --pid "$3" --label "$4" >>"$results"
    fi
}
for round in $(seq "$ROUNDS"); do
    list_run keel "$keel" "$keel_list" "$kpid" "keel#$round"
    if [[ -n $RNACOS_BIN ]]; then list_run nacos "$nacos" "$nacos_list" "$npid" "r-nacos#$round"; fi
    beat_run keel "$keel" "$kpid" "keel#$round"
    if [[ -n $RNACOS_BIN ]]; then beat_run nacos "$nacos" "$npid" "r-nacos#$round"; fi
done

# --- register → watchers notified (keel) --------------------------------------------------------
for w in $WATCHERS; do
    reg notify --url "$keel" --service "notify-$w" --watchers "$w" --rounds "$NOTIFY_ROUNDS" \
        --label "keel" >>"$results"
done
stop "$kpid"
if [[ -n $RNACOS_BIN ]]; then stop "$npid"; fi

# --- 100 000 instances held, each in a fresh server --------------------------------------------
start_keel keel-hold
reg hold --api keel --url "$keel" --count "$HOLD_COUNT" --service hold --services "$HOLD_SERVICES" \
    --interval "$HOLD_INTERVAL" --seconds "$HOLD_SECONDS" --pid "$kpid" --label keel >>"$results"
stop "$kpid"
if [[ -n $RNACOS_BIN && $HOLD_RNACOS == 1 ]]; then
    start_rnacos_checked rnacos-hold
    reg hold --api nacos --url "$nacos" --count "$HOLD_COUNT" --service hold --services "$HOLD_SERVICES" \
        --interval "$HOLD_INTERVAL" --seconds "$HOLD_SECONDS" --connections 16 --pid "$npid" \
        --label r-nacos >>"$results"
    stop "$npid"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
# Median, min and max of field $f over the runs whose label starts with $who.
spread='def med: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def runs($who; $f): [.[] | select(has($f) and (has("target_beats_per_s") | not) and (.label | startswith($who))) | .[$f]];
    def line($who; $f): runs($who; $f) as $r | if ($r | length) == 0 then null
        else {med: ($r | med | round), min: ($r | min), max: ($r | max)} end;'
summary() { # field unit
    jq -rs --arg f "$1" --arg unit "$2" "$spread"'
        line("keel"; $f) as $k | line("r-nacos"; $f) as $n
        | "\nMedian (min–max): keel \($k.med) \($unit) (\($k.min)–\($k.max))"
          + (if $n == null then "" else ", r-nacos \($n.med) \($unit) (\($n.min)–\($n.max)): keel/r-nacos = **\(($k.med / $n.med * 100 | round) / 100)×**" end)' "$results"
}
if [[ -n ${RESULTS_OUT:-} ]]; then cp "$results" "$RESULTS_OUT"; fi
# With CEILING_RPS (bench/run.sh: the hello server's median req/s under the same load), every
# throughput table gets a "ceiling fraction" column: its figure / CEILING_RPS.
CEILING_RPS=${CEILING_RPS:-}
cf_head='' cf_rule=''
if [[ -n $CEILING_RPS ]]; then cf_head=' ceiling fraction |' cf_rule='---|'; fi
cf_jq='def cf($v): if $ceiling == "" then "" else " \(($v / ($ceiling | tonumber) * 100 | round) / 100) |" end;'
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
echo "Measured $(date +%Y-%m-%d) on $(nproc) cores ($cpu), $mem, Linux $(uname -r), $(rustc --version)," \
    "keel at $(git describe --always --dirty 2>/dev/null || echo '?')${RNACOS_BIN:+, r-nacos: ${nacos_version:-$(basename "$RNACOS_BIN")}}." \
    "Load average (1/5/15 min) before: $load_before, after: $load_after."
echo
echo "Command: \`${RNACOS_BIN:+RNACOS_BIN=… }bench/registry.sh\` (SECONDS_PER_RUN=$SECONDS_PER_RUN CONNECTIONS=$CONNECTIONS ROUNDS=$ROUNDS LIST_INSTANCES=$LIST_INSTANCES BEAT_INSTANCES=$BEAT_INSTANCES WATCHERS=\"$WATCHERS\" NOTIFY_ROUNDS=$NOTIFY_ROUNDS HOLD_COUNT=$HOLD_COUNT HOLD_SERVICES=$HOLD_SERVICES HOLD_SECONDS=$HOLD_SECONDS HOLD_INTERVAL=$HOLD_INTERVAL)"
echo
echo "**Discovery query**, one service of $LIST_INSTANCES instances, $CONNECTIONS keep-alive connections, ${SECONDS_PER_RUN}s per run, the servers taking turns (answer, checked before every run to hold all $LIST_INSTANCES instances: keel ${list_bytes[keel]} B, r-nacos ${list_bytes[nacos]:-–} B):"
echo
echo "| run | req/s | p50 ms | p99 ms | max ms | server CPU µs/request | errors | non-200 |$cf_head"
echo "|---|---|---|---|---|---|---|---|$cf_rule"
jq -r --arg ceiling "$CEILING_RPS" "$cf_jq"'select(.rps != null) | "| \(.label) | \(.rps) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.server_cpu_us_per_request * 10 | round / 10) | \(.errors) | \(.non_200) |\(cf(.rps))"' "$results"
summary rps req/s
echo
echo "**Heartbeats**, $BEAT_INSTANCES instances (keel: \`PUT /api/v1/instances/{id}/heartbeat\`; r-nacos: \`PUT /nacos/v1/ns/instance/beat\`), $CONNECTIONS connections each cycling through its share back to back, ${SECONDS_PER_RUN}s per run:"
echo
echo "| run | beats/s | p50 ms | p99 ms | max ms | server CPU µs/beat | non-200 | errors |$cf_head"
echo "|---|---|---|---|---|---|---|---|$cf_rule"
jq -r --arg ceiling "$CEILING_RPS" "$cf_jq"'select(.beats_per_s != null and .target_beats_per_s == null) | "| \(.label) | \(.beats_per_s) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.server_cpu_us_per_beat * 10 | round / 10) | \(.non_200) | \(.errors) |\(cf(.beats_per_s))"' "$results"
summary beats_per_s beats/s
echo
echo "**Registration** of the $BEAT_INSTANCES heartbeat instances before each heartbeat run (one instance per request, $CONNECTIONS connections; not a target, for reference):"
echo
echo "| run | registered/s | p50 ms | p99 ms | max ms | errors |$cf_head"
echo "|---|---|---|---|---|---|$cf_rule"
jq -r --arg ceiling "$CEILING_RPS" "$cf_jq"'select(.registered_per_s != null) | "| \(.label) | \(.registered_per_s) | \(.request_p50_ms) | \(.request_p99_ms) | \(.request_max_ms) | \(.errors) |\(cf(.registered_per_s))"' "$results"
echo
echo "**Register → watcher notified** (keel): W long polls (\`GET /api/v1/services/S/instances?revision=N&wait=30s\`) parked on one service, $NOTIFY_ROUNDS rounds of one registration; time from sending the registration to each watcher's answer, as the client saw it:"
echo
echo "| watchers | answers | p50 ms | p99 ms | max ms | first answer p50 ms | registration answered p50 / p99 ms | stale | missing |"
echo "|---|---|---|---|---|---|---|---|---|"
jq -r 'select(.watchers != null) | "| \(.watchers) | \(.answers) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.first_p50_ms) | \(.register_ack_p50_ms) / \(.register_ack_p99_ms) | \(.stale_answers) | \(.missing_answers) |"' "$results"
echo
echo "**Hold**: $HOLD_COUNT instances over $HOLD_SERVICES services in a fresh server (keel: batch registration, 1000 per request, 4 connections; r-nacos: one per request, 16 connections), each heartbeating every $HOLD_INTERVAL from its registration on (16 connections, paced); once all are registered and one interval has passed, held ${HOLD_SECONDS}s (the beat columns cover that window):"
echo
echo "| server | registration s (per s) | beats/s in the hold (target) | beat p99 ms | beats late p99 / max ms | failed beats | held / healthy at the end | RSS before → registered → end (KiB) | bytes per instance | server CPU in the hold |"
echo "|---|---|---|---|---|---|---|---|---|---|"
jq -r 'select(.target_beats_per_s != null) | "| \(.label) | \(.register.seconds * 10 | round / 10) (\(.register.registered_per_s)) | \(.beats_per_s) (\(.target_beats_per_s)) | \(.beat_p99_ms) | \(.late_p99_ms) / \(.late_max_ms) | \(.failed_beats) | \(.held) / \(.healthy) | \(.rss_before_kib) → \(.rss_registered_kib) → \(.rss_end_kib) | \(.bytes_per_instance) | \(.server_cpu_pct) % (\(.server_cpu_us_per_beat * 10 | round / 10) µs/beat) |"' "$results"
