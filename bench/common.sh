# Helpers the benchmark scripts share; source it after setting `work_prefix`:
#
#   work_prefix=keel-bench; . "$root/bench/common.sh"
#
# It makes a scratch directory "$work", a list "pids" of servers this script started (add to
# it), and a trap that stops exactly those (by pid) and removes "$work" on exit.

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

# The resident memory of process `$1`, in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
