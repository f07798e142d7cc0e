#!/usr/bin/env bash
# The one command behind docs/benchmarks.md (issue 10): regenerates every generated block of the
# page from measurements on this machine.
#
#   bench/run.sh                                         # everything, into docs/benchmarks.md
#   RNACOS_BIN=/path/to/rnacos bench/run.sh              # use an r-nacos you already have
#   BENCH_DOC=/tmp/page.md SKIP_MICRO=1 bench/run.sh     # into a copy, without criterion
#
# Steps: (a) builds keel and keel-bench in release mode; (b) unless RNACOS_BIN names one,
# installs r-nacos 0.8.8 from crates.io into target/rnacos (once; see below); (c) measures the
# ceiling: the `hello` server (minimal hyper, same worker count as keel) under `load` with the
# same CONNECTIONS and SECONDS_PER_RUN as the scenarios, ROUNDS times, median req/s exported as
# CEILING_RPS; (d) runs bench/config-center.sh and bench/registry.sh (keel and r-nacos taking
# turns, ROUNDS rounds) and scripts/bench-micro.sh (criterion) unless SKIP_MICRO=1; (e) replaces
# the generated blocks of BENCH_DOC (ceiling, config-center, registry; micro is rewritten by
# bench-micro.sh itself).
#
# Knobs (environment): RNACOS_BIN (target/rnacos/bin/rnacos), ROUNDS (3), SECONDS_PER_RUN (10),
# CONNECTIONS (50), SKIP_MICRO (unset), BENCH_DOC (docs/benchmarks.md); every other knob of the
# two scripts (FANOUT_LEVELS, WRITERS, WATCHERS, HOLD_COUNT, ...) is passed through to them.
# With the defaults the server scenarios take ~20 min on 2 cores, the criterion suite its own.
#
# Everything runs on loopback; every server is started by these scripts on a free port with a
# temporary data dir and stopped by its pid. Every load run is bounded in time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The exact command, as typed: the knobs set in the environment, then the script.
command_line=''
for knob in RNACOS_BIN ROUNDS SECONDS_PER_RUN CONNECTIONS SKIP_MICRO FANOUT_LEVELS POLLS WRITERS \
    LIST_INSTANCES BEAT_INSTANCES WATCHERS NOTIFY_ROUNDS NACOS_POLL_INTERVAL HOLD_COUNT HOLD_SERVICES \
    HOLD_SECONDS HOLD_INTERVAL HOLD_RNACOS HOLD_KEEL_NACOS; do
    [[ -n ${!knob+set} ]] || continue
    if [[ $knob == RNACOS_BIN ]]; then
        command_line+="RNACOS_BIN=… "
    elif [[ ${!knob} == *' '* ]]; then
        command_line+="$knob=\"${!knob}\" "
    else
        command_line+="$knob=${!knob} "
    fi
done
command_line+="bench/run.sh"

export ROUNDS=${ROUNDS:-3}
export SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
export CONNECTIONS=${CONNECTIONS:-50}
SKIP_MICRO=${SKIP_MICRO:-}
BENCH_DOC=$(realpath "${BENCH_DOC:-docs/benchmarks.md}")
for block in ceiling micro config-center registry; do
    if ! grep -q "<!-- $block:begin" "$BENCH_DOC" || ! grep -q "<!-- $block:end -->" "$BENCH_DOC"; then
        echo "$BENCH_DOC has no <!-- $block:begin --> … <!-- $block:end --> block" >&2
        exit 1
    fi
done

# (a) keel and the load generators.
echo "==> building keel and keel-bench (release)" >&2
cargo build --release --quiet -p keel -p keel-bench
bin=$root/target/release

# (b) r-nacos 0.8.8, the server keel is compared with. Building it takes ~40 min on 2 cores;
# it is installed once into target/rnacos and reused by every later run.
if [[ -z ${RNACOS_BIN:-} ]]; then
    RNACOS_BIN=$root/target/rnacos/bin/rnacos
    if [[ ! -x $RNACOS_BIN ]]; then
        echo "==> installing r-nacos 0.8.8 into target/rnacos (cargo install; ~40 min on 2 cores)" >&2
        cargo install rnacos --locked --version 0.8.8 --root "$root/target/rnacos"
    fi
fi
export RNACOS_BIN
rnacos_version=$("$RNACOS_BIN" --version 2>/dev/null | head -1 || true)

work_prefix=keel-bench-run
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# A private copy of the binaries just built, for the whole run: other builds into target/ (a
# shared machine) must not swap the server between two scenarios.
mkdir "$work/bin"
cp "$bin"/{keel,hello,load,fanout,release,registry} "$work/bin/"
bin=$work/bin
export KEEL_BENCH_BIN=$bin

