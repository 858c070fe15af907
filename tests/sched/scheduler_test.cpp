// The scheduler's task semantics: spawn, yield, sleep, block and wake, migration, affinity,
// placement, time slices, exit, and its errors.
#include <sched.h>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "cpu/runtime_fixture.hpp"
#include "pctx/sched/wait_queue.hpp"
#include "sched/cpu_theft.hpp"
#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;
using testing::spin_for;

class SchedulerTest : public testing::SchedTest {};

TEST_F(SchedulerTest, TasksRunOnCpuThreadsAndJoin) {
  std::atomic<int> ran{0};
  std::atomic<int> bad_cpu{0};
  for (int i = 0; i < 16; ++i) {
    spawn([&] {
      if (this_task::current() == nullptr || this_task::cpu() != sched_getcpu()) ++bad_cpu;
      ++ran;
    });
  }
  for (auto& t : tasks_) EXPECT_EQ(t->join(), 0);
  EXPECT_EQ(ran.load(), 16);
  EXPECT_EQ(bad_cpu.load(), 0) << "a task ran off its CPU thread's CPU";
  EXPECT_EQ(sched_->live_tasks(), 0u);
  for (auto& t : tasks_) EXPECT_EQ(t->state(), TaskState::kDead);
}

TEST_F(SchedulerTest, YieldAlternatesTasksOnOneCpu) {
  std::mutex m;
  std::vector<int> log;
  SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpus_.front()});
  // Each appends, then yields: with two runnable tasks on one CPU they alternate. Both
  // wait until the other is there first (a woken task may start before the other arrives).
  std::atomic<int> started{0};
  auto body = [&](int who) {
    started.fetch_add(1);
    while (started.load() < 2) this_task::yield();
    for (int i = 0; i < 5; ++i) {
      {
        std::lock_guard l(m);
        log.push_back(who);
      }
      this_task::yield();
    }
  };
  TaskRef x = spawn([&] { body(1); }, SpawnOptions{"x", o.affinity, 256 * 1024, false});
  TaskRef y = spawn([&] { body(2); }, SpawnOptions{"y", o.affinity, 256 * 1024, false});
  ASSERT_EQ(sched_->wake(*x), 0);
  ASSERT_EQ(sched_->wake(*y), 0);
  x->join();
  y->join();
  ASSERT_EQ(log.size(), 10u);
  for (size_t i = 1; i < log.size(); ++i) EXPECT_NE(log[i], log[i - 1]) << "at " << i;
}

TEST_F(SchedulerTest, SleepLetsOthersRunAndWakesOnTime) {
  SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpus_.front()});
  std::atomic<bool> slept{false};
  std::atomic<int64_t> slept_ns{0};
  std::atomic<uint64_t> progress_while_asleep{0};
  std::atomic<uint64_t> spins{0};
  spawn(
      [&] {
        const auto t0 = std::chrono::steady_clock::now();
        const uint64_t before = spins.load();
        this_task::sleep_for(20ms);
        progress_while_asleep = spins.load() - before;
        slept_ns = (std::chrono::steady_clock::now() - t0).count();
        slept = true;
      },
      o);
  spawn(
      [&] {
        while (!slept.load()) {
          ++spins;
          this_task::yield();
        }
      },
      o);
  for (auto& t : tasks_) t->join();
  EXPECT_GE(slept_ns.load(), 20'000'000);
  EXPECT_LT(slept_ns.load(), 500'000'000);
  EXPECT_GT(progress_while_asleep.load(), 0u) << "the other task did not run meanwhile";
}

TEST_F(SchedulerTest, SleepingOnAnIdleCpuWakesTheThread) {
  std::atomic<int64_t> slept_ns{0};
  spawn([&] {
    const auto t0 = std::chrono::steady_clock::now();
    this_task::sleep_for(5ms);
    slept_ns = (std::chrono::steady_clock::now() - t0).count();
  });
  tasks_.back()->join();
  EXPECT_GE(slept_ns.load(), 5'000'000);
  EXPECT_LT(slept_ns.load(), 200'000'000);
}

TEST_F(SchedulerTest, WaitQueuePingPongAcrossCpus) {
  if (cpus_.size() < 2) GTEST_SKIP() << "needs two online CPUs";
  WaitQueue wq[2];
  std::atomic<int> turn{0};
  constexpr int kRounds = 2000;
  std::atomic<int> wrong_cpu{0};
  auto player = [&](int me) {
    for (int i = 0; i < kRounds; ++i) {
      wq[me].wait([&] { return turn.load() % 2 == me; });
      if (this_task::cpu() != cpus_[static_cast<size_t>(me)]) ++wrong_cpu;
      turn.fetch_add(1);
      wq[1 - me].wake_all();
    }
  };
  SpawnOptions a, b;
  a.affinity = cpu::CpuSet::of({cpus_[0]});
  b.affinity = cpu::CpuSet::of({cpus_[1]});
  spawn([&] { player(0); }, a);
  spawn([&] { player(1); }, b);
  for (auto& t : tasks_) t->join();
  EXPECT_EQ(turn.load(), 2 * kRounds);
  EXPECT_EQ(wrong_cpu.load(), 0);
}

TEST_F(SchedulerTest, AThreadWakesABlockedTask) {
  WaitQueue wq;
  std::atomic<bool> go{false};
  std::atomic<bool> done{false};
  spawn([&] {
    wq.wait([&] { return go.load(); });
    done = true;
  });
  std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(done.load());
  EXPECT_EQ(tasks_.back()->state(), TaskState::kBlocked);
  go = true;
  EXPECT_EQ(wq.wake_all(), 1);
  tasks_.back()->join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(wq.wait([] { return true; }), -EPERM) << "a thread cannot block on a wait queue";
}

