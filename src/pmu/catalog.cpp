#include "pctx/pmu/catalog.hpp"
#include "pctx/base/errno_text.hpp"

#include <fnmatch.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "pctx/pmu/kernel_pmus.hpp"
#include "pctx/pmu/software_events.hpp"
#include "pctx/pmu/sysfs_events.hpp"
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
  };
  return d;
}

bool matches(const EventDescription& d, const std::string& pattern) {
  if (pattern.empty()) return true;
  auto one = [&](const std::string& name) {
    if (pattern.find_first_of("*?[") != std::string::npos) {
      return fnmatch(pattern.c_str(), name.c_str(), FNM_CASEFOLD) == 0;
    }
    return lowercase(name).find(lowercase(pattern)) != std::string::npos;
  };
  return one(d.name) || std::any_of(d.aliases.begin(), d.aliases.end(), one);
}

// Whether the kernel opens the attr for this thread; the errno when it does not. Counting
// a thread is what pctx's drivers do, so this is the test of "usable".
int try_open(perf_event_attr attr) {
  attr.size = sizeof attr;
  attr.disabled = 1;
  const int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

// The modifiers the kernel takes on the attr: some PMUs (msr, power) refuse any exclusion.
std::string accepted_modifiers(const perf_event_attr& attr, bool precise) {
  perf_event_attr u = attr;
  u.exclude_kernel = 1;
  u.exclude_hv = 1;
  if (try_open(u) != 0) return "";
  return precise ? "ukhp" : "ukh";
}

EventDescription tsc_description() {
  EventDescription d;
  d.name = "tsc";
  d.pmu = "pctx";
  d.description = "time-stamp counter ticks while the task runs (rdtsc in pctx's tsc driver)";
  d.source = EventSource::kTsc;
  d.usable = true;
  return d;
}

std::vector<EventDescription> software_descriptions() {
  std::vector<EventDescription> out;
  for (const auto& e : software_events()) {
    EventDescription d;
    d.name = std::string(e.name);
    if (!e.alias.empty()) d.aliases.emplace_back(e.alias);
    d.pmu = "software";
    d.description = std::string(e.description);
    d.unit = std::string(e.unit);
    d.source = EventSource::kSoftware;
    perf_event_attr attr{};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = e.config;
    const int err = try_open(attr);
    d.usable = err == 0;
    d.modifiers = accepted_modifiers(attr, false);
    if (err != 0 && !d.modifiers.empty()) {
      d.modifiers = "u";
      d.note = fmt::format("only with ':u' here: {} counting kernel mode (perf_event_paranoid)",
                           base::errno_text(err));
    } else if (err != 0) {
      d.note = fmt::format("the kernel refuses it: {}", base::errno_text(err));
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<EventDescription> sysfs_descriptions(bool hardware_pmu) {
  std::vector<EventDescription> out;
  for (const auto& e : sysfs_events()) {
    if (e.pmu == "software") continue;  // listed from the table, by perf's names
    EventDescription d;
    d.name = e.spec();
    d.pmu = e.pmu;
    d.description = fmt::format("the {} PMU's '{}' ({})", e.pmu, e.name, e.terms);
    d.unit = e.unit;
    d.hardware = is_core_pmu_name(e.pmu);
    d.source = d.hardware ? EventSource::kHardware : EventSource::kKernelPmu;
    EventTerm term;
    term.text = d.name;
    term.name = d.name;
    term.pmu = e.pmu;
    term.pmu_terms.push_back({e.name, std::nullopt});
    auto enc = encode_sysfs_event(term);
    if (!enc) {
      d.note = enc.error().message;
    } else if (d.hardware && !hardware_pmu) {
      d.note = "no hardware PMU here";
    } else if (const int err = try_open(enc->attr); err != 0) {
      d.note = fmt::format("the kernel refuses it for a thread: {} (a CPU-wide-only PMU?)",
                           base::errno_text(err));
    } else {
      d.usable = true;
      d.modifiers = accepted_modifiers(enc->attr, d.hardware);
    }
    out.push_back(std::move(d));
  }
  return out;
}

// libpfm4's generic PMU lists each event by constant and by alias; users write the alias.
// Its software entries are left to the table above.
std::vector<EventDescription> generic_hardware(bool hardware_pmu) {
  std::vector<EventDescription> out;
  for (const auto& ev : internal::pfm_events("perf")) {
    if (ev.equiv.empty() || ev.equiv.rfind("PERF_COUNT_SW_", 0) == 0) continue;
    EventDescription d;
    d.name = lowercase(ev.name);
    d.pmu = "cpu";
    d.hardware = true;
    d.source = EventSource::kHardware;
    d.usable = hardware_pmu;
    d.note = hardware_pmu ? "" : "no hardware PMU here";
    d.modifiers = hardware_pmu ? "ukhp" : "";
    auto it = generic_descriptions().find(d.name);
    d.description = it != generic_descriptions().end() ? it->second : ev.description;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

const char* to_string(EventSource s) {
  switch (s) {
    case EventSource::kTsc:
      return "pctx";
    case EventSource::kSoftware:
      return "software";
    case EventSource::kKernelPmu:
      return "kernel PMU";
    case EventSource::kHardware:
      return "hardware";
  }
  return "?";
}

std::vector<EventDescription> list_events(const ListOptions& options) {
  std::vector<EventDescription> all;
  all.push_back(tsc_description());
  for (auto& d : software_descriptions()) all.push_back(std::move(d));
  for (auto& d : sysfs_descriptions(options.hardware_pmu)) all.push_back(std::move(d));
  for (auto& d : generic_hardware(options.hardware_pmu)) all.push_back(std::move(d));
  for (const auto& pmu : internal::pfm_pmus()) {
    if (pmu.generic) continue;
    const bool usable = pmu.present && options.hardware_pmu;
    if (!usable && !options.include_absent) continue;
    for (const auto& ev : internal::pfm_events(pmu.name)) {
      EventDescription d;
      d.name = pmu.name + "::" + ev.name;
      d.pmu = pmu.name;
      d.description = ev.description;
      d.hardware = true;
      d.source = EventSource::kHardware;
      d.usable = usable;
      d.note = usable ? "" : pmu.present ? "no hardware PMU here" : "this machine has no such PMU";
      d.modifiers = usable ? "ukhp" : "";
      all.push_back(std::move(d));
    }
  }
  std::vector<EventDescription> out;
  for (auto& d : all) {
    if ((d.usable || options.include_absent) && matches(d, options.pattern)) {
      out.push_back(std::move(d));
    }
  }
  return out;
}

base::Result<ResolvedEvent> resolve_event(const EventTerm& term) {
  ResolvedEvent r;
  if (term.pmu.empty() && !term.raw && lowercase(term.name) == "tsc") {
    if (!term.modifiers.empty()) {
      return base::make_error(-EINVAL,
                              fmt::format("'{}': tsc takes no modifiers (rdtsc counts every "
                                          "privilege level); write 'tsc'",
                                          term.text));
    }
    r.source = EventSource::kTsc;
    r.name = "tsc";
    r.encoded.text = term.text;
    r.encoded.canonical = "tsc";
    return r;
  }
  auto enc = encode_event(term);
  if (!enc) return enc.error();
  r.encoded = std::move(*enc);
  r.unit = r.encoded.unit;
  r.scale = r.encoded.scale;
  if (!term.pmu.empty()) {
    r.source = is_core_pmu_name(term.pmu) ? EventSource::kHardware : EventSource::kKernelPmu;
    r.name = term.name;
  } else if (r.encoded.attr.type == PERF_TYPE_SOFTWARE) {
    r.source = EventSource::kSoftware;
    r.name = r.encoded.canonical;
  } else {
    r.source = EventSource::kHardware;
    r.name = term.raw ? term.name : lowercase(term.name);
  }
  return r;
}

const std::vector<std::string>& known_event_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v = {"tsc"};
    for (const auto& e : software_events()) {
      v.emplace_back(e.name);
      if (!e.alias.empty()) v.emplace_back(e.alias);
    }
    for (const auto& e : sysfs_events()) {
      if (e.pmu != "software") v.push_back(e.spec());
    }
    for (const auto& ev : internal::pfm_events("perf")) {
      if (!ev.equiv.empty() && ev.equiv.rfind("PERF_COUNT_SW_", 0) != 0) {
        v.push_back(lowercase(ev.name));
      }
    }
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
    for (const auto& e : software_events()) v.emplace_back(e.name);
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
