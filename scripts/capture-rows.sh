#!/usr/bin/env bash
# Turns the table of scripts/capture-compare.sh into JSON rows of the benchmark table,
# group "capture": per ring size, ours (perf-client record) against the best perf mode of
# each round (a round = one run of every tool at one ring size), and against each perf
# mode. For every capture metric lower is better.
#
# Targets (issue 15), as medians over the rounds of same-round ratios:
#   lost fraction  ours <= 0.5 x the best perf mode's of the round; where that mode lost
#                  nothing, ours must lose nothing (the round scores 0 if ours lost 0, and
#                  fails otherwise)
#   recorder CPU   ours <= 1.0 x the best (lowest) perf mode's of the round
# The whole run's CPU (recorder + storm) is shown against the best perf mode's, without a
# target. Per-mode rows are ratios of medians, without a target.
#
# usage: RUNS=9 scripts/capture-compare.sh > target/capture/run.txt
#        scripts/capture-rows.sh target/capture/run.txt > benches/results/capture-rows.json
set -euo pipefail
awk '
function put(arr, k, v) { vals[arr, k, ++cnt[arr, k]] = v }
function median(arr, k,    c, i, j, t, a) {
    c = cnt[arr, k]
    for (i = 1; i <= c; i++) a[i] = vals[arr, k, i] + 0
    for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
function label(t) {
    if (t == "perf") return "perf record -B --no-bpf-event"
    if (t == "perf-aio") return "perf record -B --no-bpf-event --aio"
    if (t == "perf-threads") return "perf record -B --no-bpf-event --threads"
    if (t == "perf-flush") return "perf record -B --no-bpf-event --mmap-flush=ring/4"
    if (t == "perf-plain") return "perf record (defaults)"
    return t
}
function short(t) {
    if (t == "perf") return "-B"
    if (t == "perf-aio") return "--aio"
    if (t == "perf-threads") return "--threads"
    if (t == "perf-flush") return "--mmap-flush"
    return t
}
$1 ~ /^perf/ && $2 ~ /^[0-9]+$/ {
    t = $1; m = $2; r = $3
    if (!(m in seen)) { seen[m] = 1; ms[++n] = m }
    if (t != "perf-client" && !(t in isperf) && t != "perf-rt" && t != "perf-client-rt") { isperf[t] = 1; modes[++nm] = t }
    lost[t, m, r] = $6; rec[t, m, r] = $9; whole[t, m, r] = $10; have[t, m, r] = 1
    if (!((m, r) in rseen)) { rseen[m, r] = 1; rounds[m, ++nr[m]] = r }
}
function row(subject, unit, value, peer, pv, ratio, extra) {
    printf "%s  {\"group\": \"capture\", \"subject\": \"%s\", \"value\": %s, \"unit\": \"%s\", \"peer\": \"%s\", \"peer_value\": %s, \"ratio\": %s, \"ratio_is\": \"ours/peer (lower is better)\"%s}", sep, subject, value, unit, peer, pv, ratio, extra
    sep = ",\n"
}
END {
    printf "[\n"
    for (i = 1; i <= n; i++) {
        m = ms[i]
        delete wins
        for (k = 1; k <= nr[m]; k++) {
            r = rounds[m, k]
            if (!(("perf-client", m, r) in have)) continue
            bl = -1; bc = -1; bw = -1; bt = ""
            for (q = 1; q <= nm; q++) {
                t = modes[q]
                if (t == "perf-plain" || !((t, m, r) in have)) continue
                if (bl < 0 || lost[t, m, r] < bl) { bl = lost[t, m, r] }
                if (bc < 0 || rec[t, m, r] < bc) { bc = rec[t, m, r]; bt = t }
                if (bw < 0 || whole[t, m, r] < bw) { bw = whole[t, m, r] }
            }
            if (bl < 0) continue
            ol = lost["perf-client", m, r]; oc = rec["perf-client", m, r]; ow = whole["perf-client", m, r]
            put("ol", m, ol); put("oc", m, oc); put("ow", m, ow)
            put("bl", m, bl); put("bc", m, bc); put("bw", m, bw)
            # Lost: ours/best, or 0 (met) / a failing score where the best lost nothing.
            put("sl", m, bl > 0 ? ol / bl : (ol == 0 ? 0 : 1e9))
            put("sc", m, bc > 0 ? oc / bc : 1e9)
            put("sw", m, bw > 0 ? ow / bw : 1e9)
            wins[bt]++
        }
        if (cnt["ol", m] == 0) continue
        who = ""
        for (q = 1; q <= nm; q++) if (modes[q] in wins) who = who (who == "" ? "" : ", ") short(modes[q]) " " wins[modes[q]]
        best = "best perf mode of each round"
        sl = median("sl", m); sc = median("sc", m); sw = median("sw", m)
        rounds_note = sprintf(", \"rounds\": %d", cnt["ol", m])
        row("perf-client record -m " m ": lost fraction", "fraction", sprintf("%.4f", median("ol", m)), best, sprintf("%.4f", median("bl", m)),
            (sl < 1e8 ? sprintf("%.3f", sl) : "null"),
            rounds_note ", \"target_max\": 0.5, \"verdict\": \"" (sl <= 0.5 ? "met" : "MISSED") "\"")
        row("perf-client record -m " m ": recorder CPU", "s", sprintf("%.3f", median("oc", m)), best " (lowest CPU: " who ")", sprintf("%.3f", median("bc", m)),
            sprintf("%.3f", sc), rounds_note ", \"target_max\": 1.0, \"verdict\": \"" (sc <= 1.0 ? "met" : "MISSED") "\"")
        row("perf-client record -m " m ": whole-run CPU (recorder + storm)", "s", sprintf("%.3f", median("ow", m)), best, sprintf("%.3f", median("bw", m)),
            sprintf("%.3f", sw), rounds_note)
        for (q = 1; q <= nm; q++) {
            t = modes[q]
            delete tmp
            c = 0
            for (k = 1; k <= nr[m]; k++) {
                r = rounds[m, k]
                if (!((t, m, r) in have)) continue
                put("pl" t, m, lost[t, m, r]); put("pc" t, m, rec[t, m, r]); put("pw" t, m, whole[t, m, r]); c++
            }
            if (c == 0) continue
            pl = median("pl" t, m); pc = median("pc" t, m); pw = median("pw" t, m)
            row("perf-client record -m " m ": lost fraction", "fraction", sprintf("%.4f", median("ol", m)), label(t), sprintf("%.4f", pl),
                (pl > 0 ? sprintf("%.3f", median("ol", m) / pl) : "null"), "")
            row("perf-client record -m " m ": recorder CPU", "s", sprintf("%.3f", median("oc", m)), label(t), sprintf("%.3f", pc),
                sprintf("%.3f", median("oc", m) / pc), "")
            row("perf-client record -m " m ": whole-run CPU (recorder + storm)", "s", sprintf("%.3f", median("ow", m)), label(t), sprintf("%.3f", pw),
                sprintf("%.3f", median("ow", m) / pw), "")
        }
    }
    printf "\n]\n"
}' "$1"
