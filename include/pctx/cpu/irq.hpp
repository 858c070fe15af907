// The "interrupts off" analog. A CPU thread may be interrupted by a real-time signal that
// runs cross-calls; code that holds a lock the cross-call handler may also take raises a
// thread-local depth first. A signal that arrives while the depth is above zero only marks
// the calls pending, and the enable that brings the depth back to zero runs them. Raising
// and lowering the depth is a plain thread-local store: no system call, no atomic RMW.
// The debug builds' lock validator is told when irqs go off and back on.
#pragma once

#include <atomic>

#include "pctx/base/lock_validator.hpp"

namespace pctx::cpu {

struct IrqState {
  std::atomic<int> depth{0};
  std::atomic<bool> pending{false};  // calls arrived while disabled
};

// Constant-initialised, initial-exec TLS: no wrapper call, safe to touch from a signal
// handler, never allocates.
extern constinit __attribute__((tls_model("initial-exec"))) thread_local IrqState tls_irq_state;

inline IrqState& irq_state() {
  return tls_irq_state;
}

inline void local_irq_disable() {
  auto& s = irq_state();
  const int depth = s.depth.load(std::memory_order_relaxed);
  s.depth.store(depth + 1, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (base::lock_validator::kEnabled && depth == 0) base::lock_validator::irqs_disabled();
}

// Runs what arrived meanwhile; defined with the CPU threads.
void run_deferred_calls();

inline void local_irq_enable() {
  auto& s = irq_state();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const int depth = s.depth.load(std::memory_order_relaxed) - 1;
  // Before the store: a deferred call that runs below finds the validator up to date.
  if (base::lock_validator::kEnabled && depth == 0) base::lock_validator::irqs_enabled();
  s.depth.store(depth, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (depth == 0 && s.pending.load(std::memory_order_relaxed)) run_deferred_calls();
}

inline bool irqs_disabled() {
  return irq_state().depth.load(std::memory_order_relaxed) > 0;
}

class IrqGuard {
 public:
  IrqGuard() { local_irq_disable(); }
  ~IrqGuard() { local_irq_enable(); }
  IrqGuard(const IrqGuard&) = delete;
  IrqGuard& operator=(const IrqGuard&) = delete;
};

}  // namespace pctx::cpu
