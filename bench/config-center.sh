#!/usr/bin/env bash
# Config-center benchmarks (issues 7 and 10): config read, config publish and long-poll fan-out
# (1 k / 5 k / 10 k parked clients), each through keel's native API, through keel's Nacos v1
# API (`/nacos/v1/cs/*`) and through r-nacos' Nacos v1 API, the three taking turns, ROUNDS
# times. Prints a markdown report for docs/benchmarks.md.
#
#   bench/config-center.sh                              # keel only (native and Nacos API)
#   RNACOS_BIN=/path/to/rnacos bench/config-center.sh   # and r-nacos side by side
#
# RNACOS_BIN is a release build of r-nacos; this script neither downloads nor builds it
# (bench/run.sh installs one). Knobs (environment): SECONDS_PER_RUN (10), CONNECTIONS (50),
# ROUNDS (3), FANOUT_LEVELS ("1000 5000 10000"; POLLS=N is the same as FANOUT_LEVELS=N),
# WRITERS (4), CEILING_RPS (unset: with it, the read table gets a "ceiling fraction" column),
# RESULTS_OUT (unset: a file to copy the raw JSON lines of the runs to). bench/run.sh sets both,
# and KEEL_BENCH_BIN (unset: build, then use target/release).
#
# If keel does not serve the Nacos config API (its publish-then-read check fails), the
# "keel (Nacos API)" runs are left out and the report says so.
#
# Everything runs on loopback; the servers are started here, on free ports with temporary data
# directories, and only they are stopped (by pid). Every run is bounded in time or count.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-3}
FANOUT_LEVELS=${FANOUT_LEVELS:-${POLLS:-1000 5000 10000}}
WRITERS=${WRITERS:-4}
RNACOS_BIN=${RNACOS_BIN:-}
max_level=$(tr ' ' '\n' <<<"$FANOUT_LEVELS" | sort -n | tail -1)

# Each parked poll is a socket in the client and one in the server.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < max_level + 1000)); then
    echo "the fd limit ($(ulimit -n)) is below the largest fan-out level + 1000; lower FANOUT_LEVELS or raise the hard limit" >&2
    exit 1
fi

# bench/run.sh builds once and hands its copy of the binaries over in KEEL_BENCH_BIN, so every
# scenario of a run measures the same build even if the sources (or target/) change meanwhile.
if [[ -z ${KEEL_BENCH_BIN:-} ]]; then cargo build --release --quiet -p keel -p keel-bench; fi
bin=${KEEL_BENCH_BIN:-$root/target/release}

work_prefix=keel-bench
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

results=$work/results.jsonl
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ~100 bytes of configuration: one key and value.
value="jdbc:postgresql://db-primary.internal:5432/shop?sslmode=require&pool=20&timeout=5000"
key="db.url"
nacos_publish() { # base-url dataId content
    [[ $(curl -fsS -XPOST "$1/nacos/v1/cs/configs" --data-urlencode "dataId=$2" \
        --data-urlencode group=DEFAULT_GROUP --data-urlencode "content=$3") == true ]]
}

# --- keel: native, and the Nacos API if it is served ----------------------------------------
start_keel keel
keel_idle=$(rss_kib "$kpid")
ns=$keel/api/v1/envs/bench/apps/read/clusters/default/namespaces/application
curl -fsS -o /dev/null -XPOST "$keel/api/v1/envs/bench/apps" -H 'content-type: application/json' -d '{"name":"read"}'
curl -fsS -o /dev/null -XPOST "$ns/items" -H 'content-type: application/json' \
    -d "{\"key\":\"$key\",\"value\":\"$value\"}"
curl -fsS -o /dev/null -XPOST "$ns/releases" -H 'content-type: application/json' -d '{"name":"v1"}'
keel_read_bytes=$(curl -fsS "$ns/configs" | wc -c)
keel_nacos=1
if nacos_config_works "$keel" 5; then
    nacos_publish "$keel" read "$key=$value"
    keel_nacos_get="$keel/nacos/v1/cs/configs?dataId=read&group=DEFAULT_GROUP"
    keel_nacos_read_bytes=$(curl -fsS "$keel_nacos_get" | wc -c)
else
    keel_nacos=''
    keel_nacos_status=$(curl -s -o /dev/null -w '%{http_code}' "$keel/nacos/v1/cs/configs?dataId=probe&group=DEFAULT_GROUP")
    echo "keel does not serve the Nacos config API yet (publish-then-read failed; a read answers $keel_nacos_status): its Nacos-API config runs are left out" >&2
fi

