#!/usr/bin/env bash
# Runs the same nacos-sdk-python 0.1.17 scenario (scenario.py) against r-nacos and against
# `keel serve`, each fresh on loopback, and diffs the two transcripts with each other and with
# scenario.expected (which keel's test suite checks on every run).
#
#   nacos/compat/compare.sh
#
# Needs r-nacos (RNACOS_BIN, default target/rnacos/bin/rnacos, as bench/run.sh installs it)
# and the client's virtualenv (KEEL_NACOS_VENV, default target/nacos-venv, as the test suite
# creates it). Exit status 0 when all three agree.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
RNACOS_BIN=${RNACOS_BIN:-$root/target/rnacos/bin/rnacos}
python=${KEEL_NACOS_VENV:-$root/target/nacos-venv}/bin/python
[[ -x $RNACOS_BIN ]] || { echo "no r-nacos at $RNACOS_BIN (set RNACOS_BIN, or run bench/run.sh once)" >&2; exit 2; }
[[ -x $python ]] || { echo "no client virtualenv at ${python%/bin/python} (run scripts/test.sh once)" >&2; exit 2; }

cargo build --release -p keel >&2
work_prefix=keel-nacos-compat bin=$root/target/release
# shellcheck source=../../bench/common.sh
. "$root/bench/common.sh"
: >"$work/keel.toml"
start_keel keel
start_rnacos_checked rnacos

scenario() { # base-url name
    "$python" "$root/nacos/compat/scenario.py" "${1#http://}" "$work/logs-$2" "$2" \
        >"$work/$2.out" 2>"$work/$2.err" || echo "(the scenario failed against $2: see below)" >>"$work/$2.out"
}
scenario "$nacos" r-nacos
scenario "$keel" keel

status=0
echo "== r-nacos vs keel"
diff -u --label r-nacos --label keel "$work/r-nacos.out" "$work/keel.out" || status=1
echo "== scenario.expected vs r-nacos"
diff -u --label expected --label r-nacos "$root/nacos/compat/scenario.expected" "$work/r-nacos.out" || status=1
if ((status)); then
    echo "-- r-nacos stderr"; tail -20 "$work/r-nacos.err"
    echo "-- keel stderr"; tail -20 "$work/keel.err"
else
    echo "r-nacos and keel give the same transcript ($(wc -l <"$work/keel.out") lines)."
fi
exit $status
