#!/bin/bash
# Instructions per task switch, counted by callgrind: the switch benchmarks' figure that does
# not move with the machine's load or speed (docs/bench.md). Each timed batch of switches is
# bracketed in the benchmark (count_instructions_from_here/_to_here in bench/switch_suite.cpp),
# so only the switches count: the scheduler loop, the fiber switches and the perf hooks.
#
#   scripts/switch_instructions.sh [path/to/pctx]     (default build/release/pctx)
#
# Needs valgrind (apt-get install valgrind) and a pctx built with its headers present.
set -euo pipefail
pctx=${1:-build/release/pctx}
command -v valgrind >/dev/null || { echo "switch_instructions: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
[ -x "$pctx" ] || { echo "switch_instructions: no pctx at $pctx; build it first or give its path" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The median over the benchmark's batches of (all threads' instructions) / switches.
per_switch() {
  local dir=$1
  awk '
    FNR == 1 { dump = FILENAME; sub(/-[0-9]+$/, "", dump) }
    /^desc: Trigger: Client Request: pctx-switches / { switches[dump] = $NF }
    /^summary: / { ir[dump] += $2 }
    END {
      n = 0
      for (d in switches) if (switches[d] > 0) v[++n] = ir[d] / switches[d]
      if (n == 0) { print "-"; exit }
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      printf "%.0f\n", v[int((n + 1) / 2)]
    }' "$dir"/cg.*
}

printf "%-34s %14s %14s\n" benchmark "instr/switch" "over 0 events"
base=""
for b in switch_tsc/0 switch_tsc/4 switch_sw/4 switch_installed_4_counters/64 switch_hw/2; do
  dir="$out/${b//\//_}"
  # Callgrind itself sometimes aborts on a signal that lands during a fiber switch (its
  # assertion in vgCallgrind_post_signal, about one run in six here): such a run is made
  # again, up to three times.
  for attempt in 1 2 3; do
    rm -rf "$dir" && mkdir -p "$dir"
    if valgrind --tool=callgrind --separate-threads=yes --dump-instr=no \
      --callgrind-out-file="$dir/cg.%p" "$pctx" bench --filter "^$b/" --repetitions 1 \
      >"$dir/log" 2>&1; then
      break
    fi
    grep -q "vgCallgrind_post_signal" "$dir/log" || break
  done
  # Only the client-request dumps: the end-of-run ones count the setup too.
  { grep -L "pctx-switches" "$dir"/cg.* 2>/dev/null || true; } | xargs -r rm -f
  if ! ls "$dir"/cg.* >/dev/null 2>&1; then
    why=$(grep -m1 "skipped" "$dir/log" || true)
    printf "%-34s %14s %14s  %s\n" "$b" - - "${why:-no dumps: is pctx built with valgrind/callgrind.h?}"
    continue
  fi
  n=$(per_switch "$dir")
  [ -z "$base" ] && base=$n
  printf "%-34s %14s %14s\n" "$b" "$n" $([ "$b" = switch_tsc/0 ] && echo - || echo $((n - base)))
done
