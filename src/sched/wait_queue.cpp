#include "pctx/sched/wait_queue.hpp"

#include <cerrno>

#include "cpu/plain_list.hpp"
#include "pctx/sched/scheduler.hpp"
#include "sched/fiber_switch.hpp"

namespace pctx::sched {

struct WaitQueue::Waiter {
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  Task* task = nullptr;
  using List = cpu::internal::PlainList<Waiter, &Waiter::prev, &Waiter::next>;
};

int WaitQueue::wait(const std::function<bool()>& done) {
  Task* self = current_task();
  if (self == nullptr) return -EPERM;
  while (true) {
    Waiter w;  // on the task's own stack, which lives while it is blocked
    w.task = self;
    {
      std::lock_guard lock(mutex_);
      if (done()) return 0;
      Waiter::List::push_back(head_, tail_, w);
      // Before the lock drops: a waker that finds us sees Blocking and leaves the requeue
      // to our CPU, which makes it once the switch is complete.
      TaskAccess::set_state(*self, TaskState::kBlocking);
    }
    TaskAccess::suspend(*self, SwitchReason::kBlock);
    std::lock_guard lock(mutex_);
    if (Waiter::List::linked(head_, w)) Waiter::List::erase(head_, tail_, w);
  }
}

int WaitQueue::wake_one() {
  return wake(1);
}

int WaitQueue::wake_all() {
  return wake(INT32_MAX);
}

int WaitQueue::wake(int limit) {
  // Tasks are collected under the lock and woken after it: a blocked task cannot leave
  // wait() (it must be woken first), so the pointers stay valid.
  Task* woken[16];
  int total = 0;
  while (total < limit) {
    int n = 0;
    {
      std::lock_guard lock(mutex_);
      while (n < 16 && total + n < limit && head_ != nullptr) {
        woken[n++] = Waiter::List::pop_front(head_, tail_)->task;
      }
    }
    if (n == 0) break;
    for (int i = 0; i < n; ++i) TaskAccess::scheduler(*woken[i]).make_runnable(*woken[i]);
    total += n;
  }
  return total;
}

bool WaitQueue::empty() const {
  std::lock_guard lock(mutex_);
  return head_ == nullptr;
}

}  // namespace pctx::sched
