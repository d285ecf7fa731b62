#!/usr/bin/env bash
# Back-end benchmark (docs/performance.md): compile time and peak memory of
# `flowc FILE -o PLAN` for a `for` over range(0, N) with three stages per
# iteration (3N instances), and for the flat chain of the front-end
# benchmark. Prints medians of RUNS runs.
#   bench/compile.sh [BUILD_DIR] [N] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
n=${2:-100000}
runs=${3:-5}
cmake --build "$build" --target flowc >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 "$root/bench/gen_fanout.py" "$n" > "$out/fanout.flow"
python3 "$root/bench/gen_chain.py" "$n" > "$out/chain.flow"

source "$root/bench/measure.sh"
echo "for over range(0, $n), 3 stages per iteration ($((3 * n)) instances):"
measure t1 "  flowc -o plan" "$build/bin/flowc" "$out/fanout.flow" -o "$out/fanout.plan" --no-history
measure t2 "  flowc -o plan --pretty" "$build/bin/flowc" "$out/fanout.flow" -o "$out/fanout.plan" --no-history --pretty
"$build/bin/flowc" "$out/fanout.flow" -o "$out/fanout.plan" --no-history --time-passes 2>&1 | sed 's/^/    /'
echo "  plan file: $(du -h "$out/fanout.plan" | cut -f1)"
echo "flat chain of $n calls:"
measure t3 "  flowc -o plan" "$build/bin/flowc" "$out/chain.flow" -o "$out/chain.plan" --no-history --param seed=in.txt
