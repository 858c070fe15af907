// What can be counted, from one catalog that `pctx list`, `pctx info`, `pctx run`, the
// library's event sets and the "did you mean" suggestions share: pctx's `tsc`, the kernel's
// software events under perf's names and aliases, the named events of the kernel PMUs in
// sysfs (`msr/tsc/`), and libpfm4's events, each checked against what this machine opens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/pmu/encoding.hpp"
#include "pctx/pmu/spec.hpp"

namespace pctx::pmu {

// Who counts an event.
enum class EventSource {
  kTsc,        // pctx's time-stamp counter driver: rdtsc, no kernel event
  kSoftware,   // a kernel software event (PERF_TYPE_SOFTWARE)
  kKernelPmu,  // a kernel PMU without counter limits, e.g. msr/tsc/
  kHardware,   // the core PMU's counters: generic names, libpfm4's, rNNNN, cpu/.../
};
const char* to_string(EventSource s);

struct EventDescription {
  std::string name;                  // as a user writes it: "context-switches", "msr/tsc/"
  std::vector<std::string> aliases;  // other names for the same event: "cs"
  std::string pmu;                   // "pctx", "software", a sysfs PMU or libpfm4's PMU
  std::string description;
  std::string unit;  // of the shown value, e.g. "msec"
  EventSource source = EventSource::kSoftware;
  bool hardware = false;  // needs a hardware PMU's counters
  bool usable = false;    // opens on this machine, for a thread
  std::string note;       // why not, when it is not usable
  std::string modifiers;  // the modifier letters it takes here: "ukh", "ukhp", or ""
};

struct ListOptions {
  std::string pattern;          // case-insensitive substring, or a glob with * and ?
  bool hardware_pmu = false;    // whether the kernel offers a hardware PMU here
  bool include_absent = false;  // also events that cannot be opened here, marked so
};

std::vector<EventDescription> list_events(const ListOptions& options);

// An event term resolved through the catalog: who counts it and how to show it.
struct ResolvedEvent {
  EventSource source = EventSource::kSoftware;
  std::string name;      // the catalog's name: "context-switches" for "cs"
  EncodedEvent encoded;  // the kernel encoding; empty attr for tsc
  std::string unit;      // "msec" for the clocks
  double scale = 1.0;    // a count times this is in `unit`
};

// -ENOENT with suggestions for an unknown name, -EINVAL for modifiers the event does not
// take (tsc takes none).
base::Result<ResolvedEvent> resolve_event(const EventTerm& term);

// Names (and aliases) of events that can be written here, for "did you mean".
const std::vector<std::string>& known_event_names();

// The software events, by perf's names: "task-clock", "page-faults", ...
const std::vector<std::string>& software_event_names();

// libpfm4's names for the PMUs it detects on this machine.
std::vector<std::string> present_pmu_names();

}  // namespace pctx::pmu
