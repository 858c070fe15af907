// What this machine can count, and what stands in the way.
#pragma once

#include <string>
#include <vector>

namespace pctx::pmu {

struct PmuInfo {
  std::string name;  // libpfm4's name ("perf", "amd64_fam19h_zen4") or "software"
  std::string description;
  int counters = 0;  // generic counters; 0 for software (no limit)
  int fixed = 0;     // fixed-function counters
  bool hardware = false;
  bool usable = false;  // the kernel will open its events here
  std::string note;     // why not usable, when it is not
};

struct Capabilities {
  std::string kernel;  // uname release
  int paranoid = 2;    // /proc/sys/kernel/perf_event_paranoid
  bool root = false;
  bool cap_perfmon = false;         // CAP_PERFMON or CAP_SYS_ADMIN in the effective set
  bool privileged = false;          // root or cap_perfmon
  bool hardware_pmu = false;        // a hardware event opens on this thread
  std::string hardware_pmu_reason;  // why not, when it does not
  bool rdpmc = false;               // user-space rdpmc allowed for our events
  std::string rdpmc_reason;
  std::string hypervisor;                // vendor, empty on bare metal
  int nmi_watchdog = -1;                 // /proc/sys/kernel/nmi_watchdog; -1 if absent
  std::vector<std::string> kernel_pmus;  // /sys/bus/event_source/devices
  std::vector<PmuInfo> pmus;
  int core_counters = -1;  // counters of the core PMU; -1 without one

  // Generic counters left to a user: the NMI watchdog holds one on x86 when it is on.
  int available_core_counters() const;
};

Capabilities probe_capabilities();

int read_paranoid();
bool is_privileged();
std::string hypervisor_vendor();  // from CPUID, empty on bare metal or other architectures

}  // namespace pctx::pmu
