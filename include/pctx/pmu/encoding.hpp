// Turning parsed event names into perf_event_attr encodings, through libpfm4.
#pragma once

#include <linux/perf_event.h>

#include <string>
#include <string_view>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/pmu/spec.hpp"

namespace pctx::pmu {

struct EncodedEvent {
  std::string text;       // as written in the spec
  std::string canonical;  // libpfm4's fully qualified name, perf's software name, the
                          // `pmu/terms/` as written, or "raw:0x..."
  perf_event_attr attr{};
  std::string unit;    // of the shown value: "msec" for the clocks, a sysfs event's unit
  double scale = 1.0;  // a count times this is in `unit` (the clocks count ns)

  // The kernel PMU that counts it: "cpu" for the core PMU (hardware, cache and raw types),
  // "software", "tracepoint", "breakpoint", or the sysfs name of a dynamic PMU.
  std::string kernel_pmu() const;
  // True when the event needs one of a hardware PMU's counters.
  bool hardware() const;
};

struct EncodedGroup {
  std::vector<EncodedEvent> events;
  bool braced = false;
  std::string text() const;  // "{a,b}" or "a", for messages
};

// The kernel PMU and hardware-ness of an attr type, as used by EncodedEvent.
std::string kernel_pmu_of(const perf_event_attr& attr);
bool is_hardware_type(const perf_event_attr& attr);

// Software events by perf's names and aliases, `pmu/terms/` through sysfs, `rNNNN` as a raw
// core-PMU code, anything else through libpfm4. `tsc` is pctx's own driver (pctx::core),
// with no kernel encoding: -EINVAL here.
base::Result<EncodedEvent> encode_event(const EventTerm& term);
base::Result<std::vector<EncodedGroup>> encode_spec(const ParsedSpec& spec);

// A group can be scheduled by the kernel only if its hardware events all belong to one PMU
// and fit that PMU's counters at once. hardware_counters < 0 means "not known": then only
// the PMU mix is checked.
base::Status validate_group(const EncodedGroup& group, int hardware_counters = -1);

// parse_spec + encode_spec + validate_group for every group.
base::Result<std::vector<EncodedGroup>> compile_spec(std::string_view spec,
                                                     int hardware_counters = -1);

}  // namespace pctx::pmu
