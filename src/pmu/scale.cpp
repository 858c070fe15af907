#include "pctx/pmu/scale.hpp"

#include <limits>

namespace pctx::pmu {

Scaled scale(uint64_t value, uint64_t enabled, uint64_t running) {
  Scaled s;
  if (running == 0) return s;
  s.counted = true;
  if (running >= enabled) {
    s.value = value;
    s.running_fraction = 1.0;
    return s;
  }
  const unsigned __int128 product = static_cast<unsigned __int128>(value) * enabled;
  const unsigned __int128 estimate = product / running;
  s.value = estimate > std::numeric_limits<uint64_t>::max() ? std::numeric_limits<uint64_t>::max()
                                                            : static_cast<uint64_t>(estimate);
  s.running_fraction = static_cast<double>(running) / static_cast<double>(enabled);
  return s;
}

}  // namespace pctx::pmu
