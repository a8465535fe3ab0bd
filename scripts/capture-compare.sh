#!/usr/bin/env bash
# The capture yardstick (issue 5 §7): a syscall storm recorded with
# raw_syscalls:sys_enter by `perf record` and by `perf-client record`, at several ring
# sizes. The recorder runs on CPU 0, the storm pins itself to CPU 1.
#
# For each run it reports: samples in the file and lost samples (both judged by
# /usr/bin/perf on the file: `perf report --stats` and the LOST_SAMPLES total of
# `perf report`), lost fraction, samples + lost against the exact event count (from
# `perf stat`, counting mode, which loses nothing), recorder CPU time (user + system of
# the recorder and the storm, from GNU time, minus the storm's own getrusage), and output
# bytes.
#
# usage: scripts/capture-compare.sh            (N=2000000 PAGES="1 4 16 128" RUNS=1)
#        N=5000000 PAGES="1 128" RUNS=3 OUT=/tmp/cmp scripts/capture-compare.sh
#        PLAIN=1 scripts/capture-compare.sh  (also plain `perf record`, without -B --no-bpf-event)
#        REALTIME=1 scripts/capture-compare.sh  (also both recorders with `-r 1`, SCHED_FIFO)
#        HOG=1 scripts/capture-compare.sh  (a busy loop shares CPU 0 with the recorders)
#        KEEP=1 scripts/capture-compare.sh  (keep the perf.data files in OUT)
# Needs root (or perf_event_paranoid <= -1) for raw_syscalls, tracefs mounted, 2+ CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000000}
PAGES=${PAGES:-"1 4 16 128"}
RUNS=${RUNS:-1}
OUT=${OUT:-$(mktemp -d /tmp/capture-compare.XXXXXX)}
mkdir -p "$OUT"
EVENT=raw_syscalls:sys_enter

cargo build --release -q --bin perf-client
PC=$PWD/target/release/perf-client
STORM=("$PC" storm -n "$N" --cpu 1)

# The exact number of events: counting mode has no ring and loses nothing.
exact=$(perf stat -x, -e "$EVENT" -- "${STORM[@]}" 2>&1 >/dev/null |
    awk -F, -v ev="$EVENT" '$3 == ev { print $1 }')
echo "workload: ${STORM[*]}; exact $EVENT events: $exact; results in $OUT"

# perf's verdict on a file: "samples lost".
judge() {
    local f=$1 samples lost
    samples=$(perf report --stats -i "$f" 2>/dev/null |
        awk '/SAMPLE events:/ { print $3; exit }')
    lost=$(perf report --stdio --sort cpu -i "$f" 2>/dev/null |
        awk '/^# Total Lost Samples:/ { print $5; exit }')
    echo "${samples:-0} ${lost:-0}"
}

run_one() {
    local tool=$1 m=$2 run=$3 f="$OUT/$1-m$2-r$3.data"
    local cmd
    if [ "$tool" = perf ]; then
        cmd=(perf record -q -B --no-bpf-event -e "$EVENT" -c 1 -m "$m" -o "$f" --)
    elif [ "$tool" = perf-rt ]; then
        cmd=(perf record -q -B --no-bpf-event -r 1 -e "$EVENT" -c 1 -m "$m" -o "$f" --)
    elif [ "$tool" = perf-client-rt ]; then
        cmd=("$PC" record -q -r 1 -e "$EVENT" -c 1 -m "$m" -o "$f" --)
    elif [ "$tool" = perf-plain ]; then
        # perf's defaults: build-ids collected at the end, BPF events tracked.
        cmd=(perf record -q -e "$EVENT" -c 1 -m "$m" -o "$f" --)
    else
        cmd=("$PC" record -q -e "$EVENT" -c 1 -m "$m" -o "$f" --)
    fi
    /usr/bin/time -f "%e %U %S" -o "$OUT/time" taskset -c 0 "${cmd[@]}" "${STORM[@]}" \
        2>"$OUT/$tool-m$m-r$run.err" >/dev/null
    read -r wall user sys <"$OUT/time"
    storm_cpu=$(sed -n 's/.*cpu_time \([0-9.]*\) s.*/\1/p' "$OUT/$tool-m$m-r$run.err" | tail -1)
    read -r samples lost < <(judge "$f")
    bytes=$(stat -c %s "$f")
    # Without KEEP, each file goes once judged: 60 runs of 200+ MB would fill the page
    # cache, and a recorder's write(2) would then run into reclaim.
    if [ -z "${KEEP:-}" ]; then rm -f "$f"; fi
    awk -v t="$tool" -v m="$m" -v r="$run" -v s="$samples" -v l="$lost" -v e="$exact" \
        -v w="$wall" -v u="$user" -v y="$sys" -v sc="${storm_cpu:-0}" -v b="$bytes" 'BEGIN {
        printf "%-11s %4d %3d %10d %10d %8.4f %+9d %7.2f %7.3f %10.1f\n",
            t, m, r, s, l, (s + l > 0 ? l / (s + l) : 0), s + l - e, w, u + y - sc, b / 1e6 }'
}

if [ -n "${HOG:-}" ]; then
    taskset -c 0 sh -c 'while :; do :; done' &
    hog=$!
    trap 'kill $hog' EXIT
fi
printf "%-11s %4s %3s %10s %10s %8s %9s %7s %7s %10s\n" \
    tool pages run samples lost lost_frac "s+l-exact" wall_s rec_cpu_s out_MB
for m in $PAGES; do
    for run in $(seq 1 "$RUNS"); do
        run_one perf "$m" "$run"
        if [ -n "${PLAIN:-}" ]; then run_one perf-plain "$m" "$run"; fi
        run_one perf-client "$m" "$run"
        if [ -n "${REALTIME:-}" ]; then
            run_one perf-rt "$m" "$run"
            run_one perf-client-rt "$m" "$run"
        fi
    done
done
