// A mutex the compiler's thread-safety analysis knows (a capability), with a lock class:
// the role the mutex plays ("core.context.mutex"), which names it in diagnostics and is the
// unit the debug builds' lock validator orders. std::mutex carries no annotations, so the
// analysis could not check a field GUARDED_BY one.
#pragma once

#include <mutex>

#include "pctx/base/thread_annotations.hpp"

namespace pctx::base {

class PCTX_CAPABILITY("mutex") Mutex {
 public:
  // `lock_class` must outlive the mutex: a string literal.
  explicit Mutex(const char* lock_class) : class_(lock_class) {}
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() PCTX_ACQUIRE() { m_.lock(); }
  void unlock() PCTX_RELEASE() { m_.unlock(); }
  bool try_lock() PCTX_TRY_ACQUIRE(true) { return m_.try_lock(); }

  const char* lock_class() const { return class_; }

 private:
  std::mutex m_;
  const char* class_;
};

// Holds a mutex for a scope, as std::lock_guard, in terms the analysis understands.
class PCTX_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) PCTX_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() PCTX_RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

}  // namespace pctx::base
