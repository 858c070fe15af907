// The physical floors, between the same two CPUs in the same run: a cache-line round trip
// (the least a call to a polling CPU can cost), a signal round trip to a thread busy on the
// other CPU (the least an interruption of a running task can cost: the IPI's analog),
// one rdtsc, and one rdpmc where there is a hardware PMU. The fiber switch floor is in
// switch_suite.cpp.
#include <linux/perf_event.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <csignal>

#include <atomic>
#include <thread>

#include "bench_env.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/relax.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/mmap_read.hpp"
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

// One rdpmc of a cycles counter this thread opened on itself, through its mapped page (the
// seqlock loop included), as the hardware driver reads a slot.
void rdpmc_floor(benchmark::State& state) {
  const auto caps = pmu::probe_capabilities();
  if (!caps.hardware_pmu || !caps.rdpmc) {
    state.SkipWithError((caps.hardware_pmu ? caps.rdpmc_reason : caps.hardware_pmu_reason).c_str());
    return;
  }
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.exclude_kernel = 1;
  const int fd =
      static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  void* page = fd >= 0 ? mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (page == MAP_FAILED) {
    if (fd >= 0) close(fd);
    state.SkipWithError("cannot open and map a cycles counter on this thread");
    return;
  }
  const auto* pc = static_cast<const perf_event_mmap_page*>(page);
  for (auto _ : state) benchmark::DoNotOptimize(pmu::fast_read(pc));
  munmap(page, 4096);
  close(fd);
}

}  // namespace

void register_floor_suite() {
  benchmark::RegisterBenchmark("cache_line_floor", cache_line_floor)->UseRealTime();
  benchmark::RegisterBenchmark("signal_floor", signal_floor)->UseRealTime();
  benchmark::RegisterBenchmark("rdtsc_floor", rdtsc_floor)->UseRealTime();
  benchmark::RegisterBenchmark("rdpmc_floor", rdpmc_floor)->UseRealTime();
}

}  // namespace pctx::bench
