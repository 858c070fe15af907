// The tsc clock's common case, inline (pctx/base/tsc_clock.hpp): the nanoseconds of a tsc
// reading from this thread's anchor, with no call. For the paths that take an instant per
// operation, a task's read of its own event and a task switch, where a call, its spills
// and the return cost more than the arithmetic. The anchor and the rate are tsc_clock.cpp's;
// they are here only to be read.
#pragma once

#include <atomic>
#include <cstdint>

namespace pctx::base::internal {

// This thread's anchor, under a sequence count: a signal handler that finds it odd (the
// thread was interrupted inside an update) or changed under its read does not use it.
struct TscAnchor {
  uint32_t seq = 0;
  uint64_t tsc = 0;
  uint64_t ns = 0;
};
// Constant-initialised, initial-exec TLS: no wrapper call, safe in a signal handler.
extern constinit __attribute__((tls_model("initial-exec"))) thread_local TscAnchor tls_tsc_anchor;
// ns per tick, 32.32; 0 until calibrated, and for ever where the tsc is not invariant.
extern std::atomic<uint64_t> g_tsc_rate;
// A fresh anchor past this many ticks: about 1.4 ms at 3 GHz. The product with the rate
// (below 2^34 for any tsc above 250 MHz) stays far inside 64 bits.
constexpr uint64_t kTscWindowTicks = uint64_t{1} << 22;

// A new anchor, or clock_gettime where the tsc cannot be used.
uint64_t ns_at_tsc_slow(uint64_t tsc);

inline uint64_t ns_at_tsc_fast(uint64_t tsc) {
  const uint64_t rate = g_tsc_rate.load(std::memory_order_relaxed);
  const TscAnchor& a = tls_tsc_anchor;
  const uint32_t seq = a.seq;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  const uint64_t since = tsc - a.tsc;  // huge if tsc is before the anchor: a new one
  const uint64_t base = a.ns;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (rate != 0 && since < kTscWindowTicks && (seq & 1) == 0 && seq == a.seq) [[likely]] {
    return base + ((since * rate) >> 32);
  }
  return ns_at_tsc_slow(tsc);
}

}  // namespace pctx::base::internal
