#!/usr/bin/env bash
# Run one libFuzzer target of tests/fuzz; CTest calls this (see README.md).
#
#   run.sh fuzz BIN WORKDIR SECONDS  fuzz for SECONDS, starting from the seed corpus
#                                    corpus/<target> and what earlier runs kept in
#                                    WORKDIR/corpus; a crash lands in WORKDIR/artifacts
#   run.sh replay BIN WORKDIR        run each reproducer of crashes/<target> once
#
# Fails (exit 1) on any crash, leak, sanitizer report, broken property, time-out
# (-timeout, per input) or memory blow-up (-rss_limit_mb). The checked-in seed
# corpus is only read: new inputs go to WORKDIR.
set -euo pipefail

mode=${1:?usage: run.sh fuzz|replay BIN WORKDIR [SECONDS]}
bin=${2:?missing BIN}
work=${3:?missing WORKDIR}
name=$(basename "$bin")
here=$(cd "$(dirname "$0")" && pwd)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]] && ! command -v llvm-symbolizer >/dev/null; then
  for s in /usr/lib/llvm-*/bin/llvm-symbolizer; do
    [[ -x $s ]] && export ASAN_SYMBOLIZER_PATH=$s
  done
fi
mkdir -p "$work/corpus" "$work/artifacts"

case "$mode" in
  fuzz)
    seconds=${4:?missing SECONDS}
    args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1
          -artifact_prefix="$work/artifacts/")
    [[ -f $here/dict/$name.dict ]] && args+=(-dict="$here/dict/$name.dict")
    log=$work/fuzz.log
    echo "$name: fuzzing ${seconds}s (log: $log)"
    if "$bin" "${args[@]}" "$work/corpus" "$here/corpus/$name" >"$log" 2>&1; then
      grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
      echo "$name: $(find "$work/corpus" -type f | wc -l) inputs in the work corpus"
      exit 0
    fi
    tail -n 120 "$log"
    echo
    echo "$name: FAILED. The input is in $work/artifacts/:"
    ls -t "$work/artifacts" | head -5 | sed "s|^|  $work/artifacts/|"
    echo "Reproduce with: $bin FILE"
    echo "Keep it as a regression: cp FILE $here/crashes/$name/"
    exit 1
    ;;
  replay)
    shopt -s nullglob
    files=("$here/crashes/$name"/*)
    if [[ ${#files[@]} -eq 0 ]]; then
      echo "$name: no reproducers in crashes/$name"
      exit 0
    fi
    echo "$name: replaying ${#files[@]} reproducer(s) of crashes/$name"
    "$bin" -runs=1 "${files[@]}"
    ;;
  *)
    echo "run.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
