// The drivers that event sets count with, created when a spec first needs them and
// registered with a core: `tsc` on the tsc driver, kernel software and kernel-PMU events
// (msr/tsc/) on the perf software driver, hardware events on the perf hardware driver.
// The registry must outlive the core it registers with: declare it first. A driver is
// registered at its first use, which is safe while other events count; prepare() does it
// ahead of time, so that the first EventSet::create of each kind opens nothing.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "pctx/base/mutex.hpp"
#include "pctx/base/result.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/core/perf_hardware_pmu.hpp"
#include "pctx/core/perf_software_pmu.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/pmu/catalog.hpp"

namespace pctx::core {

class PmuRegistry {
 public:
  // Counter caps by driver ("tsc", "hardware"), to show multiplexing on fewer counters.
  // -EINVAL for another name or a cap below 1; -ENOENT for a hardware cap on a machine
  // without a hardware PMU; -EINVAL for a cap above what the hardware has.
  static base::Result<std::unique_ptr<PmuRegistry>> create(std::map<std::string, int> caps = {});

  // The driver for a resolved event, created and registered on first use, and the event's
  // config for it. Errors: -ENOENT for a hardware event without a hardware PMU, the
  // kernel's refusal of a kernel event, -ENOSPC when a driver has no room for another
  // distinct encoding.
  struct Binding {
    Pmu* pmu = nullptr;
    uint64_t config = 0;
  };
  base::Result<Binding> bind(PerfCore& core, const pmu::ResolvedEvent& event);

  // Creates and registers every driver the spec's events need; the spec's errors as
  // EventSet::create gives them.
  base::Status prepare(PerfCore& core, std::string_view spec);

  const std::map<std::string, int>& caps() const { return caps_; }

 private:
  base::Status ensure(PerfCore& core, pmu::EventSource source, const std::string& what)
      PCTX_EXCLUDES(mutex_);

  std::map<std::string, int> caps_;
  // Event sets may be created from several threads at once. Taken before the core's
  // registration mutex (ensure registers drivers under it).
  base::Mutex mutex_{"core.pmu_registry.mutex"};
  // The one core the drivers are registered with.
  PerfCore* core_ PCTX_GUARDED_BY(mutex_) = nullptr;
  // Each made once, under the mutex, by ensure; bind reads it after its ensure saw it made.
  std::unique_ptr<TscPmu> tsc_;
  std::unique_ptr<PerfSoftwarePmu> software_;
  std::unique_ptr<PerfHardwarePmu> hardware_;
};

}  // namespace pctx::core
