#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/relax.hpp"

#include <sched.h>

#include <cerrno>

#include "cpu/futex.hpp"
#include "cpu/thread_table.hpp"
#include "pctx/base/lock_validator.hpp"
#include "pctx/cpu/cpu_thread.hpp"
#include "pctx/cpu/irq.hpp"

namespace pctx::cpu {

namespace {

struct SyncCall : CallNode {
  explicit SyncCall(FunctionRef<int()> f) : fn(f) {
    invoke = [](CallNode* n) { return static_cast<SyncCall*>(n)->fn(); };
  }
  FunctionRef<int()> fn;
};

// Spins first (a polling target answers within a microsecond or two). A CPU thread keeps
// serving its own mailbox while it waits, so two CPUs calling each other cannot deadlock;
// other threads sleep on the node's futex word after the spin.
void wait_done(CallNode& node) {
  for (int i = 0; i < 2000; ++i) {
    if (node.done.load(std::memory_order_acquire) != 0) return;
    cpu_relax();
  }
  if (CpuThread* self = CpuThread::current()) {
    // Irqs are on here (cpu_function_call refuses otherwise), so serving our own mailbox
    // meanwhile runs no call inside a locked section.
    while (node.done.load(std::memory_order_acquire) == 0) {
      self->drain_calls();
      sched_yield();
    }
    return;
  }
  uint32_t expected = 0;
  if (node.done.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) {
    // The callers checked this wait as a cross-call (might_block), whether it spins or sleeps.
    while (node.done.load(std::memory_order_acquire) == 2) internal::futex_sleep(&node.done, 2);
  }
}

}  // namespace

int cpu_function_call(int cpu, FunctionRef<int()> fn) {
  CpuThread* t = internal::thread_for(cpu);
  if (t == nullptr) return -ENXIO;
  if (t == CpuThread::current()) {
    // A call to our own CPU runs at once, with irqs off as a handler would.
    if (t->state() != CpuState::kRunning) return -ENXIO;
    IrqGuard irqs_off;
    base::lock_validator::HandlerScope handler;
    return fn();
  }
  // A wait for another CPU's handler: reported with irqs off, inside a handler, or holding
  // a lock class that handlers take, whether or not this one is refused below.
  base::lock_validator::might_block(base::lock_validator::Blocking::kCrossCall);
  // Waiting for another CPU with irqs off could deadlock: that CPU may be waiting for us,
  // and our calls may not run until the section ends. The kernel forbids it; we refuse it.
  if (CpuThread::current() != nullptr && irqs_disabled()) return -EDEADLK;
  SyncCall node(fn);
  if (int err = t->enqueue(&node)) return err;
  wait_done(node);
  return node.result;
}

// The analysis cannot follow a try_lock loop to its acquisition; every path leaves `m` held.
void lock_serving_calls(base::Mutex& m) PCTX_NO_THREAD_SAFETY_ANALYSIS {
  CpuThread* self = CpuThread::current();
  if (self == nullptr || irqs_disabled()) {
    m.lock();
    return;
  }
  while (!m.try_lock()) {
    self->drain_calls();
    sched_yield();
  }
}

AsyncCall::AsyncCall(std::function<int()> fn) : fn_(std::move(fn)) {
  node_.owner = this;
  node_.invoke = [](CallNode* n) { return static_cast<Node*>(n)->owner->fn_(); };
}

int AsyncCall::wait() {
  base::lock_validator::might_block(base::lock_validator::Blocking::kCrossCall);
  wait_done(node_);
  return node_.result;
}

int cpu_function_call_async(int cpu, AsyncCall& call) {
  CpuThread* t = internal::thread_for(cpu);
  int err = t == nullptr ? -ENXIO : t->enqueue(&call.node_);
  if (err != 0) {
    // Never queued: complete it here so wait() returns at once.
    call.node_.result = err;
    call.node_.done.store(1, std::memory_order_release);
  }
  return err;
}

}  // namespace pctx::cpu
