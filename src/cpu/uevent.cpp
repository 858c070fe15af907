#include "pctx/cpu/uevent.hpp"

#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

#include "pctx/cpu/cpu_set.hpp"

namespace pctx::cpu {

std::optional<CpuUevent> parse_cpu_uevent(std::string_view datagram) {
  std::string_view action, devpath, subsystem;
  size_t pos = 0;
  bool header = true;
  while (pos < datagram.size()) {
    size_t end = datagram.find('\0', pos);
    if (end == std::string_view::npos) end = datagram.size();
    const std::string_view field = datagram.substr(pos, end - pos);
    pos = end + 1;
    if (header) {
      header = false;
      if (field.find('@') == std::string_view::npos) return std::nullopt;  // not a kernel event
      continue;
    }
    if (field.rfind("ACTION=", 0) == 0) action = field.substr(7);
    if (field.rfind("DEVPATH=", 0) == 0) devpath = field.substr(8);
    if (field.rfind("SUBSYSTEM=", 0) == 0) subsystem = field.substr(10);
  }
  if (subsystem != "cpu" || (action != "online" && action != "offline")) return std::nullopt;
  constexpr std::string_view kPrefix = "/devices/system/cpu/cpu";
  if (devpath.rfind(kPrefix, 0) != 0) return std::nullopt;
  // The kernel names CPU N "cpuN", N in plain decimal: "cpu08" or "cpu-0" is no CPU (from_chars
  // alone takes both, for 8 and 0), nor is a number no CpuSet holds.
  const std::string_view number = devpath.substr(kPrefix.size());
  if (number.empty() || number[0] < '0' || number[0] > '9' ||
      (number.size() > 1 && number[0] == '0')) {
    return std::nullopt;
  }
  int cpu = -1;
  auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), cpu);
  if (ec != std::errc() || ptr != number.data() + number.size() || cpu >= CpuSet::kMaxCpus) {
    return std::nullopt;
  }
  return CpuUevent{action == "online", cpu};
}

int open_uevent_socket() {
  const int fd =
      socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) return -errno;
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;  // the kernel's own events (udev rebroadcasts on group 2)
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

}  // namespace pctx::cpu
