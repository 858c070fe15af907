#include "tools/event_set.hpp"

#include <fmt/format.h>

#include <cerrno>

#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/encoding.hpp"
#include "pctx/pmu/spec.hpp"

namespace pctx::tools {

namespace {

enum class Kind { kTsc, kSoftware, kHardware };

Kind kind_of(const pmu::EventTerm& term) {
  if (term.name == "tsc" && !term.raw) return Kind::kTsc;
  if (!term.raw && core::PerfSoftwarePmu::config_of(term.name) >= 0) return Kind::kSoftware;
  return Kind::kHardware;
}

pmu::Status check_modifiers(const pmu::EventTerm& term, Kind kind) {
  if (kind == Kind::kHardware || term.modifiers.empty()) return pmu::Ok{};
  return pmu::make_error(-EINVAL, fmt::format("'{}': modifiers apply to hardware events only; "
                                              "write '{}' without them",
                                              term.text, term.name));
}

}  // namespace

pmu::Result<std::unique_ptr<PmuSet>> PmuSet::create(const std::map<std::string, int>& caps) {
  for (const auto& [name, n] : caps) {
    if (name != "tsc" && name != "hardware") {
      return pmu::make_error(-EINVAL, fmt::format("--counters {}={}: no PMU named '{}' has a "
                                                  "counter limit; use tsc=N or hardware=N",
                                                  name, n, name));
    }
    if (n < 1) {
      return pmu::make_error(
          -EINVAL, fmt::format("--counters {}={}: a PMU needs at least 1 counter", name, n));
    }
  }
  auto set = std::make_unique<PmuSet>();
  set->caps_ = caps;
  return set;
}

pmu::Status PmuSet::prepare(core::PerfCore& core, const std::string& spec) {
  auto parsed = pmu::parse_spec(spec);
  if (!parsed) return parsed.error();
  bool want[3] = {false, false, false};
  for (const auto& g : parsed->groups) {
    for (const auto& term : g.events) {
      const Kind k = kind_of(term);
      if (auto st = check_modifiers(term, k); !st) return st;
      want[static_cast<int>(k)] = true;
    }
  }
  if (want[static_cast<int>(Kind::kTsc)] && !tsc_) {
    auto it = caps_.find("tsc");
    tsc_ = std::make_unique<core::TscPmu>(it != caps_.end() ? it->second : 4);
    core.register_pmu(*tsc_);
  }
  if (want[static_cast<int>(Kind::kSoftware)] && !software_) {
    auto sw = core::PerfSoftwarePmu::open(core.runtime());
    if (!sw) return sw.error();
    software_ = std::move(*sw);
    core.register_pmu(*software_);
  }
  if (want[static_cast<int>(Kind::kHardware)] && !hardware_) {
    const auto caps = pmu::probe_capabilities();
    // Names must encode before anything is opened, so a typo is reported as one.
    auto encoded = pmu::compile_spec(spec, caps.hardware_pmu ? caps.available_core_counters() : -1);
    if (!encoded) return encoded.error();
    if (!caps.hardware_pmu) {
      return pmu::make_error(-ENOENT, fmt::format("{}; use tsc or a software event instead "
                                                  "(pctx list)",
                                                  caps.hardware_pmu_reason));
    }
    auto it = caps_.find("hardware");
    const int counters = it != caps_.end() ? it->second : caps.available_core_counters();
    auto hw = core::PerfHardwarePmu::open(core.runtime(), counters);
    if (!hw) return hw.error();
    hardware_ = std::move(*hw);
    core.register_pmu(*hardware_);
  }
  return pmu::Ok{};
}

pmu::Result<std::vector<EventSetMember>> PmuSet::create_groups(core::PerfCore& core,
                                                               const std::string& spec) {
  auto parsed = pmu::parse_spec(spec);
  if (!parsed) return parsed.error();
  std::vector<EventSetMember> out;
  auto fail = [&](pmu::Error e) {
    for (auto& m : out) {
      if (m.leader) m.event->put();  // a leader's reference releases its siblings
    }
    return e;
  };
  for (const auto& g : parsed->groups) {
    core::Event* leader = nullptr;
    for (const auto& term : g.events) {
      core::EventAttr attr;
      switch (kind_of(term)) {
        case Kind::kTsc:
          attr.pmu = tsc_.get();
          break;
        case Kind::kSoftware:
          attr.pmu = software_.get();
          attr.config = static_cast<uint64_t>(core::PerfSoftwarePmu::config_of(term.name));
          break;
        case Kind::kHardware: {
          auto enc = pmu::encode_event(term);
          if (!enc) return fail(enc.error());
          attr.pmu = hardware_.get();
          attr.config = hardware_ ? hardware_->config_for(*enc) : 0;
          break;
        }
      }
      if (attr.pmu == nullptr) {
        return fail(
            pmu::make_error(-EINVAL, fmt::format("'{}': its PMU was not prepared", term.text)));
      }
      auto e = core.create_event(attr, leader);
      if (!e) {
        return fail(
            pmu::make_error(e.error().code, fmt::format("'{}': {}", term.text, e.error().message)));
      }
      out.push_back({*e, term.text, leader == nullptr});
      if (leader == nullptr) leader = *e;
    }
  }
  return out;
}

}  // namespace pctx::tools
