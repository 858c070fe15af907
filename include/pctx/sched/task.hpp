// A user-level task: a fiber with its own stack, scheduled on the CPU threads. It embeds
// the core's Task, so the perf core sees it at every switch like the kernel sees a thread.
//
// Lifetime: refcounted (get/put, or a TaskRef). The scheduler holds a reference until the
// task has exited; spawn hands one to the caller. A task may outlive its scheduler: its
// record (state, times, failure, join) stays readable through a TaskRef.
#pragma once

#include <boost/context/fiber.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "pctx/base/mutex.hpp"
#include "pctx/core/task.hpp"
#include "pctx/cpu/cpu_set.hpp"
#include "pctx/sched/wait_queue.hpp"

namespace pctx::sched {

class Scheduler;
struct RunQueue;

enum class TaskState : uint32_t {
  kNew,       // spawned, not placed yet (SpawnOptions::start = false)
  kRunnable,  // on a run queue, or on its way to one
  kRunning,   // its fiber runs on a CPU thread
  kSleeping,  // until a deadline, on its CPU's sleep list
  kBlocking,  // on a wait queue, still switching out
  kBlocked,   // on a wait queue, switched out
  kWoken,     // woken while still switching out: its CPU puts it back
  kDead,      // returned, or cancelled (see Task::cancelled); its context is tombstoned
};

const char* to_string(TaskState s);

// What the task asked for when it gave its CPU back.
enum class SwitchReason : uint8_t { kYield, kSleep, kBlock, kMigrate, kExit };

class Task : public core::Task {
 public:
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  uint64_t id() const { return id_; }
  const std::string& name() const { return name_; }
  TaskState state() const { return state_.load(std::memory_order_acquire); }
  int cpu() const { return cpu_.load(std::memory_order_relaxed); }  // current or last CPU
  cpu::CpuSet affinity() const;                                     // in force now
  cpu::CpuSet requested_affinity() const;  // as spawned or set; hotplug never changes it
  bool affinity_widened() const { return widened_.load(); }  // by a CPU going offline

  // The scheduler's own record, kept on the task's CPU thread: time during which the task
  // was current, from the instant of its sched-in to the instant of its sched-out (one
  // instant per switch, core/instant.hpp), in tsc ticks and in nanoseconds. A tsc event of
  // the task counts exactly the ticks (invariant 8, checked by the tests), and its enabled
  // time is the nanoseconds. Read it after the task exits, or accept a value from its last
  // switch.
  uint64_t on_cpu_ticks() const { return on_cpu_ticks_.load(std::memory_order_relaxed); }
  std::chrono::nanoseconds on_cpu_time() const;
  uint64_t switches() const { return switches_.load(std::memory_order_relaxed); }  // sched-ins
  uint64_t migrations() const { return migrations_.load(std::memory_order_relaxed); }
  // The message of an exception that escaped the task's function, if one did.
  const std::string& failure() const { return failure_; }

  // Waits until the task has exited. From a task it blocks that task; from any other
  // thread it blocks the thread. Returns 0 once the task has exited, -ECANCELED once it
  // was cancelled (its function never ran). -EDEADLK, at once, when a task joins itself or
  // when a CPU thread calls it outside a task (a cross-call handler, a hook, a foreign
  // scheduler's loop): that thread runs the tasks, so it must not wait for one.
  int join();
  bool done() const { return done_.load(std::memory_order_acquire); }
  // The scheduler was destroyed while the task was spawned with SpawnOptions::start =
  // false and never woken: its function was never called, its stack is unmapped, its perf
  // context was torn down as at an exit (events in Exit, never counted), and it reports
  // kDead. Set before done().
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

  void get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put();

 private:
  // The scheduler's internals reach a task's private state through TaskAccess
  // (src/sched/task_access.hpp) alone, which also allocates tasks with the links of the
  // scheduler's lists.
  friend struct TaskAccess;
  Task(Scheduler& scheduler, uint64_t id, std::string name, cpu::CpuSet affinity,
       std::function<void()> fn);
  ~Task();

  Scheduler& scheduler_;
  const uint64_t id_;
  const std::string name_;
  std::function<void()> fn_;
  boost::context::fiber fiber_;   // the task while it is switched out
  boost::context::fiber caller_;  // its CPU thread's scheduler while the task runs
  std::atomic<TaskState> state_{TaskState::kNew};
  std::atomic<int> cpu_{-1};
  std::atomic<int> refs_{1};
  std::atomic<bool> done_{false};
  std::atomic<bool> cancelled_{false};
  // The stack mapped at spawn, until the fiber is built on it at the first resume (empty
  // after that: the fiber owns it).
  boost::context::stack_context stack_{};

  mutable base::Mutex affinity_mutex_{"sched.task.affinity_mutex"};
  cpu::CpuSet affinity_ PCTX_GUARDED_BY(affinity_mutex_);
  cpu::CpuSet requested_ PCTX_GUARDED_BY(affinity_mutex_);
  std::atomic<bool> affinity_changed_{false};
  std::atomic<bool> widened_{false};

  // Owned by the CPU thread the task is on.
  SwitchReason reason_ = SwitchReason::kYield;
  std::chrono::steady_clock::time_point deadline_{};
  RunQueue* rq_ = nullptr;
  uint64_t in_ticks_ = 0;  // the instant of its sched-in
  uint64_t in_ns_ = 0;
  std::atomic<uint64_t> on_cpu_ticks_{0};
  std::atomic<int64_t> on_cpu_ns_{0};
  std::atomic<uint64_t> switches_{0};
  std::atomic<uint64_t> migrations_{0};
  std::string failure_;

  WaitQueue exit_waiters_;  // tasks in join()

  // Sanitizer bookkeeping for the fiber switch (see src/sched/fiber_switch.hpp).
  void* asan_fake_stack_ = nullptr;
  const void* stack_bottom_ = nullptr;
  size_t stack_size_ = 0;
  void* tsan_fiber_ = nullptr;
};

// A counted reference to a task, like a shared pointer.
class TaskRef {
 public:
  TaskRef() = default;
  explicit TaskRef(Task* t) : t_(t) {}  // adopts a reference
  TaskRef(const TaskRef& o) : t_(o.t_) {
    if (t_ != nullptr) t_->get();
  }
  TaskRef(TaskRef&& o) noexcept : t_(o.t_) { o.t_ = nullptr; }
  TaskRef& operator=(TaskRef o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~TaskRef() {
    if (t_ != nullptr) t_->put();
  }
  Task* get() const { return t_; }
  Task* operator->() const { return t_; }
  Task& operator*() const { return *t_; }
  explicit operator bool() const { return t_ != nullptr; }

 private:
  Task* t_ = nullptr;
};

}  // namespace pctx::sched
