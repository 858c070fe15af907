// Cross-calls, the IPI analog: run a function on a CPU's thread.
//
// cpu_function_call(cpu, fn) runs fn on that CPU's thread and returns its result, or
// -ENXIO when the CPU is offline or its thread parked or stopped, or -EDEADLK when a CPU
// thread calls another CPU with irqs off (from a handler, or holding an irqs-off lock):
// waiting there could deadlock, so use cpu_function_call_async. The caller prepares
// everything; the handler may run inside a signal handler (when the target is busy with
// user work), so it must not allocate, take a mutex, or switch tasks. Locks it shares
// with interrupted code are taken with interrupts off (irq.hpp).
#pragma once

#include <urcu/wfcqueue.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>

#include "pctx/base/mutex.hpp"
#include "pctx/cpu/function_ref.hpp"

namespace pctx::cpu {

// One call in a CPU's mailbox. Owned by the caller until `done` is set. One cache line of
// its own, so the target touches one line of the caller's (often its stack), and nothing
// the caller writes meanwhile shares it.
// Its link into the mailbox queue is private to CpuThread, which alone queues and dequeues.
class MailboxLink {
 public:
  MailboxLink() { cds_wfcq_node_init(&node_); }

 private:
  friend class CpuThread;
  cds_wfcq_node node_;
};

struct alignas(64) CallNode {
  MailboxLink link;
  int (*invoke)(CallNode*) = nullptr;  // runs the call; its result goes to `result`
  int result = 0;
  std::atomic<uint32_t> done{0};  // 1 when finished; a futex word
  bool waiter_sleeps = false;     // the caller may sleep on `done`: wake it
};

// An asynchronous call: the caller keeps it alive until done() or wait().
class AsyncCall {
 public:
  explicit AsyncCall(std::function<int()> fn);
  AsyncCall(const AsyncCall&) = delete;
  AsyncCall& operator=(const AsyncCall&) = delete;

  bool done() const { return node_.done.load(std::memory_order_acquire) != 0; }
  int wait();  // the function's result, or -ENXIO if it was never queued

 private:
  friend int cpu_function_call_async(int cpu, AsyncCall& call);
  struct Node : CallNode {
    AsyncCall* owner = nullptr;
  };
  Node node_;
  std::function<int()> fn_;
};

int cpu_function_call(int cpu, FunctionRef<int()> fn);
int cpu_function_call_async(int cpu, AsyncCall& call);

// What travels in a CPU thread's express lane (CpuThread::call_express): a synchronous call
// whose function and data are in the lane's own cache line, so a call to a polling CPU
// moves that one line there and back. `invoke` runs on the target with the payload, which
// it may overwrite with a result; its return value is the call's.
struct ExpressCall {
  static constexpr size_t kPayload = 40;
  int (*invoke)(void* payload) = nullptr;
  int result = 0;
  alignas(8) unsigned char payload[kPayload];
};

namespace internal {
// Runs `x` on `cpu` through its express lane, or, when another call holds the lane (or the
// caller is that CPU), `fallback` through its mailbox (or at once): `express` says which.
// The result and refusals are cpu_function_call's.
int cpu_call_express(int cpu, ExpressCall& x, FunctionRef<int()> fallback, bool& express);
}  // namespace internal

// fn() runs on `cpu`'s thread and its value comes back in `out`; 0, or cpu_function_call's
// refusals. fn is copied by value into the call's cache line and the value comes back in
// it: nothing of the caller's is touched on the target (the remote read's path). Fn and R
// must be trivially copyable and fit the line.
template <class R, class Fn>
int cpu_function_call_value(int cpu, const Fn& fn, R& out) {
  static_assert(std::is_trivially_copyable_v<Fn> && std::is_trivially_copyable_v<R>);
  static_assert(sizeof(Fn) <= ExpressCall::kPayload && sizeof(R) <= ExpressCall::kPayload);
  static_assert(alignof(Fn) <= 8 && alignof(R) <= 8);
  ExpressCall x;
  std::memcpy(x.payload, &fn, sizeof fn);
  x.invoke = [](void* payload) {
    const R r = (*std::launder(reinterpret_cast<const Fn*>(payload)))();
    std::memcpy(payload, &r, sizeof r);
    return 0;
  };
  bool express = false;
  const int rc = internal::cpu_call_express(
      cpu, x,
      [&] {
        out = fn();
        return 0;
      },
      express);
  if (rc == 0 && express) std::memcpy(&out, x.payload, sizeof out);
  return rc;
}

namespace internal {
// Set by a CPU thread for its life. Constant-initialised, initial-exec TLS: no wrapper call,
// safe in a signal handler.
extern constinit __attribute__((tls_model("initial-exec"))) thread_local int tls_current_cpu;
}  // namespace internal

// The CPU this thread serves, or -1 when it is not a CPU thread. Inline: the core's local
// read and switch hooks ask it every time.
inline int current_cpu() {
  return internal::tls_current_cpu;
}

// Takes `m`. On a CPU thread with irqs on, the wait serves the CPU's own mailbox, as a
// cross-call's wait does: whoever holds `m` may be waiting for a call to this very CPU
// (the core's context mutexes are held across cross-calls). Blocked in the mutex, the
// thread would leave that call to its signal, which comes only while it is busy with user
// work, and which ThreadSanitizer holds back until the lock returns.
void lock_serving_calls(base::Mutex& m) PCTX_ACQUIRE(m);

// Holds a mutex for a scope, as base::MutexLock, taken by lock_serving_calls.
class PCTX_SCOPED_CAPABILITY ServingMutexLock {
 public:
  explicit ServingMutexLock(base::Mutex& m) PCTX_ACQUIRE(m) : m_(m) { lock_serving_calls(m_); }
  ~ServingMutexLock() PCTX_RELEASE() { m_.unlock(); }
  ServingMutexLock(const ServingMutexLock&) = delete;
  ServingMutexLock& operator=(const ServingMutexLock&) = delete;

 private:
  base::Mutex& m_;
};

}  // namespace pctx::cpu
