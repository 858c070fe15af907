#include "pctx/core/pmu_registry.hpp"

#include <cerrno>

#include <fmt/format.h>

#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/spec.hpp"

namespace pctx::core {

base::Result<std::unique_ptr<PmuRegistry>> PmuRegistry::create(std::map<std::string, int> caps) {
  for (const auto& [name, n] : caps) {
    if (name != "tsc" && name != "hardware") {
      return base::make_error(-EINVAL, fmt::format("--counters {}={}: no PMU named '{}' has a "
                                                   "counter limit; use tsc=N or hardware=N",
                                                   name, n, name));
    }
    if (n < 1) {
      return base::make_error(
          -EINVAL, fmt::format("--counters {}={}: a PMU needs at least 1 counter", name, n));
    }
  }
  if (auto it = caps.find("hardware"); it != caps.end()) {
    const auto c = pmu::probe_capabilities();
    if (!c.hardware_pmu) {
      return base::make_error(-ENOENT, fmt::format("--counters hardware={}: {}; cap tsc=N "
                                                   "instead to see multiplexing",
                                                   it->second, c.hardware_pmu_reason));
    }
    if (it->second > c.available_core_counters()) {
      return base::make_error(-EINVAL,
                              fmt::format("--counters hardware={}: the hardware PMU has {} "
                                          "counters free here; give at most that",
                                          it->second, c.available_core_counters()));
    }
  }
  // NOLINTNEXTLINE(modernize-make-unique): the constructor is private to start().
  auto r = std::unique_ptr<PmuRegistry>(new PmuRegistry());
  r->caps_ = std::move(caps);
  return r;
}

base::Status PmuRegistry::ensure(PerfCore& core, pmu::EventSource source, const std::string& what) {
  base::MutexLock lock(mutex_);
  if (core_ != nullptr && core_ != &core) {
    return base::make_error(-EINVAL, "a PmuRegistry serves one core; create one per core");
  }
  core_ = &core;
  auto cap = [&](const char* name, int fallback) {
    auto it = caps_.find(name);
    return it != caps_.end() ? it->second : fallback;
  };
  switch (source) {
    case pmu::EventSource::kTsc:
      if (!tsc_) {
        tsc_ = std::make_unique<TscPmu>(cap("tsc", 4));
        if (int rc = core.register_pmu(*tsc_); rc < 0) {
          tsc_.reset();
          return base::make_error(rc, "cannot register the tsc driver: the core has no room");
        }
      }
      return base::Ok{};
    case pmu::EventSource::kSoftware:
    case pmu::EventSource::kKernelPmu:
      if (!software_) {
        auto sw = PerfSoftwarePmu::open(core.runtime());
        if (!sw) return sw.error();
        if (int rc = core.register_pmu(**sw); rc < 0) {
          return base::make_error(rc, "cannot register the software driver: the core has no room");
        }
        software_ = std::move(*sw);
      }
      return base::Ok{};
    case pmu::EventSource::kHardware:
      if (!hardware_) {
        const auto c = pmu::probe_capabilities();
        if (!c.hardware_pmu) {
          return base::make_error(-ENOENT, fmt::format("'{}': {}; count tsc or a software event "
                                                       "instead (pctx list)",
                                                       what, c.hardware_pmu_reason));
        }
        auto hw =
            PerfHardwarePmu::open(core.runtime(), cap("hardware", c.available_core_counters()));
        if (!hw) return hw.error();
        if (int rc = core.register_pmu(**hw); rc < 0) {
          return base::make_error(rc, "cannot register the hardware driver: the core has no room");
        }
        hardware_ = std::move(*hw);
      }
      return base::Ok{};
  }
  return base::make_error(-EINVAL, "unknown event source");
}

base::Status PmuRegistry::prepare(PerfCore& core, std::string_view spec) {
  auto parsed = pmu::parse_spec(spec);
  if (!parsed) return parsed.error();
  for (const auto& g : parsed->groups) {
    for (const auto& term : g.events) {
      auto r = pmu::resolve_event(term);
      if (!r) return r.error();
      auto b = bind(core, *r);
      if (!b) return b.error();
    }
  }
  return base::Ok{};
}

base::Result<PmuRegistry::Binding> PmuRegistry::bind(PerfCore& core,
                                                     const pmu::ResolvedEvent& event) {
  if (auto st = ensure(core, event.source, event.encoded.text); !st) return st.error();
  switch (event.source) {
    case pmu::EventSource::kTsc:
      return Binding{tsc_.get(), 0};
    case pmu::EventSource::kSoftware:
    case pmu::EventSource::kKernelPmu: {
      auto config = software_->config_for(event.encoded);
      if (!config) return config.error();
      return Binding{software_.get(), *config};
    }
    case pmu::EventSource::kHardware: {
      const uint64_t config = hardware_->config_for(event.encoded);
      if (config == 0) {
        return base::make_error(-ENOSPC,
                                fmt::format("'{}': the hardware driver holds {} distinct "
                                            "encodings already; use fewer",
                                            event.encoded.text, PerfHardwarePmu::kMaxEncodings));
      }
      return Binding{hardware_.get(), config};
    }
  }
  return base::make_error(-EINVAL, "unknown event source");
}

}  // namespace pctx::core