# (c) the ceiling: what this machine does for the same load against a server doing nothing.
echo "==> ceiling: hello × $ROUNDS" >&2
hport=$(free_port)
"$bin/hello" --listen "127.0.0.1:$hport" >"$work/hello.log" 2>&1 &
hpid=$!
pids+=("$hpid")
wait_http "http://127.0.0.1:$hport/"
: >"$work/ceiling.jsonl"
for round in $(seq "$ROUNDS"); do
    "$bin/load" --url "http://127.0.0.1:$hport/" --connections "$CONNECTIONS" \
        --seconds "$SECONDS_PER_RUN" --pid "$hpid" --label "hello#$round" >>"$work/ceiling.jsonl"
done
kill "$hpid" 2>/dev/null || true
wait "$hpid" 2>/dev/null || true
CEILING_RPS=$(jq -s '[.[].rps] | sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end | round' "$work/ceiling.jsonl")
export CEILING_RPS
echo "    CEILING_RPS=$CEILING_RPS" >&2

# (d) the scenarios, then the micro-benchmarks.
echo "==> bench/config-center.sh" >&2
RESULTS_OUT=$work/config-center.jsonl bench/config-center.sh >"$work/config-center.md"
echo "==> bench/registry.sh" >&2
RESULTS_OUT=$work/registry.jsonl bench/registry.sh >"$work/registry.md"
if [[ -z $SKIP_MICRO ]]; then
    echo "==> scripts/bench-micro.sh" >&2
    BENCH_DOC=$BENCH_DOC scripts/bench-micro.sh >"$work/micro.md"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# (e) the ceiling block: machine, date, command, the ceiling runs and one line per scenario.
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
{
    echo "Measured $(date +%Y-%m-%d) on $(nproc) cores ($cpu), $mem, Linux $(uname -r), $(rustc --version)," \
        "keel at $(git describe --always --dirty 2>/dev/null || echo '?'), r-nacos: ${rnacos_version:-$(basename "$RNACOS_BIN")}." \
        "Load average (1/5/15 min) before: $load_before, after: $load_after."
    echo
    echo "Command: \`$command_line\` (ROUNDS=$ROUNDS SECONDS_PER_RUN=$SECONDS_PER_RUN CONNECTIONS=$CONNECTIONS${SKIP_MICRO:+; micro-benchmarks skipped})"
    echo
    echo "**Ceiling**: \`hello\` (hyper 1, HTTP/1.1 keep-alive, answers every request 200 \`{\"code\":0}\`, one tokio worker per core as keel) under the same \`load\` as the scenarios, $CONNECTIONS connections, ${SECONDS_PER_RUN}s per run:"
    echo
    echo "| run | req/s | p50 ms | p99 ms | max ms | server CPU µs/request | errors | non-200 |"
    echo "|---|---|---|---|---|---|---|---|"
    jq -r '"| \(.label) | \(.rps) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.server_cpu_us_per_request * 10 | round / 10) | \(.errors) | \(.non_200) |"' "$work/ceiling.jsonl"
    echo
    echo "Median: **$CEILING_RPS req/s** (CEILING_RPS). \"Ceiling fraction\" = a server's median / CEILING_RPS; it is only given for scenarios with the same load shape ($CONNECTIONS connections, one request at a time each)."
    echo
    echo "**Summary**: median (min–max) over the runs in the blocks below, ROUNDS=$ROUNDS, the servers taking turns. keel (native) = keel's own \`/api/v1\`; keel (Nacos API) = the same keel through \`/nacos/v1\`; r-nacos = r-nacos through \`/nacos/v1\`. The like-for-like ratio is keel (Nacos API) / r-nacos; n/a = not measured (see the blocks)."
    echo
    jq -L "$root/bench" -rn --arg ceiling "$CEILING_RPS" --slurpfile cc "$work/config-center.jsonl" \
        --slurpfile reg "$work/registry.jsonl" 'include "summary"; summary($ceiling; $cc; $reg)'
} >"$work/ceiling.md"

python3 - "$BENCH_DOC" "$work" <<'PY'
import pathlib, re, sys

doc, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
text = doc.read_text()
for block in ("ceiling", "config-center", "registry"):
    body = (work / f"{block}.md").read_text().rstrip("\n")
    pattern = re.compile(rf"(<!-- {block}:begin[^\n]*-->\n).*?(<!-- {block}:end -->)", re.S)
    text, n = pattern.subn(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    if n != 1:
        sys.exit(f"{doc}: expected one {block} block, found {n}")
doc.write_text(text)
PY
cat "$work/ceiling.md"
echo >&2
echo "==> wrote $BENCH_DOC" >&2
