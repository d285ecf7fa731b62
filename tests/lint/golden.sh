#!/usr/bin/env bash
# Golden test for flowc diagnostics: runs `flowc --lint` on one .flow file
# (from its own folder, so paths print relative) and compares the exit code
# and diagnostics with FILE.expected. A `fail_` prefix means errors are
# expected; any other file must lint with exit 0.
#   golden.sh FLOWC FILE            compare
#   golden.sh FLOWC FILE --update   rewrite FILE.expected
set -u
flowc=$(realpath "$1"); file=$2; mode=${3:-}
dir=$(dirname "$file"); name=$(basename "$file")
expected="$dir/$name.expected"
cd "$dir" || exit 2
actual=$("$flowc" --lint --diagnostics-color=never "$name" 2>&1; echo "exit: $?")
# Some notes print absolute paths ("looked for /.../lib/x.flow"): drop this
# folder's prefix, so that .expected files hold the same text in any checkout.
actual=${actual//"$(pwd -P)/"/}
if [ "$mode" = "--update" ]; then
  printf '%s\n' "$actual" > "$expected"
  echo "updated $expected"
  exit 0
fi
case "$name" in
  fail_*) grep -q '^exit: 1$' <<<"$actual" || { echo "$name: expected errors (exit 1)"; echo "$actual"; exit 1; } ;;
  *) grep -q '^exit: 0$' <<<"$actual" || { echo "$name: expected no errors (exit 0)"; echo "$actual"; exit 1; } ;;
esac
if [ ! -f "$expected" ]; then
  echo "$name: no $name.expected; run tests/lint/update.sh"; echo "$actual"; exit 1
fi
if ! diff -u "$expected" <(printf '%s\n' "$actual"); then
  echo "$name: diagnostics differ from $name.expected (tests/lint/update.sh rewrites it)"
  exit 1
fi
