// Counters from pctx in Google Benchmark's output. Debian's Google Benchmark is built
// without libpfm, so its --benchmark_perf_counters flag does nothing; this helper counts an
// event spec on the benchmark's thread through the kernel and adds each event, per
// iteration, to the benchmark's user counters (and so to its console and JSON reports).
//
//   static void BM_Copy(benchmark::State& state) {
//     pctx::BenchmarkCounters counters(state, "task-clock,page-faults");  // or cycles,...
//     for (auto _ : state) {
//       state.PauseTiming();  // the counters pause with the timer...
//       setup();
//       state.ResumeTiming();  // ...and resume with it
//       copy();
//     }
//   }  // counters land in state.counters here
//
// The counters count what the timer times: from the start of the loop to its end, minus
// the stretches between state.PauseTiming() and state.ResumeTiming(). Google Benchmark 1.7
// offers no hook for those calls, so this header interposes its own definitions of them
// (see "Following the timer" below and docs/benchmark-counters.md).
//
// The events: the spec given, else the environment variable PCTX_BENCHMARK_EVENTS, else
// kDefaultBenchmarkEvents. Each event is one counter named as written, with its group's
// modifiers ("{task-clock}:u" gives "task-clock:u"); a repeated event gets "#2", "#3".
// Multiplexed events are scaled (the kernel's enabled/running times over the timed
// stretches). When a spec cannot be opened, the benchmark is skipped with the pmu layer's
// explanation. Link pctx::pmu and benchmark::benchmark.
#pragma once

#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pctx/pmu/counter_group.hpp"
#include "pctx/pmu/encoding.hpp"
#include "pctx/pmu/scale.hpp"
#include "pctx/pmu/spec.hpp"

namespace pctx {

// The environment variable that names the events when the code does not.
inline constexpr const char* kBenchmarkEventsVariable = "PCTX_BENCHMARK_EVENTS";
// The events when neither the code nor the environment names any: software events, which
// every kernel counts, virtual machines without a PMU included.
inline constexpr std::string_view kDefaultBenchmarkEvents = "task-clock,page-faults";

class BenchmarkCounters;

namespace detail {

// The counters open on this thread, which the timing hooks below pause and resume. A
// benchmark's State lives on one thread, so a per-thread list needs no lock.
inline std::vector<BenchmarkCounters*>& benchmark_counters_on_this_thread() {
  thread_local std::vector<BenchmarkCounters*> counters;
  return counters;
}

// Google Benchmark's own definition of a State member, found after the interposed one.
using StateMember = void (*)(benchmark::State*);
inline StateMember next_state_member(const char* symbol) {
  return reinterpret_cast<StateMember>(dlsym(RTLD_NEXT, symbol));
}
inline StateMember next_state_member_or_abort(const char* symbol) {
  StateMember next = next_state_member(symbol);
  if (next == nullptr) {
    // Reached only if this definition runs while no later one exists, which linking
    // rules out; continuing would skip Google Benchmark's own bookkeeping.
    std::fprintf(stderr, "pctx/benchmark.hpp: no Google Benchmark definition of %s\n", symbol);
    std::abort();
  }
  return next;
}

inline constexpr const char* kPauseTiming = "_ZN9benchmark5State11PauseTimingEv";
inline constexpr const char* kResumeTiming = "_ZN9benchmark5State12ResumeTimingEv";
inline constexpr const char* kStartKeepRunning = "_ZN9benchmark5State16StartKeepRunningEv";
inline constexpr const char* kFinishKeepRunning = "_ZN9benchmark5State17FinishKeepRunningEv";

enum class TimingEvent { kLoopStarted, kPaused, kResumed };
inline void on_timing(benchmark::State* state, TimingEvent event);

}  // namespace detail

class BenchmarkCounters {
 public:
  // Counts PCTX_BENCHMARK_EVENTS, or kDefaultBenchmarkEvents when it is unset or empty.
  explicit BenchmarkCounters(benchmark::State& state) : BenchmarkCounters(state, {}) {}

