# SPDX-License-Identifier: Apache-2.0
# Sourced by the bench scripts: `measure VAR NAME COMMAND...` runs COMMAND
# $runs times under /usr/bin/time, prints the median wall time and the median
# peak memory, and stores the median wall time in VAR. Needs $runs and $out.
measure() {
  local var=$1 name=$2; shift 2
  local walls=() rsss=()
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$out/time" "$@" >/dev/null 2>"$out/stderr" || { cat "$out/stderr"; exit 1; }
    read -r wall rss < "$out/time"
    walls+=("$wall"); rsss+=("$rss")
  done
  local mw mr
  mw=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  mr=$(printf '%s\n' "${rsss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-44s median %6.2f s   peak %6.0f MB   (runs: %s)\n' "$name" "$mw" "$(echo "$mr/1024" | bc -l)" "${walls[*]}"
  printf -v "$var" '%s' "$mw"
}
