#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/relax.hpp"

#include <sched.h>

#include <cerrno>

#include "cpu/call_wait.hpp"
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

}  // namespace

// Spins first (a polling target answers within a microsecond or two). A CPU thread keeps
// serving its own mailbox while it waits, so two CPUs calling each other cannot deadlock;
// other threads sleep on the futex word after the spin.
void internal::wait_done(std::atomic<uint32_t>& done) {
  for (int i = 0; i < 2000; ++i) {
    if (done.load(std::memory_order_acquire) != 0) return;
    cpu_relax();
  }
  if (CpuThread* self = CpuThread::current()) {
    // Irqs are on here (cpu_function_call refuses otherwise), so serving our own mailbox
    // meanwhile runs no call inside a locked section.
    while (done.load(std::memory_order_acquire) == 0) {
      self->drain_calls();
      sched_yield();
    }
    return;
  }
  uint32_t expected = 0;
  if (done.compare_exchange_strong(expected, 2, std::memory_order_acq_rel)) {
    // The callers checked this wait as a cross-call (might_block), whether it spins or sleeps.
    while (done.load(std::memory_order_acquire) == 2) internal::futex_sleep(&done, 2);
  }
}

// A synchronous call goes through the target's express lane when it is free, else through
// its mailbox.
int internal::cpu_call_express(int cpu, ExpressCall& x, FunctionRef<int()> fallback,
                               bool& express) {
  express = false;
  CpuThread* t = internal::thread_for(cpu);
  if (t == nullptr) return -ENXIO;
  if (t == CpuThread::current()) {
    // A call to our own CPU runs at once, with irqs off as a handler would.
    if (t->state() != CpuState::kRunning) return -ENXIO;
    IrqGuard irqs_off;
    base::lock_validator::HandlerScope handler;
    return fallback();
  }
  // A wait for another CPU's handler: reported with irqs off, inside a handler, or holding
  // a lock class that handlers take, whether or not this one is refused below.
  base::lock_validator::might_block(base::lock_validator::Blocking::kCrossCall);
  // Waiting for another CPU with irqs off could deadlock: that CPU may be waiting for us,
  // and our calls may not run until the section ends. The kernel forbids it; we refuse it.
  if (CpuThread::current() != nullptr && irqs_disabled()) return -EDEADLK;
  switch (t->call_express(x)) {
    case CpuThread::Express::kRan:
      express = true;
      return x.result;
    case CpuThread::Express::kRefused:
      return -ENXIO;
    case CpuThread::Express::kBusy:
      break;
  }
  SyncCall node(fallback);
  if (int err = t->enqueue(&node)) return err;
  wait_done(node.done);
  return node.result;
}

// The lane carries the function reference itself: the handler still reaches into the
// caller's stack for the callable, but the call costs one line each way, not the queue's.
int cpu_function_call(int cpu, FunctionRef<int()> fn) {
  ExpressCall x;
  static_assert(sizeof fn <= ExpressCall::kPayload && std::is_trivially_copyable_v<decltype(fn)>);
  std::memcpy(x.payload, &fn, sizeof fn);
  x.invoke = [](void* payload) {
    return (*std::launder(reinterpret_cast<const FunctionRef<int()>*>(payload)))();
  };
  bool express = false;
  return internal::cpu_call_express(cpu, x, fn, express);
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
  internal::wait_done(node_.done);
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