  // Counts `spec`; an empty spec means the constructor above. Opens and starts the
  // counters; construct it before the benchmark loop. Counting restarts when the loop
  // starts, so setup between here and the loop is not counted.
  BenchmarkCounters(benchmark::State& state, std::string_view spec) : state_(state) {
    std::string origin;
    if (!spec.empty()) {
      spec_ = std::string(spec);
    } else if (const char* env = std::getenv(kBenchmarkEventsVariable); env && *env) {
      spec_ = env;
      origin = std::string(kBenchmarkEventsVariable) + "='" + env + "': ";
    } else {
      spec_ = std::string(kDefaultBenchmarkEvents);
    }
    auto parsed = pmu::parse_spec(spec_);
    auto groups = pmu::compile_spec(spec_);
    if (!parsed || !groups) {
      fail(origin + (parsed ? groups.error().message : parsed.error().message));
      return;
    }
    for (const auto& g : *groups) {
      auto opened = pmu::CounterGroup::open(g, pmu::Target::this_thread());
      if (!opened) {
        fail(origin + opened.error().message);
        return;
      }
      groups_.push_back(std::move(*opened));
    }
    name_events(*parsed);
    start_.resize(groups_.size());
    read_start();
    detail::benchmark_counters_on_this_thread().push_back(this);
  }

  // Publishes the counters per iteration, if stop() did not already.
  ~BenchmarkCounters() { stop(); }

  BenchmarkCounters(const BenchmarkCounters&) = delete;
  BenchmarkCounters& operator=(const BenchmarkCounters&) = delete;

  // Stops counting and adds one counter per event: the scaled count over the timed
  // stretches divided by the iterations. An event that never ran is reported as 0 (and
  // noted in the "<name>.not_counted" counter).
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    unregister();
    for (size_t g = 0; g < groups_.size(); ++g) {
      pmu::GroupReading end;
      if (!groups_[g].read(&end)) continue;
      const pmu::GroupReading& begin = start_[g];
      for (size_t i = 0; i < groups_[g].size(); ++i) {
        const auto s = pmu::scale(end.values[i] - begin.values[i], end.enabled - begin.enabled,
                                  end.running - begin.running);
        const std::string& name = names_[g][i];
        state_.counters[name] =
            benchmark::Counter(static_cast<double>(s.value), benchmark::Counter::kAvgIterations);
        if (!s.counted) state_.counters[name + ".not_counted"] = 1;
      }
    }
    groups_.clear();
    if (!toggle_error_.empty()) state_.SkipWithError(("pctx counters: " + toggle_error_).c_str());
  }

  // Stop and restart counting by hand, without touching the timer. state.PauseTiming() and
  // state.ResumeTiming() call these already (when observes_timing()); both are idempotent.
  void pause() { toggle(true); }
  void resume() { toggle(false); }

  bool ok() const { return !failed_; }
  // The spec in use, after the precedence above.
  const std::string& spec() const { return spec_; }
  // The counter names, in the order of the spec.
  std::vector<std::string> names() const {
    std::vector<std::string> all;
    for (const auto& group : names_) all.insert(all.end(), group.begin(), group.end());
    return all;
  }

  // True when this program's state.PauseTiming(), state.ResumeTiming() and benchmark loop
  // reach the hooks in this header, so that the counters follow the timer. False when
  // Google Benchmark is linked statically (its definitions then win over these) or when
  // this header is compiled into a library loaded after Google Benchmark's; the counters
  // then count from their construction to stop(), pauses included.
  static bool observes_timing() {
    const void* first = dlsym(RTLD_DEFAULT, detail::kPauseTiming);
    const void* next = dlsym(RTLD_NEXT, detail::kPauseTiming);
    return next != nullptr && first != next;
  }

 private:
  friend void detail::on_timing(benchmark::State* state, detail::TimingEvent event);

