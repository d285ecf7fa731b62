#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runtime benchmark (docs/performance.md): `flow run` against ninja and make
# on the same DAGs (bench/gen_dag.py), in the same run of this script.
#
#   bench/run.sh [BUILD_DIR] [RUNS]
# Environment (defaults in brackets): SHAPES [layers], WAYS [flow ninja make],
# TOUCH_N [10000], SLEEP_SHAPES [layers], SLEEP_SEEDS [1 2], SLEEP_N [160].
#
# 1. Overhead per stage: TOUCH_N (10,000) stages that each `touch` a marker,
#    for each shape of SHAPES, each way of WAYS:
#      flow    flow run dag.flow --cpus 2 --progress none  (compiles in process)
#      plan    flow run dag.plan --cpus 2 --progress none  (plan from `flowc -o`,
#              compiled once beforehand; that compile time is printed)
#      ninja   ninja -j2
#      make    make -j2
#    Each run starts in a fresh folder of its own (a copy of the DAG's
#    files), after a `sync`, and no run's files are deleted before the script
#    ends: on ext4 without a journal (this machine's), creating a file skips
#    every inode of its block group freed in the last 1-6 minutes, one
#    buffer lookup each, so deleting the 10,000 files of the run before made
#    each `touch` of the next run pay for them, by an amount that depended
#    on the order of the runs and on the tool's folders, not on the tool
#    (docs/performance.md, "ext4"). The ways take turns run by run,
#    so a change of load on this shared machine hits them alike. Prints the
#    median wall time of RUNS runs (default 5), ms per stage, peak memory,
#    the cpu time used (user + sys of the tool and of every command it
#    waited for: the same touches for every way, so the difference is the
#    tool's own), the share of the machine's cpu time left idle during
#    each run, and
#    the ratios flow/make and flow/ninja: of the medians, and run by run
#    (median and range of the ratios of runs taken in turn, which a change
#    of load on the machine hits alike).
# 2. Scheduling: SLEEP_N (160) stages that sleep 0.05-0.3 s, a few 1-2 s on
#    one path, for each shape of SLEEP_SHAPES and each seed of SLEEP_SEEDS;
#    one run of flow (dag.flow), ninja and make per seed. Prints each makespan
#    (the wall time of the whole command) divided by the lower bound
#    max(critical path, total work / 2 cpus), and the mean over the seeds.
#
# The defaults (SHAPES=layers, WAYS="flow ninja make", SLEEP_SHAPES=layers,
# SLEEP_SEEDS="1 2") keep one run under 5 minutes on the project's 2 cores
# when they are otherwise idle (2026-11-28: 229 s; a `flow run`, a ninja and a
# make of 10,000 stages each took 6-9 s, a sleep run 17-20 s). Every shape and
# the plan way with 3 seeds took 11 minutes with RUNS=3 (about 15 with 5):
#   SHAPES="chain fanout layers" WAYS="flow plan ninja make" SLEEP_SEEDS="1 2 3" bench/run.sh BUILD 3
# Under load every figure can double; the script prints the load average at
# its start and end.
#
# Snakemake is not installed on the project's machine, so it is not measured.
# hyperfine is not used: each run needs its own fresh folder, and its peak
# memory, which the loop below takes with /usr/bin/time as bench/measure.sh
# does. flow is taken as it is in BUILD_DIR/bin (this script builds nothing);
# when it is missing or fails on a 3-stage chain, only ninja and make are timed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
build=$(cd "$build" && pwd) || exit 2
runs=${2:-5}
shapes=${SHAPES-layers}
wanted=${WAYS-flow ninja make}
touch_n=${TOUCH_N:-10000}
sleep_shapes=${SLEEP_SHAPES-layers}
sleep_seeds=${SLEEP_SEEDS-1 2}
sleep_n=${SLEEP_N:-160}
cpus=2
flow=$build/bin/flow
flowc=$build/bin/flowc
gen=$root/bench/gen_dag.py
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
t_start=$(date +%s)

