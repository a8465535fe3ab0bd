#!/usr/bin/env bash
# Instructions per record (write + read, bench producer and consumer, one thread) of the
# ring subjects, counted by callgrind: see examples/ring_instructions.rs.
#
# usage: scripts/ring-instructions.sh            (ROUNDS=64)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-64}
cargo build -q --profile bench --example ring_instructions
BIN=target/release/examples/ring_instructions
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
        --toggle-collect='ring_instructions::measured' "$BIN" "$1" "$2" "$ROUNDS" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '| record | per-record commit | batch commit |\n|---|---|---|\n'
for size in 16 64 256 4096; do
    w=$(count "$size" write)
    b=$(count "$size" batch)
    printf '| %s B | %s | %s |\n' "$size" \
        "$(echo "scale=1; $w / ($ROUNDS * 256)" | bc)" "$(echo "scale=1; $b / ($ROUNDS * 256)" | bc)"
done
r=$(count 16 rtrb)
printf '| rtrb u64 push + pop | %s | |\n' "$(echo "scale=1; $r / ($ROUNDS * 256)" | bc)"
