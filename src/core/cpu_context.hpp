// Per-CPU state of the core, touched only on its CPU thread: the role `owner`, which its
// switch hooks, cross-call handlers and timer callbacks assert. Scheduling passes hold the
// CPU context's lock besides, and the task context's (CpuLocks).
#pragma once

#include <array>
#include <memory>

#include "core/context.hpp"
#include "pctx/base/thread_role.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/cpu/cpu_timer.hpp"
#include "pctx/cpu/cross_call.hpp"

namespace pctx::core {

struct CpuPmuContext {
  int active_counters = 0;  // Active events of this PMU that hold a counter
  bool exclusive = false;   // an exclusive group is on
};

struct CpuContext {
  CpuContext(int cpu_number, Context* own, bool is_online)
      : cpu(cpu_number), ctx(own), online(is_online) {}

  const int cpu;
  Context* const ctx;  // the CPU's own context

  // Where code starts to act as this CPU's thread: its switch hooks, the cross-call
  // handlers and timer callbacks it runs. Debug builds check the caller is that thread.
  void assert_on_cpu() const PCTX_ASSERT_CAPABILITY(owner) {
    base::check_held([&] { return cpu::current_cpu() == cpu; }, "a CPU context, off its CPU");
  }

  base::ThreadRole owner;
  // The current task's context while it is scheduled in. While a CpuLocks lives, it is
  // changed only to nullptr or to a context that CpuLocks holds.
  Context* task_ctx PCTX_GUARDED_BY(owner) = nullptr;
  Task* current PCTX_GUARDED_BY(owner) = nullptr;  // the task the scheduler says is current
  // The CPU's passes run: set by its bringup and cleared by its teardown, in passes, so
  // under its context's lock; a user-side call refused by a parked thread reads it under
  // that lock to know whether the context is really off (event_function_call).
  bool online PCTX_GUARDED_BY(ctx->lock) = true;
  std::array<CpuPmuContext, PerfCore::kMaxPmus> pmus PCTX_GUARDED_BY(owner);
  // Made at start, then fixed; armed and cancelled on this CPU's thread, which checks that.
  std::array<std::unique_ptr<cpu::CpuTimer>, PerfCore::kMaxPmus> rotation_timers;
  // Reads served in place (PerfCore::read_in_place): this CPU's thread is the only writer,
  // with irqs off, so an addition is a load and a store; anyone may read it.
  std::atomic<uint64_t> reads_in_place{0};
};

}  // namespace pctx::core
