#include "pctx/sched/task.hpp"

#include <cerrno>

#include "pctx/base/lock_validator.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/sched/scheduler.hpp"
#include "sched/fiber_switch.hpp"

namespace pctx::sched {

const char* to_string(TaskState s) {
  switch (s) {
    case TaskState::kNew:
      return "new";
    case TaskState::kRunnable:
      return "runnable";
    case TaskState::kRunning:
      return "running";
    case TaskState::kSleeping:
      return "sleeping";
    case TaskState::kBlocking:
      return "blocking";
    case TaskState::kBlocked:
      return "blocked";
    case TaskState::kWoken:
      return "woken";
    case TaskState::kDead:
      return "dead";
  }
  return "?";
}

Task::Task(Scheduler& scheduler, uint64_t id, std::string name, cpu::CpuSet affinity,
           std::function<void()> fn)
    : scheduler_(scheduler),
      id_(id),
      name_(std::move(name)),
      fn_(std::move(fn)),
      affinity_(std::move(affinity)),
      requested_(affinity_) {}

// A task that never ran (never placed, or cancelled) still owns its stack, and has no
// fiber on it: the stack is unmapped without a switch.
Task::~Task() {
  TaskAccess::release_stack(*this);
}

void Task::put() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) TaskAccess::destroy(this);
}

cpu::CpuSet Task::affinity() const {
  base::MutexLock lock(affinity_mutex_);
  return affinity_;
}

cpu::CpuSet Task::requested_affinity() const {
  base::MutexLock lock(affinity_mutex_);
  return requested_;
}

cpu::CpuSet TaskAccess::widen_affinity(Task& task, const cpu::CpuSet& cpus) {
  cpu::CpuSet old;
  {
    base::MutexLock lock(task.affinity_mutex_);
    old = task.affinity_;
    task.affinity_ = cpus;
  }
  task.widened_.store(true);
  return old;
}

cpu::CpuSet TaskAccess::restore_affinity(Task& task, const cpu::CpuSet& online) {
  cpu::CpuSet now;
  {
    base::MutexLock lock(task.affinity_mutex_);
    task.affinity_ = task.requested_ & online;
    now = task.affinity_;
  }
  task.widened_.store(false);
  task.affinity_changed_.store(true);
  return now;
}

void TaskAccess::set_affinity(Task& task, const cpu::CpuSet& cpus) {
  {
    base::MutexLock lock(task.affinity_mutex_);
    task.affinity_ = cpus;
    task.requested_ = cpus;
  }
  task.widened_.store(false);
  task.affinity_changed_.store(true);
}

std::chrono::nanoseconds Task::on_cpu_time() const {
  return std::chrono::nanoseconds(on_cpu_ns_.load(std::memory_order_relaxed));
}

int Task::join() {
  Task* self = current_task();
  if (self == this) return -EDEADLK;
  if (self != nullptr) {
    if (int err = exit_waiters_.wait([this] { return done(); }); err != 0) return err;
  } else {
    if (cpu::current_cpu() >= 0) return -EDEADLK;
    base::lock_validator::might_block(base::lock_validator::Blocking::kAtomicWait);
    while (!done()) done_.wait(false, std::memory_order_acquire);
  }
  return cancelled() ? -ECANCELED : 0;
}

}  // namespace pctx::sched
