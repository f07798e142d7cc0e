# The summary table of docs/benchmarks.md (bench/run.sh): one row per scenario, each variant's
# median (min–max) over its runs, the two ratios against r-nacos, and for throughput scenarios
# (the same load shape as the ceiling) the fraction of the ceiling each variant reached.
#
#   jq -L bench -rn --arg ceiling N --slurpfile cc config-center.jsonl \
#       --slurpfile reg registry.jsonl 'include "summary"; summary($ceiling; $cc; $reg)'
include "report";

# One row: `f` picks the figure from each of the runs $rs (null: not this scenario's run).
def row($name; $rs; f; $throughput; $ceiling):
    ($rs | of("keel"; f)) as $k | ($rs | of("keel-nacos"; f)) as $kn | ($rs | of("r-nacos"; f)) as $n
    | "| \($name) | \($k | spread) | \($kn | spread) | \($n | spread) | \(ratio($kn; $n)) | \(ratio($k; $n)) | "
      + (if $throughput then [$k, $kn, $n] | map(fraction(.; $ceiling)) | join(" · ") else "–" end)
      + " |";

# $c, $r: the runs of bench/config-center.sh and bench/registry.sh; $ceiling: CEILING_RPS.
def summary($ceiling; $c; $r):
    ([$c[] | .writers // empty] | max) as $writers
    | "| scenario | keel (native) | keel (Nacos API) | r-nacos | keel (Nacos API) / r-nacos | keel (native) / r-nacos | ceiling fraction (native · Nacos API · r-nacos) |",
      "|---|---|---|---|---|---|---|",
      row("config read, req/s"; $c; .rps; true; $ceiling),
      row("config publish, 1 writer, publishes/s (keel native: item put + release)"; $c; select(.writers == 1) | .releases_per_s; false; $ceiling),
      row("config publish, \($writers) writers, publishes/s"; $c; select((.writers // 1) > 1) | .releases_per_s; false; $ceiling),
      (([$c[] | .polls // empty] | unique[]) as $p
        | row("long-poll fan-out, \($p) parked: last answered ms, client side (lower is better)"; $c; select(.polls == $p) | .last_answer_ms; false; $ceiling),
          row("long-poll fan-out, \($p) parked: last answered ms, server side (keel's gauge; r-nacos has none)"; $c; select(.polls == $p) | .server_last_ms; false; $ceiling)),
      (([$c[] | .polls // empty] | max) as $p
        | row("long-poll fan-out, \($p) parked: server bytes per parked poll (lower is better)"; $c; select(.polls == $p) | .bytes_per_poll; false; $ceiling),
          row("long-poll fan-out, \($p) parked: server CPU µs per woken poll (lower is better)"; $c; select(.polls == $p) | .server_cpu_us_per_poll; false; $ceiling)),
      row("instance register, registered/s"; $r; .registered_per_s; true; $ceiling),
      row("heartbeat, beats/s"; $r; select(.target_beats_per_s == null) | .beats_per_s; true; $ceiling),
      row("discovery query, req/s"; $r; .rps; true; $ceiling),
      (([$r[] | .watchers // empty] | unique[]) as $w
        | ([$r[] | select(.watchers == $w) | .interval_ms // empty] | first // null) as $i
        | row("register → \($w) watchers told: p99 ms (native: long poll; Nacos API: polling every \($i // "?") ms)"; $r; select(.watchers == $w) | .p99_ms; false; $ceiling),
          row("register → \($w) watchers: first watcher told, p50 ms"; $r; select(.watchers == $w) | .first_p50_ms; false; $ceiling)),
      row("instances held: server bytes per instance (lower is better)"; $r; select(.target_beats_per_s != null) | .bytes_per_instance; false; $ceiling);
