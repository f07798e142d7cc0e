# jq helpers shared by the reports of bench/config-center.sh, bench/registry.sh and
# bench/run.sh: `jq -L "$root/bench" 'include "report"; …'`.
#
# A run is one JSON object a keel-bench tool printed, labelled "<variant>#<round>" (or just
# "<variant>"), where the variant is the server and API: keel (keel's native API), keel-nacos
# (keel through the Nacos v1 API) or r-nacos (r-nacos through the Nacos v1 API).

# The median of an array of numbers; null when empty.
def med: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;

# A number from a field that may be a string (the tools print milliseconds as "1.234").
def num: if type == "string" then tonumber else . end;

# The variant of a run: its label up to the '#'.
def variant: (.label // "") | split("#")[0];

# The variants in table order, and their names on the page.
def variants: ["keel", "keel-nacos", "r-nacos"];
def variant_name: {"keel": "keel (native)", "keel-nacos": "keel (Nacos API)", "r-nacos": "r-nacos"}[.] // .;

# A figure for a table: whole numbers from 100 up, two decimals below, "n/a" for null.
def fmt: if . == null then "n/a"
    elif (if . < 0 then -. else . end) >= 100 then round | tostring
    else (. * 100 | round) / 100 | tostring end;

# KiB as MiB with one decimal ("n/a" for null).
def mib: if . == null then "n/a" else (. / 1024 * 10 | round) / 10 | tostring end;

# "median (min–max)" of an array of numbers; "n/a" when empty.
def spread: if length == 0 then "n/a"
    elif length == 1 then (.[0] | fmt)
    else "\(med | fmt) (\(min | fmt)–\(max | fmt))" end;

# The values of `f` over the runs (the input array) of variant $v; failed runs and null
# values are left out.
def of($v; f): [.[] | select(variant == $v and (has("failed") | not)) | f | select(. != null) | num];

# median($a) / median($b) as "1.23×"; "n/a" when either is missing.
def ratio($a; $b): if ($a | length) == 0 or ($b | length) == 0 or ($b | med) == 0 then "n/a"
    else "\((($a | med) / ($b | med) * 100 | round) / 100)×" end;

# median($a) / $ceiling, two decimals; "n/a" when there is no figure or no ceiling.
def fraction($a; $ceiling): if ($a | length) == 0 or $ceiling == "" then "n/a"
    else (($a | med) / ($ceiling | tonumber) * 100 | round) / 100 | tostring end;

# One line under a table: each variant's median (min–max) of `f`, then the two ratios the page
# compares: keel through the Nacos API against r-nacos (like for like), and keel's native API
# against r-nacos.
def medians($unit; f):
    . as $rs
    | [variants[] as $v | {v: $v, x: ($rs | of($v; f))}] as $all
    | ($all | map(select(.x | length > 0) | "\(.v | variant_name) \(.x | spread)") | join(" · ")) as $list
    | if $list == "" then "Median (min–max), \($unit): n/a"
      else "Median (min–max), \($unit): \($list)"
        + (if ($all[1].x | length) > 0 and ($all[2].x | length) > 0
           then "; keel (Nacos API) / r-nacos = **\(ratio($all[1].x; $all[2].x))**" else "" end)
        + (if ($all[0].x | length) > 0 and ($all[2].x | length) > 0
           then "; keel (native) / r-nacos = \(ratio($all[0].x; $all[2].x))" else "" end)
      end;

# The runs that failed, as a bullet list (empty when none did).
def failures: [.[] | select(has("failed")) | "- `\(.label)`: \(.failed)"] | join("\n");

# A run's label as the tables show it: "keel (Nacos API) #2".
def run_name: (.label // "") as $l | ($l | split("#")) as $p
    | ($p[0] | variant_name) + (if ($p | length) > 1 then " #\($p[1])" else "" end);

# The server columns every run table ends with: CPU seconds over the whole scenario and RSS
# after it.
def server_cols: "\(.server_cpu_s | fmt) | \(.server_rss_kib | mib) |";
