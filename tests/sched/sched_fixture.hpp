// A runtime whose CPU threads run the scheduler, a perf core with a tsc PMU of 4 counters,
// and the scheduler itself; every task spawned through the fixture is joined at the end.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "pctx/core/perf_core.hpp"
#include "pctx/core/tsc_pmu.hpp"
#include "pctx/cpu/runtime.hpp"
#include "pctx/sched/scheduler.hpp"
#include "pctx/sched/this_task.hpp"

namespace pctx::sched::testing {

class SchedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cpu::RuntimeOptions ro;
    ro.watch_hotplug = false;
    ro.thread.scheduler = Scheduler::hook();
    auto rt = cpu::CpuRuntime::start(ro);
    ASSERT_TRUE(rt) << rt.error().message;
    runtime_ = std::move(*rt);
    auto core = core::PerfCore::start(*runtime_);
    ASSERT_TRUE(core) << core.error().message;
    core_ = std::move(*core);
    core_->register_pmu(tsc_);
    auto s = Scheduler::start(*runtime_, core_.get(), options_);
    ASSERT_TRUE(s) << s.error().message;
    sched_ = std::move(*s);
    cpus_ = runtime_->running_cpus().cpus();
  }

  // Tests whose tasks use the test's locals join before they return.
  void join_all() {
    for (auto& t : tasks_) t->join();
  }

  void TearDown() override {
    join_all();
    for (auto* e : events_) {
      const int rc = core_->remove(e);  // -ENOENT: the test removed it
      EXPECT_TRUE(rc == 0 || rc == -ENOENT) << rc;
      core::put_event(e);
    }
    tasks_.clear();
    events_.clear();
    contexts_.clear();
    sched_.reset();
    core_.reset();
    runtime_.reset();
  }

  TaskRef spawn(std::function<void()> fn, SpawnOptions options = {}) {
    auto t = sched_->spawn(std::move(fn), std::move(options));
    EXPECT_TRUE(t) << t.error().message;
    if (!t) return {};
    tasks_.push_back(*t);
    return *t;
  }

  // A task that does not start until its `n` tsc events (one group each) are installed.
  TaskRef spawn_counted(std::function<void()> fn, int n, std::vector<core::Event*>* events,
                        SpawnOptions options = {}) {
    options.start = false;
    TaskRef t = spawn(std::move(fn), options);
    auto ref = core_->task_context(*t);
    EXPECT_TRUE(ref) << ref.error().message;
    core::Context* ctx = ref->get();
    contexts_.push_back(std::move(*ref));
    for (int i = 0; i < n; ++i) {
      core::EventAttr attr;
      attr.pmu = &tsc_;
      auto e = core_->create_event(attr);
      EXPECT_TRUE(e);
      EXPECT_EQ(core_->install(ctx, *e), 0);
      events_.push_back(*e);
      events->push_back(*e);
    }
    EXPECT_EQ(sched_->wake(*t), 0);
    return t;
  }

  SchedOptions options_;
  core::TscPmu tsc_{4};
  std::unique_ptr<cpu::CpuRuntime> runtime_;
  std::unique_ptr<core::PerfCore> core_;
  std::unique_ptr<Scheduler> sched_;
  std::vector<int> cpus_;
  std::vector<TaskRef> tasks_;
  std::vector<core::Event*> events_;
  std::vector<core::ContextRef> contexts_;  // of the tasks that got events, in order
};

// Invariant 8 for one task and its tsc event: the count covers every moment from the
// instant of each sched-in to the instant of the next sched-out, and nothing outside them.
// The switch hooks and the scheduler's record share those instants, so the two agree but
// for rdtsc's skew between CPUs (0.1% of slack).
inline void expect_counted_while_current(const Task& t, uint64_t count) {
  const double record = static_cast<double>(t.on_cpu_ticks());
  ASSERT_GT(record, 0) << t.name() << " never ran";
  EXPECT_GE(static_cast<double>(count), record * 0.999)
      << t.name() << ": the task was current but its event did not count (" << count << " of "
      << t.on_cpu_ticks() << " ticks, " << t.switches() << " switches)";
  EXPECT_LE(static_cast<double>(count), record * 1.001)
      << t.name() << ": the event counted while the task was not current (" << count << " of "
      << t.on_cpu_ticks() << " ticks, " << t.switches() << " switches)";
}

// A randomized test's seed: PCTX_SEED when set, else a fresh one; printed either way, so
// that a failing run can be replayed.
inline uint64_t seed_from_env(const char* test) {
  const char* v = std::getenv("PCTX_SEED");
  const uint64_t seed = v != nullptr ? std::strtoull(v, nullptr, 0) : std::random_device{}();
  std::printf("%s: seed %llu (PCTX_SEED reproduces)\n", test,
              static_cast<unsigned long long>(seed));
  return seed;
}

// Spins for about `d` of the task's own CPU time, at preemption points every few µs.
inline void spin_for(std::chrono::nanoseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) this_task::cond_resched();
}

}  // namespace pctx::sched::testing
