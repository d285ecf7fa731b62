#!/usr/bin/env bash
# Regenerates every tests/lint/*.expected (Carbon's autoupdate): review the diff!
#   tests/lint/update.sh [BUILD_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
for f in "$here"/*.flow; do "$here/golden.sh" "$build/bin/flowc" "$f" --update; done
