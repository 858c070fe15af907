// One run of `pctx run`, collecting: the runtime, core and scheduler started, the built-in
// workloads spawned as pctx tasks with the spec's events installed in each, CPU-context
// events on every managed CPU, the wait (with interval readings), and the counts read
// back as perf-stat rows with a record of each task and CPU. It prints nothing: what it
// has to say while it runs goes to a RunObserver, and what it collected to the reporters
// (run_command.cpp, stat_output.cpp), as google/benchmark's runner hands its runs to
// reporters.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "tools/stat_output.hpp"
#include "tools/workloads.hpp"

namespace pctx::tools {

struct RunPlan {
  cpu::CpuSet cpus;     // where the tasks start
  cpu::CpuSet managed;  // the runtime's CPUs
  int tasks_per_cpu = 2;
  std::chrono::nanoseconds duration{};
  std::chrono::milliseconds interval{0};  // -I; 0: none
  std::string spec;
  std::string cpu_spec;  // empty: no CPU events
  std::map<std::string, int> caps;
  std::vector<Workload> workloads;
};

// The scheduler's record of one task at the end of the run.
struct TaskRecord {
  uint64_t id = 0;
  std::string name;
  std::string scope;  // "name-id", its rows' scope
  Workload workload = Workload::kSpin;
  int cpu = -1;  // where it ran last
  int64_t on_cpu_ns = 0;
  uint64_t on_cpu_ticks = 0;
  uint64_t switches = 0;
  uint64_t migrations = 0;
  uint64_t work = 0;  // the workload's own count of what it did
  bool affinity_widened = false;
};

// A managed CPU that was online at some time in the run.
struct CpuRecord {
  int cpu = -1;
  std::string scope;  // "CPU3", its rows' scope
  std::chrono::nanoseconds offline{};
};

struct RunOutcome {
  std::vector<StatRow> rows;  // tasks in spawn order, then CPUs
  std::vector<TaskRecord> tasks;
  std::vector<CpuRecord> cpus;
  std::vector<std::string> widened, restored;  // task names, as hotplug moved them
  std::vector<int64_t> rebalance_delays_ns;
  double elapsed_s = 0;
  bool interrupted = false;
};

// What a run tells while it goes; the reporter decides how to show it. Called from the
// thread that runs run_session, except note(), which hotplug callbacks call from theirs.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // One interval's rows (deltas since the last), as they are read (-I).
  virtual void interval(const std::vector<StatRow>& /*rows*/) {}
  // A line about what happened to the run: a task widened or restored by hotplug, a
  // drain that timed out.
  virtual void note(const std::string& /*line*/) {}
  // Every 50 ms or so while the run waits, and once with done = true at its end.
  virtual void progress(std::chrono::nanoseconds /*elapsed*/, size_t /*tasks*/,
                        uint64_t /*switches*/, bool /*done*/) {}
};

// -errno with a message on failure; the stop flag ends the run early (Ctrl-C), with
// what was counted so far.
base::Result<RunOutcome> run_session(const RunPlan& plan, const std::atomic<int>& stop_signal,
                                     RunObserver& observer);

}  // namespace pctx::tools
