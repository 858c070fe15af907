// The `perf software` PMU: kernel software events (task-clock, page-faults, ...) counted
// for each CPU thread by its own kernel counters, and charged to whichever pctx task or
// CPU context is scheduled there. Each CPU thread has one kernel group with every event
// below; a scheduling pass takes one group read() of it, and every add, del and read in
// the pass is served from that snapshot. No counter limit.
#pragma once

#include <linux/perf_event.h>

#include <atomic>
#include <memory>
#include <vector>

#include "pctx/core/pmu.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/pmu/counter_group.hpp"

namespace pctx::core {

class PerfSoftwarePmu : public Pmu {
 public:
  // event.attr.config is one of these PERF_COUNT_SW_* values.
  static constexpr uint64_t kEvents[] = {
      PERF_COUNT_SW_TASK_CLOCK,     PERF_COUNT_SW_PAGE_FAULTS,     PERF_COUNT_SW_CONTEXT_SWITCHES,
      PERF_COUNT_SW_CPU_MIGRATIONS, PERF_COUNT_SW_PAGE_FAULTS_MIN, PERF_COUNT_SW_PAGE_FAULTS_MAJ};
  static constexpr const char* kNames[] = {"task-clock",     "page-faults",  "context-switches",
                                           "cpu-migrations", "minor-faults", "major-faults"};

  // Opens the kernel groups of every CPU thread of the runtime, from this (process)
  // context. Errors are the counter layer's, which say what to do.
  static pmu::Result<std::unique_ptr<PerfSoftwarePmu>> open(cpu::CpuRuntime& runtime);

  std::string name() const override { return "perf-software"; }
  int counters() const override { return kUnlimited; }
  int init(Event& event) override;
  int add(Event& event) override;
  void del(Event& event) override;
  void read(Event& event) override;
  void begin_pass(int cpu) override;

  // The config for a name ("task-clock"), or -1.
  static int64_t config_of(std::string_view name);
  // Group read()s so far, all CPUs: one per pass that had an event of this PMU active.
  uint64_t group_reads() const { return group_reads_.load(); }

 private:
  struct PerCpu {
    pmu::CounterGroup group;
    pmu::GroupReading snapshot;
    bool used = false;  // an event of ours is on: the pass needs a snapshot
    int active = 0;
  };
  static int slot_of(uint64_t config);
  uint64_t value(int cpu, uint64_t config) const;

  std::vector<std::unique_ptr<PerCpu>> cpus_;  // by CPU number
  std::atomic<uint64_t> group_reads_{0};
};

}  // namespace pctx::core
