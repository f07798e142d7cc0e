#!/usr/bin/env bash
# Config-center benchmarks (issue 7): read throughput side by side with r-nacos, long-poll
# fan-out and memory per parked poll, release throughput, idle RSS. Prints a markdown report
# for docs/benchmarks.md.
#
#   bench/config-center.sh                       # keel only
#   RNACOS_BIN=/path/to/rnacos bench/config-center.sh   # and r-nacos side by side
#
# RNACOS_BIN is a release build of r-nacos (github.com/nacos-group/r-nacos) made outside this
# repository; this script neither downloads nor builds it. Knobs (environment): SECONDS_PER_RUN
# (10), CONNECTIONS (50), ROUNDS (2: keel, r-nacos, keel, r-nacos), POLLS (10000), WRITERS (4),
# CEILING_RPS (unset: with it, the read table gets a "ceiling fraction" column), RESULTS_OUT
# (unset: a file to copy the raw JSON lines of the runs to). bench/run.sh sets both.
#
# Everything runs on loopback; the servers are started here, on free ports with temporary data
# directories, and only they are stopped (by pid) at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-2}
POLLS=${POLLS:-10000}
WRITERS=${WRITERS:-4}
RNACOS_BIN=${RNACOS_BIN:-}

# Each parked poll is a socket in the client and one in the server.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < POLLS + 1000)); then
    echo "the fd limit ($(ulimit -n)) is below POLLS + 1000; lower POLLS or raise the hard limit" >&2
    exit 1
fi

cargo build --release --quiet -p keel -p keel-bench
bin=$root/target/release

work_prefix=keel-bench
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"

results=$work/results.jsonl
: >"$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ~100 bytes of configuration: one key and value.
value="jdbc:postgresql://db-primary.internal:5432/shop?sslmode=require&pool=20&timeout=5000"
key="db.url"

# --- keel -----------------------------------------------------------------------------------
kport=$(free_port)
cat >"$work/keel.toml" <<TOML
log_level = "warn"
[ratelimit]
rate = 1000000000
burst = 1000000000
TOML
"$bin/keel" serve --listen "127.0.0.1:$kport" --data-dir "$work/keel-data" \
    --config "$work/keel.toml" >"$work/keel.log" 2>&1 &
kpid=$!
pids+=("$kpid")
keel=http://127.0.0.1:$kport
wait_http "$keel/health"
sleep 1
keel_idle=$(rss_kib "$kpid")
ns=$keel/api/v1/envs/bench/apps/read/clusters/default/namespaces/application
curl -fsS -o /dev/null -XPOST "$keel/api/v1/envs/bench/apps" -H 'content-type: application/json' -d '{"name":"read"}'
curl -fsS -o /dev/null -XPOST "$ns/items" -H 'content-type: application/json' \
    -d "{\"key\":\"$key\",\"value\":\"$value\"}"
curl -fsS -o /dev/null -XPOST "$ns/releases" -H 'content-type: application/json' -d '{"name":"v1"}'
keel_read_bytes=$(curl -fsS "$ns/configs" | wc -c)

# --- r-nacos --------------------------------------------------------------------------------
if [[ -n $RNACOS_BIN ]]; then
    nport=$(free_port) gport=$(free_port) cport=$(free_port)
    mkdir -p "$work/rnacos"
    # Only loopback; data in the temp dir; a missing --env-file so no stray .env is read.
    (cd "$work/rnacos" && exec env RNACOS_HTTP_PORT="$nport" RNACOS_GRPC_PORT="$gport" \
        RNACOS_HTTP_CONSOLE_PORT="$cport" RNACOS_SDK_HOST=127.0.0.1 RNACOS_CONSOLE_HOST=127.0.0.1 \
        RNACOS_RAFT_NODE_ADDR="127.0.0.1:$gport" RNACOS_DATA_DIR="$work/rnacos/data" \
        RUST_LOG=warn "$RNACOS_BIN" --env-file "$work/rnacos/none.env" >"$work/rnacos.log" 2>&1) &
    npid=$!
    pids+=("$npid")
    nacos=http://127.0.0.1:$nport
    wait_http "$nacos/nacos/v1/cs/configs?dataId=none&group=none"
    sleep 1
    nacos_idle=$(rss_kib "$npid")
    # Writes are refused (404) until its raft group has a leader: retry for up to 30 s.
    for attempt in $(seq 300); do
        curl -fsS -o /dev/null -XPOST "$nacos/nacos/v1/cs/configs" \
            --data-urlencode dataId=read --data-urlencode group=DEFAULT_GROUP \
            --data-urlencode "content=$key=$value" 2>/dev/null && break
        ((attempt < 300)) || { echo "r-nacos refused the config publish for 30 s" >&2; exit 1; }
        sleep 0.1
    done
    nacos_get="$nacos/nacos/v1/cs/configs?dataId=read&group=DEFAULT_GROUP"
    nacos_read_bytes=$(curl -fsS "$nacos_get" | wc -c)
    nacos_version=$("$RNACOS_BIN" --version 2>/dev/null | head -1 || true)
