// Switching between a CPU thread's scheduler and a task's fiber, with the annotations that
// AddressSanitizer and ThreadSanitizer need to follow a stack switch (Boost.Context's fcontext
// backend makes none). A task may be resumed by a different CPU thread each time.
#pragma once

#include <boost/context/stack_context.hpp>

#include "pctx/sched/scheduler.hpp"
#include "pctx/sched/task.hpp"
#include "sched/run_queue.hpp"

namespace pctx::sched {

// Private access to Task for the scheduler's internals.
struct TaskAccess {
  // Once per CPU thread, on it, before it resumes a task.
  static void init_thread(RunQueue& rq) PCTX_REQUIRES(rq.owner);
  // Maps the task's stack (with a guard page); -EINVAL below kMinStackSize, -ENOMEM (or
  // mmap's and mprotect's own -errno) when it cannot be mapped. Nothing throws. The fiber
  // itself is built on this stack at the task's first resume, so a task that never runs
  // is never entered: release_stack unmaps the stack without a switch.
  static int allocate_stack(Task& task, size_t stack_size);
  // Unmaps the stack of a task whose fiber was never built (cancelled, or never placed).
  static void release_stack(Task& task) noexcept;
  // Builds the task's fiber on its stack; resume does it at the task's first run.
  static void start_fiber(Task& task);
  // Scheduler side: runs the task until it switches out; returns why it did.
  static SwitchReason resume(RunQueue& rq, Task& task) PCTX_REQUIRES(rq.owner);
  // Task side: gives the CPU back to the scheduler; returns when resumed, maybe elsewhere.
  static void suspend(Task& task, SwitchReason reason);
  static bool need_resched(Task& task) {
    RunQueue& rq = *task.rq_;
    rq.assert_owner();  // asked by the task, which runs on its run queue's thread
    if (rq.need_resched.load(std::memory_order_relaxed)) return true;
    if ((++rq.resched_polls & 255) != 0) return false;
    // A call whose signal is late or lost is run by the loop once the task yields.
    if (rq.thread->calls_pending()) return true;
    return rq.nr_runnable.load(std::memory_order_relaxed) > 0 &&
           std::chrono::steady_clock::now() >= rq.slice_end;
  }
  static void sleep(Task& task, std::chrono::steady_clock::time_point deadline) {
    task.deadline_ = deadline;
    suspend(task, SwitchReason::kSleep);
  }
  static bool accepting(const Scheduler& s, int cpu) {
    RunQueue* q = s.rq(cpu);
    return q != nullptr && q->accepting.load();
  }
  static void set_state(Task& task, TaskState s) {
    task.state_.store(s, std::memory_order_release);
  }
  static bool cas_state(Task& task, TaskState from, TaskState to) {
    return task.state_.compare_exchange_strong(from, to, std::memory_order_acq_rel);
  }
};

// The task whose fiber runs on the calling thread, or nullptr. Never inlined: a task's
// code may resume on another thread, and an inlined thread_local address could be stale.
Task* current_task();

}  // namespace pctx::sched
