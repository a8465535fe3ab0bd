#!/usr/bin/env bash
# Turns the table of scripts/capture-compare.sh (run with PLAIN=1) into JSON rows of the
# benchmark table, group "capture": per ring size, ours (perf-client record) against
# `perf record -B --no-bpf-event` ("perf -B") and plain `perf record`, all from the same
# run. ratio = ours / peer; for every capture metric lower is better.
# Metrics: lost fraction (lost / (samples + lost), perf's own count on each file),
# recorder CPU seconds, output MB, and s+l-exact (samples + lost - exact event count:
# > 0 means records counted twice or events of the tool itself).
#
# usage: PLAIN=1 RUNS=3 scripts/capture-compare.sh > target/capture/run.txt
#        (with REALTIME=1, also rows for both recorders under `-r 1`)
#        scripts/capture-rows.sh target/capture/run.txt > benches/results/capture-rows.json
set -euo pipefail
awk '
# With RUNS > 1, each value is the median over the runs of its tool and ring size.
function put(arr, k, v,    i, c) {
    c = ++cnt[arr, k]
    vals[arr, k, c] = v
}
function median(arr, k,    c, i, j, t, a) {
    c = cnt[arr, k]
    for (i = 1; i <= c; i++) a[i] = vals[arr, k, i] + 0
    for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
$1 == "perf" || $1 == "perf-plain" || $1 == "perf-client" || $1 == "perf-rt" || $1 == "perf-client-rt" {
    k = $1 SUBSEP $2; if (!($2 in seen)) { seen[$2] = 1; ms[++n] = $2 }
    put("lost", k, $6); put("extra", k, $7); put("cpu", k, $9); put("mb", k, $10); have[k] = 1
}
# Targets of issue 5 (lower is better): lost fraction at most half that of plain perf
# record, recorder CPU at most that of perf record -B --no-bpf-event.
function row(metric, unit, m, ov, peer, pv,    t) {
    t = ""
    if (flags == "" && metric == "lost fraction" && peer == "perf record") t = ", \"target_max\": 0.5"
    if (flags == "" && metric == "recorder CPU" && peer == "perf record -B --no-bpf-event") t = ", \"target_max\": 1.0"
    printf "%s  {\"group\": \"capture\", \"subject\": \"perf-client record %s-m %d: %s\", \"value\": %s, \"unit\": \"%s\", \"peer\": \"%s\", \"peer_value\": %s, \"ratio\": %s, \"ratio_is\": \"ours/peer (lower is better)\"%s}", sep, flags, m, metric, ov, unit, peer, pv, (pv + 0 != 0 ? sprintf("%.3f", ov / pv) : "null"), t
    sep = ",\n"
}
END {
    printf "[\n"
    for (i = 1; i <= n; i++) {
        m = ms[i]; o = "perf-client" SUBSEP m; b = "perf" SUBSEP m; p = "perf-plain" SUBSEP m
        ort = "perf-client-rt" SUBSEP m; brt = "perf-rt" SUBSEP m
        if (!(o in have)) continue
        for (t = 0; t < 5; t++) {
            k = (t == 0 ? o : (t == 1 ? b : (t == 2 ? p : (t == 3 ? ort : brt))))
            if (!(k in have)) continue
            lost[k] = median("lost", k); extra[k] = median("extra", k)
            cpu[k] = median("cpu", k); mb[k] = median("mb", k)
        }
        if (b in have) {
            row("lost fraction", "fraction", m, lost[o], "perf record -B --no-bpf-event", lost[b])
            row("recorder CPU", "s", m, cpu[o], "perf record -B --no-bpf-event", cpu[b])
            row("output", "MB", m, mb[o], "perf record -B --no-bpf-event", mb[b])
            row("samples+lost-exact", "records", m, extra[o] + 0, "perf record -B --no-bpf-event", extra[b] + 0)
        }
        if (p in have) {
            row("lost fraction", "fraction", m, lost[o], "perf record", lost[p])
            row("recorder CPU", "s", m, cpu[o], "perf record", cpu[p])
            row("output", "MB", m, mb[o], "perf record", mb[p])
        }
        if ((ort in have) && (brt in have)) {
            flags = "-r 1 "
            row("lost fraction", "fraction", m, lost[ort], "perf record -B --no-bpf-event -r 1", lost[brt])
            row("recorder CPU", "s", m, cpu[ort], "perf record -B --no-bpf-event -r 1", cpu[brt])
            flags = ""
        }
    }
    printf "\n]\n"
}' "$1"
