// The lock validator with tasks: a task that switches away holding a lock is reported (a
// lock belongs to its thread, and the task may resume on another), and tasks counting
// events, with the core's installs, reads, rotation and removals under them, report
// nothing.
#include <gtest/gtest.h>

#include <atomic>

#include "base/report_log.hpp"
#include "pctx/base/mutex.hpp"
#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using base::lock_validator::Blocking;
using base::lock_validator::ReportKind;
using base::testing::ReportLog;

class LockValidatorSchedTest : public testing::SchedTest {
 protected:
  void SetUp() override {
    PCTX_REQUIRE_LOCK_VALIDATOR();
    SchedTest::SetUp();
  }
};

TEST_F(LockValidatorSchedTest, ATaskSwitchingAwayHoldingALockIsReported) {
  ReportLog log;
  base::Mutex mutex("test.task_switch.mutex");
  SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpus_.back()});  // resumed on the same thread: no real harm
  TaskRef t = spawn(
      [&] {
        base::MutexLock hold(mutex);
        this_task::yield();
      },
      o);
  ASSERT_EQ(t->join(), 0);
  // Stacks: where the task took it, and the switch.
  log.expect_one(ReportKind::kLockHeldAcrossSwitch, Blocking::kTaskSwitch,
                 "test.task_switch.mutex");
}

TEST_F(LockValidatorSchedTest, CountingTasksReportNothing) {
  ReportLog log;
  std::atomic<bool> stop{false};
  std::vector<core::Event*> events;
  // More groups than counters: the core multiplexes, by rotation timers (handlers) and
  // at sched-in, while tasks yield, sleep and move between CPUs.
  for (int i = 0; i < 4; ++i) {
    spawn_counted(
        [&, i] {
          while (!stop.load()) {
            testing::spin_for(std::chrono::microseconds(200));
            if (i % 2 == 0) this_task::yield();
            if (i == 1) this_task::sleep_for(std::chrono::microseconds(100));
            if (i == 3) this_task::migrate_to(cpus_[static_cast<size_t>(i) % cpus_.size()]);
          }
        },
        3, &events);
  }
  for (int round = 0; round < 20; ++round) {
    for (core::Event* e : events) (void)core_->read(e);  // cross-calls to where they count
    this_task::sleep_for(std::chrono::milliseconds(2));
  }
  stop = true;
  join_all();
  EXPECT_TRUE(log.all().empty()) << log.text();
}

}  // namespace
}  // namespace pctx::sched
