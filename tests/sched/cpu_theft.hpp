// Time taken from the CPU threads by others: a CPU thread that waits for its CPU (another
// process or thread ran there, /proc/self/task/<tid>/schedstat) or whose vCPU the host did
// not run (steal, /proc/stat) is not running its task, yet the task's clock goes on, as a
// task's does in a guest whose vCPU is preempted. A test of time shares checked while the
// machine took a CPU away for long judges the machine, not pctx: it measures this and runs
// again (a 100 ms wait put one pair of a task's groups at 50% instead of 40%).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pctx/cpu/runtime.hpp"

namespace pctx::sched::testing {

using namespace std::chrono_literals;

// A CPU thread kept from its CPU longer than this in a run moves a task's or a group's
// share by up to a few points, so such a run is done again, up to kAttempts times in all.
// Waits of 2-5 ms per second are usual here (TSan's own thread among others), and the
// host's steal is counted in 10 ms ticks.
constexpr auto kMaxLost = 20ms;
constexpr int kAttempts = 4;

// The one-line reason of a test that found every one of its runs disturbed.
inline std::string too_busy() {
  return fmt::format(
      "the machine kept a CPU from pctx for over {} ms in each of {} runs: too busy to judge "
      "time shares",
      kMaxLost.count(), kAttempts);
}

class CpuTheft {
 public:
  CpuTheft(cpu::CpuRuntime& runtime, std::vector<int> cpus) : cpus_(std::move(cpus)) {
    for (int c : cpus_) tids_.push_back(runtime.thread(c)->tid());
    start_ = sample();
  }

  // The CPU that lost the most time since construction, and how much, in one line.
  struct Worst {
    int cpu = -1;
    std::chrono::nanoseconds lost{0};
    std::string why;
  };
  Worst worst() const {
    const std::vector<Sample> now = sample();
    Worst w;
    for (size_t i = 0; i < cpus_.size(); ++i) {
      const auto waited = std::chrono::nanoseconds(now[i].run_delay_ns - start_[i].run_delay_ns);
      const auto stolen = std::chrono::nanoseconds(now[i].steal_ns - start_[i].steal_ns);
      if (waited + stolen <= w.lost && w.cpu >= 0) continue;
      w.cpu = cpus_[i];
      w.lost = waited + stolen;
      w.why = fmt::format("cpu{}'s thread waited {} ms for its CPU and the host stole {} ms",
                          cpus_[i], waited.count() / 1'000'000, stolen.count() / 1'000'000);
    }
    return w;
  }

  // Whether a CPU lost more than kMaxLost since construction; if so, says so on stdout.
  bool disturbed(const char* test) const {
    const Worst w = worst();
    if (w.lost <= kMaxLost) return false;
    std::printf("%s: %s during the run (more than %lld ms), so it runs again\n", test,
                w.why.c_str(), static_cast<long long>(kMaxLost.count()));
    return true;
  }

 private:
  struct Sample {
    uint64_t run_delay_ns = 0;
    uint64_t steal_ns = 0;
  };

  std::vector<Sample> sample() const {
    std::vector<Sample> out(cpus_.size());
    for (size_t i = 0; i < cpus_.size(); ++i) {
      // schedstat: time on CPU, time waiting on a run queue, time slices (ns, ns, count).
      std::ifstream f(fmt::format("/proc/self/task/{}/schedstat", tids_[i]));
      uint64_t on_cpu = 0;
      f >> on_cpu >> out[i].run_delay_ns;
      out[i].steal_ns = steal_ns(cpus_[i]);
    }
    return out;
  }

  // The eighth value of the CPU's line in /proc/stat, in clock ticks.
  static uint64_t steal_ns(int cpu) {
    std::ifstream f("/proc/stat");
    const std::string want = fmt::format("cpu{}", cpu);
    for (std::string line; std::getline(f, line);) {
      std::istringstream in(line);
      std::string name;
      in >> name;
      if (name != want) continue;
      uint64_t v = 0;
      for (int i = 0; i < 8 && in >> v; ++i) {
      }
      return v * (1'000'000'000 / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK)));
    }
    return 0;
  }

  std::vector<int> cpus_;
  std::vector<pid_t> tids_;
  std::vector<Sample> start_;
};

}  // namespace pctx::sched::testing
