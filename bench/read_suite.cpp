// Reads and rotation. read_local: a task reads its own Active tsc event (the core's read,
// on the CPU where the event counts: no cross-call); the kernel reads a software event of
// its own thread with read(). read_remote: the benchmark thread reads an event Active on
// the target CPU, whose thread is idle and polling (a cross-call). rotate: one rotation
// pass on a CPU whose current task has 16 flexible groups on a PMU of 4 counters.
// read_local_hw: read_local of a cycles event, through rdpmc, where there is a PMU.
#include <unistd.h>

#include <atomic>

#include "bench_env.hpp"
#include "pctx/cpu/relax.hpp"
#include "suites.hpp"

namespace pctx::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kLoop = 10'000;

// Runs `body` kLoop times in a task on the target CPU whose context holds `groups`
// groups of one tsc event; returns the seconds the kLoop runs took.
template <class F>
double time_in_task(BenchEnv& env, benchmark::State& state, std::vector<core::Event*> events,
                    F&& body) {
  double per_op = 0;
  sched::TaskRef t = env.task([&] {
    const auto start = Clock::now();
    for (int i = 0; i < kLoop; ++i) body(events);
    per_op = seconds_since(start);
  });
  core::ContextRef ctx = *env.core().task_context(*t);
  if (!env.install_all(state, ctx.get(), events)) {
    env.sched().wake(*t);
    t->join();
    return 0;
  }
  env.sched().wake(*t);
  t->join();
  return per_op;
}

// kLoop reads by a task of its own Active event (one of `pmu`'s, of `config`), timed per
// iteration.
void time_local_reads(benchmark::State& state, BenchEnv& env, core::Pmu& pmu, uint64_t config) {
  for (auto _ : state) {
    const double t = time_in_task(env, state, env.events(pmu, 1, config),
                                  [&](std::vector<core::Event*>& events) {
                                    benchmark::DoNotOptimize(env.core().read(events[0]));
                                  });
    if (t <= 0) return;
    state.SetIterationTime(t);
  }
  state.counters["ops"] = kLoop;
}

void read_local(benchmark::State& state) {
  auto env = BenchEnv::start(state);
  if (env) time_local_reads(state, *env, env->tsc(), 0);
}

// The same read of an Active cycles event: one rdpmc (skipped without a hardware PMU).
void read_local_hw(benchmark::State& state) {
  BenchEnv::Options o;
  o.hardware = true;
  auto env = BenchEnv::start(state, o);
  if (!env) return;
  const uint64_t cycles = env->hardware_config("cycles:u");
  if (cycles == 0) {
    state.SkipWithError("cycles:u does not encode here");
    return;
  }
  time_local_reads(state, *env, env->hardware(), cycles);
}

void kernel_read(benchmark::State& state) {
  const int fd = open_task_clock(0);
  if (fd < 0) {
    state.SkipWithError("perf_event_open failed: see `pctx info` for permissions");
    return;
  }
  uint64_t value = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(read(fd, &value, sizeof(value)));
  }
  close(fd);
}

void read_remote(benchmark::State& state) {
  BenchEnv::Options o;
  o.spin = std::chrono::hours(1);
  auto env = BenchEnv::start(state, o);
  if (!env) return;
  auto events = env->events(env->tsc(), 1);
  if (!env->install_all(state, env->core().cpu_context(env->target()), events)) return;
  for (auto _ : state) benchmark::DoNotOptimize(env->core().read(events[0]));
  env->remove_all(events);
}

void rotate_16_on_4(benchmark::State& state) {
  BenchEnv::Options o;
  o.tsc_counters = 4;
  auto env = BenchEnv::start(state, o);
  if (!env) return;
  const int cpu = env->target();
  for (auto _ : state) {
    // A rotation called on its own CPU runs at once, as the timer's would.
    const double t = time_in_task(*env, state, env->events(env->tsc(), 16),
                                  [&](std::vector<core::Event*>&) { env->core().rotate(cpu); });
    if (t <= 0) return;
    state.SetIterationTime(t);
  }
  state.counters["ops"] = kLoop;
}

}  // namespace

void register_read_suite() {
  benchmark::RegisterBenchmark("read_local", read_local)->UseManualTime();
  benchmark::RegisterBenchmark("read_local_hw", read_local_hw)->UseManualTime();
  benchmark::RegisterBenchmark("kernel_read", kernel_read)->UseRealTime();
  benchmark::RegisterBenchmark("read_remote", read_remote)->UseRealTime();
  benchmark::RegisterBenchmark("rotate_16_on_4", rotate_16_on_4)->UseManualTime();
}

}  // namespace pctx::bench
