// The PMUs the running kernel registers, from /sys/bus/event_source/devices.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pctx::pmu {

struct KernelPmu {
  std::string name;   // "cpu", "software", "msr", "amd_l3", ...
  uint32_t type = 0;  // perf_event_attr.type that selects it
};

std::vector<KernelPmu> kernel_pmus();
std::optional<std::string> kernel_pmu_name(uint32_t type);

// True when the kernel registers a core PMU ("cpu", hybrid "cpu_core"/"cpu_atom", Arm's
// "armv8_*"), i.e. hardware events have somewhere to go.
bool kernel_has_core_pmu();
// True for those names: the core PMU's, whose events need its limited counters.
bool is_core_pmu_name(const std::string& name);

}  // namespace pctx::pmu
