#include "pctx/cpu/topology.hpp"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "pctx/cpu/sysfs.hpp"

namespace pctx::cpu {

const CpuPlace* Topology::place(int cpu) const {
  for (const auto& p : places) {
    if (p.cpu == cpu) return &p;
  }
  return nullptr;
}

base::Result<Topology> Topology::load() {
  Topology t;
  t.online = online_cpus();
  t.present = present_cpus();
  t.possible = possible_cpus();
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) return base::make_error(-ENOMEM, "hwloc init failed");
  if (hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    return base::make_error(-EIO, "hwloc could not load the topology");
  }
  std::set<int> cores, packages, nodes;
  hwloc_obj_t pu = nullptr;
  while ((pu = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_PU, pu)) != nullptr) {
    CpuPlace p;
    p.cpu = static_cast<int>(pu->os_index);
    if (auto* core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu)) {
      p.core = static_cast<int>(core->logical_index);
    }
    if (auto* pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu)) {
      p.package = static_cast<int>(pkg->logical_index);
    }
    // NUMA nodes hang off the tree as memory children; the PU's nodeset names its node.
    if (pu->nodeset != nullptr) p.numa_node = hwloc_bitmap_first(pu->nodeset);
    cores.insert(p.package * 100000 + p.core);
    packages.insert(p.package);
    nodes.insert(p.numa_node);
    t.places.push_back(p);
  }
  std::sort(t.places.begin(), t.places.end(),
            [](const CpuPlace& a, const CpuPlace& b) { return a.cpu < b.cpu; });
  t.cores = static_cast<int>(cores.size());
  t.packages = static_cast<int>(packages.size());
  t.numa_nodes = static_cast<int>(nodes.size());
  hwloc_topology_destroy(topo);
  return t;
}

}  // namespace pctx::cpu
