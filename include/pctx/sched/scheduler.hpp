// The scheduler of user-level tasks: a run queue per CPU thread, placement across the CPUs
// a task allows, cooperative time slices, wake-ups through lock-free per-CPU wake lists,
// migration, and the hotplug step that moves tasks off a CPU before it goes offline.
// Every switch calls the perf core's sched_out and sched_in.
//
// Set-up: start the runtime with `Scheduler::hook()` as its scheduler hook, then the perf
// core, then the scheduler; stop them in the reverse order (the destructor's rules for
// tasks still alive are at ~Scheduler).
//
//   cpu::RuntimeOptions ro;
//   ro.thread.scheduler = sched::Scheduler::hook();
//   auto runtime = cpu::CpuRuntime::start(ro);
//   auto core = core::PerfCore::start(**runtime);
//   auto scheduler = sched::Scheduler::start(**runtime, core->get());
//   auto task = (*scheduler)->spawn([] { /* runs on a CPU thread */ });
//   (*task)->join();
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pctx/base/mutex.hpp"
#include "pctx/base/result.hpp"
#include "pctx/base/thread_role.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/sched/task.hpp"

namespace pctx::sched {

struct SchedOptions {
  // A task that runs this long while others wait is asked to yield at its next
  // preemption point (this_task::cond_resched).
  std::chrono::nanoseconds time_slice{std::chrono::milliseconds(2)};
  // How long a CPU going offline waits for its tasks to reach a preemption point.
  std::chrono::milliseconds drain_timeout{10'000};
  // How often a CPU with waiting tasks looks for an allowed CPU with at least two fewer
  // (an idle one, or one that just came back online) and moves one task there.
  std::chrono::nanoseconds balance_interval{std::chrono::milliseconds(1)};
};

// The smallest stack a task may ask for: below it, Boost's fiber record and the first
// frames would not fit.
inline constexpr size_t kMinStackSize = size_t{16} * 1024;

struct SpawnOptions {
  std::string name;      // default "task-<id>"
  cpu::CpuSet affinity;  // empty: every CPU of the runtime
  // Mapped at spawn (plus a guard page), touched only as the task uses it.
  size_t stack_size = size_t{256} * 1024;
  // false: the task is placed only by Scheduler::wake, so counters can be installed
  // before it first runs. A task never woken is cancelled when the scheduler is destroyed
  // (Task::cancelled): its function never runs.
  bool start = true;
};

// A CPU going offline left a task with no allowed CPU: like the kernel, the scheduler
// widened its affinity to every CPU.
struct AffinityWidened {
  uint64_t task_id;
  std::string task_name;
  cpu::CpuSet old_affinity;
  int from_cpu;
  int to_cpu;
};

// A CPU of a widened task's requested affinity came back: the task has its requested
// affinity again (the kernel keeps the user's mask the same way since 6.2).
struct AffinityRestored {
  uint64_t task_id;
  std::string task_name;
  cpu::CpuSet affinity;  // the requested one, now in force again
  int cpu;               // the CPU whose return restored it
};

// A CPU going offline still had tasks after SchedOptions::drain_timeout: some task did not
// reach a preemption point. Those tasks stay on the CPU until it returns, and the
// scheduler's hotplug step fails with -EBUSY.
struct DrainTimedOut {
  int cpu;
  int tasks;  // still on the CPU
  std::chrono::milliseconds timeout;
  std::string message;  // one line, for a person: what happened and what to do
};

struct SchedStats {
  std::atomic<uint64_t> migrations{0};     // tasks moved between CPUs
  std::atomic<uint64_t> remote_wakes{0};   // tasks queued on a CPU by another thread
  std::atomic<uint64_t> hotplug_moves{0};  // tasks moved off a CPU going offline
  std::atomic<uint64_t> balance_moves{0};  // tasks moved to a less loaded CPU
};

class Scheduler {
 public:
  // -EBUSY if a scheduler already runs; -EINVAL without a core. The runtime's CPU threads
  // must have been started with hook().
  static base::Result<std::unique_ptr<Scheduler>> start(cpu::CpuRuntime& runtime,
                                                        core::PerfCore* core,
                                                        SchedOptions options = {});
  // Tears the scheduler down; never from a task or a CPU thread. What happens to tasks
  // still alive:
  // - spawned with start = false and never woken: cancelled, at once. Their function is
  //   never called; their perf context is torn down as at an exit (events go to Exit and
  //   may be read, removed and put afterwards), their stack is unmapped, and they report
  //   kDead with cancelled() true; join returns -ECANCELED. A task (or thread) joining one
  //   of them is woken.
  // - runnable, running or sleeping: the destructor waits until they return (a sleeper
  //   sleeps its time out first). A task is never stopped in the middle of its function.
  // - blocked on a wait queue (WaitQueue::wait, Task::join of a task that is not done):
  //   the destructor waits until someone wakes it and it returns, as std::thread::join
  //   waits for a blocked thread. Wake such tasks first; one blocked forever keeps the
  //   destructor waiting forever (live_tasks() says how many are left).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The CPU-thread hook that runs the current scheduler's tasks (none before start).
  static cpu::SchedulerHook hook();
  static Scheduler* current();

