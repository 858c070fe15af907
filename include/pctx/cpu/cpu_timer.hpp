// Per-CPU timers, the hrtimer analog. A CpuTimer is allocated by its owner in normal
// context and armed on one CPU thread; it fires on that thread from its loop, or, while
// the thread is busy with user work that never yields, from the call signal, raised by a
// per-thread POSIX timer. Like cross-call handlers, callbacks may run inside a signal
// handler: no allocation, no mutex, no task switch. They run with irqs off. Destroy a
// timer only after cancelling it on its CPU thread: that orders the destruction after any
// callback still running.
#pragma once

#include <boost/intrusive/list_hook.hpp>

#include <chrono>
#include <cstdint>
#include <functional>

namespace pctx::cpu {

class CpuTimer {
 public:
  explicit CpuTimer(std::function<void()> callback) : callback_(std::move(callback)) {}
  CpuTimer(const CpuTimer&) = delete;
  CpuTimer& operator=(const CpuTimer&) = delete;

  bool armed() const { return hook_.is_linked(); }
  std::chrono::nanoseconds period() const { return period_; }
  // When it fires next, while armed; read on the owning CPU thread.
  std::chrono::steady_clock::time_point deadline() const { return deadline_; }
  uint64_t fired() const { return fired_; }  // read on the owning CPU thread

 private:
  friend class CpuThread;
  // Its place on its CPU thread's list of armed timers: private, so that only the thread
  // links and unlinks it (owner only, with irqs off).
  boost::intrusive::list_member_hook<> hook_;
  std::function<void()> callback_;
  std::chrono::nanoseconds period_{0};
  std::chrono::steady_clock::time_point deadline_{};
  uint64_t fired_ = 0;
};

}  // namespace pctx::cpu
