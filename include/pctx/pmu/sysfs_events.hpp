// Events of the kernel PMUs in sysfs, written as perf writes them: `msr/tsc/`,
// `cpu/event=0x3c,umask=0x0/`. Each PMU directory gives its type, its named events
// (events/NAME holds terms, NAME.unit and NAME.scale how to show the count) and its
// format (format/FIELD says which bits of config, config1 or config2 a field fills).
#pragma once

#include <linux/perf_event.h>

#include <string>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/pmu/spec.hpp"

namespace pctx::pmu {

inline constexpr const char* kSysfsPmuRoot = "/sys/bus/event_source/devices";

struct SysfsEvent {
  std::string pmu;     // "msr"
  std::string name;    // "tsc"
  std::string terms;   // what events/NAME holds: "event=0x00"
  std::string unit;    // from events/NAME.unit, or empty
  double scale = 1.0;  // from events/NAME.scale: a count times this is in `unit`

  std::string spec() const { return pmu + "/" + name + "/"; }  // as a user writes it
};

// Every named event of every PMU under `root`, sorted by PMU and name.
std::vector<SysfsEvent> sysfs_events(const std::string& root = kSysfsPmuRoot);

struct SysfsEncoding {
  perf_event_attr attr{};  // type and config words; modifiers are the caller's
  std::string unit;
  double scale = 1.0;
};

// The attr for a `pmu/terms/` term (term.pmu non-empty). Errors name the PMU, the term and
// what is valid: the PMU's events and format fields.
base::Result<SysfsEncoding> encode_sysfs_event(const EventTerm& term,
                                               const std::string& root = kSysfsPmuRoot);

}  // namespace pctx::pmu
