#!/usr/bin/env bash
# Sets up everything and runs the main job on the example ML pipeline
# (examples/ml_sweep.flow). Usage: scripts/demo.sh [BUILD_DIR]
#
# Today flow has its checked front end and its back end: the demo builds
# flowc, checks the pipeline, compiles it to a plan and explains the plan.
# Running and reporting come with the runtime (docs/cli.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target flowc
echo "== flowc --lint examples/ml_sweep.flow"
"$build/bin/flowc" --lint "$root/examples/ml_sweep.flow" && echo "no errors, no warnings"
echo "== flowc examples/ml_sweep.flow -o $build/ml_sweep.plan"
"$build/bin/flowc" "$root/examples/ml_sweep.flow" -o "$build/ml_sweep.plan"
echo "wrote $build/ml_sweep.plan ($(wc -c < "$build/ml_sweep.plan") bytes)"
echo "== flowc examples/ml_sweep.flow --explain"
"$build/bin/flowc" "$root/examples/ml_sweep.flow" --explain
