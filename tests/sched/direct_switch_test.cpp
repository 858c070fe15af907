// A yield switches straight to the next runnable task when nothing needs the CPU thread's
// loop (Scheduler::switch_directly). What users rely on: such switches count exactly as
// loop switches do (invariant 8, at the one instant the switch takes), and what the loop
// does between tasks still happens while tasks only yield: woken and sleeping tasks run,
// cross-calls arrive, affinity changes move a task, and multiplexed groups rotate. All at
// the defaults (time slice, rotation interval), several tasks per CPU; seeds are printed.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "pctx/sched/wait_queue.hpp"
#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;
using testing::expect_counted_while_current;
using testing::spin_for;

class DirectSwitchTest : public testing::SchedTest {
 protected:
  // `per_cpu` tasks pinned to each CPU, each with `groups` tsc groups, spinning for a few
  // microseconds at random between yields until `stop`.
  void spawn_yielders(int per_cpu, int groups, std::atomic<bool>& stop, uint64_t seed) {
    per_task_.resize(static_cast<size_t>(per_cpu) * cpus_.size());
    size_t k = 0;
    for (int cpu : cpus_) {
      for (int i = 0; i < per_cpu; ++i, ++k) {
        SpawnOptions o;
        o.affinity = cpu::CpuSet::of({cpu});
        spawn_counted(
            [&stop, seed, k] {
              std::mt19937_64 rng(seed + k);
              while (!stop.load(std::memory_order_relaxed)) {
                spin_for(std::chrono::nanoseconds(rng() % 5000));
                this_task::yield();
              }
            },
            groups, &per_task_[k], o);
      }
    }
  }

  uint64_t seed() const {
    return testing::seed_from_env(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  std::vector<std::vector<core::Event*>> per_task_;
};

// Most yields go straight to the next task, and every task's events counted exactly the
// time the scheduler's record gives it on its CPU.
TEST_F(DirectSwitchTest, YieldsSwitchDirectlyAndCountExactly) {
  const uint64_t s = seed();
  std::atomic<bool> stop{false};
  const uint64_t switches_before = sched_->switches();
  const uint64_t direct_before = sched_->direct_switches();
  spawn_yielders(3, 2, stop, s);
  // A number of switches, not a time.
  while (sched_->switches() - switches_before < 40000) std::this_thread::sleep_for(1ms);
  stop = true;
  join_all();
  const uint64_t switches = sched_->switches() - switches_before;
  const uint64_t direct = sched_->direct_switches() - direct_before;
  EXPECT_GT(direct * 2, switches) << direct << " of " << switches
                                  << " switches were direct: yields keep going through the loop";
  for (size_t t = 0; t < tasks_.size(); ++t) {
    for (core::Event* e : per_task_[t]) {
      expect_counted_while_current(*tasks_[t], core_->read(e).count);
    }
  }
  EXPECT_EQ(core_->check_invariants(), "");
}

// While a CPU's tasks only yield to each other, a task woken there from another thread, a
// sleeper whose time comes, a call into a yielding task (an install, then reads) and an
// affinity change all take effect: the loop still runs, or the direct switch does its part.
TEST_F(DirectSwitchTest, TheLoopsWorkGoesOnWhileTasksOnlyYield) {
  const uint64_t s = seed();
  std::atomic<bool> stop{false};
  spawn_yielders(2, 1, stop, s);
  const int cpu = cpus_.back();
  SpawnOptions here;
  here.affinity = cpu::CpuSet::of({cpu});

  WaitQueue wq;
  std::atomic<bool> go{false};
  std::atomic<bool> woke{false};
  TaskRef blocked = spawn(
      [&] {
        wq.wait([&] { return go.load(); });
        woke = true;
      },
      here);
  std::atomic<bool> slept{false};
  TaskRef sleeper = spawn(
      [&] {
        this_task::sleep_for(200us);
        slept = true;
      },
      here);
  while (blocked->state() != TaskState::kBlocked) std::this_thread::sleep_for(100us);
  go = true;
  EXPECT_EQ(wq.wake_all(), 1);
  blocked->join();
  sleeper->join();
  EXPECT_TRUE(woke.load());
  EXPECT_TRUE(slept.load());

  // A call into a task that yields on `cpu` (the last one spawned there): the group goes
  // on, and counts while it runs.
  Task& yielder = *tasks_[2 * cpus_.size() - 1];
  ASSERT_TRUE(yielder.affinity().test(cpu));
  auto ctx = core_->task_context(yielder);
  ASSERT_TRUE(ctx) << ctx.error().message;
  core::EventAttr attr;
  attr.pmu = &tsc_;
  auto e = core_->create_event(attr);
  ASSERT_TRUE(e);
  ASSERT_EQ(core_->install(ctx->get(), *e), 0);
  events_.push_back(*e);
  uint64_t before = core_->read(*e).count;
  while (core_->read(*e).count == before) std::this_thread::sleep_for(100us);

  // An affinity change moves a yielding task (when there is another CPU to go to).
  if (cpus_.size() > 1) {
    const int other = cpus_.front();
    ASSERT_EQ(sched_->set_affinity(yielder, cpu::CpuSet::of({other})), 0);
    while (yielder.cpu() != other) std::this_thread::sleep_for(100us);
    before = core_->read(*e).count;
    while (core_->read(*e).count == before) std::this_thread::sleep_for(100us);
  }
  stop = true;
  join_all();
  EXPECT_EQ(core_->check_invariants(), "");
}

// Multiplexed groups of yielding tasks rotate at the default interval: every group of
// every task gets running time, whether its task's switches were direct or through the loop.
TEST_F(DirectSwitchTest, GroupsOfYieldingTasksRotate) {
  const uint64_t s = seed();
  tsc_.set_counters(1);
  std::atomic<bool> stop{false};
  spawn_yielders(2, 3, stop, s);
  auto all_ran = [&] {
    for (const auto& groups : per_task_) {
      for (core::Event* e : groups) {
        if (core_->read(e).time_running == 0) return false;
      }
    }
    return true;
  };
  while (!all_ran()) std::this_thread::sleep_for(1ms);
  stop = true;
  join_all();
  EXPECT_GT(core_->stats().rotations.load(), 0u);
  EXPECT_EQ(core_->check_invariants(), "");
}

}  // namespace
}  // namespace pctx::sched
