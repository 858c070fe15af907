// Cross-call round trips from a thread pinned to the first CPU to the CPU thread of the
// last one: to a polling thread, to a sleeping (parked on its futex) thread, and to a
// thread busy with user work (the signal path). Beside them, the floors measured between
// the same two CPUs in the same run: a cache-line round trip, and a bare signal round trip.
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/relax.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "ratio_reporter.hpp"

namespace pctx::bench {
namespace {

using cpu::CpuRuntime;

int g_caller_cpu = 0;
int g_target_cpu = 1;

std::unique_ptr<CpuRuntime> start(cpu::RuntimeOptions options, benchmark::State& state) {
  options.cpus = cpu::CpuSet::of({g_target_cpu});
  options.watch_hotplug = false;
  auto rt = CpuRuntime::start(std::move(options));
  if (!rt) {
    state.SkipWithError(rt.error().message.c_str());
    return nullptr;
  }
  return std::move(*rt);
}

// The floor for a call to a polling CPU: one cache line written by each side in turn,
// between this thread and the target's CPU thread.
void cache_line_floor(benchmark::State& state) {
  auto rt = start({}, state);
  if (!rt) return;
  alignas(64) static std::atomic<uint64_t> line;
  line = 0;
  std::atomic<bool> stop{false};
  cpu::AsyncCall responder([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t v = line.load(std::memory_order_acquire);
      if (v & 1) line.store(v + 1, std::memory_order_release);
      cpu::cpu_relax();
    }
    return 0;
  });
  cpu::cpu_function_call_async(g_target_cpu, responder);
  uint64_t v = 1;
  for (auto _ : state) {
    line.store(v, std::memory_order_release);
    while (line.load(std::memory_order_acquire) != v + 1) cpu::cpu_relax();
    v += 2;
  }
  stop = true;
  responder.wait();
}
BENCHMARK(cache_line_floor)->Name("cache_line_floor")->UseRealTime();

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

std::atomic<uint64_t> g_signalled{0};
void on_floor_signal(int) {
  g_signalled.fetch_add(1, std::memory_order_release);
}

// The floor for interrupting a busy CPU: pthread_kill to a spinning thread on the target
// CPU, whose handler writes a flag this thread waits for.
void signal_floor(benchmark::State& state) {
  struct sigaction sa {};
  sa.sa_handler = on_floor_signal;
  sigaction(SIGRTMIN + 5, &sa, nullptr);
  std::atomic<bool> stop{false}, ready{false};
  std::thread spinner([&] {
    cpu::pin_current_thread(g_target_cpu);
    ready = true;
    while (!stop.load(std::memory_order_relaxed)) cpu::cpu_relax();
  });
  while (!ready) cpu::cpu_relax();
  const pthread_t target = spinner.native_handle();
  for (auto _ : state) {
    const uint64_t before = g_signalled.load(std::memory_order_acquire);
    pthread_kill(target, SIGRTMIN + 5);
    while (g_signalled.load(std::memory_order_acquire) == before) cpu::cpu_relax();
  }
  stop = true;
  spinner.join();
}
BENCHMARK(signal_floor)->Name("signal_floor")->UseRealTime();

}  // namespace
}  // namespace pctx::bench

int main(int argc, char** argv) {
  const auto online = pctx::cpu::online_cpus();
  if (online.count() < 2) {
    std::fprintf(stderr, "cross_call_bench needs two online CPUs (online: %s)\n",
                 online.to_string().c_str());
    return 1;
  }
  pctx::bench::g_caller_cpu = online.first();
  pctx::bench::g_target_cpu = online.last();
  if (pctx::cpu::pin_current_thread(pctx::bench::g_caller_cpu).error != 0) {
    std::fprintf(stderr, "cannot pin the caller to CPU %d\n", pctx::bench::g_caller_cpu);
    return 1;
  }
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
