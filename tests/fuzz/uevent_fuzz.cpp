// Fuzzes the kernel uevent parser, pctx::cpu::parse_cpu_uevent, which reads every
// datagram of the NETLINK_KOBJECT_UEVENT socket (anything on the machine can make the
// kernel send one). Beyond not crashing: a CPU event comes only from a kernel datagram
// (an ACTION@DEVPATH header) with the fields SUBSYSTEM=cpu, the ACTION it reports and
// DEVPATH=/devices/system/cpu/cpuN naming its CPU as the kernel writes the number; a
// datagram written from the event parses the same; and a field the parser does not read,
// appended, changes nothing.
#include <optional>
#include <string>

#include "fuzz_check.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "pctx/cpu/uevent.hpp"

namespace {

using pctx::cpu::CpuUevent;
using pctx::fuzz::check;

bool has_field(std::string_view datagram, std::string_view field) {
  size_t pos = 0;
  while (pos <= datagram.size()) {
    size_t end = datagram.find('\0', pos);
    if (end == std::string_view::npos) end = datagram.size();
    if (pos > 0 && datagram.substr(pos, end - pos) == field) return true;  // not the header
    pos = end + 1;
  }
  return false;
}

std::string datagram_of(const CpuUevent& e) {
  const std::string action = e.online ? "online" : "offline";
  const std::string devpath = "/devices/system/cpu/cpu" + std::to_string(e.cpu);
  std::string d = action + "@" + devpath + '\0' + "ACTION=" + action + '\0' + "DEVPATH=" + devpath +
                  '\0' + "SUBSYSTEM=cpu" + '\0' + "SEQNUM=1" + '\0';
  return d;
}

bool same(const std::optional<CpuUevent>& a, const std::optional<CpuUevent>& b) {
  return a.has_value() == b.has_value() && (!a || (a->online == b->online && a->cpu == b->cpu));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view datagram = pctx::fuzz::as_text(data, size);
  const auto event = pctx::cpu::parse_cpu_uevent(datagram);

  std::string longer(datagram);
  longer += std::string("\0PCTX_FUZZ=1", 12);
  check(same(event, pctx::cpu::parse_cpu_uevent(longer)),
        "a field the parser does not read changes nothing");
  if (!event) return 0;

  check(event->cpu >= 0 && event->cpu < pctx::cpu::CpuSet::kMaxCpus,
        "a uevent's CPU is one a CpuSet can hold");
  const size_t header_end = datagram.find('\0');
  check(datagram.substr(0, header_end).find('@') != std::string_view::npos,
        "a CPU event comes from a kernel datagram, ACTION@DEVPATH first");
  check(has_field(datagram, "SUBSYSTEM=cpu"), "a CPU event has SUBSYSTEM=cpu");
  check(has_field(datagram, event->online ? "ACTION=online" : "ACTION=offline"),
        "a CPU event has the ACTION it reports");
  check(has_field(datagram, "DEVPATH=/devices/system/cpu/cpu" + std::to_string(event->cpu)),
        "a CPU event's DEVPATH names its CPU as the kernel writes it");
  check(same(event, pctx::cpu::parse_cpu_uevent(datagram_of(*event))),
        "a datagram written from the event parses the same");
  return 0;
}
