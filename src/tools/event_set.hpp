// An event spec turned into perf-core groups for `pctx run`: `tsc` goes to the tsc PMU, the
// kernel's software events to the perf software driver, anything else through libpfm4 to
// the perf hardware driver. The PMUs are created on demand and outlive the events.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pctx/core/perf_core.hpp"
#include "pctx/core/perf_hardware_pmu.hpp"
#include "pctx/core/perf_software_pmu.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/pmu/result.hpp"

namespace pctx::tools {

// One event of a spec, in spec order; leaders own their siblings.
struct EventSetMember {
  core::Event* event;
  std::string label;  // as written in the spec
  bool leader;
};

// The PMUs `pctx run` may use, with counter caps from --counters PMU=N.
class PmuSet {
 public:
  // Caps by PMU name ("tsc", "hardware"); -EINVAL for an unknown name or a cap below 1.
  static pmu::Result<std::unique_ptr<PmuSet>> create(const std::map<std::string, int>& caps);

  // Registers with the core only the PMUs the spec needs; the hardware PMU fails here
  // with the pmu layer's explanation when this machine has none.
  pmu::Status prepare(core::PerfCore& core, const std::string& spec);

  // Creates the spec's groups; the caller owns the leaders' references.
  pmu::Result<std::vector<EventSetMember>> create_groups(core::PerfCore& core,
                                                         const std::string& spec);

 private:
  std::map<std::string, int> caps_;
  std::unique_ptr<core::TscPmu> tsc_;
  std::unique_ptr<core::PerfSoftwarePmu> software_;
  std::unique_ptr<core::PerfHardwarePmu> hardware_;
};

}  // namespace pctx::tools
