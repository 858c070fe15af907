// The targets of pctx's fast paths, each against a figure measured in the same run (a floor,
// the kernel, or another row), so that whether one is met does not move with the machine.
// `pctx bench` prints each beside its row, and --json carries it (docs/bench.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "suites.hpp"

namespace pctx::bench {

// What a row's figure is held to: every condition set must hold.
struct Target {
  std::string text;                   // as printed, e.g. "<= 15x floor"
  std::optional<double> max_ratio;    // pctx_ns <= max_ratio * the base
  std::string relative_to;            // the base: this row's pctx_ns; empty: the row's floor
  std::optional<double> min_speedup;  // kernel_ns >= min_speedup * pctx_ns
  bool faster_than_kernel = false;    // pctx_ns < kernel_ns
};

// The target of the row named `name`, if it has one.
std::optional<Target> target_of(const std::string& name);

// Whether `row` meets `target`: nullopt when a figure it needs was not measured (a --filter
// left it out, or a benchmark could not run here).
std::optional<bool> target_met(const Target& target, const SummaryRow& row,
                               const std::vector<SummaryRow>& rows);

}  // namespace pctx::bench
