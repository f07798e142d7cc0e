# Helpers the benchmark scripts share; source it after setting `work_prefix` and `bin` (the
# directory of the release binaries):
#
#   work_prefix=keel-bench; bin=$root/target/release; . "$root/bench/common.sh"
#
# It makes a scratch directory "$work", a list "pids" of servers this script started (add to
# it), and a trap that stops exactly those (by pid) and removes "$work" on exit. It starts
# keel and r-nacos on free loopback ports with fresh data dirs, checks that they work, and
# runs scenarios with the server's CPU time and RSS recorded around them.

work=$(mktemp -d "/tmp/${work_prefix:-keel-bench}.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# A free loopback TCP port.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until `$1` gives any HTTP answer, up to 30 s.
wait_http() {
    for _ in $(seq 300); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) != 000 ]] && return 0
        sleep 0.1
    done
    echo "$1 did not answer in 30 s" >&2
    return 1
}

# The resident memory of process `$1`, in KiB (0 once it is gone).
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# CPU time (user + system) process `$1` has used so far, in clock ticks (0 once it is gone).
# The command name (field 2) may hold spaces, so the fields are counted after its ')': utime
# and stime, fields 14 and 15, are the 12th and 13th there.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    awk '{print $12 + $13}' <<<"${stat##*) }"
}
clk_tck=$(getconf CLK_TCK)

# Runs one scenario against server `$1`: a keel-bench command that prints one JSON object, to
# which `--label $2` is appended. Appends that object to "$results" with the server's CPU
# seconds over the whole command (set-up included: `server_cpu_s`) and its RSS at the end
# (`server_rss_kib`). A failing command does not stop the run: it is recorded as
# {"label", "failed"} and the report lists it, so one broken scenario (say, an endpoint keel
# does not serve yet) costs its own row only.
measured() { # pid label command...
    local pid=$1 label=$2 before line status=0
    shift 2
    before=$(cpu_ticks "$pid")
    line=$("$@" --label "$label" 2>"$work/scenario.err") || status=$?
    if ((status != 0)) || ! jq -e 'type == "object"' <<<"$line" >/dev/null 2>&1; then
        echo "    $label: $1 failed: $(tail -c 300 "$work/scenario.err")" >&2
        jq -nc --arg name "$label" --arg tool "$(basename "$1") ${2:-}" \
            --arg why "$(tail -c 200 "$work/scenario.err" | tr '\n' ' ')" \
            '{"label": $name, "failed": "\($tool): \($why)"}' >>"$results"
        return 0
    fi
    jq -c --argjson cpu "$(($(cpu_ticks "$pid") - before))" --argjson hz "$clk_tck" \
        --argjson rss "$(rss_kib "$pid")" '. + {server_cpu_s: ($cpu / $hz), server_rss_kib: $rss}' \
        <<<"$line" >>"$results"
}

# Stops one server this script started, and forgets it.
stop() { # pid
    local kept=() pid
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for pid in "${pids[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
    pids=("${kept[@]}")
}

# keel's settings for every benchmark: warnings only, and no per-IP rate limit (all the load
# comes from 127.0.0.1).
cat >"$work/keel.toml" <<TOML
log_level = "warn"
[ratelimit]
rate = 1000000000
burst = 1000000000
TOML

# A fresh keel on a free port with data dir "$work/$1"; sets kpid and keel (its base URL).
start_keel() { # name
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

# r-nacos on fresh ports and a fresh data dir "$work/$1/data"; only loopback; a missing
# --env-file so no stray .env is read. Sets npid and nacos (its base URL).
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
    wait_http "$nacos/nacos/v1/ns/instance/list?serviceName=none" || return 1
    sleep 1
}

# Whether the Nacos config API at `$1` keeps what it is given: a publish answered `true`, then
# a read answering the same content. Tried `$2` times 0.1 s apart (r-nacos refuses writes until
# its raft group has a leader).
nacos_config_works() { # base-url tries
    for _ in $(seq "$2"); do
        if [[ $(curl -s -XPOST "$1/nacos/v1/cs/configs" --data-urlencode dataId=probe \
            --data-urlencode group=DEFAULT_GROUP --data-urlencode content=probe=1 2>/dev/null) == true &&
            $(curl -s "$1/nacos/v1/cs/configs?dataId=probe&group=DEFAULT_GROUP" 2>/dev/null) == probe=1 ]]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Whether the Nacos naming API at `$1` keeps what it is given: a registration answered `ok`,
# then a list holding it. Tried `$2` times 0.1 s apart.
nacos_naming_works() { # base-url tries
    local hosts
    for _ in $(seq "$2"); do
        if [[ $(curl -s -XPOST "$1/nacos/v1/ns/instance" -d serviceName=probe \
            -d ip=10.255.255.1 -d port=8080 -d ephemeral=true 2>/dev/null) == ok ]]; then
            hosts=$(curl -s "$1/nacos/v1/ns/instance/list?serviceName=probe" | jq '.hosts | length' 2>/dev/null || echo 0)
            ((hosts == 1)) && return 0
        fi
        sleep 0.1
    done
    return 1
}

# r-nacos, checked: publish-then-read and register-then-list must work within 30 s of the
# start. About one start in five, r-nacos 0.8.8 panics in its raft state machine
# (`StateApplyManager`, an unwrap on None) and then refuses every write; such a start, or one
# that fails the checks, is stopped and retried on a new data dir, up to 5 times. Sets npid
# and nacos; records its RSS right after the start in nacos_idle.
start_rnacos_checked() { # name
    local attempt log
    for attempt in 1 2 3 4 5; do
        log=$work/$1-$attempt.log
        if start_rnacos "$1-$attempt" && ! grep -q panicked "$log"; then
            nacos_idle=$(rss_kib "$npid")
            if nacos_config_works "$nacos" 300 && nacos_naming_works "$nacos" 300; then
                return 0
            fi
        fi
        echo "r-nacos ($1, start $attempt): $(grep -m1 -o 'panicked.*' "$log" || echo 'publish-then-read or register-then-list failed'); restarting on a new data dir" >&2
        stop "$npid"
    done
    echo "r-nacos: broken 5 starts in a row; see $work/$1-*.log" >&2
    exit 1
}
