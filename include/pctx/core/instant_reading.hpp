// A driver's last reading of one counter, with the instant it was taken at (instant.hpp).
// A pass at the same instant, which is the sched-in half of a task switch after its
// sched-out half, is served from it: prev's last reading is next's first, and each counter
// is read once per switch. A counter that is re-programmed starts with a new one.
#pragma once

#include <cstdint>

#include "pctx/core/instant.hpp"

namespace pctx::core {

class InstantReading {
 public:
  // The counter's value as of this pass: the kept reading if it was taken at this pass's
  // instant, else `read()`, kept. Outside a pass (instant 0), always `read()`.
  template <class Read>
  uint64_t get(Read&& read) {
    const uint64_t instant = pass_instant_id();
    if (instant != 0 && instant == instant_) return value_;
    value_ = read();
    instant_ = instant;
    return value_;
  }

 private:
  uint64_t value_ = 0;
  uint64_t instant_ = 0;
};

}  // namespace pctx::core
