// A wait queue for tasks: the kernel's wait_event/wake_up. A task blocks until another task
// or any thread wakes it. The condition is checked under the queue's lock after the task
// is queued, so a wake between the check and the block is never lost.
#pragma once

#include <boost/intrusive/list.hpp>

#include <functional>

#include "pctx/base/mutex.hpp"

namespace pctx::sched {

class Task;

class WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;

  // Blocks the calling task until `done()` holds, re-checking after every wake. `done` runs
  // under the queue's lock and must not block. -EPERM when not called from a task.
  int wait(const std::function<bool()>& done);

  // Wakes tasks that wait here; from a task or any thread. Returns how many were woken.
  int wake_one();
  int wake_all();

  bool empty() const;

 private:
  struct Waiter : boost::intrusive::list_base_hook<> {
    Task* task = nullptr;
  };
  int wake(int limit);

  mutable base::Mutex mutex_{"sched.wait_queue.mutex"};
  boost::intrusive::list<Waiter> waiters_ PCTX_GUARDED_BY(mutex_);
};

}  // namespace pctx::sched
