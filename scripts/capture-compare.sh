#!/usr/bin/env bash
# The capture yardstick (issues 5 §7 and 15): a syscall storm recorded with
# raw_syscalls:sys_enter by `perf record` in each of its modes and by
# `perf-client record`, at several ring sizes. The recorder runs on CPU 0, the storm pins
# itself to CPU 1.
#
# perf at its best: every perf mode runs with -B --no-bpf-event (no build-id pass at the
# end, no BPF event tracking), and
#   perf          perf record -B --no-bpf-event                  (the plain streaming loop)
#   perf-aio      ... --aio                                      (POSIX AIO writes, 1 block)
#   perf-threads  ... --threads                                  (a reader thread per CPU,
#                                                                 one data file each)
#   perf-flush    ... --mmap-flush=<a quarter of the ring>       (write only when that much
#                                                                 is in the ring, perf's max)
#   perf-client   perf-client record                             (ours)
# A round is one run of every tool at one ring size, the tools in an order that rotates
# from round to round; scripts/capture-rows.sh holds ours against the best perf mode of
# each round.
#
# For each run it reports: samples in the file and lost samples (both judged by
# /usr/bin/perf on the file: `perf report --stats` and the LOST_SAMPLES total of
# `perf report`), lost fraction, samples + lost against the exact event count (from
# `perf stat`, counting mode, which loses nothing), recorder CPU time (user + system of
# the recorder and the storm, from GNU time, minus the storm's own getrusage), the whole
# run's CPU time (recorder + storm, which includes the kernel's work of writing the
# samples in the storm's context), and output bytes.
#
# usage: scripts/capture-compare.sh            (N=2000000 PAGES="4 16 128" RUNS=1)
#        N=5000000 PAGES="1 128" RUNS=9 OUT=/tmp/cmp scripts/capture-compare.sh
#        PLAIN=1 scripts/capture-compare.sh  (also plain `perf record`, without -B --no-bpf-event)
#        MODES="perf perf-aio" scripts/capture-compare.sh  (a subset of the perf modes)
#        REALTIME=1 scripts/capture-compare.sh  (also both recorders with `-r 1`, SCHED_FIFO)
#        HOG=1 scripts/capture-compare.sh  (a busy loop shares CPU 0 with the recorders)
#        KEEP=1 scripts/capture-compare.sh  (keep the perf.data files in OUT)
#        NICE=-19 scripts/capture-compare.sh  (every tool and the storm at that nice value:
#                                              on a machine shared with other work, what
#                                              decides the loss is then the tools, not the
#                                              neighbours; needs root)
# Needs root (or perf_event_paranoid <= -1) for raw_syscalls, tracefs mounted, 2+ CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000000}
PAGES=${PAGES:-"4 16 128"}
RUNS=${RUNS:-1}
MODES=${MODES:-"perf perf-aio perf-threads perf-flush"}
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
echo "machine: $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg); nice: ${NICE:-0}"

# perf's verdict on a file (or a --threads directory): "samples lost".
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
    local cmd perf_best=(perf record -q -B --no-bpf-event)
    case "$tool" in
    perf) cmd=("${perf_best[@]}") ;;
    perf-aio) cmd=("${perf_best[@]}" --aio) ;;
    perf-threads) cmd=("${perf_best[@]}" --threads) ;;
    # The largest flush threshold perf accepts: a quarter of the ring.
    perf-flush) cmd=("${perf_best[@]}" "--mmap-flush=$((m * 4096 / 4))") ;;
    perf-rt) cmd=("${perf_best[@]}" -r 1) ;;
    # perf's defaults: build-ids collected at the end, BPF events tracked.
    perf-plain) cmd=(perf record -q) ;;
    perf-client) cmd=("$PC" record -q) ;;
    perf-client-rt) cmd=("$PC" record -q -r 1) ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
    esac
    cmd+=(-e "$EVENT" -c 1 -m "$m" -o "$f" --)
    local prio=()
    if [ -n "${NICE:-}" ]; then prio=(nice -n "$NICE"); fi
    /usr/bin/time -f "%e %U %S" -o "$OUT/time" "${prio[@]}" taskset -c 0 "${cmd[@]}" "${STORM[@]}" \
        2>"$OUT/$tool-m$m-r$run.err" >/dev/null
    read -r wall user sys <"$OUT/time"
    storm_cpu=$(sed -n 's/.*cpu_time \([0-9.]*\) s.*/\1/p' "$OUT/$tool-m$m-r$run.err" | tail -1)
    read -r samples lost < <(judge "$f")
    bytes=$(du -sb "$f" | cut -f1)
    # Without KEEP, each file goes once judged: 100+ runs of 200+ MB would fill the page
    # cache, and a recorder's write(2) would then run into reclaim.
    if [ -z "${KEEP:-}" ]; then rm -rf "$f"; fi
    awk -v t="$tool" -v m="$m" -v r="$run" -v s="$samples" -v l="$lost" -v e="$exact" \
        -v w="$wall" -v u="$user" -v y="$sys" -v sc="${storm_cpu:-0}" -v b="$bytes" 'BEGIN {
        printf "%-14s %4d %3d %10d %10d %8.4f %+9d %7.2f %7.3f %7.3f %10.1f\n",
            t, m, r, s, l, (s + l > 0 ? l / (s + l) : 0), s + l - e, w, u + y - sc, u + y, b / 1e6 }'
}

if [ -n "${HOG:-}" ]; then
    taskset -c 0 sh -c 'while :; do :; done' &
    hog=$!
    trap 'kill $hog' EXIT
fi
read -r -a tools <<<"$MODES"
if [ -n "${PLAIN:-}" ]; then tools+=(perf-plain); fi
tools+=(perf-client)
if [ -n "${REALTIME:-}" ]; then tools+=(perf-rt perf-client-rt); fi
printf "%-14s %4s %3s %10s %10s %8s %9s %7s %7s %7s %10s\n" \
    tool pages run samples lost lost_frac "s+l-exact" wall_s rec_cpu_s run_cpu_s out_MB
for m in $PAGES; do
    for run in $(seq 1 "$RUNS"); do
        # Rotate the order of the tools from round to round.
        k=${#tools[@]}
        for ((j = 0; j < k; j++)); do
            run_one "${tools[$(((j + run) % k))]}" "$m" "$run"
        done
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
