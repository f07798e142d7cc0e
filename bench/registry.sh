#!/usr/bin/env bash
# Service-registry benchmarks (issue 10): instance register, heartbeat, discovery query and
# register → watcher told, each through keel's native API, through keel's Nacos v1 API
# (`/nacos/v1/ns/*`) and through r-nacos' Nacos v1 API, the three taking turns, ROUNDS times;
# then 100 000 instances held with 5 s heartbeats in a fresh server of each. Prints a
# markdown report for docs/benchmarks.md.
#
#   bench/registry.sh                                  # keel only (native and Nacos API)
#   RNACOS_BIN=/path/to/rnacos bench/registry.sh       # and r-nacos side by side
#
# RNACOS_BIN is a release build of r-nacos; this script neither downloads nor builds it
# (bench/run.sh installs one). Knobs (environment): SECONDS_PER_RUN (10), CONNECTIONS (50),
# ROUNDS (3), LIST_INSTANCES (10), BEAT_INSTANCES (10000), WATCHERS ("100 1000"),
# NOTIFY_ROUNDS (20), NACOS_POLL_INTERVAL (100ms: how often a Nacos watcher lists),
# HOLD_COUNT (100000), HOLD_SERVICES (100), HOLD_SECONDS (30), HOLD_INTERVAL (5s),
# HOLD_RNACOS (1: hold on r-nacos too), HOLD_KEEL_NACOS (1: and on keel through the Nacos
# API), CEILING_RPS (unset: with it, the throughput tables get a "ceiling fraction" column),
# RESULTS_OUT (unset: a file to copy the raw JSON lines of the runs to). bench/run.sh sets both,
# and KEEL_BENCH_BIN (unset: build, then use target/release).
#
# Everything runs on loopback; the servers are started here, on free ports with temporary data
# directories, and only they are stopped (by pid). Every load run is bounded in time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-3}
LIST_INSTANCES=${LIST_INSTANCES:-10}
BEAT_INSTANCES=${BEAT_INSTANCES:-10000}
WATCHERS=${WATCHERS:-100 1000}
NOTIFY_ROUNDS=${NOTIFY_ROUNDS:-20}
NACOS_POLL_INTERVAL=${NACOS_POLL_INTERVAL:-100ms}
HOLD_COUNT=${HOLD_COUNT:-100000}
HOLD_SERVICES=${HOLD_SERVICES:-100}
HOLD_SECONDS=${HOLD_SECONDS:-30}
HOLD_INTERVAL=${HOLD_INTERVAL:-5s}
HOLD_RNACOS=${HOLD_RNACOS:-1}
HOLD_KEEL_NACOS=${HOLD_KEEL_NACOS:-1}
RNACOS_BIN=${RNACOS_BIN:-}

ulimit -n "$(ulimit -Hn)"

# bench/run.sh builds once and hands its copy of the binaries over in KEEL_BENCH_BIN, so every
# scenario of a run measures the same build even if the sources (or target/) change meanwhile.
if [[ -z ${KEEL_BENCH_BIN:-} ]]; then cargo build --release --quiet -p keel -p keel-bench; fi
bin=${KEEL_BENCH_BIN:-$root/target/release}

work_prefix=keel-registry-bench
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

results=$work/results.jsonl
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
reg() { "$bin/registry" "$@"; }

start_keel keel
keel_nacos=1
if ! nacos_naming_works "$keel" 5; then
    keel_nacos=''
    echo "keel's Nacos naming API failed register-then-list: its Nacos-API registry runs are left out" >&2
fi
if [[ -n $RNACOS_BIN ]]; then
    start_rnacos_checked rnacos
    nacos_version=$("$RNACOS_BIN" --version 2>/dev/null | head -1 || true)
fi

# Every variant: its label, server pid, base URL, --api, and its own service names (keel's two
# APIs share one server, so each keeps to its own services).
variant_args() { # variant → "pid url api prefix"
    case $1 in
    keel) echo "$kpid $keel keel " ;;
    keel-nacos) echo "$kpid $keel nacos n" ;;
    r-nacos) echo "$npid $nacos nacos " ;;
    esac
}
variants=(keel)
if [[ -n $keel_nacos ]]; then variants+=(keel-nacos); fi
if [[ -n $RNACOS_BIN ]]; then variants+=(r-nacos); fi

