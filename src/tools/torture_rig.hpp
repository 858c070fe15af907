// The parts of a torture run that its threads share: the runtime, core, PMUs and
// scheduler, the counted tasks, the CPU-context events, the groups installers add, and
// the watchdog's slots.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include "pctx/base/mutex.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/core/perf_hardware_pmu.hpp"
#include "pctx/core/perf_software_pmu.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/sched/scheduler.hpp"
#include "tools/torture.hpp"
#include "tools/workloads.hpp"

namespace pctx::tools::torture {

using Clock = std::chrono::steady_clock;

// A task and its counters: a pinned tsc event that counts whenever the task runs (checked
// against the scheduler's record), flexible tsc groups that multiplex, software events,
// and cycles where there is a hardware PMU.
struct CountedTask {
  sched::TaskRef task;
  Workload workload = Workload::kSpin;
  core::ContextRef ctx;
  core::Event* reference = nullptr;
  std::vector<core::Event*> flexible;
  core::Event* software = nullptr;  // {task-clock,context-switches}
  core::Event* hardware = nullptr;
  std::vector<core::Event*> all() const;
};

// A group an installer added; taken out of the pool while one thread works on it, since
// the removal of an event must not race other operations on it.
struct ExtraGroup {
  core::Event* leader;
  core::Event* sibling;  // nullptr when the group is the leader alone
  int cpu;               // the CPU context it is in, or -1 for a task's
};

// What one thread is doing, for the watchdog: since when (0: nothing) and what.
struct WatchSlot {
  std::atomic<int64_t> since_ns{0};
  std::atomic<const char*> what{""};
  std::atomic<int> cpu{-1};
};

class WatchScope {
 public:
  WatchScope(WatchSlot& slot, const char* what, int cpu);
  ~WatchScope();
  WatchScope(const WatchScope&) = delete;
  WatchScope& operator=(const WatchScope&) = delete;

 private:
  WatchSlot& slot_;
};

struct Rig {
  Rig(const TortureOptions& o, TortureReport& r) : options(o), report(r) {}
  const TortureOptions& options;
  TortureReport& report;
  Clock::time_point start = Clock::now();
  cpu::CpuSet managed, victims, initial_online;

  std::unique_ptr<cpu::CpuRuntime> runtime;
  std::unique_ptr<core::PerfCore> core;
  std::unique_ptr<core::TscPmu> tsc;      // the tasks', capped so their groups multiplex
  std::unique_ptr<core::TscPmu> cpu_tsc;  // the CPU contexts', so they take none of those
  std::unique_ptr<core::PerfSoftwarePmu> software;
  std::unique_ptr<core::PerfHardwarePmu> hardware;  // where there is a hardware PMU
  uint64_t cycles_config = 0;
  std::unique_ptr<sched::Scheduler> scheduler;

  std::atomic<bool> stop_tasks{false};
  std::atomic<bool> halt{false};  // every torture thread stops
  std::vector<std::unique_ptr<CountedTask>> tasks;
  std::vector<std::vector<core::Event*>> cpu_events;  // by CPU: tsc, then software leader
  std::vector<core::Context*> task_contexts;

  base::Mutex extras_mutex{"tools.torture.extras_mutex"};
  std::vector<ExtraGroup> extras PCTX_GUARDED_BY(extras_mutex);

  std::vector<std::unique_ptr<WatchSlot>> slots;

  double now_s() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
  void violate(int cpu, std::string kind, std::string detail) {
    report.violate(now_s(), cpu, std::move(kind), std::move(detail));
  }
  WatchSlot& new_slot() { return *slots.emplace_back(std::make_unique<WatchSlot>()); }

  // A group of one event (or with a software sibling) on `pmu`; nullptr after recording
  // why it could not be made.
  core::Event* make_event(core::Pmu* pmu, uint64_t config, bool pinned = false);
};

// The threads of a run.
void installer_thread(Rig& rig, int id, WatchSlot& slot);
void hotplug_thread(Rig& rig, WatchSlot& slot);
void checker_thread(Rig& rig, WatchSlot& slot);
void watchdog_thread(Rig& rig);

}  // namespace pctx::tools::torture
