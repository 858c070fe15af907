#include "pctx/base/tsc_clock.hpp"

#include "base/tsc_clock_fast.hpp"

#include <ctime>

#include <atomic>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace pctx::base {

namespace {

using internal::g_tsc_rate;
using internal::kTscWindowTicks;
using internal::tls_tsc_anchor;
using internal::TscAnchor;

// A clock read is bracketed by two tsc reads and placed at their midpoint, so it is off by
// at most half their distance: tens of ticks normally, thousands when a VM exit or an
// interrupt lands in between. Up to kPairTries brackets are taken, until one is this tight,
// and the tightest is used.
constexpr uint64_t kGoodSpread = 1000;
constexpr int kPairTries = 8;
// The rate is first measured over 10 ms, then again every 100 ms over the span since the
// last measurement, so that it follows the kernel's slewing of CLOCK_MONOTONIC.
constexpr uint64_t kFirstSpanNs = 10'000'000;
constexpr uint64_t kSpanNs = 100'000'000;

bool invariant_tsc() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (static_cast<unsigned>(__get_cpuid_max(0x80000000u, nullptr)) < 0x80000007u) return false;
  __cpuid(0x80000007u, a, b, c, d);
  return (d & (1u << 8)) != 0;  // the advanced power management leaf's InvariantTSC bit
#else
  return false;
#endif
}

const bool g_invariant = invariant_tsc();

struct Pair {
  uint64_t tsc;
  uint64_t ns;
  uint64_t spread;  // ticks between the two tsc reads around the clock's
};

// The calibration, shared: the rate, and the pair it was last measured at. One thread at a
// time measures (a try-lock, so a signal handler never waits for it).
std::atomic<bool> g_calibrating{false};
Pair g_last{0, 0, 0};  // written under g_calibrating
// The widest bracket of an anchor so far: the clock may be off by half of it (a clock read
// slowed by instrumentation, as under the sanitizers, is where in the bracket nobody knows).
std::atomic<uint64_t> g_max_spread{0};

// The clock bracketed by two tsc reads, the tsc taken as their midpoint.
Pair read_pair() {
  Pair best{0, 0, 0};
  uint64_t best_spread = UINT64_MAX;
  for (int i = 0; i < kPairTries; ++i) {
    const uint64_t before = read_tsc();
    const uint64_t ns = monotonic_ns();
    const uint64_t after = read_tsc();
    const uint64_t spread = after - before;
    if (spread < best_spread) {
      best = {before + spread / 2, ns, spread};
      best_spread = spread;
    }
    if (spread <= kGoodSpread) break;
  }
  return best;
}

void calibrate(const Pair& now) {
  if (g_calibrating.exchange(true, std::memory_order_acquire)) return;
  const uint64_t rate = g_tsc_rate.load(std::memory_order_relaxed);
  if (g_last.ns == 0 || now.tsc <= g_last.tsc || now.ns <= g_last.ns) {
    g_last = now;
  } else if (now.ns - g_last.ns >= (rate == 0 ? kFirstSpanNs : kSpanNs)) {
    const auto q32 = static_cast<uint64_t>(
        (static_cast<unsigned __int128>(now.ns - g_last.ns) << 32) / (now.tsc - g_last.tsc));
    // Between 0.1 and 10 ns a tick (10 GHz to 100 MHz); anything else is a broken clock.
    if (q32 > (uint64_t{1} << 32) / 10 && q32 < (uint64_t{10} << 32)) {
      g_tsc_rate.store(q32, std::memory_order_relaxed);
    }
    g_last = now;
  }
  g_calibrating.store(false, std::memory_order_release);
}

// The slow path: a new anchor for this thread (unless a handler interrupted its update),
// and the clock at `tsc` from it.
uint64_t reanchor(uint64_t tsc) {
  const Pair p = read_pair();
  calibrate(p);
  if (p.spread > g_max_spread.load(std::memory_order_relaxed)) {
    g_max_spread.store(p.spread, std::memory_order_relaxed);  // a lost race loses a statistic
  }
  TscAnchor& a = tls_tsc_anchor;
  if ((a.seq & 1) == 0) {
    ++a.seq;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    a.tsc = p.tsc;
    a.ns = p.ns;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    ++a.seq;
  }
  // `tsc` was read just before the pair: the clock then, from the pair back.
  const uint64_t rate = g_tsc_rate.load(std::memory_order_relaxed);
  if (rate == 0 || tsc >= p.tsc || p.tsc - tsc >= kTscWindowTicks) return p.ns;
  const uint64_t back = ((p.tsc - tsc) * rate) >> 32;
  return back < p.ns ? p.ns - back : p.ns;
}

}  // namespace

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t ns_at_tsc(uint64_t tsc) {
  return internal::ns_at_tsc_fast(tsc);
}

namespace internal {

constinit thread_local TscAnchor tls_tsc_anchor;
std::atomic<uint64_t> g_tsc_rate{0};

// Only the invariant tsc is ever calibrated (here), so the fast path, which needs a rate,
// never uses a tsc that is not.
uint64_t ns_at_tsc_slow(uint64_t tsc) {
  return g_invariant ? reanchor(tsc) : monotonic_ns();
}

}  // namespace internal

uint64_t fast_monotonic_ns() {
  return ns_at_tsc(read_tsc());
}

TscClockInfo tsc_clock_info() {
  return {g_invariant, g_tsc_rate.load(std::memory_order_relaxed),
          g_max_spread.load(std::memory_order_relaxed)};
}

}  // namespace pctx::base
