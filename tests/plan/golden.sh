#!/usr/bin/env bash
# Golden test for plans: compiles tests/plan/NAME.flow (from its own folder,
# so paths print relative) with the flags on its first line, if that line is
# `# flowc: FLAGS`, and compares `--emit plan` (and, when NAME.flow.explain
# exists, `--explain`) with the expected files (the stdlib's folder printed
# as <stdlib>). Round trips are checked by
# tests/unit/plan (write, read, write gives the same bytes).
#   golden.sh FLOWC FILE            compare
#   golden.sh FLOWC FILE --update   rewrite the expected files
set -u
flowc=$(realpath "$1"); file=$(realpath "$2"); mode=${3:-}
dir=$(dirname "$file"); name=$(basename "$file")
cd "$dir" || exit 2
flags=$(head -1 "$name" | sed -n 's/^# flowc: //p')
# Imports resolve the same way everywhere: no FLOW_PATH, so std.* comes from
# the stdlib beside flowc.
unset FLOW_PATH
plan=$("$flowc" "$name" --emit plan --no-history $flags 2>&1); rc=$?
if [ $rc -ne 0 ]; then echo "$name: flowc failed (exit $rc)"; echo "$plan"; exit 1; fi
explain=$("$flowc" "$name" --explain --no-history $flags 2>&1)
# Stages of the stdlib carry its absolute path (beside the flowc binary):
# print it as <stdlib>, so the expected files hold the same text in any
# build folder.
stdlib=$(cd "$(dirname "$flowc")/../share/flow/stdlib" 2>/dev/null && pwd -P)
if [ -n "$stdlib" ]; then
  plan=${plan//"$stdlib/"/<stdlib>/}
  explain=${explain//"$stdlib/"/<stdlib>/}
fi
if [ "$mode" = "--update" ]; then
  printf '%s\n' "$plan" > "$name.plan"
  printf '%s\n' "$explain" > "$name.explain"
  echo "updated $name.plan and $name.explain"
  exit 0
fi
status=0
if ! diff -u "$name.plan" <(printf '%s\n' "$plan"); then
  echo "$name: plan differs from $name.plan (tests/plan/update.sh rewrites it)"; status=1
fi
if [ -f "$name.explain" ] && ! diff -u "$name.explain" <(printf '%s\n' "$explain"); then
  echo "$name: --explain differs from $name.explain"; status=1
fi
exit $status
