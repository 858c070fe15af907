// What can be counted: libpfm4's PMUs and events, checked against what the kernel offers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pctx::pmu {

struct EventDescription {
  std::string name;  // as a user writes it: "task-clock", "amd64_fam19h_zen4::RETIRED_UOPS"
  std::string pmu;   // libpfm4's PMU name
  std::string description;
  bool hardware = false;
  bool usable = false;  // can be opened on this machine
};

struct ListOptions {
  std::string pattern;          // case-insensitive substring, or a glob with * and ?
  bool hardware_pmu = false;    // whether the kernel offers a hardware PMU here
  bool include_absent = false;  // also PMUs libpfm4 knows but this machine lacks
};

std::vector<EventDescription> list_events(const ListOptions& options);

// Names of events that can be written here, for "did you mean" suggestions.
const std::vector<std::string>& known_event_names();

// The software events (always usable), as written: "task-clock", "page-faults", ...
const std::vector<std::string>& software_event_names();

// libpfm4's names for the PMUs it detects on this machine.
std::vector<std::string> present_pmu_names();

}  // namespace pctx::pmu
