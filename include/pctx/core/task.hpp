// What the core needs of a task: where it runs, and its context. The scheduler layer's
// tasks (and a foreign scheduler's) embed one and call the switch hooks.
#pragma once

#include <atomic>

namespace pctx::core {

class Context;

class Task {
 public:
  Task() = default;
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  // The CPU where the task is current, or -1. Set by PerfCore::sched_in before it looks
  // at the context (a full barrier, pairing with install's), cleared by sched_out.
  std::atomic<int> oncpu{-1};
  // The task's context, published by install before it looks at oncpu.
  std::atomic<Context*> perf_ctx{nullptr};
  // Set by PerfCore::exit_task: no context is created for the task after that.
  std::atomic<bool> exited{false};
};

}  // namespace pctx::core
