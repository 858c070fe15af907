// What the suites share: the two CPUs (the caller's, where the benchmark thread is pinned,
// and the target, whose CPU thread does the work), and an environment per benchmark: a
// runtime on the target CPU only, a perf core with a tsc PMU and the perf software driver,
// and the scheduler. One runtime per process, so each benchmark starts and stops its own.
#pragma once

#include <sys/types.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <vector>

#include "pctx/core/perf_core.hpp"
#include "pctx/core/perf_hardware_pmu.hpp"
#include "pctx/core/perf_software_pmu.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/sched/scheduler.hpp"

namespace pctx::bench {

struct Cpus {
  int caller = 0;
  int target = 1;
};
const Cpus& cpus();
// Picks the first and last online CPUs and pins the calling thread to the first. Fails
// (with a message) with fewer than two online CPUs.
base::Status init_cpus();

class BenchEnv {
 public:
  struct Options {
    int tsc_counters = 64;  // enough that every event of the switch suites is active
    std::chrono::nanoseconds spin{std::chrono::microseconds(50)};  // the target's idle spin
    bool hardware = false;  // also the perf hardware driver; skipped where there is no PMU
  };
  // nullptr (and the benchmark skipped with the reason) when something cannot start.
  static std::unique_ptr<BenchEnv> start(benchmark::State& state, Options options);
  static std::unique_ptr<BenchEnv> start(benchmark::State& state) { return start(state, {}); }
  ~BenchEnv();

  int target() const { return cpus().target; }
  core::PerfCore& core() { return *core_; }
  sched::Scheduler& sched() { return *sched_; }
  core::TscPmu& tsc() { return *tsc_; }
  core::PerfSoftwarePmu& software() { return *software_; }
  core::PerfHardwarePmu& hardware() { return *hardware_; }
  // The config of a hardware event spec ("cycles:u") for hardware(); 0 if it does not encode.
  uint64_t hardware_config(const char* spec);

  // `n` single-event groups on a PMU, owned by the environment.
  std::vector<core::Event*> events(core::Pmu& pmu, int n, uint64_t config = 0);
  // Installs every group; false (and the benchmark skipped) on an error.
  bool install_all(benchmark::State& state, core::Context* ctx,
                   const std::vector<core::Event*>& groups);
  void remove_all(const std::vector<core::Event*>& groups);
  // A task on the target CPU, not started, running `fn`.
  sched::TaskRef task(std::function<void()> fn);

 private:
  BenchEnv() = default;
  std::unique_ptr<cpu::CpuRuntime> runtime_;
  std::unique_ptr<core::TscPmu> tsc_;
  std::unique_ptr<core::PerfSoftwarePmu> software_;
  std::unique_ptr<core::PerfHardwarePmu> hardware_;
  std::unique_ptr<core::PerfCore> core_;
  std::unique_ptr<sched::Scheduler> sched_;
  std::vector<core::Event*> owned_;
};

// The kernel side's event: a counting task-clock on thread `tid` (0: the caller), any
// CPU; the fd, or -1.
int open_task_clock(pid_t tid);

// Seconds since `start`, for manual timing.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace pctx::bench
