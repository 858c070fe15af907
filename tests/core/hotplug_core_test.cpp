// The core under real CPU hotplug (root and a hotpluggable CPU, else skipped).
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "core/core_fixture.hpp"
#include "cpu/runtime_fixture.hpp"
#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/sysfs.hpp"

namespace pctx::core {
namespace {

using namespace std::chrono_literals;

class CoreHotplugTest : public testing::CoreTest {
 protected:
  void SetUp() override {
    std::string why;
    victim_ = cpu::testing::hotplug_victim(&why);
    if (victim_ < 0) GTEST_SKIP() << why;
    CoreTest::SetUp();
    survivor_ = (runtime_->running_cpus() - cpu::CpuSet::of({victim_})).first();
    ASSERT_GE(survivor_, 0);
  }
  void TearDown() override {
    if (runtime_ && !cpu::cpu_is_online(victim_)) (void)runtime_->hotplug().cpu_up(victim_);
    CoreTest::TearDown();
    cpu::testing::bring_every_cpu_online();
  }
  int victim_ = -1, survivor_ = -1;
};

TEST_F(CoreHotplugTest, InstallIntoATaskWhoseCpuWentOfflineDoesNotWait) {
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  switch_in(victim_, &task);
  ASSERT_TRUE(runtime_->hotplug().cpu_down(victim_));
  EXPECT_EQ(task.oncpu.load(), -1) << "no task is current on an offline CPU";
  Event* e = group(1);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(core_->install(tctx, e), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "install waited for the CPU";
  EXPECT_EQ(e->peek_state(), EventState::kInactive);
  // The scheduler places the task on a CPU that is up; it counts there.
  switch_in(survivor_, &task);
  EXPECT_TRUE(active(e));
  std::this_thread::sleep_for(2ms);
  EXPECT_GT(core_->read(e).count, 0u);
  switch_out(survivor_, &task);
  ASSERT_TRUE(runtime_->hotplug().cpu_up(victim_));
  EXPECT_EQ(e->peek_state(), EventState::kInactive)
      << "the CPU's return does not run the task there";
}

TEST_F(CoreHotplugTest, PerCpuEventsSurviveHotplug) {
  Event* e = group(1);
  ASSERT_EQ(core_->install(core_->cpu_context(victim_), e), 0);
  ASSERT_TRUE(active(e));
  std::this_thread::sleep_for(2ms);
  ASSERT_TRUE(runtime_->hotplug().cpu_down(victim_));
  const Reading down = core_->read(e);
  EXPECT_EQ(down.state, EventState::kInactive);
  std::this_thread::sleep_for(5ms);
  const Reading still = core_->read(e);
  EXPECT_EQ(still.count, down.count) << "nothing counts on an offline CPU";
  EXPECT_EQ(still.time_enabled, down.time_enabled) << "its context's clock stops";
  ASSERT_TRUE(runtime_->hotplug().cpu_up(victim_));
  EXPECT_TRUE(active(e)) << "back on with its CPU, no re-open needed";
  std::this_thread::sleep_for(2ms);
  const Reading back = core_->read(e);
  EXPECT_GT(back.count, still.count);
  EXPECT_GT(back.time_running, still.time_running);
  EXPECT_EQ(core_->check_invariants(), "");
}

}  // namespace
}  // namespace pctx::core
