// Embedding pctx in a foreign scheduler: no pctx fibers, only the two switch hooks.
//
// The scheduler below is the embedder's own: it keeps its tasks in a vector and runs each
// for a slice of work in turn, from the CPU thread's scheduler hook. At every switch it
// calls PerfCore::sched_out for the task leaving and PerfCore::sched_in for the task
// coming, which is all pctx needs to count per task with the kernel's semantics
// (multiplexing and scaling included). It checks that each task's tsc count matches its
// own record of the task's time on CPU, and exits non-zero when one does not.
//
// Build: part of the pctx build (target `embed_scheduler`); run: ./embed_scheduler [cpu]
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "pctx/core/instant.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/core/perf_software_pmu.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/cpu/irq.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/pmu/scale.hpp"

namespace {

// The embedder's task: whatever it likes, as long as it contains a pctx::core::Task.
struct MyTask : pctx::core::Task {
  const char* name;
  uint64_t work_per_slice;  // iterations of its loop per slice
  uint64_t slices_left;
  uint64_t sink = 0;
  uint64_t my_ticks = 0;  // the embedder's own record of its time on CPU
};

// The embedder's scheduler: round robin, one slice per call of the CPU thread's hook.
class MyScheduler {
 public:
  MyScheduler(pctx::core::PerfCore& core, std::vector<MyTask*> tasks)
      : core_(core), tasks_(std::move(tasks)) {}

  // Called by the CPU thread's loop; returns true while it has work.
  bool run_one_slice() {
    MyTask* next = pick();
    if (next == nullptr) {
      if (current_ != nullptr) switch_to(nullptr);  // idle: nothing is current
      done_.store(true);
      return false;
    }
    if (next != current_) switch_to(next);
    for (uint64_t i = 0; i < next->work_per_slice; ++i) next->sink = next->sink * 31 + i;
    --next->slices_left;
    return true;
  }
  bool done() const { return done_.load(); }

 private:
  MyTask* pick() {
    for (size_t n = 0; n < tasks_.size(); ++n) {
      MyTask* t = tasks_[(cursor_ + n) % tasks_.size()];
      if (t->slices_left > 0) {
        cursor_ = (cursor_ + n + 1) % tasks_.size();
        return t;
      }
    }
    return nullptr;
  }
  // The only pctx calls a switch needs: sched_out for the task leaving, sched_in for the
  // one coming, both on the CPU thread that switches. The switch happens at one instant,
  // taken with irqs off: prev's events stop at it, next's start at it, and our own record of
  // time on CPU uses it too. A record taken with separate tsc reads around the hooks would
  // also count the hooks' own time, which the events rightly do not.
  void switch_to(MyTask* next) {
    pctx::cpu::IrqGuard irqs_off;
    const pctx::core::Instant at = pctx::core::take_instant();
    if (current_ != nullptr) {
      core_.sched_out(current_, next, at);
      current_->my_ticks += at.tsc - since_;
    }
    if (next != nullptr) {
      core_.sched_in(next, at);
      since_ = at.tsc;
    }
    current_ = next;
  }

