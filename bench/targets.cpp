#include "targets.hpp"

#include <algorithm>
#include <array>

namespace pctx::bench {

namespace {

struct Named {
  const char* row;
  Target target;
};

// Issue 14's table. The floors are those of the rows (summary.cpp): a bare fiber switch,
// rdtsc, the cache-line and signal round trips, one read(); switch_4_events' floor is two
// rdtsc per event, so "two times four rdtsc" is 1x that floor.
const std::array<Named, 9> kTargets = {{
    {"switch_0_events", {"<= 15x floor", 15.0, "", std::nullopt, false}},
    {"switch_4_events", {"<= 2x 4 rdtsc", 1.0, "", std::nullopt, false}},
    {"switch_64_installed_4_counters",
     {"<= 1.1x switch_4_events", 1.1, "switch_4_events", std::nullopt, false}},
    {"switch_4_sw_events", {"<= 1.3x floor", 1.3, "", std::nullopt, false}},
    {"read_local", {"<= 2x floor", 2.0, "", std::nullopt, false}},
    {"read_remote", {"<= 3x floor", 3.0, "", std::nullopt, false}},
    {"install_cpu_polling", {"<= 3x floor", 3.0, "", std::nullopt, false}},
    {"install_remote_running", {"<= 1.2x floor, < kernel", 1.2, "", std::nullopt, true}},
    {"install_not_running", {">= 20x faster than kernel", std::nullopt, "", 20.0, false}},
}};

}  // namespace

std::optional<Target> target_of(const std::string& name) {
  for (const Named& n : kTargets) {
    if (name == n.row) return n.target;
  }
  return std::nullopt;
}

std::optional<bool> target_met(const Target& target, const SummaryRow& row,
                               const std::vector<SummaryRow>& rows) {
  bool met = true;
  if (target.max_ratio) {
    std::optional<double> base = row.floor_ns;
    if (!target.relative_to.empty()) {
      auto it = std::find_if(rows.begin(), rows.end(),
                             [&](const SummaryRow& r) { return r.name == target.relative_to; });
      base = it == rows.end() ? std::nullopt : std::optional<double>(it->pctx_ns);
    }
    if (!base) return std::nullopt;
    met = met && row.pctx_ns <= *target.max_ratio * *base;
  }
  if (target.min_speedup || target.faster_than_kernel) {
    if (!row.kernel_ns) return std::nullopt;
    if (target.min_speedup) met = met && *row.kernel_ns >= *target.min_speedup * row.pctx_ns;
    if (target.faster_than_kernel) met = met && row.pctx_ns < *row.kernel_ns;
  }
  return met;
}

}  // namespace pctx::bench
