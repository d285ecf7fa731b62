#!/usr/bin/env bash
# Front-end benchmark (docs/performance.md): `flowc --lint` on a flat file of
# N stage calls, each using the previous call's output, against the same
# with FLOW_PARSER=antlr and a plain ANTLR parse of the same file, in the
# same run. Prints medians of wall time and
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
# The same front end with the ANTLR parser instead of the fast one (the path
# that a file with a syntax error takes).
measure antlr_path_wall "flowc --lint, ANTLR path" env FLOW_PARSER=antlr "$build/bin/flowc" --lint "$out/chain.flow"
measure antlr_wall "plain ANTLR parse" "$build/bin/antlr_baseline" "$out/chain.flow"
printf 'ratio flowc / plain ANTLR parse: %.2f\n' "$(echo "$flowc_wall / $antlr_wall" | bc -l)"
printf 'ratio flowc / flowc on the ANTLR path: %.2f\n' "$(echo "$flowc_wall / $antlr_path_wall" | bc -l)"