echo "runtime benchmark, $(date '+%Y-%m-%d %H:%M'), $(nproc) cpus, load: $(uptime | sed 's/.*load average: //')"
echo "flow: $flow${flow:+ (built $(date -r "$flow" "+%Y-%m-%d %H:%M" 2>/dev/null || echo -))}, source at $(git -C "$root" log -1 --format="%h %cd" --date=format:"%H:%M" 2>/dev/null)"
for tool in ninja make; do
  command -v $tool >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done
echo "ninja $(ninja --version), $(make --version | head -1)"

# Is flow there, and does it run a 3-stage DAG?
have_flow=0
if [ ! -x "$flow" ]; then
  echo "flow: $flow does not exist (the runtime is not built): skipping flow, timing ninja and make only"
elif [ ! -x "$flowc" ]; then
  echo "flowc: $flowc does not exist: skipping flow"
else
  python3 "$gen" chain touch "$out/smoke" --n 3
  rc=0
  (cd "$out/smoke" && "$flow" run dag.flow --cpus $cpus --progress none) >"$out/smoke.log" 2>&1 || rc=$?
  if [ $rc = 0 ]; then
    have_flow=1
  else
    echo "flow: a 3-stage chain fails, skipping flow:"
    echo "  \$ cd $out/smoke && $flow run dag.flow --cpus $cpus --progress none"
    echo "  exit code $rc; its output, then dag.flow:"
    sed 's/^/  | /' "$out/smoke.log" | tail -20
    sed 's/^/  > /' "$out/smoke/dag.flow"
  fi
fi

declare -A walls mems idles cpus_used failed
# The machine's cpu time so far and the idle part of it, in jiffies
# (/proc/stat; iowait counts as idle): a tool that leaves cpus idle while
# work is ready shows it here (make does in some runs: docs/performance.md).
cpu_jiffies() {
  local _ u n s i io irq sirq st
  read -r _ u n s i io irq sirq st _ < /proc/stat
  echo "$((u + n + s + i + io + irq + sirq + st)) $((i + io))"
}
# run_once KEY SRC PREPARE CHECK COMMAND...: copies the DAG in SRC to a fresh
# folder, runs PREPARE there (untimed) and `sync`, then COMMAND under
# /usr/bin/time, then CHECK (a shell condition, in that folder, with $n set);
# appends the wall time and peak memory to walls[KEY], mems[KEY]. A failure
# is printed with the command and its output, and KEY is not run again.
# The folder stays until the script ends (see "fresh folder" above).
run_seq=0
run_once() {
  local key=$1 src=$2 prepare=$3 check=$4; shift 4
  [ -n "${failed[$key]:-}" ] && return 1
  local dir=$out/runs/$key.$((++run_seq))
  mkdir -p "$dir/m" && cp "$src/dag.flow" "$src/Makefile" "$src/build.ninja" "$dir/"
  (cd "$dir" && eval "$prepare")
  sync
  local rc=0 t0 i0 t1 i1
  read -r t0 i0 < <(cpu_jiffies)
  (cd "$dir" && /usr/bin/time -f "%e %M %U %S" -o "$out/time" "$@" >"$out/stdout" 2>"$out/stderr") || rc=$?
  read -r t1 i1 < <(cpu_jiffies)
  if [ $rc -eq 0 ] && ! (cd "$dir" && eval "$check"); then rc=check; fi
  if [ $rc != 0 ]; then
    failed[$key]=1
    echo "FAILED ($key): exit code $rc: \$ cd $dir && $*"
    echo "  stderr (last 15 lines):"; tail -15 "$out/stderr" | sed 's/^/  | /'
    echo "  stdout (last 5 lines):"; tail -5 "$out/stdout" | sed 's/^/  | /'
    return 1
  fi
  local w m u s
  read -r w m u s < <(tail -1 "$out/time")
  walls[$key]+="$w "; mems[$key]+="$m "
  cpus_used[$key]+="$(awk -v u="$u" -v s="$s" 'BEGIN {printf "%.2f", u + s}') "
  idles[$key]+="$(( t1 > t0 ? 100 * (i1 - i0) / (t1 - t0) : 0 )) "
}
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
mean() { printf '%s\n' $1 | awk '{s += $1} END {if (NR) printf "%.2f", s / NR; else printf "-"}'; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}' || printf -- '-'; }
# Ratios run by run (the ways take turns, so run i of one way and run i of
# another had about the same load): their median and range.
paired() {
  [ "$(wc -w <<<"$1")" -eq "$(wc -w <<<"$2")" ] || { printf -- '-'; return; }
  paste <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{print $1 / $2}' | sort -g |
    awk '{a[NR]=$1} END {if (NR) printf "%.2f (%.2f-%.2f)", a[int((NR+1)/2)], a[1], a[NR]}'
}