  pctx::core::PerfCore& core_;
  std::vector<MyTask*> tasks_;
  MyTask* current_ = nullptr;
  uint64_t since_ = 0;
  size_t cursor_ = 0;
  std::atomic<bool> done_{false};
};

std::atomic<MyScheduler*> g_scheduler{nullptr};

int fail(const std::string& message) {
  fmt::print(stderr, "embed_scheduler: {}\n", message);
  return 1;
}

int run(int argc, char** argv) {
  const int cpu = argc > 1 ? std::atoi(argv[1]) : 0;

  // 1. CPU threads whose loop calls our scheduler.
  pctx::cpu::RuntimeOptions ro;
  ro.cpus = pctx::cpu::CpuSet::of({cpu});
  ro.watch_hotplug = false;
  ro.thread.scheduler = [](pctx::cpu::CpuThread&) {
    MyScheduler* s = g_scheduler.load();
    return s != nullptr && s->run_one_slice();
  };
  auto runtime = pctx::cpu::CpuRuntime::start(ro);
  if (!runtime) return fail(runtime.error().message);

  // 2. The PMUs, tsc with 2 counters (so 3 events multiplex) and the kernel's software
  //    events, then the perf core. The PMUs are declared first so that they outlive it.
  pctx::core::TscPmu tsc(2);
  auto software = pctx::core::PerfSoftwarePmu::open(**runtime);
  if (!software) return fail(software.error().message);
  auto core = pctx::core::PerfCore::start(**runtime);
  if (!core) return fail(core.error().message);
  (*core)->set_rotation_interval(std::chrono::milliseconds(1));
  (*core)->register_pmu(tsc);
  (*core)->register_pmu(**software);

  // 3. Our tasks, each with three tsc events (one group each) and task-clock, installed
  //    before they first run.
  std::vector<MyTask> storage(3);
  const char* names[] = {"short", "medium", "long"};
  std::vector<MyTask*> tasks;
  std::vector<std::vector<pctx::core::Event*>> events(storage.size());
  for (size_t i = 0; i < storage.size(); ++i) {
    MyTask& t = storage[i];
    t.name = names[i];
    t.work_per_slice = 200'000 * (i + 1);
    t.slices_left = 300;
    auto ctx_ref = (*core)->task_context(t);  // an owning reference
    if (!ctx_ref) return fail(ctx_ref.error().message);
    pctx::core::Context* ctx = ctx_ref->get();
    for (int k = 0; k < 4; ++k) {
      pctx::core::EventAttr attr;
      attr.pmu = k < 3 ? static_cast<pctx::core::Pmu*>(&tsc) : software->get();
      attr.config = k < 3 ? 0 : pctx::core::PerfSoftwarePmu::config_of("task-clock").value();
      auto e = (*core)->create_event(attr);
      if (!e) return fail(e.error().message);
      if (int err = (*core)->install(ctx, *e); err != 0) return fail("install failed");
      events[i].push_back(*e);
    }
    tasks.push_back(&t);
  }

  // 4. Run them, and wait until the scheduler has no task left.
  MyScheduler scheduler(**core, tasks);
  g_scheduler.store(&scheduler);
  (*runtime)->thread(cpu)->kick();
  while (!scheduler.done()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  g_scheduler.store(nullptr);

  // 5. Per-task counts, scaled, against the scheduler's own record. The tsc ticks at a
  //    constant rate, so scaling by enabled/running time recovers it closely: 1% allows for
  //    the rotations' edges, not for a drift per switch.
  int bad = 0;
  fmt::print("{:<8} {:>14} {:>14} {:>9} {:>14}\n", "task", "record ticks", "tsc scaled", "running",
             "task-clock ns");
  for (size_t i = 0; i < storage.size(); ++i) {
    MyTask& t = storage[i];
    for (int k = 0; k < 3; ++k) {
      const auto r = (*core)->read(events[i][static_cast<size_t>(k)]);
      const auto s = pctx::pmu::scale(r.count, r.time_enabled, r.time_running);
      const double error =
          std::fabs(static_cast<double>(s.value) / static_cast<double>(t.my_ticks) - 1.0);
      if (!s.counted || error > 0.01) ++bad;
      const auto clock = (*core)->read(events[i][3]);
      fmt::print("{:<8} {:>14} {:>14} {:>8.1f}% {:>14}\n", k == 0 ? t.name : "", t.my_ticks,
                 s.value, 100.0 * s.running_fraction, k == 0 ? fmt::format("{}", clock.count) : "");
    }
  }
  for (auto& list : events) {
    for (auto* e : list) {
      (*core)->remove(e);
      pctx::core::put_event(e);
    }
  }
  for (auto& t : storage) (*core)->exit_task(t);
  if (bad > 0) return fail(fmt::format("{} scaled counts off the record by more than 1%", bad));
  fmt::print("every scaled tsc count is within 1% of the scheduler's own record\n");
  return 0;
}

}  // namespace

// An exception (memory running out) ends the example with its message, not std::terminate.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
