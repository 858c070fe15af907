// The physical floors, between the same two CPUs in the same run: a cache-line round trip
// (the least a call to a polling CPU can cost), a signal round trip to a thread busy on the
// other CPU (the least an interruption of a running task can cost: the IPI's analog), and
// one rdtsc. The fiber switch floor is in switch_suite.cpp.
#include <pthread.h>
#include <csignal>

#include <atomic>
#include <thread>

#include "bench_env.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/relax.hpp"
#include "suites.hpp"

namespace pctx::bench {
namespace {

void cache_line_floor(benchmark::State& state) {
  alignas(64) static std::atomic<uint64_t> line;
  line = 0;
  std::atomic<bool> stop{false};
  std::thread responder([&] {
    cpu::pin_current_thread(cpus().target);
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t v = line.load(std::memory_order_acquire);
      if (v & 1) line.store(v + 1, std::memory_order_release);
      cpu::cpu_relax();
    }
  });
  uint64_t v = 1;
  for (auto _ : state) {
    line.store(v, std::memory_order_release);
    while (line.load(std::memory_order_acquire) != v + 1) cpu::cpu_relax();
    v += 2;
  }
  stop = true;
  responder.join();
}

std::atomic<uint64_t> g_signalled{0};
void on_floor_signal(int) {
  g_signalled.fetch_add(1, std::memory_order_release);
}

void signal_floor(benchmark::State& state) {
  struct sigaction sa {};
  sa.sa_handler = on_floor_signal;
  sigaction(SIGRTMIN + 5, &sa, nullptr);
  std::atomic<bool> stop{false}, ready{false};
  std::thread spinner([&] {
    cpu::pin_current_thread(cpus().target);
    ready = true;
    while (!stop.load(std::memory_order_relaxed)) cpu::cpu_relax();
  });
  while (!ready) cpu::cpu_relax();
  for (auto _ : state) {
    const uint64_t before = g_signalled.load(std::memory_order_acquire);
    pthread_kill(spinner.native_handle(), SIGRTMIN + 5);
    while (g_signalled.load(std::memory_order_acquire) == before) cpu::cpu_relax();
  }
  stop = true;
  spinner.join();
}

void rdtsc_floor(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(core::read_tsc());
}

}  // namespace

void register_floor_suite() {
  benchmark::RegisterBenchmark("cache_line_floor", cache_line_floor)->UseRealTime();
  benchmark::RegisterBenchmark("signal_floor", signal_floor)->UseRealTime();
  benchmark::RegisterBenchmark("rdtsc_floor", rdtsc_floor)->UseRealTime();
}

}  // namespace pctx::bench
