// Cross-call round trips from a thread pinned to the first CPU to the CPU thread of the
// last one: to a polling thread, to a sleeping (parked on its futex) thread, and to a
// thread busy with user work (the signal path). Beside them, the floors measured between
// the same two CPUs in the same run (bench/floor_suite.cpp): a cache-line round trip, and
// a bare signal round trip.
#include <sched.h>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench_env.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/relax.hpp"
#include "pctx/cpu/runtime.hpp"
#include "ratio_reporter.hpp"
#include "suites.hpp"

namespace pctx::bench {
namespace {

using cpu::CpuRuntime;

int g_target_cpu = 1;

std::unique_ptr<CpuRuntime> start(cpu::RuntimeOptions options, benchmark::State& state) {
  options.cpus = cpu::CpuSet::of({g_target_cpu});
  options.watch_hotplug = false;
  auto rt = CpuRuntime::start(options);
  if (!rt) {
    state.SkipWithError(rt.error().message.c_str());
    return nullptr;
  }
  return std::move(*rt);
}

void call_polling(benchmark::State& state) {
  cpu::RuntimeOptions options;
  options.thread.spin = std::chrono::seconds(3600);  // never sleeps
  auto rt = start(std::move(options), state);
  if (!rt) return;
  for (auto _ : state)
    benchmark::DoNotOptimize(cpu::cpu_function_call(g_target_cpu, [] { return 0; }));
}
BENCHMARK(call_polling)->Name("call_polling")->UseRealTime();

// Each call finds the target asleep on its futex: timed manually, so that waiting for it
// to fall asleep is not counted.
void call_sleeping(benchmark::State& state) {
  cpu::RuntimeOptions options;
  options.thread.spin = std::chrono::nanoseconds(0);
  auto rt = start(std::move(options), state);
  if (!rt) return;
  auto* t = rt->thread(g_target_cpu);
  // After every call the thread sleeps again; count its sleeps from a first call.
  uint64_t sleeps = t->stats().sleeps.load();
  cpu::cpu_function_call(g_target_cpu, [] { return 0; });
  for (auto _ : state) {
    while (t->stats().sleeps.load() == sleeps) cpu::cpu_relax();
    std::this_thread::sleep_for(std::chrono::microseconds(20));  // into the futex
    sleeps = t->stats().sleeps.load();
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(cpu::cpu_function_call(g_target_cpu, [] { return 0; }));
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}
BENCHMARK(call_sleeping)->Name("call_sleeping")->UseManualTime();

// The target runs user work that never returns to its loop: calls arrive by signal.
void call_busy(benchmark::State& state) {
  std::atomic<bool> stop{false};
  cpu::RuntimeOptions options;
  options.thread.scheduler = [&stop](cpu::CpuThread& t) {
    if (stop.load()) return false;
    cpu::CpuThread::BusyScope busy(t);
    while (!stop.load(std::memory_order_relaxed)) cpu::cpu_relax();
    return true;
  };
  auto rt = start(std::move(options), state);
  if (!rt) return;
  rt->thread(g_target_cpu)->kick();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (auto _ : state)
    benchmark::DoNotOptimize(cpu::cpu_function_call(g_target_cpu, [] { return 0; }));
  stop = true;
  const auto signals = rt->thread(g_target_cpu)->stats().signal_calls.load();
  state.counters["by_signal"] =
      static_cast<double>(signals) / static_cast<double>(state.iterations());
}
BENCHMARK(call_busy)->Name("call_busy")->UseRealTime();

}  // namespace
}  // namespace pctx::bench

int main(int argc, char** argv) {
  if (auto st = pctx::bench::init_cpus(); !st) {
    std::fprintf(stderr, "cross_call_bench: %s\n", st.error().message.c_str());
    return 1;
  }
  pctx::bench::g_target_cpu = pctx::bench::cpus().target;
  // The floors are pctx bench's: the same code measures them for both.
  pctx::bench::register_floor_suite();
  // Five repetitions unless told otherwise: the ratios use each benchmark's fastest.
  std::vector<char*> args(argv, argv + argc);
  std::string repetitions = "--benchmark_repetitions=5";
  bool given = false;
  for (char* a : args) given |= std::string(a).rfind("--benchmark_repetitions", 0) == 0;
  if (!given) args.push_back(repetitions.data());
  int nargs = static_cast<int>(args.size());
  benchmark::Initialize(&nargs, args.data());
  pctx::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios({{"call_polling", "cache_line_floor"},
                         {"call_sleeping", "cache_line_floor"},
                         {"call_busy", "cache_line_floor"},
                         {"call_busy", "signal_floor"}});
  benchmark::Shutdown();
  return 0;
}
