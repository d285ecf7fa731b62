#!/usr/bin/env bash
# Sets up everything and runs the main job: the example ML pipeline
# (examples/ml_sweep.flow), checked, compiled, run, then run again (every
# instance reused from the cache), and the record of the run.
# Usage: scripts/demo.sh [BUILD_DIR]
#
# The run's state goes to examples/.flow/ (git ignores it). The profiler
# report (`flow report`) is the next milestone; until it lands the demo
# shows `flow status`, which has each instance's times.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target flowc flow
build=$(cd "$build" && pwd)  # the demo changes folder below: a relative BUILD_DIR would break
ex="$root/examples/ml_sweep.flow"
echo "== flowc --lint examples/ml_sweep.flow"
"$build/bin/flowc" --lint "$ex" && echo "no errors, no warnings"
echo "== flowc examples/ml_sweep.flow --explain"
"$build/bin/flowc" "$ex" --explain
echo "== flow run examples/ml_sweep.flow"
"$build/bin/flow" run "$ex" --progress plain
echo "== flow run examples/ml_sweep.flow (again: nothing changed, so everything is reused)"
"$build/bin/flow" run "$ex" --progress none
cd "$root/examples"
echo "== flow status (the first of the two runs)"
"$build/bin/flow" status "$(( $("$build/bin/flow" runs --limit 1 | awk 'NR==2 {print $1}') - 1 ))"
echo "== flow runs"
"$build/bin/flow" runs --limit 5
