// Scaling a multiplexed count to the whole enabled time: value * enabled / running.
#pragma once

#include <cstdint>

namespace pctx::pmu {

struct Scaled {
  bool counted = false;  // false when the event never ran (running == 0): no estimate exists
  uint64_t value = 0;    // the estimate; equals the raw value when never multiplexed
  double running_fraction = 0.0;  // running / enabled, in [0, 1]

  bool multiplexed() const { return counted && running_fraction < 1.0; }
};

// Never divides by zero and never overflows: the product is taken in 128 bits and an
// estimate beyond 2^64-1 saturates.
Scaled scale(uint64_t value, uint64_t enabled, uint64_t running);

}  // namespace pctx::pmu
