// A CPU runtime on every present CPU, for tests that need CPU threads.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <memory>
#include <string>

#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/cpu/sysfs.hpp"

namespace pctx::cpu::testing {

inline std::unique_ptr<CpuRuntime> start_runtime(RuntimeOptions options = {}) {
  options.watch_hotplug = false;
  auto rt = CpuRuntime::start(std::move(options));
  EXPECT_TRUE(rt) << rt.error().message;
  return rt ? std::move(*rt) : nullptr;
}

// Waits (bounded) for a condition that another thread makes true; false on timeout.
template <class F>
bool eventually(F&& condition, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

// The CPU a hotplug test may take down: the last hotpluggable one other than CPU 0. -1,
// with the reason to skip in `why`, without root or such a CPU.
inline int hotplug_victim(std::string* why) {
  if (geteuid() != 0) {
    *why = "CPU hotplug needs root";
    return -1;
  }
  const CpuSet candidates = hotpluggable_cpus() - CpuSet::of({0});
  if (candidates.empty()) {
    *why = "no hotpluggable CPU other than CPU 0";
    return -1;
  }
  return candidates.last();
}

// Whatever a test did, every hotpluggable CPU ends online.
inline void bring_every_cpu_online() {
  for (int c : hotpluggable_cpus().cpus()) {
    if (!cpu_is_online(c)) (void)write_cpu_online(c, true);
  }
}

}  // namespace pctx::cpu::testing