# --- r-nacos ------------------------------------------------------------------------------------
if [[ -n $RNACOS_BIN ]]; then
    start_rnacos_checked rnacos
    rnacos_idle=$nacos_idle # the fan-out runs' fresh starts set nacos_idle again
    nacos_publish "$nacos" read "$key=$value"
    nacos_get="$nacos/nacos/v1/cs/configs?dataId=read&group=DEFAULT_GROUP"
    nacos_read_bytes=$(curl -fsS "$nacos_get" | wc -c)
    nacos_version=$("$RNACOS_BIN" --version 2>/dev/null | head -1 || true)
fi

# --- config read, the servers taking turns --------------------------------------------------------
echo "  config read × $ROUNDS" >&2
read_load() { "$bin/load" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" "$@"; }
for round in $(seq "$ROUNDS"); do
    measured "$kpid" "keel#$round" read_load --url "$ns/configs" --pid "$kpid"
    if [[ -n $keel_nacos ]]; then
        measured "$kpid" "keel-nacos#$round" read_load --url "$keel_nacos_get" --pid "$kpid"
    fi
    if [[ -n $RNACOS_BIN ]]; then
        measured "$npid" "r-nacos#$round" read_load --url "$nacos_get" --pid "$npid"
    fi
done

# --- config publish ---------------------------------------------------------------------------------
echo "  config publish × $ROUNDS" >&2
publish() { "$bin/release" --writers "$1" --seconds "$SECONDS_PER_RUN" "${@:2}"; }
for writers in 1 "$WRITERS"; do
    for round in $(seq "$ROUNDS"); do
        measured "$kpid" "keel#$round" publish "$writers" --server "$keel"
        if [[ -n $keel_nacos ]]; then
            measured "$kpid" "keel-nacos#$round" publish "$writers" --server "$keel" --target nacos
        fi
        if [[ -n $RNACOS_BIN ]]; then
            measured "$npid" "r-nacos#$round" publish "$writers" --server "$nacos" --target nacos
        fi
    done
done
stop "$kpid"
if [[ -n $RNACOS_BIN ]]; then stop "$npid"; fi

# --- fan-out: every run in a fresh server -------------------------------------------------------
# A fresh process per run: memory per parked poll is only meaningful in a process that has not
# held that many connections before (a second fan-out reuses the freed heap).
fanout() { "$bin/fanout" --polls "$1" "${@:2}"; }
for level in $FANOUT_LEVELS; do
    echo "  fan-out, $level parked × $ROUNDS" >&2
    for round in $(seq "$ROUNDS"); do
        start_keel "fan-keel-$level-$round"
        measured "$kpid" "keel#$round" fanout "$level" --server "$keel" --pid "$kpid" --server-metrics
        stop "$kpid"
        if [[ -n $keel_nacos ]]; then
            start_keel "fan-keel-nacos-$level-$round"
            measured "$kpid" "keel-nacos#$round" fanout "$level" --server "$keel" --pid "$kpid" \
                --target nacos --server-metrics
            stop "$kpid"
        fi
        if [[ -n $RNACOS_BIN ]]; then
            start_rnacos_checked "fan-rnacos-$level-$round"
            measured "$npid" "r-nacos#$round" fanout "$level" --server "$nacos" --pid "$npid" --target nacos
            stop "$npid"
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
if [[ -n ${RESULTS_OUT:-} ]]; then cp "$results" "$RESULTS_OUT"; fi
# With CEILING_RPS (bench/run.sh: the hello server's median req/s under the same load), the
# read table gets a "ceiling fraction" column: its figure / CEILING_RPS.
CEILING_RPS=${CEILING_RPS:-}
cf_head='' cf_rule=''
if [[ -n $CEILING_RPS ]]; then cf_head=' ceiling fraction |' cf_rule='---|'; fi
report() { jq -L "$root/bench" -rs --arg ceiling "$CEILING_RPS" "include \"report\"; $1" "$results"; }
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
echo "Measured $(date +%Y-%m-%d) on $(nproc) cores ($cpu), $mem, Linux $(uname -r), $(rustc --version)," \
    "keel at $(git describe --always --dirty 2>/dev/null || echo '?')${RNACOS_BIN:+, r-nacos: ${nacos_version:-$(basename "$RNACOS_BIN")}}." \
    "Load average (1/5/15 min) before: $load_before, after: $load_after."
echo
echo "Command: \`${RNACOS_BIN:+RNACOS_BIN=… }bench/config-center.sh\` (SECONDS_PER_RUN=$SECONDS_PER_RUN CONNECTIONS=$CONNECTIONS ROUNDS=$ROUNDS FANOUT_LEVELS=\"$FANOUT_LEVELS\" WRITERS=$WRITERS)"
echo
echo "Servers: **keel (native)** = keel's \`/api/v1\` config API; **keel (Nacos API)** = the same keel through \`/nacos/v1/cs/*\`; **r-nacos** = r-nacos through \`/nacos/v1/cs/*\`. In every table \"server CPU s\" is the server's utime + stime over the whole scenario (set-up included) and \"RSS after\" its VmRSS when the scenario ended, both from \`/proc/<pid>\`."
if [[ -z $keel_nacos ]]; then
    echo
    echo "**keel (Nacos API) was not measured**: this keel does not serve the Nacos config API (publish then read through \`/nacos/v1/cs/configs\` failed; a read answered $keel_nacos_status)."
fi
echo
echo "**Config read**, $CONNECTIONS keep-alive connections, ${SECONDS_PER_RUN}s per run, the servers taking turns (answer body: keel (native) $keel_read_bytes B, keel (Nacos API) ${keel_nacos_read_bytes:-–} B, r-nacos ${nacos_read_bytes:-–} B):"
echo
echo "| run | req/s | p50 ms | p99 ms | max ms | server CPU µs/request | server CPU s | RSS after MiB | errors | non-200 |$cf_head"
echo "|---|---|---|---|---|---|---|---|---|---|$cf_rule"
report '.[] | select(.rps != null) | "| \(run_name) | \(.rps) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.server_cpu_us_per_request | fmt) | \(server_cols) \(.errors) | \(.non_200) |\(if $ceiling == "" then "" else " \(fraction([.rps]; $ceiling)) |" end)"'
echo
report '[.[] | select(.rps != null)] | medians("req/s"; .rps)'
echo
echo "**Config publish** (keel (native): item put + release, two durable transactions; Nacos API: one \`POST /nacos/v1/cs/configs\`), each writer on its own namespace / dataId, ${SECONDS_PER_RUN}s per run:"
echo
echo "| run | writers | publishes/s | p50 ms | p99 ms | max ms | server CPU s | RSS after MiB |"
echo "|---|---|---|---|---|---|---|---|"
report '.[] | select(.releases_per_s != null) | "| \(run_name) | \(.writers) | \(.releases_per_s) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(server_cols)"'
for writers in 1 "$WRITERS"; do
    echo
    report "[.[] | select(.writers == $writers)] | medians(\"$writers writer(s), publishes/s\"; .releases_per_s)"
done
echo
echo "**Fan-out**: N long polls parked on one config (keel (native): \`GET …/notifications?releaseKey=K&timeout=120s\`; Nacos API: \`POST /nacos/v1/cs/configs/listener\`, \`Long-Pulling-Timeout: 30000\`), one release / publish, every run in a fresh server. Client side: times from sending the release, as the client saw them. Server side: keel's own figure (\`keel_config_fanout_last_seconds\` in \`/metrics\`: release → last parked poll answered, with the clients it answered in brackets); r-nacos has no such figure (n/a):"
echo
echo "| parked | run | parking s | RSS before → after parking (KiB) | server bytes per parked poll | release answered ms | first answered ms | last answered ms, client | last answered ms, server | server CPU release → last answer | server CPU s | RSS after MiB | woken | other | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
report '.[] | select(.polls != null) | "| \(.polls) | \(run_name) | \(.parking_s) | \(.rss_before_kib) → \(.rss_after_kib) | \(.bytes_per_poll) | \(.release_ack_ms) | \(.first_answer_ms) | \(.last_answer_ms) | \(if .server_last_ms == null then "n/a" else "\(.server_last_ms | fmt) (\(.server_last_clients | fmt))" end) | \(.server_cpu_ms) ms (\(.server_cpu_us_per_poll | round) µs/poll) | \(server_cols) \(.woken) | \(.other_answers) | \(.errors) |"'
for level in $FANOUT_LEVELS; do
    echo
    report "[.[] | select(.polls == $level)] | medians(\"$level parked, last answered ms, client side\"; .last_answer_ms)"
    echo
    report "[.[] | select(.polls == $level)] | medians(\"$level parked, last answered ms, server side\"; .server_last_ms)"
done
echo
echo "**Idle RSS** one second after start-up: keel $keel_idle KiB${RNACOS_BIN:+, r-nacos ${rnacos_idle:-?} KiB}."
failed=$(report 'failures')
if [[ -n $failed ]]; then
    echo
    echo "**Failed runs** (left out of the medians):"
    echo
    echo "$failed"
fi
