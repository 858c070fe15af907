// An addition to an atomic counter that only one thread writes at a time (others only read
// it): a load and a store, where fetch_add would be a locked instruction. The scheduler's
// counters on the switch path are of this kind: the run queue's, written by its CPU thread,
// and a task's, written by the CPU it runs on and handed over with the task.
#pragma once

#include <atomic>

namespace pctx::sched {

template <class T>
inline void owner_add(std::atomic<T>& counter, T delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

}  // namespace pctx::sched
