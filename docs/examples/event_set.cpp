// Counting a pctx task with an event set: a spec string in, counts by name out.
//
// The program starts CPU threads that run pctx's scheduler, a perf core, and a PmuRegistry
// that creates the drivers a spec needs. It spawns a task that works (spins and touches
// fresh memory), installs "task-clock,page-faults,cs" into it before it first runs, lets it
// run to the end and prints each count by the name it was written with. It exits 0 when
// every step worked and the task's task-clock and page-faults counted, and 1 with the
// error's message otherwise.
//
// Build: part of the pctx build (target `event_set_example`); run: ./event_set_example
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "pctx/core/event_set.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/core/pmu_registry.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/sched/scheduler.hpp"
#include "pctx/sched/this_task.hpp"

namespace {

int fail(const std::string& message) {
  fmt::print(stderr, "event_set: {}\n", message);
  return 1;
}

// The task's work: some CPU time and 16 MiB of fresh pages, with preemption points so that
// other tasks could run in between.
void work() {
  std::vector<char> memory(16 << 20);
  for (size_t i = 0; i < memory.size(); i += 4096) {
    memory[i] = static_cast<char>(i);
    pctx::sched::this_task::cond_resched();
  }
  volatile unsigned long sink = 0;
  for (unsigned long i = 0; i < 50'000'000; ++i) {
    sink = sink + i;
    if (i % 100'000 == 0) pctx::sched::this_task::cond_resched();
  }
}

int run() {
  // 1. CPU threads whose loop runs pctx's scheduler.
  pctx::cpu::RuntimeOptions ro;
  ro.watch_hotplug = false;
  ro.thread.scheduler = pctx::sched::Scheduler::hook();
  auto runtime = pctx::cpu::CpuRuntime::start(ro);
  if (!runtime) return fail(runtime.error().message);

  // 2. The registry of drivers, declared before the core so that it outlives it, then the
  //    core and the scheduler. They stop in the reverse order at the end of main.
  auto pmus = pctx::core::PmuRegistry::create();
  if (!pmus) return fail(pmus.error().message);
  auto core = pctx::core::PerfCore::start(**runtime);
  if (!core) return fail(core.error().message);
  auto sched = pctx::sched::Scheduler::start(**runtime, core->get());
  if (!sched) return fail(sched.error().message);

  // 3. The event set: one group per event here. A typo in the spec fails here, with the
  //    names that come close, and creates nothing.
  auto set = pctx::core::EventSet::create(**core, **pmus, "task-clock,page-faults,cs");
  if (!set) return fail(set.error().message);

  // 4. A task that does not start until woken, so that its first instruction is counted.
  pctx::sched::SpawnOptions so;
  so.name = "worker";
  so.start = false;
  auto task = (*sched)->spawn(work, so);
  if (!task) return fail(task.error().message);
  if (auto st = set->install(**task); !st) {
    (*sched)->wake(**task);  // the scheduler waits for every task: let it run and end
    (*task)->join();
    return fail(st.error().message);
  }
  if (int rc = (*sched)->wake(**task); rc != 0) return fail(fmt::format("wake: error {}", rc));
  if (int rc = (*task)->join(); rc != 0) return fail(fmt::format("join: error {}", rc));

  // 5. The counts, by the names the spec used ("cs"), scaled to their units (task-clock is
  //    counted in ns and shown in msec, as perf stat does).
  for (const char* name : {"task-clock", "page-faults", "cs"}) {
    auto r = set->read(name);
    if (!r) return fail(r.error().message);
    const size_t i = *set->find(name);
    const auto& m = set->member(i);
    fmt::print("{:>16.3f} {:<5} {} ({})\n", static_cast<double>(r->count) * m.scale, m.unit, name,
               m.canonical);
  }
  const auto clock = set->read("task-clock");
  const auto faults = set->read("page-faults");
  if (clock->count == 0 || faults->count == 0) {
    return fail("the worker ran, yet task-clock or page-faults did not count");
  }
  return 0;
}

}  // namespace

// An exception (memory running out) ends the example with its message, not std::terminate.
int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
