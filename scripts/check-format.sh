#!/usr/bin/env bash
# Fails if any C file differs from clang-format's output.
set -euo pipefail
cf=${1:-clang-format}
cd "$(dirname "$0")/.."
bad=0
for f in $(find src gen tests -name "*.[ch]" 2>/dev/null | sort); do
  if ! diff -q <("$cf" --style=file "$f") "$f" >/dev/null; then
    echo "not clang-format clean: $f (run: make format)"
    bad=1
  fi
done
exit $bad