fi

# --- read throughput, alternating servers -----------------------------------------------------
for round in $(seq "$ROUNDS"); do
    "$bin/load" --url "$ns/configs" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" \
        --pid "$kpid" --label "keel#$round" >>"$results"
    if [[ -n $RNACOS_BIN ]]; then
        "$bin/load" --url "$nacos_get" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" \
            --pid "$npid" --label "r-nacos#$round" >>"$results"
    fi
done

# --- fan-out -----------------------------------------------------------------------------------
"$bin/fanout" --server "$keel" --pid "$kpid" --polls "$POLLS" --label keel >>"$results"
if [[ -n $RNACOS_BIN ]]; then
    "$bin/fanout" --server "$nacos" --pid "$npid" --polls "$POLLS" --target nacos --label r-nacos >>"$results"
fi

# --- release throughput ------------------------------------------------------------------------
for writers in 1 "$WRITERS"; do
    "$bin/release" --server "$keel" --writers "$writers" --seconds "$SECONDS_PER_RUN" --label keel >>"$results"
    if [[ -n $RNACOS_BIN ]]; then
        "$bin/release" --server "$nacos" --target nacos --writers "$writers" \
            --seconds "$SECONDS_PER_RUN" --label r-nacos >>"$results"
    fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
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
echo "Command: \`${RNACOS_BIN:+RNACOS_BIN=… }bench/config-center.sh\` (SECONDS_PER_RUN=$SECONDS_PER_RUN CONNECTIONS=$CONNECTIONS ROUNDS=$ROUNDS POLLS=$POLLS WRITERS=$WRITERS)"
echo
echo "**Config read**, $CONNECTIONS keep-alive connections, ${SECONDS_PER_RUN}s per run, the servers taking turns (answer body: keel $keel_read_bytes B, r-nacos ${nacos_read_bytes:-–} B):"
echo
echo "| run | req/s | p50 ms | p99 ms | max ms | server CPU µs/request | errors | non-200 |$cf_head"
echo "|---|---|---|---|---|---|---|---|$cf_rule"
jq -r --arg ceiling "$CEILING_RPS" "$cf_jq"'select(.rps != null) | "| \(.label) | \(.rps) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.server_cpu_us_per_request * 10 | round / 10) | \(.errors) | \(.non_200) |\(cf(.rps))"' "$results"
if [[ -n $RNACOS_BIN ]]; then
    jq -rs '[.[] | select(.rps != null)] as $r
        | ([$r[] | select(.label | startswith("keel")) | .rps] | add / length) as $k
        | ([$r[] | select(.label | startswith("r-nacos")) | .rps] | add / length) as $n
        | "\nMean: keel \($k | round) req/s, r-nacos \($n | round) req/s: keel/r-nacos = **\(($k / $n * 100 | round) / 100)×**"' "$results"
fi
echo
echo "**Fan-out**: $POLLS long polls parked on one namespace, one release; times from sending the release, as the client saw them:"
echo
echo "| server | parking s | RSS before → after (KiB) | server bytes per parked poll | release answered ms | first poll answered ms | last poll answered ms | server CPU release → last answer | woken | other | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
jq -r 'select(.polls != null) | "| \(.label) | \(.parking_s) | \(.rss_before_kib) → \(.rss_after_kib) | \(.bytes_per_poll) | \(.release_ack_ms) | \(.first_answer_ms) | \(.last_answer_ms) | \(.server_cpu_ms) ms (\(.server_cpu_us_per_poll | round) µs/poll) | \(.woken) | \(.other_answers) | \(.errors) |"' "$results"
echo
echo "**Release** (keel: item put + release, durable; r-nacos: one publish), each writer on its own namespace, ${SECONDS_PER_RUN}s:"
echo
echo "| server | writers | releases/s | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|---|"
jq -r 'select(.releases_per_s != null) | "| \(.label) | \(.writers) | \(.releases_per_s) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) |"' "$results"
echo
echo "**Idle RSS** one second after start-up: keel $keel_idle KiB${RNACOS_BIN:+, r-nacos ${nacos_idle:-?} KiB}."
