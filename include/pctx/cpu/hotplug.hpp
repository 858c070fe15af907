// CPU hotplug through sysfs, with the kernel's cpuhp idea: an ordered list of steps that
// run on bringup after the CPU is online, and in reverse order on teardown before it goes
// offline. Other layers register their steps (park the CPU thread, schedule contexts out,
// migrate tasks). One operation at a time.
//
// Hotplug done by someone else (a raw sysfs write) is detected through kernel uevents,
// reconciled against /sys/devices/system/cpu/online, and the same steps run after the
// fact. A CPU thread that finds itself off its CPU also triggers a reconcile.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pctx/cpu/cpu_set.hpp"
#include "pctx/cpu/hotplug_journal.hpp"
#include "pctx/cpu/topology.hpp"
#include "pctx/pmu/result.hpp"

namespace pctx::cpu {

class CpuRuntime;

struct HotplugStep {
  std::string name;
  std::function<int(int cpu)> bringup;   // after the CPU is online; -errno fails cpu_up
  std::function<int(int cpu)> teardown;  // before the CPU goes offline; -errno fails cpu_down
};

struct HotplugEvent {
  enum class Kind { kDown, kUp, kExternalDown, kExternalUp };
  Kind kind;
  int cpu;
  std::chrono::nanoseconds took;  // the whole operation, or detection to reconciled
};

struct HotplugOptions {
  bool allow_cpu0 = false;                       // CPU 0 is left alone unless asked
  bool restore_on_exit = true;                   // bring back what this process took down
  bool watch = false;                            // run the watcher thread (uevents + sysfs)
  std::chrono::milliseconds poll_interval{500};  // sysfs reconcile without uevents
  std::string journal = HotplugJournal::default_path();
};

class Hotplug {
 public:
  explicit Hotplug(HotplugOptions options = {});
  ~Hotplug();
  Hotplug(const Hotplug&) = delete;
  Hotplug& operator=(const Hotplug&) = delete;

  // Steps run for the CPUs in `managed` (all CPUs when empty).
  void add_step(HotplugStep step);
  void remove_step(const std::string& name);  // for a layer that stops before the runtime
  void set_managed(const CpuSet& managed);

  pmu::Status cpu_down(int cpu);
  pmu::Status cpu_up(int cpu);  // returns once every bringup step has run

  // Runs the steps for changes made by others. The watcher calls it; so may anyone.
  void reconcile();
  void notify();  // something may have changed: wake the watcher now

  CpuSet online() const;      // the CPUs whose steps are all up
  Topology topology() const;  // reloaded after every change, ours or someone else's
  std::vector<HotplugEvent> history() const;
  bool watching_uevents() const { return uevent_fd_ >= 0; }
  uint64_t cpu_uevents() const { return cpu_uevents_.load(); }  // CPU uevents received
  HotplugJournal& journal() { return journal_; }

 private:
  pmu::Status check_request(int cpu, bool online) const;
  int run_bringup(int cpu, size_t* done);
  void run_teardown(int cpu, size_t from);
  void record(HotplugEvent::Kind kind, int cpu, std::chrono::steady_clock::time_point start);
  void watch_loop();
  void reload_topology();
  bool managed(int cpu) const { return managed_.empty() || managed_.test(cpu); }

  HotplugOptions options_;
  HotplugJournal journal_;
  mutable std::mutex mutex_;  // one operation at a time; guards everything below
  std::vector<HotplugStep> steps_;
  CpuSet managed_;
  CpuSet up_;  // CPUs whose bringup steps have run
  std::vector<HotplugEvent> history_;
  Topology topology_;

  int uevent_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> cpu_uevents_{0};
  std::thread watcher_;
};

}  // namespace pctx::cpu
