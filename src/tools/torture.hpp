// `pctx torture`: CPU hotplug under load with the perf core's invariants checked all the
// time. Tasks run the built-in workloads and count; installer threads change and read
// events; a driver takes CPUs down and up (through pctx, or behind its back with
// --external); a checker and a watchdog record every violation. See docs/torture.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pctx/base/mutex.hpp"
#include "pctx/cpu/cpu_set.hpp"

namespace pctx::tools {

struct TortureOptions {
  double duration_s = 20;
  uint64_t cycles = 0;  // stop after this many offline+online pairs; 0: by duration only
  double interval_ms = 5;
  uint64_t seed = 0;
  bool external = false;  // write sysfs directly; pctx must follow from uevents alone
  bool allow_cpu0 = false;
  int tasks = 2;       // per online CPU
  int installers = 2;  // threads installing, removing, enabling, disabling and reading
  int tsc_counters = 2;
  double deadline_s = 20;  // the watchdog's limit for one install, read or hotplug step
  std::string json_path;
  bool progress = false;  // a progress line on stderr
};

// Latencies of one kind of hotplug operation.
class OpStats {
 public:
  void success(std::chrono::nanoseconds took);
  void failure(int error);  // -errno
  nlohmann::json json() const;
  uint64_t failures() const;

 private:
  uint64_t attempts_ = 0;
  uint64_t successes_ = 0;
  std::map<std::string, uint64_t> failures_by_errno_;
  std::vector<int64_t> ns_;
};

struct Violation {
  double time_s;
  int cpu;  // -1 when no CPU is concerned
  std::string kind;
  std::string detail;
};

// Everything the report says; filled by the run, under `mutex` where threads share it.
struct TortureReport {
  base::Mutex mutex{"tools.torture.report_mutex"};
  uint64_t seed = 0;
  bool external = false;
  cpu::CpuSet victims;
  std::atomic<uint64_t> cycles{0};
  double elapsed_s = 0;
  OpStats offline PCTX_GUARDED_BY(mutex);
  OpStats online PCTX_GUARDED_BY(mutex);
  std::map<int, int64_t> offline_ns PCTX_GUARDED_BY(mutex);  // by CPU
  std::map<int, uint64_t> cpu_cycles PCTX_GUARDED_BY(mutex);
  std::vector<int64_t> uevent_delay_ns PCTX_GUARDED_BY(mutex);
  uint64_t einval_count = 0;
  int64_t einval_max_ns = 0;
  std::vector<int64_t> rebalance_delay_ns;
  std::map<int, uint64_t> kernel_refusals;  // by errno, retried ones included
  uint64_t install_retries = 0, cross_calls = 0, signals = 0, rotations = 0;
  std::atomic<uint64_t> operations{0};  // installer operations done
  std::vector<Violation> violations PCTX_GUARDED_BY(mutex);
  bool kernel_log_readable = false;
  std::vector<std::string> kernel_log;
  bool interrupted = false;

  void violate(double time_s, int cpu, std::string kind, std::string detail);
  size_t violation_count();
  std::string verdict();
  nlohmann::json json();
  void print(FILE* out);
};

// Runs the torture; returns the exit status (0 SUCCESS, 1 FAILURE, 3 HOTPLUG_FAIL). The
// first SIGINT, SIGTERM or SIGHUP ends it early with the report so far.
int run_torture(const TortureOptions& options, TortureReport& report);

}  // namespace pctx::tools
