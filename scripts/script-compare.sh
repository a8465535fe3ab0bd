#!/usr/bin/env bash
# Whole-process `perf-client script` against `perf script` on the same perf.data (issue 6
# §1 parsing): ROUNDS interleaved runs each (who goes first alternates), output to
# /dev/null, wall and CPU (user + system) per run from GNU time; medians, and the
# same-round speedup (perf / ours), median over rounds.
#
# Equivalent output: perf script prints the fields ours prints (-F below: comm, pid/tid,
# cpu, time, period, event, ip, symbol+offset, dso; symbols on). The outputs are compared
# byte for byte (whitespace runs squeezed) before timing.
#
# usage: scripts/script-compare.sh            (FILE=target/parse-bench/storm.data ROUNDS=9)
#        JSON=/tmp/rows.json scripts/script-compare.sh
# The default file is the one `cargo bench --bench parsing` records (perf record of a
# syscall storm, about 2 million samples).
set -euo pipefail
cd "$(dirname "$0")/.."
FILE=${FILE:-target/parse-bench/storm.data}
ROUNDS=${ROUNDS:-9}
JSON=${JSON:-benches/results/script-rows.json}
FIELDS=comm,pid,tid,cpu,time,period,event,ip,sym,symoff,dso
if [ ! -f "$FILE" ]; then
    mkdir -p "$(dirname "$FILE")"
    perf record -q -e raw_syscalls:sys_enter -c 1 -m 1024 -o "$FILE" -- \
        dd if=/dev/zero of=/dev/null bs=1 count=1000000 2>/dev/null
fi
cargo build --release -q --bin perf-client
PC=$PWD/target/release/perf-client
T=$(mktemp -d /tmp/script-compare.XXXXXX)
trap 'rm -rf "$T"' EXIT

"$PC" script -i "$FILE" 2>/dev/null | tr -s ' ' >"$T/ours.txt"
perf script -i "$FILE" -F "$FIELDS" 2>/dev/null | tr -s ' ' >"$T/perf.txt"
if ! cmp -s "$T/ours.txt" "$T/perf.txt"; then
    echo "script-compare: outputs differ:" >&2
    diff "$T/ours.txt" "$T/perf.txt" | head -5 >&2
    exit 1
fi
lines=$(wc -l <"$T/ours.txt")
echo "file $FILE: $lines identical lines from both; $ROUNDS interleaved rounds"
rm -f "$T/ours.txt" "$T/perf.txt"

run() { # tool -> "wall cpu"
    if [ "$1" = ours ]; then
        /usr/bin/time -f "%e %U %S" -o "$T/t" "$PC" script -i "$FILE" >/dev/null 2>&1
    else
        /usr/bin/time -f "%e %U %S" -o "$T/t" perf script -i "$FILE" -F "$FIELDS" >/dev/null 2>&1
    fi
    awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$T/t"
}
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then o=$(run ours); p=$(run perf); else p=$(run perf); o=$(run ours); fi
    echo "$r $o $p"
done | tee "$T/rounds" | awk '{ printf "round %s: ours %s s wall %s s cpu; perf %s s wall %s s cpu\n", $1, $2, $3, $4, $5 }'

awk -v json="$JSON" -v lines="$lines" -v rounds="$ROUNDS" '
function med(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ n++; ow[n] = $2; oc[n] = $3; pw[n] = $4; pc[n] = $5; sw[n] = $4 / $2; sc[n] = $5 / $3 }
END {
    mow = med(ow, n); moc = med(oc, n); mpw = med(pw, n); mpc = med(pc, n)
    msw = med(sw, n); msc = med(sc, n)
    printf "perf-client script: wall %.3f s, cpu %.3f s; perf script: wall %.3f s, cpu %.3f s\n", mow, moc, mpw, mpc
    printf "speedup (same round, median): wall %.2fx, cpu %.2fx (target 3.0x wall: %s)\n", msw, msc, (msw >= 3 ? "met" : "MISSED")
    printf "[\n" > json
    printf "  {\"group\": \"parsing\", \"subject\": \"perf-client script (wall)\", \"value\": %.3f, \"unit\": \"s\", \"peer\": \"perf script 6.1 (wall)\", \"ratio\": %.3f, \"ratio_is\": \"peer/ours\", \"target\": 3.0, \"rounds\": %d, \"lines\": %d},\n", mow, msw, rounds, lines > json
    printf "  {\"group\": \"parsing\", \"subject\": \"perf script 6.1 (wall)\", \"value\": %.3f, \"unit\": \"s\", \"peer\": null, \"ratio\": null, \"rounds\": %d, \"lines\": %d},\n", mpw, rounds, lines > json
    printf "  {\"group\": \"parsing\", \"subject\": \"perf-client script (cpu)\", \"value\": %.3f, \"unit\": \"s\", \"peer\": \"perf script 6.1 (cpu)\", \"ratio\": %.3f, \"ratio_is\": \"peer/ours\", \"target\": null, \"rounds\": %d, \"lines\": %d},\n", moc, msc, rounds, lines > json
    printf "  {\"group\": \"parsing\", \"subject\": \"perf script 6.1 (cpu)\", \"value\": %.3f, \"unit\": \"s\", \"peer\": null, \"ratio\": null, \"rounds\": %d, \"lines\": %d}\n", mpc, rounds, lines > json
    printf "]\n" > json
    printf "rows in %s\n", json
}' "$T/rounds"
