#include "pctx/pmu/catalog.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "pmu/pfm.hpp"

namespace pctx::pmu {

namespace {

std::string lowercase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// libpfm4 describes its generic aliases by their perf constant; say what they count.
const std::map<std::string, std::string>& generic_descriptions() {
  static const std::map<std::string, std::string> d = {
      {"cycles", "CPU core cycles"},
      {"cpu-cycles", "CPU core cycles"},
      {"instructions", "instructions retired"},
      {"branches", "branch instructions retired"},
      {"branch-instructions", "branch instructions retired"},
      {"branch-misses", "mispredicted branches"},
      {"cache-references", "last-level cache accesses"},
      {"cache-misses", "last-level cache misses"},
      {"bus-cycles", "bus cycles"},
      {"ref-cycles", "reference cycles, unaffected by frequency scaling"},
      {"cpu-clock", "wall time on the CPU, in ns (per-CPU high-resolution timer)"},
      {"task-clock", "time the task ran on a CPU, in ns"},
      {"page-faults", "page faults, minor and major"},
      {"faults", "page faults, minor and major"},
      {"minor-faults", "minor page faults (no I/O)"},
      {"major-faults", "major page faults (with I/O)"},
      {"context-switches", "context switches of the task"},
      {"cs", "context switches of the task"},
      {"cpu-migrations", "migrations of the task between CPUs"},
      {"migrations", "migrations of the task between CPUs"},
      {"cgroup-switches", "context switches to a task in another cgroup"},
  };
  return d;
}

bool matches(const std::string& name, const std::string& pattern) {
  if (pattern.empty()) return true;
  if (pattern.find_first_of("*?[") != std::string::npos) {
    return fnmatch(pattern.c_str(), name.c_str(), FNM_CASEFOLD) == 0;
  }
  return lowercase(name).find(lowercase(pattern)) != std::string::npos;
}

// The generic perf PMU lists each event twice, by constant and by alias; users write the
// alias, so aliases are what we list.
std::vector<EventDescription> generic_events(bool hardware_pmu) {
  std::vector<EventDescription> out;
  for (const auto& ev : internal::pfm_events("perf")) {
    if (ev.equiv.empty()) continue;
    EventDescription d;
    d.name = lowercase(ev.name);
    d.pmu = ev.pmu;
    d.hardware = ev.equiv.rfind("PERF_COUNT_SW_", 0) != 0;
    d.usable = !d.hardware || hardware_pmu;
    auto it = generic_descriptions().find(d.name);
    d.description = it != generic_descriptions().end() ? it->second : ev.description;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

std::vector<EventDescription> list_events(const ListOptions& options) {
  std::vector<EventDescription> out;
  for (auto& d : generic_events(options.hardware_pmu)) {
    if ((d.usable || options.include_absent) && matches(d.name, options.pattern)) {
      out.push_back(std::move(d));
    }
  }
  for (const auto& pmu : internal::pfm_pmus()) {
    if (pmu.generic) continue;
    const bool usable = pmu.present && options.hardware_pmu;
    if (!usable && !options.include_absent) continue;
    for (const auto& ev : internal::pfm_events(pmu.name)) {
      std::string name = pmu.name + "::" + ev.name;
      if (!matches(name, options.pattern)) continue;
      out.push_back({std::move(name), pmu.name, ev.description, true, usable});
    }
  }
  return out;
}

const std::vector<std::string>& known_event_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : generic_events(true)) v.push_back(d.name);
    for (const auto& pmu : internal::pfm_pmus()) {
      if (!pmu.present || pmu.generic) continue;
      for (const auto& ev : internal::pfm_events(pmu.name)) v.push_back(pmu.name + "::" + ev.name);
    }
    return v;
  }();
  return names;
}

const std::vector<std::string>& software_event_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : generic_events(false)) {
      if (!d.hardware) v.push_back(d.name);
    }
    return v;
  }();
  return names;
}

std::vector<std::string> present_pmu_names() {
  std::vector<std::string> v;
  for (const auto& pmu : internal::pfm_pmus()) {
    if (pmu.present) v.push_back(pmu.name);
  }
  return v;
}

}  // namespace pctx::pmu
