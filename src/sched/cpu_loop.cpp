// The scheduler's part of a CPU thread's loop: take arriving tasks, wake sleepers, pick the
// next task, call the perf core's switch hooks, run the task's fiber until it gives the CPU
// back, and act on why it did.
#include <algorithm>
#include <cerrno>

#include "pctx/cpu/irq.hpp"
#include "pctx/cpu/rcu.hpp"

#include "pctx/core/instant.hpp"
#include "pctx/sched/scheduler.hpp"
#include "sched/fiber_switch.hpp"
#include "sched/run_queue.hpp"

namespace pctx::sched {

using Clock = std::chrono::steady_clock;

namespace {

Clock::time_point time_of(const core::Instant& at) {
  return Clock::time_point(std::chrono::nanoseconds(at.ns));
}

}  // namespace

bool Scheduler::run(cpu::CpuThread& thread) {
  RunQueue* q = rq(thread.cpu());
  if (q == nullptr) return false;
  RunQueue& rq = *q;
  rq.assert_owner();  // the hook runs on the CPU thread of its run queue
  if (!rq.thread_init) TaskAccess::init_thread(rq);
  rq.direct_streak = 0;
  bool worked = rq.arrivals_waiting() && rq.pull();
  // One reading of the clocks for the pass through the loop: the sleepers, the balance, and
  // the switch, unless something read them in between (perf_switch).
  // Built in place (no copy of a just-returned Instant, which stalled on store forwarding).
  const core::Instant at = [] {
    cpu::IrqGuard irqs_off;
    return core::take_instant();
  }();
  const auto now = time_of(at);
  if (!rq.sleepers.empty()) worked |= wake_sleepers(rq, now);
  if (rq.draining.load(std::memory_order_acquire)) {
    if (!rq.drained.load(std::memory_order_relaxed)) drain(rq);
    return worked;
  }
  if (rq.runnable.empty()) {
    if (rq.perf_current != nullptr) perf_switch(rq, nullptr);
    update_timers(rq, false);
    return worked;
  }
  balance(rq, now);
  if (rq.runnable.empty()) return true;
  Task& next = rq.runnable.front();
  rq.runnable.pop_front();
  owner_add(rq.nr_runnable, -1);
  // Its affinity changed while it waited here: it may have to go.
  if (TaskAccess::take_affinity_change(next) && !next.affinity().test(rq.cpu)) {
    leave_cpu(rq, next);
    return true;
  }
  run_task(rq, next, at);
  return true;
}

void Scheduler::run_task(RunQueue& rq, Task& task, const core::Instant& at) {
  if (rq.online_at_ns.load(std::memory_order_relaxed) != 0) note_first_run(rq);
  start_task(rq, task, at);
  Task* back = nullptr;
  SwitchReason reason;
  {
    // While the fiber runs, cross-calls and timers reach this thread by signal.
    cpu::CpuThread::BusyScope busy(*rq.thread);
    reason = TaskAccess::resume(rq, task, back);
  }
  after_switch(rq, *back, reason);
}

void Scheduler::start_task(RunQueue& rq, Task& task, const core::Instant& at) {
  // A switch's instant starts the slice too; a task picked again keeps its context in.
  const Clock::time_point now =
      time_of(rq.perf_current != &task ? perf_switch(rq, &task, &at) : at);
  TaskAccess::set_state(task, TaskState::kRunning);
  rq.need_resched.store(false, std::memory_order_relaxed);
  rq.slice_end = now + options_.time_slice;
  update_timers(rq, true);
  owner_add(rq.switches, uint64_t{1});
}

// The loop's pass between two tasks (mailbox, timers, arrivals, sleepers, balance, where the
// thread runs, RCU) is most of a task switch, and its two fiber switches return through
// frames the return predictor does not expect, so a yield goes straight to the next task
// when nothing needs the loop: the thread takes tasks, no call waits, the task's affinity
// and the next one's did not change, no sleeper is due, the balance is not due, and the
// loop ran within the last 64 such switches (it also checks where the thread runs).
// Arrivals are taken here, so a woken task waits no longer than through the loop, and a
// quiescent state is reported, as the loop would between the two tasks.
bool Scheduler::switch_directly(RunQueue& rq, Task& prev) {
  if (++rq.direct_streak >= 64) return false;
  if (rq.thread->state() != cpu::CpuState::kRunning ||
      rq.draining.load(std::memory_order_relaxed) || rq.thread->calls_pending() ||
      rq.online_at_ns.load(std::memory_order_relaxed) != 0 ||
      TaskAccess::affinity_change_pending(prev)) {
    return false;
  }
  if (rq.arrivals_waiting()) rq.pull();
  if (rq.runnable.empty()) return false;
  Task& next = rq.runnable.front();
  if (TaskAccess::affinity_change_pending(next)) return false;
  // The loop's timed work, judged without a clock read: a sleeper is due once the wake-up
  // timer fired (its callback resets wakeup_at; going on here would clear its need_resched
  // and have update_timers re-arm it at once, again and again, while the sleeper waited),
  // and the balance by the time prev's slice started (at most a slice late).
  const bool sleepers_due = !rq.sleepers.empty() && rq.wakeup_at == Clock::time_point::max();
  if (sleepers_due || rq.slice_end - options_.time_slice >= rq.next_balance) return false;
  if ((rq.direct_streak & 7) == 1) cpu::rcu::quiescent_state();  // QSBR: any switch is one
  rq.runnable.pop_front();
  requeue(rq, prev);  // nr_runnable stays: one off the queue, one on
  owner_add(rq.nr_runnable, -1);
  start_task(rq, next, perf_switch(rq, &next));
  owner_add(rq.direct_switches, uint64_t{1});
  TaskAccess::switch_to(rq, prev, next);
  return true;
}

void Scheduler::requeue(RunQueue& rq, Task& task) {
  TaskAccess::set_state(task, TaskState::kRunnable);
  rq.runnable.push_back(TaskAccess::node(task));
  owner_add(rq.nr_runnable, 1);
}

void Scheduler::after_switch(RunQueue& rq, Task& task, SwitchReason reason) {
  if (reason == SwitchReason::kYield || reason == SwitchReason::kMigrate) {
    const bool moved = TaskAccess::take_affinity_change(task) || reason == SwitchReason::kMigrate;
    if (rq.draining.load() || (moved && !task.affinity().test(rq.cpu))) {
      leave_cpu(rq, task);
      return;
    }
    // Its perf context stays in: if it is picked again next, no switch happens at all.
    requeue(rq, task);
    return;
  }
  if (rq.perf_current == &task) perf_switch(rq, nullptr);  // an exit did it already
  switch (reason) {
    case SwitchReason::kSleep:
      TaskAccess::set_state(task, TaskState::kSleeping);
      rq.sleepers.push_back(TaskAccess::node(task));
      rq.sleepers_changed = true;
      return;
    case SwitchReason::kBlock:
      // Uncounted first: once it is Blocked, a waker may queue it on another CPU at once.
      rq.nr_tasks.fetch_sub(1, std::memory_order_relaxed);
      if (TaskAccess::cas_state(task, TaskState::kBlocking, TaskState::kBlocked)) return;
      // Woken while it was switching out.
      rq.nr_tasks.fetch_add(1, std::memory_order_relaxed);
      requeue(rq, task);
      return;
    case SwitchReason::kExit:
      TaskAccess::set_state(task, TaskState::kDead);
      rq.nr_tasks.fetch_sub(1, std::memory_order_relaxed);
      task_exited(task);
      return;
    default:
      return;
  }
}

// One instant for the whole switch, taken with irqs off so that no handler runs between
// it and the hooks: prev's events stop at it, next's start at it, and the scheduler's record
// of both tasks' time on CPU uses it (invariant 8 holds exactly). The clock and the tsc are
// read once each per switch.
core::Instant Scheduler::perf_switch(RunQueue& rq, Task* next, const core::Instant* given) {
  cpu::IrqGuard irqs_off;
  const core::Instant at =
      given != nullptr && core::instant_is_latest(*given) ? *given : core::take_instant();
  Task* prev = rq.perf_current;
  core_.sched_switch(prev, next, at);
  if (prev != nullptr) TaskAccess::record_sched_out(*prev, at);
  if (next != nullptr) TaskAccess::record_sched_in(*next, at);
  rq.perf_current = next;
  return at;
}

// The CPU with waiting tasks does the moving, since its lists are its own: when an allowed
// CPU that takes tasks has at least two fewer (an idle one, or one that just came back
// online), one runnable task goes there. At most once per balance interval.
void Scheduler::balance(RunQueue& rq, Clock::time_point now) {
  if (now < rq.next_balance) return;
  rq.next_balance = now + options_.balance_interval;
  const int mine = rq.nr_tasks.load(std::memory_order_relaxed);
  int least = mine;
  for (const auto& q : rqs_) {
    if (q && q.get() != &rq && q->accepting.load(std::memory_order_relaxed)) {
      least = std::min(least, q->nr_tasks.load(std::memory_order_relaxed));
    }
  }
  if (mine - least < 2) return;
  for (RunQueue::Node& t : rq.runnable) {
    RunQueue* to = nullptr;
    for (int c : t.affinity().cpus()) {
      RunQueue* q = this->rq(c);
      if (q == nullptr || q == &rq || !q->accepting.load(std::memory_order_relaxed)) continue;
      if (to == nullptr || q->nr_tasks.load() < to->nr_tasks.load()) to = q;
    }
    if (to == nullptr || mine - to->nr_tasks.load() < 2) continue;
    rq.runnable.erase(rq.runnable.iterator_to(t));
    owner_add(rq.nr_runnable, -1);
    if (rq.perf_current == &t) perf_switch(rq, nullptr);  // it yielded with its context in
    rq.nr_tasks.fetch_sub(1, std::memory_order_relaxed);
    if (to->push(t) != 0) {  // it stopped taking tasks meanwhile: keep it
      rq.nr_tasks.fetch_add(1, std::memory_order_relaxed);
      rq.runnable.push_back(t);
      owner_add(rq.nr_runnable, 1);
      return;
    }
    stats_.balance_moves.fetch_add(1, std::memory_order_relaxed);
    stats_.migrations.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

// The first switch on a CPU since it came online: how long it waited for work.
void Scheduler::note_first_run(RunQueue& rq) {
  const int64_t since = rq.online_at_ns.exchange(0, std::memory_order_relaxed);
  if (since == 0) return;
  const auto delay = std::chrono::nanoseconds(ns_since_epoch(Clock::now()) - since);
  base::MutexLock lock(log_mutex_);
  rebalance_delays_.push_back(delay);
}

void Scheduler::leave_cpu(RunQueue& rq, Task& task) {
  if (rq.perf_current == &task) perf_switch(rq, nullptr);
  rq.nr_tasks.fetch_sub(1, std::memory_order_relaxed);
  TaskAccess::set_state(task, TaskState::kRunnable);
  stats_.migrations.fetch_add(1, std::memory_order_relaxed);
  enqueue(task, rq.cpu);
}

bool Scheduler::wake_sleepers(RunQueue& rq, Clock::time_point now) {
  bool any = false;
  for (auto it = rq.sleepers.begin(); it != rq.sleepers.end();) {
    RunQueue::Node& t = *it;
    if (TaskAccess::deadline(t) > now) {
      ++it;
      continue;
    }
    it = rq.sleepers.erase(it);
    rq.sleepers_changed = true;
    TaskAccess::set_state(t, TaskState::kRunnable);
    rq.runnable.push_back(t);
    owner_add(rq.nr_runnable, 1);
    any = true;
  }
  return any;
}

// The CPU is going offline: every task here moves to another CPU, sleepers still asleep.
void Scheduler::drain(RunQueue& rq) {
  if (rq.perf_current != nullptr) perf_switch(rq, nullptr);
  auto move_all = [&](RunQueue::List& list, TaskState state) {
    while (!list.empty()) {
      Task& t = list.front();
      list.pop_front();
      rq.nr_tasks.fetch_sub(1, std::memory_order_relaxed);
      TaskAccess::set_state(t, state);
      stats_.hotplug_moves.fetch_add(1, std::memory_order_relaxed);
      enqueue(t, rq.cpu);
    }
  };
  rq.nr_runnable.store(0, std::memory_order_relaxed);
  move_all(rq.runnable, TaskState::kRunnable);
  move_all(rq.sleepers, TaskState::kSleeping);
  rq.thread->cancel_timer(rq.tick);
  rq.thread->cancel_timer(rq.wakeup);
  rq.tick_armed = false;
  rq.wakeup_at = Clock::time_point::max();
  rq.sleepers_changed = false;
  rq.drained.store(true, std::memory_order_release);
}

// The tick runs while a task runs and others wait; the wake-up timer follows the earliest
// sleeper, so an idle CPU thread leaves its futex in time.
void Scheduler::update_timers(RunQueue& rq, bool busy) {
  // Nothing to change, as at most switches: the tick as it should be and no sleeper (the
  // callback touches neither the flag nor the list, so no irqs off for the look).
  if (busy == rq.tick_armed && !rq.sleepers_changed && rq.sleepers.empty()) return;
  cpu::IrqGuard irqs_off;  // the wake-up timer's callback resets wakeup_at
  if (busy != rq.tick_armed) {
    if (busy)
      rq.thread->arm_timer(rq.tick, options_.time_slice);
    else
      rq.thread->cancel_timer(rq.tick);
    rq.tick_armed = busy;
  }
  // The sleep list is walked only when it changed, or when the one-shot timer has fired
  // (its callback resets wakeup_at) with sleepers left: not at every switch.
  const bool fired = rq.wakeup_at == Clock::time_point::max() && !rq.sleepers.empty();
  if (!rq.sleepers_changed && !fired) return;
  rq.sleepers_changed = false;
  auto earliest = Clock::time_point::max();
  for (const Task& t : rq.sleepers) earliest = std::min(earliest, TaskAccess::deadline(t));
  if (earliest == rq.wakeup_at) return;
  rq.wakeup_at = earliest;
  if (earliest == Clock::time_point::max()) {
    rq.thread->cancel_timer(rq.wakeup);
    return;
  }
  // Not below 10 µs: a shorter wait costs more in signals than it gains in precision.
  const auto wait =
      std::max<Clock::duration>(earliest - Clock::now(), std::chrono::microseconds(10));
  rq.thread->arm_timer(rq.wakeup, wait);
}

}  // namespace pctx::sched
