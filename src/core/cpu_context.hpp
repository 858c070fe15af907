// Per-CPU state of the core, touched only on its CPU thread with its context lock held
// (or with the CPU offline and its thread parked).
#pragma once

#include <array>

#include "core/context.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/cpu/cpu_timer.hpp"

namespace pctx::core {

struct CpuPmuContext {
  int active_counters = 0;  // Active events of this PMU that hold a counter
  bool exclusive = false;   // an exclusive group is on
  std::unique_ptr<cpu::CpuTimer> rotation_timer;
};

struct CpuContext {
  int cpu = -1;
  Context* ctx = nullptr;       // the CPU's own context
  Context* task_ctx = nullptr;  // the current task's context while it is scheduled in
  Task* current = nullptr;      // the task the scheduler says is current here
  bool online = true;
  std::array<CpuPmuContext, PerfCore::kMaxPmus> pmus;
};

}  // namespace pctx::core
