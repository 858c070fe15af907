// One run of `pctx run`, collecting: the runtime, core and scheduler started, the built-in
// workloads spawned as pctx tasks with the spec's events installed in each, CPU-context
// events on every managed CPU, the wait (with interval readings), and the counts read
// back as perf-stat rows. Printing is the reporter's (run_command.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

struct TaskSummary {
  std::string scope;  // "name-id", the rows' scope
  nlohmann::json detail;
};

struct RunOutcome {
  std::vector<StatRow> rows;                       // tasks in spawn order, then CPUs
  nlohmann::json tasks = nlohmann::json::array();  // per task: id, name, stats
  nlohmann::json cpus = nlohmann::json::array();   // per CPU: cpu, offline_ns
  std::vector<std::string> widened, restored;
  std::vector<int64_t> rebalance_delays_ns;
  std::map<int, double> offline_ms;  // CPUs offline during the run
  double elapsed_s = 0;
  bool interrupted = false;
};

// Called with each interval's rows (deltas), as they are read.
using IntervalSink = std::function<void(const std::vector<StatRow>&)>;

// -errno with a message on failure; the stop flag ends the run early (Ctrl-C), with
// what was counted so far.
base::Result<RunOutcome> run_session(const RunPlan& plan, const std::atomic<int>& stop_signal,
                                     const IntervalSink& on_interval);

}  // namespace pctx::tools