# What each way needs beyond the fresh folder, and what a good run leaves behind.
flow_prepare=:
plan_prepare='"$flowc" dag.flow -o dag.plan --no-history >/dev/null'
flow_check='tail -1 "$out/stderr" | grep -q "succeeded.* $n ran"'
marker_prepare=:
marker_check='[ "$(ls m | wc -l)" -eq "$n" ]'

declare -A summary cpu_summary
if [ -n "$shapes" ]; then
echo
echo "== overhead: $touch_n stages that each touch a file, --cpus $cpus / -j$cpus, median of $runs fresh runs =="
for shape in $shapes; do
  dir=$out/$shape-touch
  python3 "$gen" "$shape" touch "$dir" --n "$touch_n"
  n=$touch_n
  ways=() ct=
  want() { [[ " $wanted " == *" $1 "* ]]; }
  if [ $have_flow = 1 ]; then
    want flow && ways+=(flow)
    if want plan; then
      if (cd "$dir" && /usr/bin/time -f "%e" -o "$out/ctime" "$flowc" dag.flow -o dag.plan --no-history >/dev/null 2>"$out/flowc.err"); then
        ct=$(tail -1 "$out/ctime")
        ways+=(plan)
      else
        echo "FAILED: \$ cd $dir && $flowc dag.flow -o dag.plan --no-history"; tail -15 "$out/flowc.err" | sed 's/^/  | /'
      fi
    fi
  fi
  want ninja && ways+=(ninja)
  want make && ways+=(make)
  for key in "${ways[@]}"; do unset "walls[$shape.$key]" "mems[$shape.$key]"; done
  for _ in $(seq "$runs"); do
    for key in "${ways[@]}"; do
      case $key in
        flow) run_once "$shape.$key" "$dir" "$flow_prepare" "$flow_check" "$flow" run dag.flow --cpus $cpus --progress none ;;
        plan) run_once "$shape.$key" "$dir" "$plan_prepare" "$flow_check" "$flow" run dag.plan --cpus $cpus --progress none ;;
        ninja) run_once "$shape.$key" "$dir" "$marker_prepare" "$marker_check" ninja -j$cpus ;;
        make) run_once "$shape.$key" "$dir" "$marker_prepare" "$marker_check" make -j$cpus ;;
      esac
    done
  done
  echo "$shape${ct:+ (flowc dag.flow -o dag.plan: $ct s)}:"
  for key in "${ways[@]}"; do
    k=$shape.$key
    [ -z "${walls[$k]:-}" ] && { printf '  %-30s failed (above)\n' "$key"; continue; }
    w=$(median "${walls[$k]}"); m=$(median "${mems[$k]}"); c=$(median "${cpus_used[$k]}")
    summary[$k]=$w; cpu_summary[$k]=$c
    case $key in
      flow) label="flow run dag.flow" ;; plan) label="flow run dag.plan" ;;
      ninja) label="ninja -j$cpus" ;; make) label="make -j$cpus" ;;
    esac
    printf '  %-20s median %7.2f s  %6.3f ms/stage  peak %5.0f MB  cpu %6.2f s  (runs: %s; cpus idle %%: %s; cpu s: %s)\n' \
      "$label" "$w" "$(awk -v w="$w" -v n="$n" 'BEGIN {print w * 1000 / n}')" "$(awk -v m="$m" 'BEGIN {print m / 1024}')" \
      "$c" "${walls[$k]% }" "${idles[$k]% }" "${cpus_used[$k]% }"
  done
  line= by_run= cpu_line=
  for f in flow plan; do
    for base in make ninja; do
      [ -n "${summary[$shape.$f]:-}" ] && [ -n "${summary[$shape.$base]:-}" ] || continue
      line+="  $f/$base $(ratio "${summary[$shape.$f]}" "${summary[$shape.$base]}")"
      cpu_line+="  $f/$base $(ratio "${cpu_summary[$shape.$f]}" "${cpu_summary[$shape.$base]}")"
      by_run+="  $f/$base $(paired "${walls[$shape.$f]}" "${walls[$shape.$base]}")"
    done
  done
  [ -n "$line" ] && echo "  ratios:$line" && echo "  run by run, median (range):$by_run" &&
    echo "  cpu time (user + sys, the tool and its commands), ratio of medians:$cpu_line"
