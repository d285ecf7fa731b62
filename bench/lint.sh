#!/usr/bin/env bash
# Front-end benchmark (docs/performance.md): `flowc --lint` on a flat file of
# N stage calls, each using the previous call's output, against a plain ANTLR
# parse of the same file in the same run. Prints medians of wall time and
# peak memory.  Usage: bench/lint.sh [BUILD_DIR] [N] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
n=${2:-100000}
runs=${3:-5}
cmake --build "$build" --target flowc antlr_baseline >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 "$root/bench/gen_chain.py" "$n" > "$out/chain.flow"
echo "input: $n stage calls, $(wc -l < "$out/chain.flow") lines, $(du -h "$out/chain.flow" | cut -f1)"

source "$root/bench/measure.sh"
measure flowc_wall "flowc --lint" "$build/bin/flowc" --lint "$out/chain.flow"
measure antlr_wall "plain ANTLR parse" "$build/bin/antlr_baseline" "$out/chain.flow"
printf 'ratio flowc / plain ANTLR parse: %.2f\n' "$(echo "$flowc_wall / $antlr_wall" | bc -l)"
