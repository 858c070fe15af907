// The one way into a task's private state for the scheduler's internals: TaskAccess is
// Task's only friend. It allocates tasks with the links of the scheduler's lists (which
// stay out of the public header), switches fibers (fiber_switch.cpp), and names every
// change the scheduler makes to a task, so that the scheduler never takes the task's own
// lock (its affinity's): TaskAccess and Task's accessors do.
#pragma once

#include <urcu/wfcqueue.h>

#include <boost/context/fiber.hpp>
#include <boost/intrusive/list_hook.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "pctx/core/instant.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "pctx/sched/scheduler.hpp"
#include "pctx/sched/task.hpp"
#include "sched/owner_add.hpp"

namespace pctx::sched {

struct RunQueue;

struct TaskAccess {
  using Clock = std::chrono::steady_clock;

  // A task as the scheduler allocates it: the public Task and where it is linked.
  struct Node final : Task {
    Node(Scheduler& scheduler, uint64_t id, std::string name, cpu::CpuSet affinity,
         std::function<void()> fn)
        : Task(scheduler, id, std::move(name), std::move(affinity), std::move(fn)) {}
    // A run queue or a sleep list, one at a time (owner only).
    boost::intrusive::list_member_hook<> run_hook;
    // The scheduler's list of tasks spawned with start = false and not woken yet (under
    // its mutex), so that its destructor can cancel them.
    boost::intrusive::list_member_hook<> new_hook;
    // A CPU's wake list (lock-free, from any thread). A wait queue links a node on the
    // blocked task's own stack instead.
    struct WakeLink {
      cds_wfcq_node node{};
      Node* task = nullptr;
    } wake_link;
  };
  // Every task is a Node: only the scheduler makes them.
  static Node& node(Task& task) { return static_cast<Node&>(task); }
  static void destroy(Task* task) { delete static_cast<Node*>(task); }

  // Once per CPU thread, on it, before it resumes a task.
  static void init_thread(RunQueue& rq);
  // Maps the task's stack (with a guard page); -EINVAL below kMinStackSize, -ENOMEM (or
  // mmap's and mprotect's own -errno) when it cannot be mapped. Nothing throws. The fiber
  // itself is built on this stack at the task's first resume, so a task that never runs
  // is never entered: release_stack unmaps the stack without a switch.
  static int allocate_stack(Task& task, size_t stack_size);
  // Unmaps the stack of a task whose fiber was never built (cancelled, or never placed).
  static void release_stack(Task& task) noexcept;
  // Builds the task's fiber on its stack; resume does it at the task's first run.
  static void start_fiber(Task& task);
  // Scheduler side: runs the task until a task switches out to the scheduler: this one, or
  // one it switched to directly (`returned`); returns why that one did.
  static SwitchReason resume(RunQueue& rq, Task& task, Task*& returned);
  // Task side: gives the CPU back to the scheduler; returns when resumed, maybe elsewhere.
  static void suspend(Task& task, SwitchReason reason);
  // Task side: prev gives the CPU straight to next (picked, and perf-switched to already),
  // without the scheduler's loop in between; returns when prev is resumed.
  static void switch_to(RunQueue& rq, Task& prev, Task& next);
  // this_task::yield: a switch to the next runnable task, directly where the scheduler
  // allows it (Scheduler::switch_directly), else through the loop.
  static void yield(Task& task);
  // What a task does first when resumed: takes the loop's continuation from its resumer.
  static void adopt_resumer(Task& task, boost::context::fiber&& from);
  static bool need_resched(Task& task);
  static void sleep(Task& task, Clock::time_point deadline) {
    task.deadline_ = deadline;
    suspend(task, SwitchReason::kSleep);
  }
  static Clock::time_point deadline(const Task& task) { return task.deadline_; }
  static bool accepting(const Scheduler& s, int cpu);
  static void set_state(Task& task, TaskState s) {
    task.state_.store(s, std::memory_order_release);
  }
  static bool cas_state(Task& task, TaskState from, TaskState to) {
    return task.state_.compare_exchange_strong(from, to, std::memory_order_acq_rel);
  }
  // The task arrives on a CPU's run queue (its owner): a migration when it was elsewhere.
  static void set_cpu(Task& task, int cpu) {
    const int was = task.cpu_.load(std::memory_order_relaxed);
    if (was >= 0 && was != cpu) task.migrations_.fetch_add(1, std::memory_order_relaxed);
    task.cpu_.store(cpu, std::memory_order_relaxed);
  }
  static Scheduler& scheduler(Task& task) { return task.scheduler_; }

  // The scheduler's record of the task's time on CPU (see Task::on_cpu_ticks): the
  // instants its switch hooks ran at. One writer at a time (the CPU the task is on, handed
  // over with the task), so plain additions, not a locked one per counter per switch.
  static void record_sched_in(Task& task, const core::Instant& at) {
    task.in_ticks_ = at.tsc;
    task.in_ns_ = at.ns;
    owner_add(task.switches_, uint64_t{1});
  }
  static void record_sched_out(Task& task, const core::Instant& at) {
    owner_add(task.on_cpu_ticks_, at.tsc - task.in_ticks_);
    owner_add(task.on_cpu_ns_, static_cast<int64_t>(at.ns - task.in_ns_));
  }

  // Affinity (task.cpp, under the task's affinity lock). The effective affinity changes:
  // the task's CPU looks at it again at its next switch (take_affinity_change).
  // Widens the effective affinity to `cpus` (hotplug left it none); returns the old one.
  static cpu::CpuSet widen_affinity(Task& task, const cpu::CpuSet& cpus);
  // Gives back the requested affinity, as far as `online` allows; returns it.
  static cpu::CpuSet restore_affinity(Task& task, const cpu::CpuSet& online);
  // Sets both the requested and the effective affinity.
  static void set_affinity(Task& task, const cpu::CpuSet& cpus);
  static bool widened(const Task& task) { return task.widened_.load(); }
  // Whether the affinity changed since the last call (the CPU thread's check).
  // A look first, since it has almost always not changed: the exchange is a locked
  // instruction, on the path of every switch.
  static bool take_affinity_change(Task& task) {
    return affinity_change_pending(task) && task.affinity_changed_.exchange(false);
  }
  static bool affinity_change_pending(const Task& task) {
    return task.affinity_changed_.load(std::memory_order_acquire);
  }

  // A task that was never woken is cancelled: it reports cancelled() from now on, and
  // what its function captured is released without the function ever running.
  static void set_cancelled(Task& task) { task.cancelled_.store(true, std::memory_order_release); }
  static void drop_function(Task& task) { task.fn_ = nullptr; }
  // The task has exited (or was cancelled): join() returns, in tasks and threads.
  static void mark_done(Task& task) {
    task.done_.store(true, std::memory_order_release);
    task.done_.notify_all();
    task.exit_waiters_.wake_all();
  }
};

}  // namespace pctx::sched
