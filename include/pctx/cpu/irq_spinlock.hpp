// The raw_spin_lock_irq analog: a spinlock taken with irqs off, so a cross-call handler
// that needs the same lock cannot run on this thread while it is held (the call waits for
// the unlock instead of deadlocking).
#pragma once

#include <atomic>

#include "pctx/cpu/irq.hpp"
#include "pctx/cpu/relax.hpp"

namespace pctx::cpu {

class IrqSpinLock {
 public:
  void lock() {
    local_irq_disable();
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) cpu_relax();
    }
  }
  void unlock() {
    locked_.store(false, std::memory_order_release);
    local_irq_enable();
  }
  bool is_locked() const { return locked_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace pctx::cpu