  // A new task running `fn`. -EINVAL when the affinity has no CPU of the runtime, or the
  // stack size is below kMinStackSize; -EAGAIN when none of its CPUs is online; -ENOMEM
  // when its stack could not be mapped or memory ran out (nothing throws).
  base::Result<TaskRef> spawn(std::function<void()> fn, SpawnOptions options = {});
  // Places a task spawned with start = false. -EINVAL if it was already placed (or
  // cancelled); -EAGAIN when none of its CPUs takes tasks (it stays unplaced: wake it
  // again once one is online).
  int wake(Task& task);

  // Restricts a task to `cpus` (moving it now if it runs or waits elsewhere); this is its
  // requested affinity from now on, and it clears a widening. -EINVAL when `cpus` has no
  // CPU of the runtime.
  int set_affinity(Task& task, const cpu::CpuSet& cpus);

  // Tasks spawned and not yet done; a task whose join() has returned is not among them.
  size_t live_tasks() const;
  int tasks_on(int cpu) const;  // running, runnable and sleeping there
  std::vector<AffinityWidened> widenings() const;
  void on_affinity_widened(std::function<void(const AffinityWidened&)> callback);
  std::vector<AffinityRestored> restorations() const;
  void on_affinity_restored(std::function<void(const AffinityRestored&)> callback);
  // Every drain that timed out (the scheduler prints nothing: see DrainTimedOut). The
  // callback runs on the thread doing the hotplug, with no scheduler lock held.
  std::vector<DrainTimedOut> drain_timeouts() const;
  void on_drain_timeout(std::function<void(const DrainTimedOut&)> callback);
  // For each CPU that came online while tasks could run there: the time from its bringup
  // to the first task switch on it (rebalancing, or a placement).
  std::vector<std::chrono::nanoseconds> rebalance_delays() const;
  SchedStats& stats() { return stats_; }
  // Task resumptions on every CPU so far. Counted per CPU by its thread alone, so a switch
  // pays for no locked instruction on a line that every CPU writes.
  uint64_t switches() const;
  // Of those, the yields that switched straight to the next task, not through the CPU
  // thread's loop (counted the same way).
  uint64_t direct_switches() const;
  core::PerfCore& core() { return core_; }
  cpu::CpuRuntime& runtime() { return runtime_; }
  const SchedOptions& options() const { return options_; }

