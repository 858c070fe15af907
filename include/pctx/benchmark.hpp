// Counters from pctx in Google Benchmark's output. Debian's Google Benchmark is built
// without libpfm, so its --benchmark_perf_counters flag does nothing; this helper counts an
// event spec on the benchmark's thread through the kernel and adds each event, per
// iteration, to the benchmark's user counters (and so to its console and JSON reports).
//
//   static void BM_Copy(benchmark::State& state) {
//     pctx::BenchmarkCounters counters(state, "task-clock,page-faults");  // or cycles,...
//     for (auto _ : state) copy();
//   }  // counters land in state.counters here
//
// Multiplexed events are scaled (the kernel's enabled/running times over the loop). When a
// spec cannot be opened, the benchmark is skipped with the pmu layer's explanation. Link
// pctx::pmu and benchmark::benchmark.
#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

#include "pctx/pmu/counter_group.hpp"
#include "pctx/pmu/encoding.hpp"
#include "pctx/pmu/scale.hpp"

namespace pctx {

class BenchmarkCounters {
 public:
  // Opens and starts the counters; construct it right before the benchmark loop.
  BenchmarkCounters(benchmark::State& state, std::string_view spec) : state_(state) {
    auto groups = pmu::compile_spec(spec);
    if (!groups) {
      fail(groups.error().message);
      return;
    }
    for (const auto& g : *groups) {
      auto opened = pmu::CounterGroup::open(g, pmu::Target::this_thread());
      if (!opened) {
        fail(opened.error().message);
        return;
      }
      groups_.push_back(std::move(*opened));
    }
    start_.resize(groups_.size());
    for (size_t i = 0; i < groups_.size(); ++i) (void)groups_[i].read(&start_[i]);
  }

  // Publishes the counters per iteration, if stop() did not already.
  ~BenchmarkCounters() { stop(); }

  BenchmarkCounters(const BenchmarkCounters&) = delete;
  BenchmarkCounters& operator=(const BenchmarkCounters&) = delete;

  // Stops counting and adds one counter per event: the scaled count over the loop divided
  // by the iterations. An event that never ran is reported as 0 (and noted in the label's
  // "<event>.not_counted" counter).
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    for (size_t g = 0; g < groups_.size(); ++g) {
      pmu::GroupReading end;
      if (!groups_[g].read(&end)) continue;
      const pmu::GroupReading& begin = start_[g];
      for (size_t i = 0; i < groups_[g].size(); ++i) {
        const auto s = pmu::scale(end.values[i] - begin.values[i], end.enabled - begin.enabled,
                                  end.running - begin.running);
        const std::string& name = groups_[g].event(i).text;
        state_.counters[name] =
            benchmark::Counter(static_cast<double>(s.value), benchmark::Counter::kAvgIterations);
        if (!s.counted) state_.counters[name + ".not_counted"] = 1;
      }
    }
    groups_.clear();
  }

  bool ok() const { return !failed_; }

 private:
  void fail(const std::string& message) {
    failed_ = true;
    stopped_ = true;
    groups_.clear();
    state_.SkipWithError(("pctx counters: " + message).c_str());
  }

  benchmark::State& state_;
  std::vector<pmu::CounterGroup> groups_;
  std::vector<pmu::GroupReading> start_;
  bool stopped_ = false;
  bool failed_ = false;
};

}  // namespace pctx
