// A journal of the CPUs pctx took offline, so that a crashed process's CPUs can be brought
// back (`pctx hotplug restore`), plus the in-process guard that restores them at exit and
// on SIGINT, SIGTERM and SIGHUP.
#pragma once

#include <string>

#include "pctx/base/result.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "pctx/cpu/sysfs.hpp"  // write_cpu_online and cpu_is_online, once declared here

namespace pctx::cpu {

// /run/pctx/hotplug.journal, or $PCTX_HOTPLUG_JOURNAL. Lines are "CPU PID" (a damaged line
// is skipped, and dropped at the next write); writers hold an flock on PATH.lock and
// replace the file atomically, so several processes may share it.
class HotplugJournal {
 public:
  explicit HotplugJournal(std::string path = default_path());
  static std::string default_path();

  base::Status add(int cpu);     // before the CPU goes offline
  base::Status remove(int cpu);  // once it is back
  CpuSet cpus() const;           // journaled CPUs, whoever took them down
  const std::string& path() const { return path_; }

  // Brings every journaled CPU (or those in `only`, if not empty) back online and drops
  // their entries; entries for CPUs already online are dropped as stale.
  base::Result<CpuSet> restore(const CpuSet& only = {});

 private:
  std::string path_;
};

// The CPUs this process took offline, restored by exit and signal handlers. The handlers
// only open and write sysfs files and sleep between retries of EBUSY and EAGAIN, all
// async-signal-safe. SIGHUP is covered too: a terminal closing under a torture run must
// not leave its CPUs offline.
namespace exit_guard {
// Idempotent: atexit + SIGINT + SIGTERM + SIGHUP. A refusal (the same for every call)
// says which; Hotplug then takes no CPU offline.
base::Status install();
void mark_offline(int cpu);
void mark_online(int cpu);
CpuSet marked();
void restore_now();  // what the handlers do
}  // namespace exit_guard

}  // namespace pctx::cpu
