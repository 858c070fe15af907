// Hotplug steps run by stage, whatever the order in which they were registered: bringup
// from the first stage up, teardown from the last down, one step per stage. No CPU goes
// down here: the steps are run as Hotplug runs them (hotplug_steps.hpp).
#include "cpu/hotplug_steps.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string>
#include <vector>

#include "pctx/cpu/hotplug.hpp"

namespace pctx::cpu {
namespace {

constexpr std::array<HotplugStage, 4> kStages = {HotplugStage::kCpuThread, HotplugStage::kPerfCore,
                                                 HotplugStage::kScheduler,
                                                 HotplugStage::kApplication};

// A step that writes "+name" at bringup and "-name" at teardown.
HotplugStep recording(HotplugStage stage, std::vector<std::string>& log, int fail_up = 0) {
  const std::string name = to_string(stage);
  return {stage, name,
          [&log, name, fail_up](int) {
            log.push_back("+" + name);
            return fail_up;
          },
          [&log, name](int) {
            log.push_back("-" + name);
            return 0;
          }};
}

TEST(HotplugSteps, RunInStageOrderWhateverTheRegistrationOrder) {
  const std::vector<std::string> up = {"+cpu-thread", "+perf-core", "+scheduler", "+application"};
  const std::vector<std::string> down = {"-application", "-scheduler", "-perf-core", "-cpu-thread"};
  std::array<int, 4> order = {0, 1, 2, 3};
  int permutations = 0;
  do {
    std::vector<std::string> log;
    std::vector<HotplugStep> steps;
    for (int i : order) {
      ASSERT_TRUE(internal::insert_step(steps, recording(kStages[static_cast<size_t>(i)], log)));
    }
    size_t done = 0;
    ASSERT_EQ(internal::bring_up(steps, 1, &done), 0);
    EXPECT_EQ(done, steps.size());
    EXPECT_EQ(log, up) << "registered in order " << order[0] << order[1] << order[2] << order[3];
    log.clear();
    internal::tear_down(steps, 1, steps.size());
    EXPECT_EQ(log, down) << "registered in order " << order[0] << order[1] << order[2] << order[3];
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 24);
}

TEST(HotplugSteps, AFailedBringupUndoesTheStagesBelowIt) {
  std::vector<std::string> log;
  std::vector<HotplugStep> steps;
  ASSERT_TRUE(internal::insert_step(steps, recording(HotplugStage::kApplication, log)));
  ASSERT_TRUE(internal::insert_step(steps, recording(HotplugStage::kScheduler, log, -EIO)));
  ASSERT_TRUE(internal::insert_step(steps, recording(HotplugStage::kCpuThread, log)));
  ASSERT_TRUE(internal::insert_step(steps, recording(HotplugStage::kPerfCore, log)));
  size_t done = 0;
  EXPECT_EQ(internal::bring_up(steps, 1, &done), -EIO);
  EXPECT_EQ(steps[done].stage, HotplugStage::kScheduler) << "done names the failed step";
  internal::tear_down(steps, 1, done);
  const std::vector<std::string> want = {"+cpu-thread", "+perf-core", "+scheduler", "-perf-core",
                                         "-cpu-thread"};
  EXPECT_EQ(log, want);
}

TEST(HotplugSteps, OneStepPerStage) {
  std::vector<std::string> log;
  std::vector<HotplugStep> steps;
  ASSERT_TRUE(internal::insert_step(steps, recording(HotplugStage::kPerfCore, log)));
  auto again = internal::insert_step(steps, {HotplugStage::kPerfCore, "another-core", {}, {}});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, -EEXIST);
  for (const char* word : {"perf-core", "another-core", "one step per stage"}) {
    EXPECT_NE(again.error().message.find(word), std::string::npos) << again.error().message;
  }
  ASSERT_EQ(steps.size(), 1u) << "nothing added";
  EXPECT_EQ(steps[0].name, "perf-core");
}

// The same through Hotplug's own API (no CPU changes: only registration).
TEST(HotplugSteps, HotplugKeepsItsStepsByStage) {
  HotplugOptions options;
  options.restore_on_exit = false;
  options.journal = ::testing::TempDir() + "hotplug_steps.journal";
  Hotplug hp(options);
  auto nothing = [](int) { return 0; };
  ASSERT_TRUE(hp.add_step({HotplugStage::kScheduler, "sched", nothing, nothing}));
  ASSERT_TRUE(hp.add_step({HotplugStage::kApplication, "app", nothing, nothing}));
  ASSERT_TRUE(hp.add_step({HotplugStage::kCpuThread, "cpu-thread", nothing, nothing}));
  EXPECT_EQ(hp.add_step({HotplugStage::kScheduler, "sched2", nothing, nothing}).error().code,
            -EEXIST);
  const std::vector<HotplugStage> want = {HotplugStage::kCpuThread, HotplugStage::kScheduler,
                                          HotplugStage::kApplication};
  EXPECT_EQ(hp.stages(), want);
  hp.remove_step(HotplugStage::kScheduler);
  ASSERT_TRUE(hp.add_step({HotplugStage::kScheduler, "sched2", nothing, nothing}))
      << "a removed stage takes a step again";
  EXPECT_EQ(hp.stages(), want);
}

}  // namespace
}  // namespace pctx::cpu
