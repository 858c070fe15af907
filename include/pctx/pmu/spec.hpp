// The event-spec language, perf-like:
//
//   cycles,instructions:u,{branches,branch-misses}:k,task-clock,r01c2,amd64_fam19h_zen4::RETIRED_UOPS
//
// A comma list of events; braces make a group (no nesting); a trailing `:` component made
// only of modifier letters (u, k, h, p) sets the privilege levels and precision; `rNNNN`
// is a raw hexadecimal code for the core PMU; other names go to libpfm4 as written
// (`pmu::event:umask:attr=value`). perf's kernel-PMU form names a PMU in
// /sys/bus/event_source/devices and its terms: `msr/tsc/`, `cpu/event=0x3c,umask=0/u` (the
// modifiers follow the closing slash, with or without a ':'). Parsing is pure syntax;
// encoding.hpp resolves names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pctx/base/result.hpp"

namespace pctx::pmu {

struct Modifiers {
  bool user = false;    // u: count user mode
  bool kernel = false;  // k: count kernel mode
  bool hv = false;      // h: count hypervisor mode
  int precise = 0;      // p, pp, ppp: requested skid constraint (precise_ip)

  // True when any privilege letter was given; without one, every level is counted.
  bool restricts_privilege() const { return user || kernel || hv; }
  bool empty() const { return !restricts_privilege() && precise == 0; }
};

// One term of a kernel-PMU event: `umask=0x3`, or a bare `tsc` (an event alias of the PMU,
// or a format field set to 1).
struct PmuTerm {
  std::string key;
  std::optional<std::string> value;
};

struct EventTerm {
  std::string text;             // exactly as written, modifiers included
  std::string name;             // without the perf modifier suffix
  std::optional<uint64_t> raw;  // set for rNNNN
  std::string pmu;              // the kernel PMU of `pmu/terms/`, else empty
  std::vector<PmuTerm> pmu_terms;
  Modifiers modifiers;  // the event's own, merged with its group's
  size_t column = 0;    // 1-based position in the spec, for messages
};

struct GroupTerm {
  std::vector<EventTerm> events;
  bool braced = false;  // written as {...}; an unbraced event is a group of one
  // The group's own modifiers as written after the '}' ("u" for "{a,b}:u"), or empty. They
  // are merged into each event's modifiers already; this keeps the text, for names.
  std::string modifier_text;
};

struct ParsedSpec {
  std::vector<GroupTerm> groups;
  size_t event_count() const;
};

// Parses a spec. Errors are -EINVAL with the column and a caret under the culprit.
base::Result<ParsedSpec> parse_spec(std::string_view spec);

}  // namespace pctx::pmu
