// One CPU's share of the scheduler. The lists and the current task belong to the CPU
// thread (the role `owner`, which the analysis checks); other threads reach the CPU only
// through its wake list (lock-free, liburcu's wfcqueue) and a few flags.
#pragma once

#include <urcu/wfcqueue.h>

#include <boost/intrusive/list.hpp>

#include <atomic>
#include <chrono>

#include "pctx/base/thread_role.hpp"
#include "pctx/cpu/cpu_thread.hpp"
#include "pctx/cpu/cpu_timer.hpp"
#include "pctx/sched/scheduler.hpp"
#include "pctx/sched/task.hpp"
#include "sched/task_access.hpp"

namespace pctx::sched {

inline int64_t ns_since_epoch(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct RunQueue {
  using Node = TaskAccess::Node;
  using List = boost::intrusive::list<
      Node,
      boost::intrusive::member_hook<Node, boost::intrusive::list_member_hook<>, &Node::run_hook>>;

  RunQueue(int cpu_number, cpu::CpuThread* cpu_thread);
  ~RunQueue();
  RunQueue(const RunQueue&) = delete;
  RunQueue& operator=(const RunQueue&) = delete;

  // Queues a task here from any thread; -EAGAIN when the CPU takes no tasks (going or
  // gone offline). Counts the task as this CPU's at once, so a drain waits for it.
  int push(Task& task);
  // Owner: moves what arrived on the wake list to the run queue or the sleep list.
  bool pull() PCTX_REQUIRES(owner);
  // Whether the wake list may hold a task, by liburcu's own test (the head's link, then the
  // tail), inline: a switch looks at every time, and the two calls into the library cost
  // a tenth of a switch. A task whose enqueue is half done may be missed, and is found at
  // a later look.
  bool arrivals_waiting() const {
    return __atomic_load_n(&wake_head.node.next, __ATOMIC_RELAXED) != nullptr ||
           __atomic_load_n(&wake_tail.p, __ATOMIC_RELAXED) != &wake_head.node;
  }

  // Where code starts to act as this CPU's thread on the owner-only part: the scheduler
  // hook, a task's own calls (which run on its CPU thread), a timer callback. Debug builds
  // check that the caller is that thread.
  void assert_owner() const PCTX_ASSERT_CAPABILITY(owner) {
    base::check_held([&] { return cpu::CpuThread::current() == thread; },
                     "a run queue, off its CPU thread");
  }

  const int cpu;
  cpu::CpuThread* const thread;

  // Shared with other threads.
  alignas(64) cds_wfcq_tail wake_tail;
  __cds_wfcq_head wake_head;
  std::atomic<int> entering{0};
  std::atomic<bool> accepting{false};
  std::atomic<bool> need_resched{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> drained{false};
  std::atomic<int> nr_tasks{0};  // running, runnable, sleeping and arriving here
  // The run queue's length, for the tick; written by the owner alone (owner_add).
  std::atomic<int> nr_runnable{0};
  std::atomic<uint64_t> switches{0};         // tasks resumed here; the owner's alone (owner_add)
  std::atomic<uint64_t> direct_switches{0};  // of those, by a task, not the loop (the same)

  // Owner only. The timers are armed and cancelled by the owner too; CpuThread checks that.
  base::ThreadRole owner;
  alignas(64) List runnable PCTX_GUARDED_BY(owner);
  List sleepers PCTX_GUARDED_BY(owner);
  // The task whose perf context is scheduled in.
  Task* perf_current PCTX_GUARDED_BY(owner) = nullptr;
  cpu::CpuTimer tick;    // ends time slices
  cpu::CpuTimer wakeup;  // the earliest sleeper's deadline
  bool tick_armed PCTX_GUARDED_BY(owner) = false;
  // The running task's slice ends here; cond_resched also checks it every few hundred
  // calls, so slices end even where the tick's signal is late (sanitizers defer signals).
  std::chrono::steady_clock::time_point slice_end PCTX_GUARDED_BY(owner){};
  uint32_t resched_polls PCTX_GUARDED_BY(owner) = 0;
  std::chrono::steady_clock::time_point wakeup_at PCTX_GUARDED_BY(owner) =
      std::chrono::steady_clock::time_point::max();
  // The wake-up timer follows the sleep list when it changes.
  bool sleepers_changed PCTX_GUARDED_BY(owner) = false;
  bool thread_init PCTX_GUARDED_BY(owner) = false;
  std::chrono::steady_clock::time_point next_balance PCTX_GUARDED_BY(owner){};
  // Set by the bringup step (monotonic ns), taken by the first switch after it.
  std::atomic<int64_t> online_at_ns{0};

  // Fiber hand-offs on this thread (fiber_switch.cpp): the task that switched straight to
  // another and waits for that one to take its continuation, and the task that switches
  // back to the loop.
  Task* handoff PCTX_GUARDED_BY(owner) = nullptr;
  Task* returning PCTX_GUARDED_BY(owner) = nullptr;
  // Task-to-task switches since the loop's last pass (Scheduler::switch_directly).
  uint32_t direct_streak PCTX_GUARDED_BY(owner) = 0;

  // The scheduler's own stack and fiber, for the sanitizers' fiber switch annotations.
  void* asan_fake_stack PCTX_GUARDED_BY(owner) = nullptr;
  const void* stack_bottom PCTX_GUARDED_BY(owner) = nullptr;
  size_t stack_size PCTX_GUARDED_BY(owner) = 0;
  void* tsan_fiber PCTX_GUARDED_BY(owner) = nullptr;
};

inline const base::ThreadRole& Scheduler::owner_of(const RunQueue& rq)
    PCTX_RETURN_CAPABILITY(rq.owner) {
  return rq.owner;
}

}  // namespace pctx::sched
