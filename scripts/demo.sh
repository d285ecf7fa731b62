#!/usr/bin/env bash
# Sets up everything and runs the main job on the example ML pipeline
# (examples/ml_sweep.flow). Usage: scripts/demo.sh [BUILD_DIR]
#
# Today flow has its checked front end: the demo builds flowc, checks the
# pipeline and prints its diagnostics summary and syntax tree. Compiling to a
# plan, running and reporting come with the back end and runtime (docs/cli.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target flowc
echo "== flowc --lint examples/ml_sweep.flow"
"$build/bin/flowc" --lint "$root/examples/ml_sweep.flow" && echo "no errors, no warnings"
echo "== flowc examples/ml_sweep.flow --emit ast (first 40 lines)"
"$build/bin/flowc" "$root/examples/ml_sweep.flow" --emit ast | head -40
