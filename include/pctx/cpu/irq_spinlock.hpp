// The raw_spin_lock_irq analog: a spinlock taken with irqs off, so a cross-call handler
// that needs the same lock cannot run on this thread while it is held (the call waits for
// the unlock instead of deadlocking).
//
// Like base::Mutex it has a lock class, the role it plays ("core.task_context.lock"), which
// the debug builds' lock validator orders (base/lock_validator.hpp).
#pragma once

#include <atomic>

#include "pctx/base/lock_validator.hpp"
#include "pctx/base/thread_annotations.hpp"
#include "pctx/base/thread_role.hpp"
#include "pctx/cpu/irq.hpp"
#include "pctx/cpu/relax.hpp"

namespace pctx::cpu {

class PCTX_CAPABILITY("spinlock") IrqSpinLock {
 public:
  // `lock_class` must outlive the lock: a string literal.
  explicit IrqSpinLock(const char* lock_class = "cpu.irq_spinlock") : class_(lock_class) {}
  IrqSpinLock(const IrqSpinLock&) = delete;
  IrqSpinLock& operator=(const IrqSpinLock&) = delete;

  void lock() PCTX_ACQUIRE() { lock_nested(base::LockNesting::kNone); }
  // Takes it while another lock of its class is held, for the reason given.
  void lock_nested(base::LockNesting nesting) PCTX_ACQUIRE() {
    local_irq_disable();
    // Before spinning: a deadlock is reported instead of hanging.
    base::lock_validator::acquire(this, class_, base::lock_validator::LockKind::kSpin, nesting);
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) cpu_relax();
    }
  }
  void unlock() PCTX_RELEASE() {
    base::lock_validator::release(this);
    locked_.store(false, std::memory_order_release);
    local_irq_enable();
  }
  bool is_locked() const { return locked_.load(std::memory_order_relaxed); }

  // For the analysis, where the code holding the lock is out of its sight (a cross-call
  // handler runs under locks its caller took). Debug builds check that the lock is taken and
  // irqs are off here, as they are on the thread that holds it.
  void assert_held() const PCTX_ASSERT_CAPABILITY(this) {
    base::check_held([&] { return is_locked() && irqs_disabled(); }, "an IrqSpinLock");
  }

  const char* lock_class() const { return class_; }
  // Gives the lock another class before its first use (lockdep_set_class): for a lock
  // whose role is known only after construction.
  void set_lock_class(const char* lock_class) { class_ = lock_class; }

 private:
  std::atomic<bool> locked_{false};
  const char* class_;
};

// Holds an IrqSpinLock for a scope, as std::lock_guard, in terms the analysis understands.
class PCTX_SCOPED_CAPABILITY IrqSpinLockGuard {
 public:
  explicit IrqSpinLockGuard(IrqSpinLock& l) PCTX_ACQUIRE(l) : l_(l) { l_.lock(); }
  IrqSpinLockGuard(IrqSpinLock& l, base::LockNesting nesting) PCTX_ACQUIRE(l) : l_(l) {
    l_.lock_nested(nesting);
  }
  ~IrqSpinLockGuard() PCTX_RELEASE() { l_.unlock(); }
  IrqSpinLockGuard(const IrqSpinLockGuard&) = delete;
  IrqSpinLockGuard& operator=(const IrqSpinLockGuard&) = delete;

 private:
  IrqSpinLock& l_;
};

}  // namespace pctx::cpu
