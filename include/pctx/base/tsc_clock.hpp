// CLOCK_MONOTONIC through the tsc: the nanoseconds of a tsc reading taken just now.
//
// The kernel's perf core times its contexts with local_clock(), the tsc scaled; pctx's
// contexts and scheduler read CLOCK_MONOTONIC, and a task switch or a local read needs both
// the tsc (for the tsc driver) and the clock. clock_gettime reads the tsc itself, so taking
// both cost two tsc reads. Here the clock is derived from the tsc reading already taken:
// each thread keeps an anchor (a tsc and the clock read together) and scales the ticks since
// it by a rate calibrated against CLOCK_MONOTONIC, and takes a fresh anchor every 2^22
// ticks (about a millisecond). The result follows CLOCK_MONOTONIC to within nanoseconds (to
// within half the time a clock_gettime takes, where instrumentation slows it); it
// may step back by that much at a new anchor, so a caller that needs it never to run back
// keeps its own maximum (instant.cpp does). Where the tsc is not invariant (no cpuid flag),
// or before the rate is known (the first 10 ms of the process), it is clock_gettime.
//
// Safe in signal handlers: a handler that interrupts the thread's own update of its anchor
// reads the clock directly.
#pragma once

#include <cstdint>

namespace pctx::base {

// clock_gettime(CLOCK_MONOTONIC) in nanoseconds: steady_clock's epoch.
uint64_t monotonic_ns();
// The time stamp counter (on other architectures, CLOCK_MONOTONIC in ns). Inline: it is
// on every fast path.
inline uint64_t read_tsc() {
#if defined(__x86_64__)
  return __builtin_ia32_rdtsc();
#else
  return monotonic_ns();
#endif
}
// CLOCK_MONOTONIC at `tsc`, a read_tsc() this thread took just now.
uint64_t ns_at_tsc(uint64_t tsc);
// ns_at_tsc(read_tsc()).
uint64_t fast_monotonic_ns();

// What the clock found: whether it uses the tsc, its rate and its precision (the tests
// check against it).
struct TscClockInfo {
  bool invariant_tsc = false;    // cpuid says the tsc ticks at a constant rate in every state
  uint64_t ns_per_tick_q32 = 0;  // the calibrated rate, 32.32 fixed point (0: not yet)
  // The widest bracket of two tsc reads around a clock read that an anchor used, in ticks:
  // the clock may be off by half of it. Tens of ticks normally; microseconds' worth where
  // clock_gettime is slowed (the sanitizers intercept it).
  uint64_t max_anchor_spread_ticks = 0;
};
TscClockInfo tsc_clock_info();

}  // namespace pctx::base
