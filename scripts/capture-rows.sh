#!/usr/bin/env bash
# Turns the table of scripts/capture-compare.sh (run with PLAIN=1) into JSON rows of the
# benchmark table, group "capture": per ring size, ours (perf-client record) against
# `perf record -B --no-bpf-event` ("perf -B") and plain `perf record`, all from the same
# run. ratio = ours / peer; for every capture metric lower is better.
# Metrics: lost fraction (lost / (samples + lost), perf's own count on each file),
# recorder CPU seconds, output MB, and s+l-exact (samples + lost - exact event count:
# > 0 means records counted twice or events of the tool itself).
#
# usage: PLAIN=1 scripts/capture-compare.sh > target/capture/run.txt
#        scripts/capture-rows.sh target/capture/run.txt > benches/results/capture-rows.json
set -euo pipefail
awk '
$1 == "perf" || $1 == "perf-plain" || $1 == "perf-client" {
    k = $1 SUBSEP $2; if (!($2 in seen)) { seen[$2] = 1; ms[++n] = $2 }
    lost[k] = $6; extra[k] = $7; cpu[k] = $9; mb[k] = $10
}
function row(metric, unit, m, ov, peer, pv) {
    printf "%s  {\"group\": \"capture\", \"subject\": \"perf-client record -m %d: %s\", \"value\": %s, \"unit\": \"%s\", \"peer\": \"%s\", \"peer_value\": %s, \"ratio\": %s, \"ratio_is\": \"ours/peer (lower is better)\"}", sep, m, metric, ov, unit, peer, pv, (pv + 0 != 0 ? sprintf("%.3f", ov / pv) : "null")
    sep = ",\n"
}
END {
    printf "[\n"
    for (i = 1; i <= n; i++) {
        m = ms[i]; o = "perf-client" SUBSEP m; b = "perf" SUBSEP m; p = "perf-plain" SUBSEP m
        if (!(o in cpu)) continue
        if (b in cpu) {
            row("lost fraction", "fraction", m, lost[o], "perf record -B --no-bpf-event", lost[b])
            row("recorder CPU", "s", m, cpu[o], "perf record -B --no-bpf-event", cpu[b])
            row("output", "MB", m, mb[o], "perf record -B --no-bpf-event", mb[b])
            row("samples+lost-exact", "records", m, extra[o] + 0, "perf record -B --no-bpf-event", extra[b] + 0)
        }
        if (p in cpu) {
            row("lost fraction", "fraction", m, lost[o], "perf record", lost[p])
            row("recorder CPU", "s", m, cpu[o], "perf record", cpu[p])
            row("output", "MB", m, mb[o], "perf record", mb[p])
        }
    }
    printf "\n]\n"
}' "$1"
