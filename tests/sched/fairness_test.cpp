// Invariant 10: multiplexing starves no one. Several tasks per CPU, each with 3 to 5
// single-event groups on a PMU of 2 counters: every group of every task runs its share of
// the task's time (2 of G, the share the rotation order gives) within 5 points, at the
// default time slice and rotation interval and at others, including a slice equal to the
// interval (where a timer alone rotates only the task whose slice it falls in). A run during
// which the machine kept a CPU thread from its CPU for long is done again (cpu_theft.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "pctx/pmu/scale.hpp"
#include "sched/cpu_theft.hpp"
#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;

struct Setting {
  const char* id;  // the test name's suffix
  const char* name;
  std::chrono::nanoseconds slice;     // 0: the default
  std::chrono::nanoseconds interval;  // 0: the default
};

class FairnessTest : public testing::SchedTest, public ::testing::WithParamInterface<Setting> {
 protected:
  void SetUp() override {
    if (GetParam().slice.count() > 0) options_.time_slice = GetParam().slice;
    SchedTest::SetUp();
    if (GetParam().interval.count() > 0) core_->set_rotation_interval(GetParam().interval);
    tsc_.set_counters(2);
  }

  // tasks_per_cpu[i] tasks on the i-th CPU, each with a seeded number of groups, spinning
  // for `d`; then every group's share checked, unless the machine took a CPU away for long
  // meanwhile: false then, and why is printed.
  bool run_once(const std::vector<int>& tasks_per_cpu, std::chrono::milliseconds d, uint64_t seed) {
    testing::CpuTheft theft(*runtime_, cpus_);
    std::mt19937_64 rng(seed);
    std::atomic<bool> stop{false};
    struct Counted {
      TaskRef task;
      std::vector<core::Event*> events;
    };
    std::vector<Counted> all;
    all.reserve(16);
    for (size_t i = 0; i < tasks_per_cpu.size() && i < cpus_.size(); ++i) {
      for (int k = 0; k < tasks_per_cpu[i]; ++k) {
        SpawnOptions so;
        so.affinity = cpu::CpuSet::of({cpus_[i]});
        const int groups = 3 + static_cast<int>(rng() % 3);
        Counted& c = all.emplace_back();
        c.task = spawn_counted(
            [&stop] {
              while (!stop.load(std::memory_order_relaxed)) this_task::cond_resched();
            },
            groups, &c.events, so);
      }
    }
    std::this_thread::sleep_for(d);
    stop = true;
    join_all();
    if (theft.disturbed("fairness")) return false;
    // What a failure needs to be understood: each task's switches and time on CPU, and
    // each CPU thread's timers.
    std::string why;
    for (Counted& c : all) {
      why += fmt::format("{} (cpu {}): {} switches, {} us on CPU; ", c.task->name(), c.task->cpu(),
                         c.task->switches(), c.task->on_cpu_time().count() / 1000);
    }
    for (int cpu : cpus_) {
      const auto& st = runtime_->thread(cpu)->stats();
      why += fmt::format("cpu{}: {} timer signals, {} timer errors, {} calls, {} deferred; ", cpu,
                         st.timer_signals.load(), st.timer_errors.load(), st.calls.load(),
                         st.deferred.load());
    }
    why += fmt::format("{} rotations", core_->stats().rotations.load());
    for (Counted& c : all) {
      const double share = 2.0 / static_cast<double>(c.events.size());
      for (size_t g = 0; g < c.events.size(); ++g) {
        const core::Reading r = core_->read(c.events[g]);
        EXPECT_GT(r.time_running, 0u) << c.task->name() << " group " << g << " never ran\n" << why;
        EXPECT_GT(r.count, 0u) << c.task->name() << " group " << g << " read 0";
        const double got =
            static_cast<double>(r.time_running) / static_cast<double>(r.time_enabled);
        EXPECT_NEAR(got, share, 0.05)
            << GetParam().name << ", seed " << seed << ": " << c.task->name() << " (cpu "
            << c.task->cpu() << ", " << c.events.size() << " groups) group " << g << " ran "
            << got * 100 << "% of " << r.time_enabled / 1000 << " us\n"
            << why;
      }
    }
    return true;
  }

