#!/usr/bin/env bash
# Runs clang-tidy, with the checks chosen in .clang-tidy, over the library, the pctx tool,
# the benchmarks and the examples, from the compile commands of a build directory (default
# build/release, which must have been built: some headers are generated). Exits 1 on any
# finding, since .clang-tidy makes every warning an error.
#   scripts/tidy.sh [BUILD_DIR] [FILE_REGEX]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
files=${2:-"$PWD/(src|bench|docs/examples)/"}
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy: $build has no compile_commands.json; build it first (cmake --workflow --preset release)" >&2
  exit 2
fi
tidy=$(command -v run-clang-tidy-14 || command -v run-clang-tidy || true)
if [ -z "$tidy" ]; then
  echo "tidy: run-clang-tidy not found; install clang-tidy (scripts/setup.sh does)" >&2
  exit 2
fi
start=$(date +%s)
status=0
"$tidy" -quiet -j "$(nproc)" -p "$build" "$files" > "$build/tidy.log" 2>&1 || status=$?
# clang-tidy prints each finding with its source line; keep the findings and the summary.
grep -E "(warning|error): " "$build/tidy.log" | sed -E 's/\x1b\[[0-9;]*m//g' | sort -u || true
echo "tidy: $(grep -cE "(warning|error): " "$build/tidy.log" || true) findings in $(($(date +%s) - start)) s (full log: $build/tidy.log)"
exit "$status"
