#!/usr/bin/env bash
# Builds the fuzz preset (clang, libFuzzer, ASan + UBSan) and runs each fuzz target of
# tests/fuzz for SECONDS (default 60), one after the other, on a working copy of its seed
# corpus under build/fuzz/corpus/ (new inputs never go into the source tree). Prints each
# target's runs; exits nonzero if any target crashed, leaked, hung, broke a property or
# drew a sanitizer report, leaving the input that did it under build/fuzz/artifacts/NAME/.
#
#   ./scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz: SECONDS must be a positive whole number, not '$seconds'" >&2
  exit 2
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

build=build/fuzz
# UBSan reports stop the run (the code is built with -fno-sanitize-recover=undefined);
# ASan's leak check runs after every input that libFuzzer suspects of leaking.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ -x /usr/bin/llvm-symbolizer-14 ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14  # stacks with file and line
fi

failed=()
for source in tests/fuzz/*_fuzz.cpp; do
  name=$(basename "$source" _fuzz.cpp)
  corpus=$build/corpus/$name
  artifacts=$build/artifacts/$name
  log=$build/logs/$name.log
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp tests/fuzz/corpus/"$name"/* "$corpus"/
  seeds=$(find "$corpus" -type f | wc -l)
  options=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts"/
           -timeout=10 -rss_limit_mb=2048)  # an input taking 10 s is a hang
  if [ -f tests/fuzz/"$name".dict ]; then options+=(-dict=tests/fuzz/"$name".dict); fi
  status=0
  "$build"/tests/fuzz/"$name"_fuzz "${options[@]}" "$corpus" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  inputs=$(find "$corpus" -type f | wc -l)
  # libFuzzer exits nonzero on every crash, leak or timeout; a sanitizer report that did
  # not stop the run still fails it.
  if [ "$status" -ne 0 ] || grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$log"; then
    echo "fuzz: $name FAILED (exit $status) after ${runs:-?} runs; log $log, input in $artifacts/:"
    grep -E 'fuzz property violated|ERROR: |runtime error:|SUMMARY:' "$log" | head -n 5 | sed 's/^/  /'
    failed+=("$name")
  else
    echo "fuzz: $name: $runs runs in ${seconds} s, corpus $seeds -> $inputs inputs"
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}; replay an input with $build/tests/fuzz/NAME_fuzz FILE;" \
       "docs/fuzzing.md says how to keep it as a regression test" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds} s clean; ${SECONDS} s in all, build included"
