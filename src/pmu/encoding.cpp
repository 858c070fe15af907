#include "pctx/pmu/encoding.hpp"

#include <algorithm>
#include <cerrno>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pctx/pmu/catalog.hpp"
#include "pctx/pmu/kernel_pmus.hpp"
#include "pctx/pmu/software_events.hpp"
#include "pctx/pmu/suggest.hpp"
#include "pctx/pmu/sysfs_events.hpp"
#include "pmu/pfm.hpp"

namespace pctx::pmu {

namespace {

int privilege_mask(const Modifiers& m) {
  if (!m.restricts_privilege()) return internal::kPlmUser | internal::kPlmKernel;
  return (m.user ? internal::kPlmUser : 0) | (m.kernel ? internal::kPlmKernel : 0) |
         (m.hv ? internal::kPlmHv : 0);
}

base::Error unknown_name(const EventTerm& term) {
  const size_t sep = term.name.find("::");
  if (sep != std::string::npos) {
    const std::string pmu = term.name.substr(0, sep);
    auto pmus = present_pmu_names();
    if (std::find(pmus.begin(), pmus.end(), pmu) == pmus.end()) {
      return base::make_error(
          -ENOENT, fmt::format("unknown PMU '{}' in '{}'; PMUs on this machine: {}", pmu, term.text,
                               fmt::join(pmus, ", ")));
    }
  }
  auto close = closest_names(term.name, known_event_names());
  if (close.empty()) {
    return base::make_error(-ENOENT, fmt::format("unknown event '{}'; `pctx list` shows the events "
                                                 "usable here",
                                                 term.name));
  }
  return base::make_error(-ENOENT, fmt::format("unknown event '{}'; did you mean {}? (`pctx list` "
                                               "shows the events usable here)",
                                               term.name, fmt::join(close, ", ")));
}

}  // namespace

std::string kernel_pmu_of(const perf_event_attr& attr) {
  switch (attr.type) {
    case PERF_TYPE_HARDWARE:
    case PERF_TYPE_HW_CACHE:
    case PERF_TYPE_RAW:
      return "cpu";
    case PERF_TYPE_SOFTWARE:
      return "software";
    case PERF_TYPE_TRACEPOINT:
      return "tracepoint";
    case PERF_TYPE_BREAKPOINT:
      return "breakpoint";
    default:
      break;
  }
  auto name = kernel_pmu_name(attr.type);
  return name ? *name : fmt::format("type {}", attr.type);
}

bool is_hardware_type(const perf_event_attr& attr) {
  switch (attr.type) {
    case PERF_TYPE_HARDWARE:
    case PERF_TYPE_HW_CACHE:
    case PERF_TYPE_RAW:
      return true;
    case PERF_TYPE_SOFTWARE:
    case PERF_TYPE_TRACEPOINT:
    case PERF_TYPE_BREAKPOINT:
      return false;
    default:
      break;
  }
  // Dynamic PMUs count on hardware, except the probe PMUs, which are tracepoints.
  auto name = kernel_pmu_name(attr.type);
  return !(name && (*name == "kprobe" || *name == "uprobe"));
}

std::string EncodedEvent::kernel_pmu() const {
  return kernel_pmu_of(attr);
}
bool EncodedEvent::hardware() const {
  return is_hardware_type(attr);
}

std::string EncodedGroup::text() const {
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(e.text);
  return braced ? fmt::format("{{{}}}", fmt::join(names, ",")) : fmt::format("{}", names[0]);
}

base::Result<EncodedEvent> encode_event(const EventTerm& term) {
  EncodedEvent ev;
  ev.text = term.text;
  perf_event_attr& a = ev.attr;
  const int plm = privilege_mask(term.modifiers);
  // Without a privilege modifier a kernel-side event counts every level; with one, only
  // the levels named (perf's convention).
  auto restrict_privilege = [&] {
    if (!term.modifiers.restricts_privilege()) return;
    a.exclude_user = !(plm & internal::kPlmUser);
    a.exclude_kernel = !(plm & internal::kPlmKernel);
    a.exclude_hv = !(plm & internal::kPlmHv);
  };
  if (!term.pmu.empty()) {
    auto enc = encode_sysfs_event(term);
    if (!enc) return enc.error();
    a = enc->attr;
    restrict_privilege();
    ev.canonical = term.name;
    ev.unit = enc->unit;
    ev.scale = enc->scale;
  } else if (term.raw) {
    a.type = PERF_TYPE_RAW;
    a.config = *term.raw;
    a.exclude_user = !(plm & internal::kPlmUser);
    a.exclude_kernel = !(plm & internal::kPlmKernel);
    a.exclude_hv = !(plm & internal::kPlmHv);
    ev.canonical = fmt::format("raw:{:#x}", *term.raw);
  } else if (const SoftwareEvent* sw = find_software_event(term.name)) {
    a.type = PERF_TYPE_SOFTWARE;
    a.config = sw->config;
    restrict_privilege();
    ev.canonical = std::string(sw->name);
    ev.unit = std::string(sw->unit);
    ev.scale = sw->scale;
  } else if (term.name == "tsc") {
    return base::make_error(-EINVAL,
                            fmt::format("'{}' is pctx's own time-stamp counter, read with "
                                        "rdtsc in pctx tasks (pctx::core), not a kernel event; "
                                        "the kernel's is msr/tsc/",
                                        term.text));
  } else {
    internal::PfmEncoding enc;
    auto r = internal::pfm_encode(term.name, plm, &enc);
    switch (r.status) {
      case internal::PfmStatus::kOk:
        break;
      case internal::PfmStatus::kNotFound:
        return unknown_name(term);
      case internal::PfmStatus::kBadAttribute:
        return base::make_error(-EINVAL,
                                fmt::format("bad unit mask or attribute in '{}': {}; `pctx "
                                            "list` shows the events",
                                            term.text, r.message));
      case internal::PfmStatus::kOther:
        return base::make_error(-EINVAL,
                                fmt::format("cannot encode '{}': {}", term.text, r.message));
    }
    a.type = enc.type;
    a.config = enc.config;
    a.config1 = enc.config1;
    a.config2 = enc.config2;
    a.exclude_user = enc.exclude_user;
    a.exclude_kernel = enc.exclude_kernel;
    a.exclude_hv = enc.exclude_hv;
    a.precise_ip = enc.precise_ip;
    ev.canonical = enc.fstr;
  }
  a.size = sizeof(perf_event_attr);
  if (term.modifiers.precise > 0) a.precise_ip = static_cast<uint64_t>(term.modifiers.precise);
  return ev;
}

base::Result<std::vector<EncodedGroup>> encode_spec(const ParsedSpec& spec) {
  std::vector<EncodedGroup> out;
  for (const auto& g : spec.groups) {
    EncodedGroup group;
    group.braced = g.braced;
    for (const auto& t : g.events) {
      auto ev = encode_event(t);
      if (!ev) return ev.error();
      group.events.push_back(std::move(*ev));
    }
    out.push_back(std::move(group));
  }
  return out;
}

base::Status validate_group(const EncodedGroup& group, int hardware_counters) {
  std::set<std::string> pmus;
  int hardware = 0;
  for (const auto& e : group.events) {
    if (!e.hardware()) continue;
    ++hardware;
    pmus.insert(e.kernel_pmu());
  }
  if (pmus.size() > 1) {
    return base::make_error(
        -EINVAL, fmt::format("group {} mixes events of hardware PMUs {}; a group counts on "
                             "one hardware PMU (software events may join any group): split "
                             "it into one group per PMU",
                             group.text(), fmt::join(pmus, " and ")));
  }
  if (hardware_counters >= 0 && hardware > hardware_counters) {
    return base::make_error(
        -EINVAL, fmt::format("group {} has {} hardware events but the {} PMU has {} "
                             "counters; split it into smaller groups (separate groups are "
                             "multiplexed)",
                             group.text(), hardware, *pmus.begin(), hardware_counters));
  }
  return base::Ok{};
}

base::Result<std::vector<EncodedGroup>> compile_spec(std::string_view spec, int hardware_counters) {
  auto parsed = parse_spec(spec);
  if (!parsed) return parsed.error();
  auto groups = encode_spec(*parsed);
  if (!groups) return groups.error();
  for (const auto& g : *groups) {
    auto st = validate_group(g, hardware_counters);
    if (!st) return st.error();
  }
  return groups;
}

}  // namespace pctx::pmu
