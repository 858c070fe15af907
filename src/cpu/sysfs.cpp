#include "pctx/cpu/sysfs.hpp"

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

namespace pctx::cpu {

CpuSet read_cpu_list_file(const std::string& name) {
  std::ifstream in(fmt::format("{}/{}", kSysCpuDir, name));
  std::string line;
  std::getline(in, line);
  auto set = CpuSet::parse(line);
  return set ? *set : CpuSet{};
}

CpuSet online_cpus() {
  return read_cpu_list_file("online");
}
CpuSet offline_cpus() {
  return read_cpu_list_file("offline");
}
CpuSet present_cpus() {
  return read_cpu_list_file("present");
}
CpuSet possible_cpus() {
  return read_cpu_list_file("possible");
}

CpuSet hotpluggable_cpus() {
  CpuSet out;
  for (int c : present_cpus().cpus()) {
    if (access(fmt::format("{}/cpu{}/online", kSysCpuDir, c).c_str(), F_OK) == 0) out.set(c);
  }
  return out;
}

}  // namespace pctx::cpu
