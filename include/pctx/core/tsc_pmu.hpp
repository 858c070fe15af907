// The `tsc` PMU: the x86 time-stamp counter through rdtsc (CLOCK_MONOTONIC elsewhere).
// Always present and cheap to read; its counter limit is a parameter, so tests and
// `pctx run --counters tsc=N` can force multiplexing.
#pragma once

#include <atomic>
#include <cstdint>

#include "pctx/base/tsc_clock.hpp"
#include "pctx/core/pmu.hpp"

namespace pctx::core {

inline uint64_t read_tsc() {
  return base::read_tsc();
}

class TscPmu : public Pmu {
 public:
  explicit TscPmu(int counters = 4) : counters_(counters) {}
  std::string name() const override { return "tsc"; }
  int counters() const override { return counters_.load(std::memory_order_relaxed); }
  void set_counters(int n) { counters_.store(n, std::memory_order_relaxed); }

  int init(PmuEvent& event) override;
  int add(PmuEvent& event) override;
  void del(PmuEvent& event) override;
  void read(PmuEvent& event) override;

 private:
  std::atomic<int> counters_;
};

}  // namespace pctx::core
