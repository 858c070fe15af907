// Switching between a CPU thread's scheduler and a task's fiber, with the annotations that
// AddressSanitizer and ThreadSanitizer need to follow a stack switch (Boost.Context's fcontext
// backend makes none). A task may be resumed by a different CPU thread each time.
#pragma once

#include "pctx/sched/scheduler.hpp"
#include "pctx/sched/task.hpp"
#include "sched/run_queue.hpp"
#include "sched/task_access.hpp"

namespace pctx::sched {

// Polled by cond_resched at every preemption point: inline, with the run queue at hand.
inline bool TaskAccess::need_resched(Task& task) {
  RunQueue& rq = *task.rq_;
  rq.assert_owner();  // asked by the task, which runs on its run queue's thread
  if (rq.need_resched.load(std::memory_order_relaxed)) return true;
  if ((++rq.resched_polls & 255) != 0) return false;
  // A call whose signal is late or lost is run by the loop once the task yields.
  if (rq.thread->calls_pending()) return true;
  return rq.nr_runnable.load(std::memory_order_relaxed) > 0 &&
         std::chrono::steady_clock::now() >= rq.slice_end;
}

inline bool TaskAccess::accepting(const Scheduler& s, int cpu) {
  RunQueue* q = s.rq(cpu);
  return q != nullptr && q->accepting.load();
}

// The task whose fiber runs on the calling thread, or nullptr. Never inlined: a task's
// code may resume on another thread, and an inlined thread_local address could be stale.
Task* current_task();

}  // namespace pctx::sched
