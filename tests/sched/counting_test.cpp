// Invariant 8 of the design: whenever a task is current its events count. Each task's tsc
// count is compared with the scheduler's own record of the task's time on CPU, through
// spins, yields, sleeps, blocking, migrations and multiplexing.
#include <sched.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>

#include "pctx/pmu/scale.hpp"
#include "pctx/sched/wait_queue.hpp"
#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;
using testing::spin_for;

class CountingTest : public testing::SchedTest {
 protected:
  // Each task spins in bursts and, between them, yields, sleeps, blocks on a wait queue
  // shared by all, or moves to another CPU, at random. A burst is long enough (0.3-1 ms)
  // that the hooks' own cost per switch, which the record includes and the count partly
  // does not, stays well below 1% even in sanitizer builds.
  void run_mixed(int tasks, int events_per_task, std::chrono::milliseconds duration) {
    std::atomic<bool> stop{false};
    WaitQueue wq;
    std::atomic<uint64_t> tokens{0};
    per_task_.resize(static_cast<size_t>(tasks));
    for (int i = 0; i < tasks; ++i) {
      spawn_counted(
          [&, i] {
            std::mt19937 rng(static_cast<uint32_t>(i));
            while (!stop.load()) {
              spin_for(std::chrono::microseconds(300 + rng() % 700));
              switch (rng() % 5) {
                case 0:
                  this_task::yield();
                  break;
                case 1:
                  this_task::sleep_for(std::chrono::microseconds(rng() % 300));
                  break;
                case 2:
                  tokens.fetch_add(1);
                  wq.wake_one();
                  wq.wait([&] {
                    if (stop.load()) return true;
                    uint64_t t = tokens.load();
                    return t > 0 && tokens.compare_exchange_strong(t, t - 1);
                  });
                  break;
                case 3:
                  this_task::migrate_to(cpus_[rng() % cpus_.size()]);
                  break;
                default:
                  break;
              }
            }
          },
          events_per_task, &per_task_[static_cast<size_t>(i)]);
    }
    std::this_thread::sleep_for(duration);
    stop = true;
    wq.wake_all();
    for (auto& t : tasks_) {
      while (!t->done()) {
        wq.wake_all();
        std::this_thread::sleep_for(1ms);
      }
    }
  }
  std::vector<std::vector<core::Event*>> per_task_;
};

TEST_F(CountingTest, EveryTaskCountsExactlyWhileCurrent) {
  run_mixed(6, 1, 600ms);
  uint64_t total_migrations = 0;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Task& t = *tasks_[i];
    core::Event* e = per_task_[i][0];
    const core::Reading r = core_->read(e);
    EXPECT_EQ(r.state, core::EventState::kExit) << "exit moves the task's events to Exit";
    testing::expect_counted_while_current(t, r.count);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    const double on_ns = static_cast<double>(t.on_cpu_time().count());
    EXPECT_NEAR(static_cast<double>(r.time_enabled) / on_ns, 1.0, 0.01) << t.name();
#endif
    EXPECT_EQ(r.time_enabled, r.time_running) << "4 counters, 1 event: never multiplexed";
    total_migrations += t.migrations();
  }
  if (cpus_.size() > 1) {
    EXPECT_GT(total_migrations, 5u) << "the mix did not move tasks between CPUs";
  }
  EXPECT_EQ(core_->check_invariants(), "");
}

TEST_F(CountingTest, MultiplexedCountsScaleToTheTimeOnCpu) {
  tsc_.set_counters(2);
  core_->set_rotation_interval(1ms);
  run_mixed(4, 4, 400ms);
  for (size_t i = 0; i < tasks_.size(); ++i) {
    Task& t = *tasks_[i];
    const double record = static_cast<double>(t.on_cpu_ticks());
    bool multiplexed = false;
    for (core::Event* e : per_task_[i]) {
      const core::Reading r = core_->read(e);
      const auto scaled = pmu::scale(r.count, r.time_enabled, r.time_running);
      ASSERT_TRUE(scaled.counted) << t.name() << " has a group that never ran";
      multiplexed |= r.time_running < r.time_enabled;
      EXPECT_NEAR(static_cast<double>(scaled.value) / record, 1.0, 0.05)
          << t.name() << ": scaled " << scaled.value << " vs " << t.on_cpu_ticks()
          << " ticks, running " << r.time_running << " of " << r.time_enabled;
    }
    EXPECT_TRUE(multiplexed) << t.name() << ": 4 events on 2 counters must multiplex";
  }
}

TEST_F(CountingTest, ExitTombstonesTheContext) {
  std::vector<core::Event*> events;
  TaskRef t = spawn_counted([] { spin_for(2ms); }, 2, &events);
  t->join();
  EXPECT_EQ(t->perf_ctx.load(), nullptr) << "exit detaches the context from the task";
  for (core::Event* e : events) {
    EXPECT_EQ(core_->read(e).state, core::EventState::kExit);
    EXPECT_GT(core_->read(e).count, 0u);
  }
  core::EventAttr attr;
  attr.pmu = &tsc_;
  auto late = core_->create_event(attr);
  ASSERT_TRUE(late);
  EXPECT_EQ(core_->install(contexts_.back().get(), *late), -ESRCH) << "no install after exit";
  core::put_event(*late);
}

}  // namespace
}  // namespace pctx::sched
