// A mutex the compiler's thread-safety analysis knows (a capability), with a lock class:
// the role the mutex plays ("core.context.mutex"), which names it in diagnostics and is the
// unit the debug builds' lock validator orders (lock_validator.hpp). std::mutex carries no
// annotations, so the analysis could not check a field GUARDED_BY one.
#pragma once

#include <mutex>

#include "pctx/base/lock_validator.hpp"
#include "pctx/base/thread_annotations.hpp"

namespace pctx::base {

class PCTX_CAPABILITY("mutex") Mutex {
 public:
  // `lock_class` must outlive the mutex: a string literal.
  explicit Mutex(const char* lock_class) : class_(lock_class) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() PCTX_ACQUIRE() { lock_nested(LockNesting::kNone); }
  // Takes it while another mutex of its class is held, for the reason given.
  void lock_nested(LockNesting nesting) PCTX_ACQUIRE() {
    lock_validator::acquire(this, class_, lock_validator::LockKind::kMutex, nesting);
    m_.lock();
  }
  void unlock() PCTX_RELEASE() {
    lock_validator::release(this);
    m_.unlock();
  }
  bool try_lock() PCTX_TRY_ACQUIRE(true) {
    if (!m_.try_lock()) return false;
    lock_validator::acquired_try(this, class_, lock_validator::LockKind::kMutex);
    return true;
  }

  const char* lock_class() const { return class_; }

 private:
  std::mutex m_;
  const char* class_;
};

// Holds a mutex for a scope, as std::lock_guard, in terms the analysis understands.
class PCTX_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) PCTX_ACQUIRE(m) : m_(m) { m_.lock(); }
  MutexLock(Mutex& m, LockNesting nesting) PCTX_ACQUIRE(m) : m_(m) { m_.lock_nested(nesting); }
  ~MutexLock() PCTX_RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace pctx::base
