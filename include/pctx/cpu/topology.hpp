// CPU topology from hwloc: which core, package and NUMA node each online CPU belongs to.
// Load it again after a hotplug change; it describes the moment it was loaded.
#pragma once

#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/cpu/cpu_set.hpp"

namespace pctx::cpu {

struct CpuPlace {
  int cpu = -1;  // OS index
  int core = -1;
  int package = -1;
  int numa_node = -1;
};

struct Topology {
  CpuSet online, present, possible;  // from sysfs, as the kernel writes them
  std::vector<CpuPlace> places;      // one per online CPU, by CPU number
  int cores = 0, packages = 0, numa_nodes = 0;

  const CpuPlace* place(int cpu) const;
  static base::Result<Topology> load();
};

}  // namespace pctx::cpu
