#!/usr/bin/env bash
# Regenerates tests/plan/*.plan and *.explain: review the diff!
#   tests/plan/update.sh [BUILD_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
for f in "$here"/*.flow; do "$here/golden.sh" "$build/bin/flowc" "$f" --update; done
