#include "sched/run_queue.hpp"

#include <cerrno>

#include "cpu/tsan.hpp"
#include "sched/fiber_switch.hpp"

namespace pctx::sched {

RunQueue::RunQueue(int cpu_number, cpu::CpuThread* cpu_thread)
    : cpu(cpu_number),
      thread(cpu_thread),
      // Both callbacks may run in the call signal's handler: they only set a flag.
      tick([this] {
        // Tasks still on the wake list wait too: the loop has not pulled them yet.
        if (nr_runnable.load(std::memory_order_relaxed) > 0 ||
            !cds_wfcq_empty(__cds_wfcq_head_cast(&wake_head), &wake_tail)) {
          need_resched.store(true, std::memory_order_relaxed);
        }
      }),
      // One-shot: a periodic timer with a short period left armed would keep firing. The
      // loop may have run the scheduler just before the timer: notify makes it run the
      // scheduler again before it goes idle, so the sleeper is woken.
      wakeup([this] {
        assert_owner();  // timers fire on the thread that armed them
        need_resched.store(true, std::memory_order_relaxed);
        thread->cancel_timer(wakeup);
        wakeup_at = std::chrono::steady_clock::time_point::max();
        thread->notify();
      }) {
  __cds_wfcq_init(&wake_head, &wake_tail);
}

RunQueue::~RunQueue() {
  runnable.clear();
  sleepers.clear();
}

int RunQueue::push(Task& task) {
  // Announcing ourselves before reading `accepting` pairs with the hotplug teardown, which
  // clears it and then waits for `entering` to drain: a task is refused, or it is counted
  // here before the drain starts waiting.
  entering.fetch_add(1, std::memory_order_seq_cst);
  if (!accepting.load(std::memory_order_seq_cst)) {
    entering.fetch_sub(1, std::memory_order_release);
    return -EAGAIN;
  }
  nr_tasks.fetch_add(1, std::memory_order_relaxed);
  Node::WakeLink& link = TaskAccess::node(task).wake_link;
  cds_wfcq_node_init(&link.node);
  link.task = &TaskAccess::node(task);
  cpu::internal::tsan_release(&link);  // the queue's hand-off, for TSan
  cds_wfcq_enqueue(__cds_wfcq_head_cast(&wake_head), &wake_tail, &link.node);
  entering.fetch_sub(1, std::memory_order_seq_cst);
  thread->notify();
  return 0;
}

bool RunQueue::pull() {
  bool any = false;
  while (cds_wfcq_node* n =
             __cds_wfcq_dequeue_blocking(__cds_wfcq_head_cast(&wake_head), &wake_tail)) {
    Node::WakeLink* link = caa_container_of(n, Node::WakeLink, node);
    cpu::internal::tsan_acquire(link);
    Node& task = *link->task;
    TaskAccess::set_cpu(task, cpu);
    if (task.state() == TaskState::kSleeping) {
      sleepers.push_back(task);
      sleepers_changed = true;
    } else {
      TaskAccess::set_state(task, TaskState::kRunnable);
      runnable.push_back(task);
      owner_add(nr_runnable, 1);
    }
    any = true;
  }
  return any;
}

}  // namespace pctx::sched
