#include "pctx/pmu/capabilities.hpp"

#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "pctx/pmu/catalog.hpp"
#include "pctx/pmu/counter_group.hpp"
#include "pctx/pmu/kernel_pmus.hpp"
#include "pctx/pmu/sysfs_events.hpp"
#include "pmu/pfm.hpp"

namespace pctx::pmu {

namespace {

int read_int_file(const char* path, int fallback) {
  std::ifstream in(path);
  int v = fallback;
  return in >> v ? v : fallback;
}

// CapEff from /proc/self/status, so no libcap is needed.
uint64_t effective_capabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;

// Opens a user-mode cycles counter on this thread: the only sure test that the kernel
// will give us hardware counters. Also checks whether rdpmc is granted on its page.
void probe_hardware(Capabilities& caps) {
  EncodedEvent cycles;
  cycles.text = "cycles:u";
  cycles.attr.type = PERF_TYPE_HARDWARE;
  cycles.attr.config = PERF_COUNT_HW_CPU_CYCLES;
  cycles.attr.exclude_kernel = 1;
  cycles.attr.exclude_hv = 1;
  auto g = CounterGroup::open(EncodedGroup{{cycles}, false}, Target::this_thread(),
                              OpenOptions{.enabled = true, .map_pages = true});
  if (!g) {
    const int e = -g.error().code;
    if ((e == EACCES || e == EPERM) && kernel_has_core_pmu()) {
      caps.hardware_pmu = true;
      caps.rdpmc_reason = "not permitted to open counters (see paranoid)";
      return;
    }
    caps.hardware_pmu = false;
    caps.hardware_pmu_reason =
        e == ENOENT || e == EOPNOTSUPP
            ? "no hardware PMU on this machine (virtualised without a vPMU?)"
            : fmt::format("a hardware counter does not open: {}", g.error().message);
    caps.rdpmc_reason = "no hardware PMU";
    return;
  }
  caps.hardware_pmu = true;
  volatile uint64_t spin = 0;
  for (int i = 0; i < 1000; ++i) spin = spin + 1;
  const auto* pc = g->page(0);
  caps.rdpmc = pc != nullptr && (pc->capabilities >> 2 & 1) && pc->index != 0;
  if (!caps.rdpmc) {
    caps.rdpmc_reason =
        "the kernel does not grant rdpmc (see /sys/bus/event_source/devices/"
        "cpu/rdpmc)";
  }
}

}  // namespace

int read_paranoid() {
  return read_int_file("/proc/sys/kernel/perf_event_paranoid", 2);
}

bool is_privileged() {
  const uint64_t caps = effective_capabilities();
  return geteuid() == 0 || (caps >> kCapPerfmon & 1) || (caps >> kCapSysAdmin & 1);
}

std::string hypervisor_vendor() {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 31))) return "";
  __cpuid(0x40000000, a, b, c, d);
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &c, 4);
  std::memcpy(vendor + 8, &d, 4);
  const std::string v(vendor);
  // CPUID gives a 12-byte signature; name the common ones as people know them.
  static const std::pair<const char*, const char*> kKnown[] = {
      {"KVMKVMKVM", "KVM"},     {"VMwareVMware", "VMware"},     {"Microsoft Hv", "Hyper-V"},
      {"XenVMMXenVMM", "Xen"},  {"TCGTCGTCGTCG", "QEMU (TCG)"}, {"bhyve bhyve ", "bhyve"},
      {"ACRNACRNACRN", "ACRN"}, {"VBoxVBoxVBox", "VirtualBox"}};
  for (const auto& [signature, name] : kKnown) {
    if (v == signature) return name;
  }
  return v.empty() ? "unknown hypervisor" : v;
#else
  std::ifstream in("/sys/hypervisor/type");
  std::string v;
  std::getline(in, v);
  return v;
#endif
}

int Capabilities::available_core_counters() const {
  if (core_counters < 0) return -1;
  return nmi_watchdog > 0 ? std::max(0, core_counters - 1) : core_counters;
}

Capabilities probe_capabilities() {
  Capabilities caps;
  utsname u{};
  if (uname(&u) == 0) caps.kernel = u.release;
  caps.paranoid = read_paranoid();
  caps.root = geteuid() == 0;
  const uint64_t eff = effective_capabilities();
  caps.cap_perfmon = (eff >> kCapPerfmon & 1) || (eff >> kCapSysAdmin & 1);
  caps.privileged = caps.root || caps.cap_perfmon;
  caps.hypervisor = hypervisor_vendor();
  caps.nmi_watchdog = read_int_file("/proc/sys/kernel/nmi_watchdog", -1);
  for (const auto& p : kernel_pmus()) caps.kernel_pmus.push_back(p.name);
  probe_hardware(caps);

  // The same PMU names as `pctx list`: pctx's own tsc driver, the kernel's software
  // events, and the kernel PMUs in sysfs whose named events count per thread.
  caps.pmus.push_back({"tsc",
                       "pctx's time-stamp counter driver: rdtsc while the task runs (4 "
                       "counters unless capped with --counters tsc=N)",
                       4, 0, false, true, ""});
  caps.pmus.push_back(
      {"software", "kernel software events (task-clock, page-faults, ...)", 0, 0, false, true, ""});
  std::map<std::string, std::vector<std::string>> sysfs;
  for (const auto& e : sysfs_events()) {
    if (e.pmu != "software" && !is_core_pmu_name(e.pmu)) sysfs[e.pmu].push_back(e.name);
  }
  for (const auto& [pmu, names] : sysfs) {
    PmuInfo info{
        pmu,   fmt::format("kernel PMU: {} (write {}/EVENT/)", fmt::join(names, ", "), pmu),
        0,     0,
        false, false,
        ""};
    ListOptions lo;
    lo.pattern = pmu + "/*";
    lo.include_absent = true;
    for (const auto& e : list_events(lo)) {
      info.usable |= e.usable;
      if (!e.usable && info.note.empty()) info.note = e.note;
    }
    if (info.usable) info.note.clear();
    caps.pmus.push_back(std::move(info));
  }
  for (const auto& p : internal::pfm_pmus()) {
    if (!p.present || p.generic) continue;
    PmuInfo info{p.name, p.description, p.counters, p.fixed, true, caps.hardware_pmu, ""};
    if (!caps.hardware_pmu) {
      info.note = "detected by CPUID but the kernel exposes no hardware PMU";
    }
    if (p.core && caps.core_counters < 0) caps.core_counters = p.counters;
    caps.pmus.push_back(std::move(info));
  }
  if (!caps.hardware_pmu) caps.core_counters = -1;
  return caps;
}

}  // namespace pctx::pmu
