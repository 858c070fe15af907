// The kernel's software events (PERF_TYPE_SOFTWARE) under perf's names and aliases: the one
// table that the catalog, the encoder, `pctx list` and the core's software driver share.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace pctx::pmu {

struct SoftwareEvent {
  std::string_view name;   // perf's name: "context-switches"
  std::string_view alias;  // perf's short alias, or empty: "cs"
  uint64_t config;         // PERF_COUNT_SW_*
  std::string_view unit;   // "msec" for the clocks (counted in ns, shown in ms, as perf)
  double scale;            // a count times this is in `unit`
  std::string_view description;
};

std::span<const SoftwareEvent> software_events();

// The entry for a name or an alias, case-insensitive; nullptr when there is none.
const SoftwareEvent* find_software_event(std::string_view name);

}  // namespace pctx::pmu