TEST_F(SchedulerTest, MigrateToMovesTheTask) {
  std::vector<int> seen;
  spawn([&] {
    for (int round = 0; round < 3; ++round) {
      for (int c : cpus_) {
        if (this_task::migrate_to(c) != 0) return;
        seen.push_back(sched_getcpu());
      }
    }
  });
  tasks_.back()->join();
  ASSERT_EQ(seen.size(), 3 * cpus_.size());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], cpus_[i % cpus_.size()]);
  if (cpus_.size() > 1) {
    EXPECT_GE(tasks_.back()->migrations(), 5u);
  }
}

TEST_F(SchedulerTest, SetAffinityMovesARunningTask) {
  if (cpus_.size() < 2) GTEST_SKIP() << "needs two online CPUs";
  SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpus_[0]});
  std::atomic<bool> stop{false};
  std::atomic<int> where{-1};
  TaskRef t = spawn(
      [&] {
        while (!stop.load()) {
          where = sched_getcpu();
          this_task::cond_resched();
        }
      },
      o);
  ASSERT_TRUE(cpu::testing::eventually([&] { return where.load() == cpus_[0]; }));
  ASSERT_EQ(sched_->set_affinity(*t, cpu::CpuSet::of({cpus_[1]})), 0);
  EXPECT_TRUE(cpu::testing::eventually([&] { return where.load() == cpus_[1]; }))
      << "the task kept running on cpu" << where.load();
  EXPECT_EQ(t->affinity(), cpu::CpuSet::of({cpus_[1]}));
  stop = true;
  join_all();
}

TEST_F(SchedulerTest, NewTasksSpreadOverAllowedCpus) {
  if (cpus_.size() < 2) GTEST_SKIP() << "needs two online CPUs";
  std::atomic<bool> stop{false};
  std::vector<std::atomic<int>> per_cpu(static_cast<size_t>(cpus_.back() + 1));
  for (int i = 0; i < 8; ++i) {
    spawn([&] {
      ++per_cpu[static_cast<size_t>(sched_getcpu())];
      while (!stop.load()) this_task::sleep_for(1ms);
    });
  }
  EXPECT_TRUE(cpu::testing::eventually([&] {
    int n = 0;
    for (auto& c : per_cpu) n += c.load();
    return n == 8;
  }));
  for (int c : cpus_)
    EXPECT_EQ(per_cpu[static_cast<size_t>(c)].load(), 8 / static_cast<int>(cpus_.size()));
  stop = true;
  join_all();
}

TEST_F(SchedulerTest, TimeSlicesShareACpuBetweenSpinners) {
  SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpus_.front()});
  for (int attempt = 0; attempt < testing::kAttempts; ++attempt) {
    testing::CpuTheft theft(*runtime_, {cpus_.front()});
    std::atomic<bool> stop{false};
    std::vector<TaskRef> two;
    for (int i = 0; i < 2; ++i) {
      two.push_back(spawn(
          [&] {
            while (!stop.load()) this_task::cond_resched();
          },
          o));
    }
    std::this_thread::sleep_for(200ms);
    stop = true;
    for (auto& t : two) t->join();
    if (theft.disturbed("time slices")) continue;
    const double a = static_cast<double>(two[0]->on_cpu_time().count());
    const double b = static_cast<double>(two[1]->on_cpu_time().count());
    EXPECT_GT(a / (a + b), 0.3);
    EXPECT_GT(b / (a + b), 0.3);
    // A 2 ms slice over 200 ms: tens of switches, not one per preemption point.
    EXPECT_GT(two[0]->switches(), 10u);
    EXPECT_LT(two[0]->switches(), 10'000u);
    return;
  }
  GTEST_SKIP() << testing::too_busy();
}

TEST_F(SchedulerTest, AnExceptionEndsOnlyItsTask) {
  spawn([] { throw std::runtime_error("boom"); });
  tasks_.back()->join();
  EXPECT_EQ(tasks_.back()->failure(), "boom");
  std::atomic<bool> ran{false};
  spawn([&] { ran = true; });
  tasks_.back()->join();
  EXPECT_TRUE(ran.load());
}

TEST_F(SchedulerTest, JoinFromATaskBlocksIt) {
  std::atomic<bool> child_done{false};
  std::atomic<bool> ok{false};
  spawn([&] {
    auto child = sched_->spawn([&] {
      this_task::sleep_for(5ms);
      child_done = true;
    });
    if (!child) return;
    (*child)->join();
    ok = child_done.load();
    EXPECT_EQ(this_task::current()->join(), -EDEADLK);
  });
  tasks_.back()->join();
  EXPECT_TRUE(ok.load());
}

TEST_F(SchedulerTest, Errors) {
  cpu::CpuSet foreign = cpu::CpuSet::of({cpu::CpuSet::kMaxCpus - 1});
  SpawnOptions o;
  o.affinity = foreign;
  auto t = sched_->spawn([] {}, o);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, -EINVAL);
  EXPECT_NE(t.error().message.find("no CPU of this runtime"), std::string::npos);
  auto again = Scheduler::start(*runtime_, core_.get());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, -EBUSY);
  EXPECT_EQ(this_task::migrate_to(0), -EPERM) << "not a task";
  TaskRef ok = spawn([] {});
  ok->join();
  EXPECT_EQ(sched_->wake(*ok), -EINVAL) << "a task is placed once";
}

}  // namespace
}  // namespace pctx::sched
