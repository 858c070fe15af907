// The CPU runtime: one pinned CpuThread per selected CPU, and the hotplug machinery that
// keeps them in step with the kernel. One runtime per process, like one kernel per machine.
#pragma once

#include <memory>

#include "pctx/base/result.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "pctx/cpu/cpu_thread.hpp"

namespace pctx::cpu {

class Hotplug;

struct RuntimeOptions {
  CpuSet cpus;                // empty: every present CPU (offline ones start parked)
  CpuThread::Options thread;  // spin time and scheduler hook for every CPU thread
  bool watch_hotplug = true;  // follow hotplug done by others (uevents + sysfs)
};

class CpuRuntime {
 public:
  // -EBUSY if a runtime already runs; -EINVAL for CPUs that are not present.
  static base::Result<std::unique_ptr<CpuRuntime>> start(const RuntimeOptions& options = {});
  ~CpuRuntime();
  CpuRuntime(const CpuRuntime&) = delete;
  CpuRuntime& operator=(const CpuRuntime&) = delete;

  static CpuRuntime* current();

  CpuThread* thread(int cpu) const;  // nullptr when the CPU is not managed
  const CpuSet& cpus() const { return cpus_; }
  CpuSet running_cpus() const;  // managed CPUs whose thread takes calls
  Hotplug& hotplug() { return *hotplug_; }

 private:
  CpuRuntime() = default;
  CpuSet cpus_;
  std::vector<std::unique_ptr<CpuThread>> threads_;  // indexed by CPU number
  std::unique_ptr<Hotplug> hotplug_;
};

}  // namespace pctx::cpu
