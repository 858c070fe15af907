#include "pctx/sched/this_task.hpp"

#include <cerrno>
#include <thread>

#include "pctx/base/lock_validator.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/sched/scheduler.hpp"
#include "sched/fiber_switch.hpp"

namespace pctx::sched::this_task {

Task* current() {
  return current_task();
}

int cpu() {
  Task* t = current_task();
  return t != nullptr ? t->cpu() : cpu::current_cpu();
}

void yield() {
  if (Task* t = current_task()) {
    TaskAccess::yield(*t);
  } else {
    std::this_thread::yield();
  }
}

bool need_resched() {
  Task* t = current_task();
  return t != nullptr && TaskAccess::need_resched(*t);
}

void cond_resched() {
  if (need_resched()) yield();
}

void sleep_for(std::chrono::nanoseconds duration) {
  Task* t = current_task();
  if (t == nullptr) {
    base::lock_validator::might_block(base::lock_validator::Blocking::kSleep);
    std::this_thread::sleep_for(duration);
    return;
  }
  TaskAccess::sleep(*t, std::chrono::steady_clock::now() + duration);
}

int migrate_to(int target) {
  Task* t = current_task();
  Scheduler* s = Scheduler::current();
  if (t == nullptr || s == nullptr) return -EPERM;
  if (!s->runtime().cpus().test(target)) return -EINVAL;
  if (!TaskAccess::accepting(*s, target)) return -EAGAIN;
  return s->set_affinity(*t, cpu::CpuSet::of({target}));
}

}  // namespace pctx::sched::this_task