# --- discovery query, register and heartbeats, the servers taking turns ------------------------
# List instances are registered again right before each list run, beat instances right before
# each beat run (ephemeral instances of both servers expire 30 s after their last heartbeat);
# a list that does not answer all LIST_INSTANCES instances stops the script.
declare -A list_bytes=()
list_url() { # api url service
    if [[ $1 == keel ]]; then echo "$2/api/v1/services/$3/instances"; else echo "$2/nacos/v1/ns/instance/list?serviceName=$3"; fi
}
list_run() { # variant round
    local pid url api prefix list answer count
    read -r pid url api prefix <<<"$(variant_args "$1")"
    list=$(list_url "$api" "$url" "${prefix}list")
    reg register --api "$api" --url "$url" --count "$LIST_INSTANCES" --service "${prefix}list" --connections 1 >/dev/null
    answer=$(curl -fsS "$list")
    count=$(jq '(.data.instances // .hosts) | length' <<<"$answer")
    if ((count != LIST_INSTANCES)); then
        echo "$1: the list answers $count instances, not $LIST_INSTANCES" >&2
        exit 1
    fi
    list_bytes[$1]=${#answer}
    measured "$pid" "$1#$2" "$bin/load" --url "$list" --connections "$CONNECTIONS" \
        --seconds "$SECONDS_PER_RUN" --pid "$pid"
}
beat_run() { # variant round
    local pid url api prefix ids=$work/ids
    read -r pid url api prefix <<<"$(variant_args "$1")"
    measured "$pid" "$1#$2" reg register --api "$api" --url "$url" --count "$BEAT_INSTANCES" \
        --service "${prefix}beat" --connections "$CONNECTIONS" --ids-out "$ids"
    if [[ $api == keel ]]; then
        measured "$pid" "$1#$2" reg beat --api keel --url "$url" --ids "$ids" \
            --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" --pid "$pid"
    else
        measured "$pid" "$1#$2" reg beat --api nacos --url "$url" --count "$BEAT_INSTANCES" \
            --service "${prefix}beat" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" --pid "$pid"
    fi
}
echo "  discovery, register, heartbeat × $ROUNDS" >&2
for round in $(seq "$ROUNDS"); do
    for v in "${variants[@]}"; do list_run "$v" "$round"; done
    for v in "${variants[@]}"; do beat_run "$v" "$round"; done
done

# --- register → watchers told -----------------------------------------------------------------
# keel (native): parked long polls; Nacos API: watchers polling instance/list every
# NACOS_POLL_INTERVAL (the Nacos v1 naming API has no long poll). A fresh service per run.
echo "  register → watchers × $ROUNDS" >&2
for round in $(seq "$ROUNDS"); do
    for w in $WATCHERS; do
        for v in "${variants[@]}"; do
            read -r pid url api prefix <<<"$(variant_args "$v")"
            measured "$pid" "$v#$round" reg notify --api "$api" --url "$url" \
                --service "${prefix}notify-$w-$round" --watchers "$w" --rounds "$NOTIFY_ROUNDS" \
                --interval "$NACOS_POLL_INTERVAL"
        done
    done
done
stop "$kpid"
if [[ -n $RNACOS_BIN ]]; then stop "$npid"; fi

# --- 100 000 instances held, each in a fresh server --------------------------------------------
echo "  hold $HOLD_COUNT instances" >&2
hold() { # api url pid extra...
    reg hold --api "$1" --url "$2" --pid "$3" --count "$HOLD_COUNT" --service hold \
        --services "$HOLD_SERVICES" --interval "$HOLD_INTERVAL" --seconds "$HOLD_SECONDS" "${@:4}"
}
start_keel keel-hold
measured "$kpid" keel hold keel "$keel" "$kpid"
stop "$kpid"
if [[ -n $keel_nacos && $HOLD_KEEL_NACOS == 1 ]]; then
    start_keel keel-nacos-hold
    measured "$kpid" keel-nacos hold nacos "$keel" "$kpid" --connections 16
    stop "$kpid"
fi
if [[ -n $RNACOS_BIN && $HOLD_RNACOS == 1 ]]; then
    start_rnacos_checked rnacos-hold
    measured "$npid" r-nacos hold nacos "$nacos" "$npid" --connections 16
    stop "$npid"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
if [[ -n ${RESULTS_OUT:-} ]]; then cp "$results" "$RESULTS_OUT"; fi
# With CEILING_RPS (bench/run.sh: the hello server's median req/s under the same load), every
# throughput table gets a "ceiling fraction" column: its figure / CEILING_RPS.
CEILING_RPS=${CEILING_RPS:-}
cf_head='' cf_rule=''
if [[ -n $CEILING_RPS ]]; then cf_head=' ceiling fraction |' cf_rule='---|'; fi
cf='\(if $ceiling == "" then "" else " \(fraction([FIELD]; $ceiling)) |" end)'
report() { jq -L "$root/bench" -rs --arg ceiling "$CEILING_RPS" "include \"report\"; $1" "$results"; }
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
echo "Measured $(date +%Y-%m-%d) on $(nproc) cores ($cpu), $mem, Linux $(uname -r), $(rustc --version)," \
    "keel at $(git describe --always --dirty 2>/dev/null || echo '?')${RNACOS_BIN:+, r-nacos: ${nacos_version:-$(basename "$RNACOS_BIN")}}." \
    "Load average (1/5/15 min) before: $load_before, after: $load_after."
echo
echo "Command: \`${RNACOS_BIN:+RNACOS_BIN=… }bench/registry.sh\` (SECONDS_PER_RUN=$SECONDS_PER_RUN CONNECTIONS=$CONNECTIONS ROUNDS=$ROUNDS LIST_INSTANCES=$LIST_INSTANCES BEAT_INSTANCES=$BEAT_INSTANCES WATCHERS=\"$WATCHERS\" NOTIFY_ROUNDS=$NOTIFY_ROUNDS NACOS_POLL_INTERVAL=$NACOS_POLL_INTERVAL HOLD_COUNT=$HOLD_COUNT HOLD_SERVICES=$HOLD_SERVICES HOLD_SECONDS=$HOLD_SECONDS HOLD_INTERVAL=$HOLD_INTERVAL)"
echo
echo "Servers: **keel (native)** = keel's \`/api/v1\` registry API; **keel (Nacos API)** = the same keel through \`/nacos/v1/ns/*\`; **r-nacos** = r-nacos through \`/nacos/v1/ns/*\`. In every table \"server CPU s\" is the server's utime + stime over the whole scenario (set-up included) and \"RSS after\" its VmRSS when the scenario ended, both from \`/proc/<pid>\`."
if [[ -z $keel_nacos ]]; then
    echo
    echo "**keel (Nacos API) was not measured**: this keel failed register-then-list through \`/nacos/v1/ns/instance\`."
fi
echo
echo "**Discovery query**, one service of $LIST_INSTANCES instances (keel (native): \`GET /api/v1/services/S/instances\`; Nacos API: \`GET /nacos/v1/ns/instance/list?serviceName=S\`), $CONNECTIONS keep-alive connections, ${SECONDS_PER_RUN}s per run, the servers taking turns (answer, checked before every run to hold all $LIST_INSTANCES instances: keel (native) ${list_bytes[keel]:-–} B, keel (Nacos API) ${list_bytes[keel-nacos]:-–} B, r-nacos ${list_bytes[r-nacos]:-–} B):"
echo
echo "| run | req/s | p50 ms | p99 ms | max ms | server CPU µs/request | server CPU s | RSS after MiB | errors | non-200 |$cf_head"
echo "|---|---|---|---|---|---|---|---|---|---|$cf_rule"
report '.[] | select(.rps != null) | "| \(run_name) | \(.rps) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.server_cpu_us_per_request | fmt) | \(server_cols) \(.errors) | \(.non_200) |'"${cf//FIELD/.rps}"'"'
echo
report '[.[] | select(.rps != null)] | medians("req/s"; .rps)'
echo
echo "**Instance register**, the $BEAT_INSTANCES heartbeat instances before each heartbeat run, one instance per request (keel (native): \`POST /api/v1/instances\`; Nacos API: \`POST /nacos/v1/ns/instance\`), $CONNECTIONS connections:"
echo
echo "| run | registered/s | p50 ms | p99 ms | max ms | server CPU s | RSS after MiB | errors |$cf_head"
echo "|---|---|---|---|---|---|---|---|$cf_rule"
report '.[] | select(.registered_per_s != null) | "| \(run_name) | \(.registered_per_s) | \(.request_p50_ms) | \(.request_p99_ms) | \(.request_max_ms) | \(server_cols) \(.errors) |'"${cf//FIELD/.registered_per_s}"'"'
echo
report '[.[] | select(.registered_per_s != null)] | medians("registered/s"; .registered_per_s)'
echo
echo "**Heartbeats**, $BEAT_INSTANCES instances (keel (native): \`PUT /api/v1/instances/{id}/heartbeat\`; Nacos API: \`PUT /nacos/v1/ns/instance/beat\`), $CONNECTIONS connections each cycling through its share back to back, ${SECONDS_PER_RUN}s per run:"
echo
echo "| run | beats/s | p50 ms | p99 ms | max ms | server CPU µs/beat | server CPU s | RSS after MiB | non-200 | errors |$cf_head"
echo "|---|---|---|---|---|---|---|---|---|---|$cf_rule"
report '.[] | select(.beats_per_s != null and .target_beats_per_s == null) | "| \(run_name) | \(.beats_per_s) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.server_cpu_us_per_beat | fmt) | \(server_cols) \(.non_200) | \(.errors) |'"${cf//FIELD/.beats_per_s}"'"'
echo
report '[.[] | select(.beats_per_s != null and .target_beats_per_s == null)] | medians("beats/s"; .beats_per_s)'
echo
echo "**Register → watchers told**: W watchers of one service, $NOTIFY_ROUNDS rounds of one registration; each watcher's time from sending the registration to its first answer holding the new instance, as the client saw it. keel (native): W long polls (\`GET /api/v1/services/S/instances?revision=N&wait=30s\`), re-parked after each answer. Nacos API (keel and r-nacos alike): the Nacos v1 naming API has no long poll, so each watcher polls \`instance/list\` every $NACOS_POLL_INTERVAL, phases spread evenly; its times are about uniform over one interval plus the server's delay, and the **first** watcher of a round (one polls every interval / W) bounds the server's delay from above:"
echo
echo "| watchers | run | how | answers | p50 ms | p99 ms | max ms | first watcher p50 ms | registration answered p50 / p99 ms | missing | server CPU s | RSS after MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
report '.[] | select(.watchers != null) | "| \(.watchers) | \(run_name) | \(if .mode == "poll" then "polls every \(.interval_ms) ms (\(.polls_per_s) lists/s)" else "long poll" end) | \(.answers) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.first_p50_ms) | \(.register_ack_p50_ms) / \(.register_ack_p99_ms) | \(.missing_answers) | \(server_cols)"'
for w in $WATCHERS; do
    echo
    report "[.[] | select(.watchers == $w)] | medians(\"$w watchers, p99 ms\"; .p99_ms)"
    echo
    report "[.[] | select(.watchers == $w)] | medians(\"$w watchers, first watcher p50 ms\"; .first_p50_ms)"
done
echo
echo "**Hold**: $HOLD_COUNT instances over $HOLD_SERVICES services in a fresh server (keel (native): batch registration, 1000 per request, 4 connections; Nacos API: one per request, 16 connections), each heartbeating every $HOLD_INTERVAL from its registration on (16 connections, paced); once all are registered and one interval has passed, held ${HOLD_SECONDS}s (the beat columns cover that window):"
echo
echo "| server | registration s (per s) | beats/s in the hold (target) | beat p99 ms | beats late p99 / max ms | failed beats | held / healthy at the end | RSS before → registered → end (KiB) | bytes per instance | server CPU in the hold | server CPU s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
report '.[] | select(.target_beats_per_s != null) | "| \(run_name) | \(.register.seconds * 10 | round / 10) (\(.register.registered_per_s)) | \(.beats_per_s) (\(.target_beats_per_s)) | \(.beat_p99_ms) | \(.late_p99_ms) / \(.late_max_ms) | \(.failed_beats) | \(.held) / \(.healthy) | \(.rss_before_kib) → \(.rss_registered_kib) → \(.rss_end_kib) | \(.bytes_per_instance) | \(.server_cpu_pct) % (\(.server_cpu_us_per_beat | fmt) µs/beat) | \(.server_cpu_s | fmt) |"'
failed=$(report 'failures')
if [[ -n $failed ]]; then
    echo
    echo "**Failed runs** (left out of the medians):"
    echo
    echo "$failed"
fi