 private:
  friend class Task;
  friend class WaitQueue;
  friend struct RunQueue;
  friend struct TaskAccess;
  Scheduler(cpu::CpuRuntime& runtime, core::PerfCore& core, SchedOptions options);
  // A run queue's own part belongs to its CPU thread: these run there, in its role
  // (RunQueue::owner, named through owner_of because RunQueue is private to the library).
  static const base::ThreadRole& owner_of(const RunQueue& rq);
  bool run(cpu::CpuThread& thread);  // the hook
  void run_task(RunQueue& rq, Task& task, const core::Instant& at) PCTX_REQUIRES(owner_of(rq));
  // What the switch to a task does before its fiber runs: the perf switch (at `at` if it is
  // still the latest instant), its state, its slice and the tick.
  void start_task(RunQueue& rq, Task& task, const core::Instant& at) PCTX_REQUIRES(owner_of(rq));
  // A yield's switch from prev straight to the next runnable task, when nothing needs the
  // loop first; false (nothing done) otherwise.
  bool switch_directly(RunQueue& rq, Task& prev) PCTX_REQUIRES(owner_of(rq));
  // A yielded task waits on its run queue again (its perf context stays in).
  void requeue(RunQueue& rq, Task& task) PCTX_REQUIRES(owner_of(rq));
  void after_switch(RunQueue& rq, Task& task, SwitchReason reason) PCTX_REQUIRES(owner_of(rq));
  // The perf core's switch from the run queue's perf-current task (if any) to `next` (if
  // any), at one instant, which it returns: `at` if it is still the latest, else a new one.
  core::Instant perf_switch(RunQueue& rq, Task* next, const core::Instant* at = nullptr)
      PCTX_REQUIRES(owner_of(rq));
  // Off this CPU, onto another one.
  void leave_cpu(RunQueue& rq, Task& task) PCTX_REQUIRES(owner_of(rq));
  bool wake_sleepers(RunQueue& rq, std::chrono::steady_clock::time_point now)
      PCTX_REQUIRES(owner_of(rq));
  void drain(RunQueue& rq) PCTX_REQUIRES(owner_of(rq));
  void update_timers(RunQueue& rq, bool busy) PCTX_REQUIRES(owner_of(rq));
  RunQueue* rq(int cpu) const;
  int select_cpu(Task& task, int avoid);
  int enqueue(Task& task, int avoid);  // onto some allowed CPU's wake list
  void make_runnable(Task& task);      // a blocked task was woken
  void widen(Task& task, int from_cpu);
  void restore_affinities(int cpu);  // a CPU came back: widened tasks that asked for it
  void balance(RunQueue& rq, std::chrono::steady_clock::time_point now) PCTX_REQUIRES(owner_of(rq));
  void note_first_run(RunQueue& rq);
  int cpu_bringup(int cpu);
  int cpu_teardown(int cpu);
  void task_exited(Task& task);
  void cancel_new_tasks();  // the destructor's: every task never woken

  struct NewTasks;  // tasks spawned with start = false and not woken yet

  cpu::CpuRuntime& runtime_;
  core::PerfCore& core_;
  SchedOptions options_;
  std::vector<std::unique_ptr<RunQueue>> rqs_;  // indexed by CPU number
  bool started_ = false;
  bool hotplug_step_ = false;  // ours is registered (at HotplugStage::kScheduler)
  std::atomic<uint64_t> next_id_{1};
  std::atomic<size_t> live_{0};
  // The records and callbacks below; a task's affinity is read under it (restore_affinities),
  // so it comes before Task::affinity_mutex_, which is the task's own (private to Task and
  // TaskAccess, so the order is the lock validator's to check, docs/lock-rules.md).
  mutable base::Mutex log_mutex_{"sched.scheduler.log_mutex"};
  std::vector<AffinityWidened> widenings_ PCTX_GUARDED_BY(log_mutex_);
  std::function<void(const AffinityWidened&)> on_widened_ PCTX_GUARDED_BY(log_mutex_);
  // Waiting for a CPU of their requested affinity.
  std::vector<TaskRef> widened_tasks_ PCTX_GUARDED_BY(log_mutex_);
  std::vector<AffinityRestored> restorations_ PCTX_GUARDED_BY(log_mutex_);
  std::function<void(const AffinityRestored&)> on_restored_ PCTX_GUARDED_BY(log_mutex_);
  std::vector<std::chrono::nanoseconds> rebalance_delays_ PCTX_GUARDED_BY(log_mutex_);
  std::vector<DrainTimedOut> drain_timeouts_ PCTX_GUARDED_BY(log_mutex_);
  std::function<void(const DrainTimedOut&)> on_drain_timeout_ PCTX_GUARDED_BY(log_mutex_);
  std::unique_ptr<NewTasks> new_tasks_;
  // Threads inside wake, make_runnable or set_affinity: they touch the scheduler after the
  // task they place may already run and exit, so the destructor waits for them too.
  alignas(64) std::atomic<int> in_flight_{0};
  SchedStats stats_;
};

}  // namespace pctx::sched