done
fi

if [ -n "$sleep_shapes" ] && [ -n "$sleep_seeds" ]; then
echo
echo "== scheduling: $sleep_n stages that sleep, --cpus $cpus / -j$cpus, makespan / lower bound, one run per seed =="
declare -A ratios
for shape in $sleep_shapes; do
  for seed in $sleep_seeds; do
    dir=$out/$shape-sleep-$seed
    python3 "$gen" "$shape" sleep "$dir" --n "$sleep_n" --seed "$seed" --cpus $cpus | sed 's/^/  /'
    # The same DAG with one stage for all nodes and no `estimate`: flow
    # then orders by path length in stages only, as ninja and make do.
    python3 "$gen" "$shape" sleep "$dir-noest" --n "$sleep_n" --seed "$seed" --cpus $cpus --no-estimates >/dev/null
    bound=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["lower_bound_s"])' "$dir/bound.json")
    n=$sleep_n
    ways=(); [ $have_flow = 1 ] && ways=(flow flow-noest)
    ways+=(ninja make)
    line="   "
    for key in "${ways[@]}"; do
      k=$shape.$seed.$key
      case $key in
        flow) run_once "$k" "$dir" "$flow_prepare" "$flow_check" "$flow" run dag.flow --cpus $cpus --progress none ;;
        flow-noest) run_once "$k" "$dir-noest" "$flow_prepare" "$flow_check" "$flow" run dag.flow --cpus $cpus --progress none ;;
        ninja) run_once "$k" "$dir" "$marker_prepare" "$marker_check" ninja -j$cpus ;;
        make) run_once "$k" "$dir" "$marker_prepare" "$marker_check" make -j$cpus ;;
      esac
      if [ -n "${walls[$k]:-}" ]; then
        w=$(median "${walls[$k]}"); r=$(ratio "$w" "$bound")
        ratios[$shape.$key]+="$r "
        line+=" $key $w s = $r x;"
      else
        line+=" $key failed;"
      fi
    done
    echo "$line"
    rm -rf "$dir/.flow" "$dir/m" "$dir-noest"
  done
  printf '  %s, mean ratio to the lower bound over seeds %s:' "$shape" "$sleep_seeds"
  for key in "${ways[@]}"; do printf ' %s %s' "$key" "$(mean "${ratios[$shape.$key]:-}")"; done
  echo
done
fi

echo
echo "done in $(( $(date +%s) - t_start )) s, load at the end: $(uptime | sed 's/.*load average: //')"
