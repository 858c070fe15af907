#include "pctx/sched/wait_queue.hpp"

#include <cerrno>

#include "pctx/sched/scheduler.hpp"
#include "sched/fiber_switch.hpp"

namespace pctx::sched {

int WaitQueue::wait(const std::function<bool()>& done) {
  Task* self = current_task();
  if (self == nullptr) return -EPERM;
  while (true) {
    Waiter w;  // on the task's own stack, which lives while it is blocked
    w.task = self;
    {
      base::MutexLock lock(mutex_);
      if (done()) return 0;
      waiters_.push_back(w);
      // Before the lock drops: a waker that finds us sees Blocking and leaves the requeue
      // to our CPU, which makes it once the switch is complete.
      TaskAccess::set_state(*self, TaskState::kBlocking);
    }
    TaskAccess::suspend(*self, SwitchReason::kBlock);
    base::MutexLock lock(mutex_);
    if (w.is_linked()) waiters_.erase(waiters_.iterator_to(w));
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
      base::MutexLock lock(mutex_);
      while (n < 16 && total + n < limit && !waiters_.empty()) {
        woken[n++] = waiters_.front().task;
        waiters_.pop_front();
      }
    }
    if (n == 0) break;
    for (int i = 0; i < n; ++i) TaskAccess::scheduler(*woken[i]).make_runnable(*woken[i]);
    total += n;
  }
  return total;
}

bool WaitQueue::empty() const {
  base::MutexLock lock(mutex_);
  return waiters_.empty();
}

}  // namespace pctx::sched