  // Names as written, with the group's modifiers; the second and later copies of a name
  // get "#2", "#3", so that no two events share a counter.
  void name_events(const pmu::ParsedSpec& parsed) {
    std::map<std::string, int> seen;
    for (size_t g = 0; g < groups_.size(); ++g) {
      std::vector<std::string> names;
      for (size_t i = 0; i < groups_[g].size(); ++i) {
        std::string name = groups_[g].event(i).text;
        if (g < parsed.groups.size() && !parsed.groups[g].modifier_text.empty()) {
          name += ":" + parsed.groups[g].modifier_text;
        }
        if (const int n = ++seen[name]; n > 1) name += "#" + std::to_string(n);
        names.push_back(std::move(name));
      }
      names_.push_back(std::move(names));
    }
  }

  void read_start() {
    for (size_t i = 0; i < groups_.size(); ++i) (void)groups_[i].read(&start_[i]);
  }

  void toggle(bool pause) {
    if (stopped_ || paused_ == pause) return;
    for (auto& g : groups_) {
      auto done = pause ? g.disable() : g.enable();
      if (!done && toggle_error_.empty()) toggle_error_ = done.error().message;
    }
    paused_ = pause;
  }

  void unregister() {
    auto& list = detail::benchmark_counters_on_this_thread();
    list.erase(std::remove(list.begin(), list.end(), this), list.end());
  }

  void fail(const std::string& message) {
    failed_ = true;
    stopped_ = true;
    groups_.clear();
    state_.SkipWithError(("pctx counters: " + message).c_str());
  }

  benchmark::State& state_;
  std::string spec_;
  std::vector<pmu::CounterGroup> groups_;
  std::vector<std::vector<std::string>> names_;  // per group, per event
  std::vector<pmu::GroupReading> start_;
  std::string toggle_error_;  // the first failed enable or disable, reported by stop()
  bool paused_ = false;
  bool stopped_ = false;
  bool failed_ = false;
};

namespace detail {

inline void on_timing(benchmark::State* state, TimingEvent event) {
  for (BenchmarkCounters* counters : benchmark_counters_on_this_thread()) {
    if (&counters->state_ != state) continue;
    switch (event) {
      case TimingEvent::kLoopStarted:
        counters->resume();
        counters->read_start();
        break;
      case TimingEvent::kPaused:
        counters->pause();
        break;
      case TimingEvent::kResumed:
        counters->resume();
        break;
    }
  }
}

}  // namespace detail
}  // namespace pctx

// Following the timer. Google Benchmark 1.7 calls nothing of ours when the timer pauses or
// resumes: State::PauseTiming and ResumeTiming are plain, non-virtual members, and it has
// no profiler hook (ProfilerManager came in 1.9). But they, and the loop's start and end,
// are exported functions of the shared libbenchmark that a benchmark calls through the
// dynamic linker, so a definition in the program comes first, as with any interposed
// symbol. These definitions pause and resume the counters of the calling thread's State
// and then call Google Benchmark's own (the next definition, found with RTLD_NEXT), so the
// benchmark behaves as before. They are weak so that every file that includes this header
// may define them; the loop's end also pauses (libbenchmark calls PauseTiming there, but a
// library linked with -Bsymbolic would bypass us, so FinishKeepRunning pauses too).
__attribute__((weak)) void benchmark::State::PauseTiming() {
  static const auto next = pctx::detail::next_state_member_or_abort(pctx::detail::kPauseTiming);
  pctx::detail::on_timing(this, pctx::detail::TimingEvent::kPaused);
  next(this);
}

__attribute__((weak)) void benchmark::State::ResumeTiming() {
  static const auto next = pctx::detail::next_state_member_or_abort(pctx::detail::kResumeTiming);
  next(this);
  pctx::detail::on_timing(this, pctx::detail::TimingEvent::kResumed);
}

__attribute__((weak)) void benchmark::State::StartKeepRunning() {
  static const auto next =
      pctx::detail::next_state_member_or_abort(pctx::detail::kStartKeepRunning);
  next(this);
  pctx::detail::on_timing(this, pctx::detail::TimingEvent::kLoopStarted);
}

__attribute__((weak)) void benchmark::State::FinishKeepRunning() {
  static const auto next =
      pctx::detail::next_state_member_or_abort(pctx::detail::kFinishKeepRunning);
  pctx::detail::on_timing(this, pctx::detail::TimingEvent::kPaused);
  next(this);
}
