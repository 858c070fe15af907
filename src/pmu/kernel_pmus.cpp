#include "pctx/pmu/kernel_pmus.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace pctx::pmu {

std::vector<KernelPmu> kernel_pmus() {
  std::vector<KernelPmu> out;
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator("/sys/bus/event_source/devices", ec)) {
    std::ifstream in(dir.path() / "type");
    uint32_t type = 0;
    if (in >> type) out.push_back({dir.path().filename().string(), type});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.type < b.type; });
  return out;
}

std::optional<std::string> kernel_pmu_name(uint32_t type) {
  for (auto& p : kernel_pmus()) {
    if (p.type == type) return p.name;
  }
  return std::nullopt;
}

bool is_core_pmu_name(const std::string& name) {
  return name == "cpu" || name == "cpu_core" || name == "cpu_atom" || name.rfind("armv8", 0) == 0 ||
         name.rfind("armv7", 0) == 0;
}

bool kernel_has_core_pmu() {
  for (const auto& p : kernel_pmus()) {
    if (is_core_pmu_name(p.name)) return true;
  }
  return false;
}

}  // namespace pctx::pmu
