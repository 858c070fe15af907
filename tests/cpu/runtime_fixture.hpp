// A CPU runtime on every present CPU, for tests that need CPU threads.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "pctx/cpu/runtime.hpp"

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

}  // namespace pctx::cpu::testing
