#!/usr/bin/env bash
# `perf-client report` against `perf report --stdio` on one large `--call-graph dwarf`
# capture: wall time and peak RSS of each, and the ratio. Usage:
#   scripts/report-dwarf-compare.sh [ITERATIONS]   (default 9000: about 0.5-1 GiB)
# Needs gcc, perf, and perf_event_open for cpu-clock (root or perf_event_paranoid <= 1).
set -euo pipefail
iters=${1:-9000}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/report-dwarf.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/chain.c" <<'C'
#include <stdlib.h>
volatile unsigned long sink;
__attribute__((noinline)) void work_leaf(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void work_b(unsigned long n) { work_leaf(n); sink++; }
__attribute__((noinline)) void work_a(unsigned long n) { work_b(n); sink++; }
int main(int argc, char **argv) { unsigned long k, n = argc > 1 ? strtoul(argv[1], 0, 10) : 100; for (k = 0; k < n; k++) work_a(1000000); return 0; }
C
gcc -O2 -g -fomit-frame-pointer -o "$dir/chain" "$dir/chain.c"
cargo build --release --quiet -p perf-client-cli --manifest-path "$root/Cargo.toml"
bin="$root/target/release/perf-client"
"$bin" record -q --call-graph dwarf -o "$dir/big.data" -- "$dir/chain" "$iters"
echo "capture: $(du -h "$dir/big.data" | cut -f1) $(perf report --stats -i "$dir/big.data" 2>/dev/null | awk '/SAMPLE events/ {print $3; exit}') samples"
sync
t() { /usr/bin/time -f "%e %M" "$@" > /dev/null 2> "$dir/time"; tail -1 "$dir/time"; }
read -r ours ours_kb < <(t "$bin" report -i "$dir/big.data")
read -r theirs theirs_kb < <(t perf report --stdio -i "$dir/big.data")
echo "perf-client report:    ${ours} s, ${ours_kb} KB peak RSS"
echo "perf report --stdio:   ${theirs} s, ${theirs_kb} KB peak RSS"
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "ratio (perf / perf-client): %.1fx\n", b / a }'
