// take_instant (pctx/core/instant.hpp) inline, for the paths that take one per operation:
// a task's read of its own event, and the scheduler's switch. This thread's pass and the
// clock's running maximum are instant.cpp's; they are declared here so the inline code
// can reach them without a call.
#pragma once

#include "base/tsc_clock_fast.hpp"
#include "pctx/base/tsc_clock.hpp"
#include "pctx/core/instant.hpp"

namespace pctx::core::internal {

// This thread's pass, if one is open. Plain thread-locals, as only this thread touches them:
// on a CPU thread, instants are taken and passes opened with irqs off, so a cross-call's
// signal cannot interleave with them, and a pass it opens later restores what it found.
struct PassState {
  Instant instant;
  uint8_t have = 0;  // which of the instant's readings were taken (kHaveTsc, kHaveNs)
  bool active = false;
  uint64_t next_id = 0;
};
constexpr uint8_t kHaveTsc = 1;
constexpr uint8_t kHaveNs = 2;
extern constinit __attribute__((tls_model("initial-exec"))) thread_local PassState tls_pass;

// CLOCK_MONOTONIC at a tsc reading of this thread (tsc_clock.hpp), never below the last it
// gave here: instants and passes take it with irqs off on CPU threads, so no handler
// interleaves with the maximum's update, and a switch's record of time on CPU is never
// negative across a new anchor of the clock.
extern constinit __attribute__((tls_model("initial-exec"))) thread_local uint64_t tls_last_ns;

inline uint64_t ns_of(uint64_t tsc) {
  const uint64_t ns = base::internal::ns_at_tsc_fast(tsc);
  if (ns <= tls_last_ns) return tls_last_ns;
  tls_last_ns = ns;
  return ns;
}

// pass_tsc and pass_ns (instant.hpp), inline for the drivers and the context clocks, which
// ask them at every add, del and time update of a pass.
inline uint64_t pass_tsc_fast() {
  PassState& p = tls_pass;
  if (!p.active) return base::read_tsc();
  if (!(p.have & kHaveTsc)) {
    p.instant.tsc = base::read_tsc();
    p.have |= kHaveTsc;
  }
  return p.instant.tsc;
}

// The pass's clock, derived from its tsc: a pass reads the tsc once for both.
inline uint64_t pass_ns_fast() {
  PassState& p = tls_pass;
  if (!p.active) return ns_of(base::read_tsc());
  if (!(p.have & kHaveNs)) {
    p.instant.ns = ns_of(pass_tsc_fast());
    p.have |= kHaveNs;
  }
  return p.instant.ns;
}

inline Instant take_instant_fast() {
  const uint64_t tsc = base::read_tsc();
  return Instant{tsc, ns_of(tsc), ++tls_pass.next_id};
}

}  // namespace pctx::core::internal
