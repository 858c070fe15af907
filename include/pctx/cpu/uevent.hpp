// Kernel uevents about CPUs, from a NETLINK_KOBJECT_UEVENT socket: how pctx learns that
// someone else took a CPU down or up.
#pragma once

#include <optional>
#include <string_view>

namespace pctx::cpu {

struct CpuUevent {
  bool online = false;  // ACTION=online, else offline
  int cpu = -1;
};

// Parses one kernel uevent datagram: "ACTION@DEVPATH\0KEY=VALUE\0...". Returns a CPU event
// only for SUBSYSTEM=cpu with ACTION online or offline on /devices/system/cpu/cpuN, N
// written as the kernel writes it (decimal, no leading zero) and below CpuSet::kMaxCpus.
std::optional<CpuUevent> parse_cpu_uevent(std::string_view datagram);

// A socket subscribed to kernel uevents; -errno if it cannot be opened (then callers fall
// back to polling sysfs).
int open_uevent_socket();

}  // namespace pctx::cpu
