#!/usr/bin/env bash
# `perf-client report` against `perf report --stdio` on one large `--call-graph dwarf`
# capture: wall time and peak RSS of each, and the ratio. Usage:
#   scripts/report-dwarf-compare.sh [py|c] [ITERATIONS]
# py (default): python3 computing fib(22) ITERATIONS times (default 8000, about 0.5 GB):
#   deep interpreter stacks, the case DWARF unwinding is for.
# c: main -> work_a -> work_b -> work_leaf built with -O2 -fomit-frame-pointer
#   (default 9000 iterations, about 0.5 GB): seven frames a sample.
# Needs gcc or python3, perf, and perf_event_open for cpu-clock (root, or
# perf_event_paranoid <= 1). The page cache is warm for both reports; each runs three times.
set -euo pipefail
kind=${1:-py}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/report-dwarf.XXXXXX)
trap 'rm -rf "$dir"' EXIT
case "$kind" in
py)
    iters=${2:-8000}
    cat > "$dir/deep.py" <<'PY'
import sys
def fib(n): return n if n < 2 else fib(n-1) + fib(n-2)
for _ in range(int(sys.argv[1])): fib(22)
PY
    cmd=(python3 "$dir/deep.py" "$iters")
    ;;
c)
    iters=${2:-9000}
    cat > "$dir/chain.c" <<'C'
#include <stdlib.h>
volatile unsigned long sink;
__attribute__((noinline)) void work_leaf(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void work_b(unsigned long n) { work_leaf(n); sink++; }
__attribute__((noinline)) void work_a(unsigned long n) { work_b(n); sink++; }
int main(int argc, char **argv) { unsigned long k, n = argc > 1 ? strtoul(argv[1], 0, 10) : 100; for (k = 0; k < n; k++) work_a(1000000); return 0; }
C
    gcc -O2 -g -fomit-frame-pointer -o "$dir/chain" "$dir/chain.c"
    cmd=("$dir/chain" "$iters")
    ;;
*) echo "usage: $0 [py|c] [ITERATIONS]" >&2; exit 2 ;;
esac
cargo build --release --quiet -p perf-client-cli --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/release/perf-client"
"$bin" record -q --call-graph dwarf -o "$dir/big.data" -- "${cmd[@]}"
echo "capture ($kind): $(du -h "$dir/big.data" | cut -f1), $(perf report --stats -i "$dir/big.data" 2>/dev/null | awk '/SAMPLE events/ {print $3; exit}') samples"
# The capture's dirty pages are written back first (else the first report pays for the
# writeback), then the page cache is warm for both; each report runs three times,
# alternating, and the median wall time counts.
sync
cat "$dir/big.data" > /dev/null
t() { /usr/bin/time -f "%e %M" "$@" > /dev/null 2> "$dir/time"; tail -1 "$dir/time"; }
median() { sort -n | sed -n 2p; }
for _ in 1 2 3; do
    t "$bin" report -i "$dir/big.data" >> "$dir/ours"
    t perf report --stdio -i "$dir/big.data" >> "$dir/theirs"
done
ours=$(cut -d' ' -f1 "$dir/ours" | median); ours_kb=$(cut -d' ' -f2 "$dir/ours" | sort -n | tail -1)
theirs=$(cut -d' ' -f1 "$dir/theirs" | median); theirs_kb=$(cut -d' ' -f2 "$dir/theirs" | sort -n | tail -1)
echo "perf-client report:  ${ours} s (runs: $(cut -d' ' -f1 "$dir/ours" | tr '\n' ' ')), ${ours_kb} KB peak RSS"
echo "perf report --stdio: ${theirs} s (runs: $(cut -d' ' -f1 "$dir/theirs" | tr '\n' ' ')), ${theirs_kb} KB peak RSS"
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "ratio of the medians (perf / perf-client): %.1fx\n", b / a }'
