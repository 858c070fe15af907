// The kernel's view of CPUs, from /sys/devices/system/cpu. Every call reads afresh, so the
// answers follow hotplug.
#pragma once

#include <string>

#include "pctx/cpu/cpu_set.hpp"

namespace pctx::cpu {

// Where the kernel publishes CPU state.
inline constexpr const char* kSysCpuDir = "/sys/devices/system/cpu";

CpuSet online_cpus();
CpuSet offline_cpus();
CpuSet present_cpus();
CpuSet possible_cpus();
// CPUs with an `online` file: those the kernel lets user space take down and bring up.
CpuSet hotpluggable_cpus();

// Reads one of the kernel's CPU-list files under kSysCpuDir ("online", "present", ...).
CpuSet read_cpu_list_file(const std::string& name);

}  // namespace pctx::cpu
