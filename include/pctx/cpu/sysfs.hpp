// The kernel's view of CPUs, from /sys/devices/system/cpu. Every call reads afresh, so the
// answers follow hotplug.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "pctx/base/result.hpp"
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

// How long write_cpu_online keeps retrying EBUSY and EAGAIN, which the kernel answers
// while another hotplug operation or a driver holds the CPU: whichever bound comes first.
inline constexpr int kOnlineWriteTries = 50;
inline constexpr std::chrono::milliseconds kOnlineWriteGiveUp{1000};

// Writes "0" or "1" to /sys/devices/system/cpu/cpuN/online and checks it took. EBUSY and
// EAGAIN are retried with a short backoff (bounded above). Errors name the errno and say
// what to do (root, no online file, a busy CPU, another kernel refusal).
base::Status write_cpu_online(int cpu, bool online);
bool cpu_is_online(int cpu);

// Every failed attempt of this process at writing a cpuN/online file, retried ones
// included, by errno (positive, e.g. EBUSY). For tools that report how the kernel behaved.
std::map<int, uint64_t> online_write_failures();

// Errnos, positive or negative, as reports name them: "EBUSY", and for people
// "EBUSY (Device or resource busy)".
std::string errno_name(int err);
std::string errno_text(int err);

}  // namespace pctx::cpu
