// The `perf software` PMU: kernel events without counter limits (the software events, and
// kernel PMUs like msr) counted for each CPU thread by its own kernel counters, and
// charged to whichever pctx task or CPU context is scheduled there.
//
// The common software events, counting every privilege level, share one kernel group per
// CPU thread: a scheduling pass takes one group read() of it, and every add, del and read
// in the pass is served from that snapshot. Where the kernel refuses to count kernel mode
// (perf_event_paranoid >= 2 without privilege) there is no shared group, and every event
// is a variant: `task-clock:u` counts, `task-clock` gets the kernel's refusal and advice. Any other
// event (a modifier, cpu-clock, msr/tsc/) is a variant: config_for() opens it once on every CPU
// thread, and its count is read with one read() where it is added, read and deleted.
#pragma once

#include <linux/perf_event.h>

#include <array>
#include <atomic>
#include <memory>
#include <vector>

#include "pctx/base/mutex.hpp"
#include "pctx/core/pmu.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/pmu/counter_group.hpp"
#include "pctx/pmu/encoding.hpp"

namespace pctx::core {

class PerfSoftwarePmu : public Pmu {
 public:
  // The shared group: event.config is one of these PERF_COUNT_SW_* values.
  static constexpr uint64_t kEvents[] = {
      PERF_COUNT_SW_TASK_CLOCK,     PERF_COUNT_SW_PAGE_FAULTS,     PERF_COUNT_SW_CONTEXT_SWITCHES,
      PERF_COUNT_SW_CPU_MIGRATIONS, PERF_COUNT_SW_PAGE_FAULTS_MIN, PERF_COUNT_SW_PAGE_FAULTS_MAJ};
  // Configs at or above this are variants, numbered from it.
  static constexpr uint64_t kVariantBase = uint64_t{1} << 32;
  static constexpr int kMaxVariants = 32;

  // Opens the kernel groups of every CPU thread of the runtime, from this (process)
  // context. Errors are the counter layer's, which say what to do.
  static base::Result<std::unique_ptr<PerfSoftwarePmu>> open(cpu::CpuRuntime& runtime);

  // The config of a shared-group event by perf's name or alias ("task-clock", "cs");
  // -EINVAL with the valid names for anything else (use config_for for those).
  static base::Result<uint64_t> config_of(std::string_view name);

  // The config for any encoded kernel event that is not a hardware counter: a shared-group
  // event, or a variant, opened on every CPU thread on first use (slow path, user side).
  // Errors say why the kernel refused it (-ENOSPC beyond kMaxVariants distinct variants).
  base::Result<uint64_t> config_for(const pmu::EncodedEvent& event);

  std::string name() const override { return "perf-software"; }
  int counters() const override { return kUnlimited; }
  int init(PmuEvent& event) override;
  int add(PmuEvent& event) override;
  void del(PmuEvent& event) override;
  void read(PmuEvent& event) override;
  void begin_pass(int cpu) override;

  // Group read()s so far, all CPUs: one per pass that had an event of the shared group
  // active.
  uint64_t group_reads() const { return group_reads_.load(); }

 private:
  struct PerCpu {
    pmu::CounterGroup group;
    pmu::GroupReading snapshot;
    bool used = false;  // an event of ours is on: the pass needs a snapshot
    int active = 0;
    // The instant the snapshot was taken at: a task switch's sched-in pass, at the instant
    // of its sched-out, starts next's events from prev's last reading (one read() a switch).
    uint64_t instant = 0;
  };
  // One variant on one CPU thread: its counter and a sized buffer, so reads never allocate.
  struct VariantCounter {
    pmu::CounterGroup counter;
    pmu::GroupReading reading;
  };
  // Written once under variants_mutex_ before nr_variants_ publishes it; immutable after.
  struct Variant {
    perf_event_attr attr{};
    std::vector<std::unique_ptr<VariantCounter>> cpus;  // by CPU number
  };
  static int slot_of(uint64_t config);
  uint64_t value(int cpu, uint64_t config) const;
  uint64_t variant_value(int cpu, uint64_t config) const;
  void take_snapshot(PerCpu& per);

  cpu::CpuRuntime* runtime_ = nullptr;
  bool shared_ = true;                         // the shared groups are open
  std::vector<std::unique_ptr<PerCpu>> cpus_;  // by CPU number
  base::Mutex variants_mutex_{"core.perf_software.variants_mutex"};
  std::array<Variant, kMaxVariants> variants_;
  std::atomic<int> nr_variants_{0};
  std::atomic<uint64_t> group_reads_{0};
};

}  // namespace pctx::core