  // run_once until a run is not disturbed; a machine that keeps taking CPUs away skips.
  void run(const std::vector<int>& tasks_per_cpu, std::chrono::milliseconds d, uint64_t seed) {
    for (int i = 0; i < testing::kAttempts; ++i) {
      if (run_once(tasks_per_cpu, d, seed)) return;
    }
    GTEST_SKIP() << testing::too_busy();
  }
};

TEST_P(FairnessTest, EveryGroupOfEveryTaskGetsItsShare) {
  const uint64_t seed = testing::seed_from_env("fairness");
  // One and four tasks per CPU, then two and three: 1 to 4 tasks per CPU in two runs.
  run({1, 4}, 1200ms, seed);
  if (IsSkipped()) return;
  run({2, 3}, 1200ms, seed + 1);
}

INSTANTIATE_TEST_SUITE_P(
    Slices, FairnessTest,
    ::testing::Values(Setting{"Default", "default 2 ms slice, 4 ms rotation", {}, {}},
                      Setting{"SliceEqualsInterval", "1 ms slice, 1 ms rotation", 1ms, 1ms},
                      Setting{"SliceLongerThanInterval", "4 ms slice, 2 ms rotation", 4ms, 2ms}),
    [](const ::testing::TestParamInfo<Setting>& info) { return std::string(info.param.id); });

// The CPU context rotates by its own time too, while tasks switch under it at the default
// slice: 3 to 5 groups on 2 counters, each its share.
using CpuFairnessTest = testing::SchedTest;

TEST_F(CpuFairnessTest, CpuContextGroupsGetTheirShareWhileTasksSwitch) {
  tsc_.set_counters(2);
  const uint64_t seed = testing::seed_from_env("fairness");
  const int cpu = cpus_.back();
  const int groups = 3 + static_cast<int>(seed % 3);
  for (int attempt = 0; attempt < testing::kAttempts; ++attempt) {
    testing::CpuTheft theft(*runtime_, {cpu});
    std::vector<core::Event*> mine;
    for (int i = 0; i < groups; ++i) {
      core::EventAttr attr;
      attr.pmu = &tsc_;
      auto e = core_->create_event(attr);
      ASSERT_TRUE(e);
      ASSERT_EQ(core_->install(core_->cpu_context(cpu), *e), 0);
      events_.push_back(*e);
      mine.push_back(*e);
    }
    std::atomic<bool> stop{false};
    for (int i = 0; i < 3; ++i) {
      SpawnOptions so;
      so.affinity = cpu::CpuSet::of({cpu});
      spawn(
          [&stop] {
            while (!stop.load(std::memory_order_relaxed)) this_task::cond_resched();
          },
          so);
    }
    std::this_thread::sleep_for(600ms);
    stop = true;
    join_all();
    // The groups are read before they go: a run that does not count is done again with
    // new ones, alone on the CPU context.
    std::vector<core::Reading> got;
    for (core::Event* e : mine) got.push_back(core_->read(e));
    for (core::Event* e : mine) ASSERT_EQ(core_->remove(e), 0);
    if (theft.disturbed("fairness")) continue;
    for (size_t g = 0; g < got.size(); ++g) {
      ASSERT_GT(got[g].time_running, 0u) << "group " << g << " never ran";
      EXPECT_NEAR(
          static_cast<double>(got[g].time_running) / static_cast<double>(got[g].time_enabled),
          2.0 / groups, 0.05)
          << "seed " << seed << ": CPU group " << g << " of " << groups;
    }
    return;
  }
  GTEST_SKIP() << testing::too_busy();
}

}  // namespace
}  // namespace pctx::sched
