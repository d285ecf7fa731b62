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

measure() {  # var, name, command...: prints median wall seconds and median peak RSS
  local var=$1 name=$2; shift 2
  local walls=() rsss=()
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$out/time" "$@" >/dev/null 2>"$out/stderr" || true
    read -r wall rss < "$out/time"
    walls+=("$wall"); rsss+=("$rss")
  done
  local mw mr
  mw=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  mr=$(printf '%s\n' "${rsss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-28s median %6.2f s   peak %6.0f MB   (runs: %s)\n' "$name" "$mw" "$(echo "$mr/1024" | bc -l)" "${walls[*]}"
  printf -v "$var" '%s' "$mw"
}
measure flowc_wall "flowc --lint" "$build/bin/flowc" --lint "$out/chain.flow"
measure antlr_wall "plain ANTLR parse" "$build/bin/antlr_baseline" "$out/chain.flow"
printf 'ratio flowc / plain ANTLR parse: %.2f\n' "$(echo "$flowc_wall / $antlr_wall" | bc -l)"
