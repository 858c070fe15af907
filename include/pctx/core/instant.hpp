// One instant per scheduling pass, and one per task switch.
//
// A pass (a switch, a rotation, a cross-call handler, a read) happens at one instant, as
// the kernel's passes do under ctx_time_freeze: the context clocks and the drivers read
// the time once per pass, at first use, and every add, del and read of the pass sees that
// reading. A task switch is one instant for both of its passes: the scheduler takes it
// (take_instant) and hands it to sched_out and sched_in, and records the task's time on
// CPU with it, so the tsc that stops prev's events starts next's, and a driver may serve
// next's sched-in from the reading it took for prev's sched-out (same_instant_as).
#pragma once

#include <cstdint>

namespace pctx::core {

struct Instant {
  uint64_t tsc = 0;  // read_tsc()
  uint64_t ns = 0;   // CLOCK_MONOTONIC, as std::chrono::steady_clock
  uint64_t id = 0;   // unique per thread; 0 is no instant
};

// Reads the tsc and the monotonic clock, once each. On a CPU thread, call it with irqs off.
Instant take_instant();
// Whether `at` is still this thread's latest instant: no pass opened and no instant taken
// since. A scheduler may then switch at it, though time went by, since nothing has yet
// read the clocks past it.
bool instant_is_latest(const Instant& at);

// For drivers, inside a pass on a CPU thread: the pass's tsc and monotonic ns (read at the
// first call of the pass, or given by the switch), and its instant's id. Outside a pass:
// a fresh reading, and id 0.
uint64_t pass_tsc();
uint64_t pass_ns();
uint64_t pass_instant_id();

}  // namespace pctx::core
