// What a user observes of the kernel's semantics: time across reschedules, exclusive
// groups, exit, siblings' enable and disable, rotation interval changes, CPU filters, the
// CPU's flexible groups at a task switch, and group reads. Each case is worked by hand.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/core_fixture.hpp"

namespace pctx::core {
namespace {

using namespace std::chrono_literals;
using testing::CoreTest;

// Invariant 7 and the frozen clock: groups that stay on through install, remove,
// enable, disable and rotation reschedules keep running == enabled, to the nanosecond.
TEST_F(CoreTest, ReschedulesLoseNoRunningTime) {
  Task& task = new_task();
  switch_in(cpu_, &task);
  Context* tctx = task_ctx(task);
  Context* cpu_ctx = core_->cpu_context(cpu_);
  Event* task_ref = group(1);       // flexible: every flexible reschedule takes it off
  Event* cpu_ref = group(1, true);  // pinned: a pinned CPU install takes it off
  ASSERT_EQ(core_->install(tctx, task_ref), 0);
  ASSERT_EQ(core_->install(cpu_ctx, cpu_ref), 0);
  Event* toggled = group(1);
  ASSERT_EQ(core_->install(tctx, toggled), 0);
  for (int i = 0; i < 200; ++i) {
    Event* extra = group(1, i % 2 == 0, i % 3 == 0 ? &soft_ : nullptr);
    ASSERT_EQ(core_->install(i % 4 == 0 ? cpu_ctx : tctx, extra), 0);
    ASSERT_EQ(core_->remove(extra), 0);
    ASSERT_EQ(core_->disable(toggled), 0);
    ASSERT_EQ(core_->enable(toggled), 0);
    ASSERT_EQ(core_->reset(toggled), 0);
    ASSERT_EQ(core_->rotate(cpu_), 0);
  }
  for (Event* e : {task_ref, cpu_ref}) {
    ASSERT_TRUE(active(e));
    const Reading r = core_->read(e);
    EXPECT_GT(r.time_running, 0u);
    EXPECT_EQ(r.time_enabled, r.time_running)
        << "never multiplexed, yet " << (r.time_enabled - r.time_running)
        << " ns were lost around reschedules";
  }
}

// Since 5.11 (commit 1908dc91) an exclusive group is refused only while groups of the same
// kind of its own PMU context are on.
TEST_F(CoreTest, AnExclusiveTaskGroupGoesOnBesideCpuEvents) {
  Task& task = new_task();
  switch_in(cpu_, &task);
  Event* cpu_pinned = group(1, true);
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), cpu_pinned), 0);
  EventAttr attr;
  attr.pmu = &tsc_;
  attr.exclusive = true;
  Event* excl = *core_->create_event(attr);
  owned_.push_back(excl);
  ASSERT_EQ(core_->install(task_ctx(task), excl), 0);
  EXPECT_TRUE(active(cpu_pinned));
  EXPECT_TRUE(active(excl)) << "one CPU event in use, 3 counters free: the exclusive group fits";
  Event* after = group(1);
  ASSERT_EQ(core_->install(task_ctx(task), after), 0);
  EXPECT_EQ(after->peek_state(), EventState::kInactive)
      << "nothing goes on beside an exclusive group";
  // With a flexible group of its own context on first, the exclusive group waits.
  ASSERT_EQ(core_->remove(excl), 0);
  ASSERT_EQ(core_->rotate(cpu_), 0);  // as in the kernel, a removal leaves room until then
  ASSERT_TRUE(active(after));
  ASSERT_EQ(core_->install(task_ctx(task), excl), 0);
  EXPECT_EQ(excl->peek_state(), EventState::kInactive);
}

// Pinned and exclusive beside the CPU's pinned event: today's kernel checks only the
// task's own pinned groups, so it goes on, and then keeps everything after it off.
TEST_F(CoreTest, APinnedExclusiveGroupGoesOnBesideACpuPinnedEvent) {
  Task& task = new_task();
  switch_in(cpu_, &task);
  Event* cpu_pinned = group(1, true);
  Event* cpu_flexible = group(1);
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), cpu_pinned), 0);
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), cpu_flexible), 0);
  EventAttr attr;
  attr.pmu = &tsc_;
  attr.pinned = true;
  attr.exclusive = true;
  Event* excl = *core_->create_event(attr);
  owned_.push_back(excl);
  ASSERT_EQ(core_->install(task_ctx(task), excl), 0);
  EXPECT_TRUE(active(cpu_pinned));
  EXPECT_TRUE(active(excl));
  EXPECT_EQ(cpu_flexible->peek_state(), EventState::kInactive) << "the CPU's flexible group waits";
}

TEST_F(CoreTest, AnExitedTaskTakesNoContextAndNoInstall) {
  Task& task = new_task();
  ContextRef ref = *core_->task_context(task);
  core_->exit_task(task);
  auto again = core_->task_context(task);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.code(), -ESRCH);
  Event* e = group(1);
  EXPECT_EQ(core_->install(ref.get(), e), -ESRCH);
  EXPECT_EQ(e->ctx, nullptr);
  Task& never = new_task();  // exits before anyone asked for its context
  core_->exit_task(never);
  EXPECT_EQ(core_->task_context(never).code(), -ESRCH);
}

// The owning reference makes an attacher racing the exit safe: ASan checks that nothing
// touches a freed context, and every install either lands before the exit or is -ESRCH.
TEST_F(CoreTest, ExitRacesAttachers) {
  constexpr int kRounds = 300;
  for (int round = 0; round < kRounds; ++round) {
    Task& task = new_task();  // lives as long as the fixture
    const bool running = round % 2 == 0;
    if (running) switch_in(cpu_, &task);
    Event* e = group(1);
    std::atomic<int> result{1};
    std::thread attacher([&] {
      auto ref = core_->task_context(task);
      if (!ref) {
        result = ref.code();
        return;
      }
      result = core_->install(ref->get(), e);
    });
    core_->exit_task(task);
    attacher.join();
    if (running) switch_out(cpu_, &task);
    ASSERT_TRUE(result == 0 || result == -ESRCH) << result;
    if (result == 0) {
      EXPECT_EQ(e->peek_state(), EventState::kExit)
          << "an install before the exit is exited with it";
    } else {
      EXPECT_EQ(e->ctx, nullptr);
    }
  }
  // The fixture exits its tasks again at teardown: a second exit is harmless.
}

TEST_F(CoreTest, SiblingsDisableAndEnableLikeTheirFileDescriptors) {
  Context* ctx = core_->cpu_context(cpu_);
  Event* g = group(3);
  Event* s1 = g->siblings[0];
  ASSERT_EQ(core_->install(ctx, g), 0);
  ASSERT_TRUE(active(s1));
  ASSERT_EQ(core_->disable(s1), 0);
  EXPECT_EQ(s1->peek_state(), EventState::kOff);
  EXPECT_TRUE(active(g)) << "the group goes on counting";
  EXPECT_TRUE(active(g->siblings[1]));
  const uint64_t frozen = core_->read(s1).count;
  std::this_thread::sleep_for(1ms);
  EXPECT_EQ(core_->read(s1).count, frozen) << "a disabled sibling does not count";
  ASSERT_EQ(core_->enable(s1), 0);
  EXPECT_TRUE(active(s1));
  std::this_thread::sleep_for(1ms);
  EXPECT_GT(core_->read(s1).count, frozen);

  // A sibling created disabled starts Off and can be enabled; the group then needs one
  // more counter, and goes on all or nothing.
  EventAttr attr;
  attr.pmu = &tsc_;
  Event* leader = *core_->create_event(attr);
  owned_.push_back(leader);
  attr.disabled = true;
  Event* late = *core_->create_event(attr, leader);
  ASSERT_EQ(core_->install(ctx, leader), 0);  // 3 + 1 counters in use
  EXPECT_TRUE(active(leader));
  EXPECT_EQ(late->peek_state(), EventState::kOff);
  ASSERT_EQ(core_->enable(late), 0);
  // The reschedule puts the first group on (3), then the second needs 2: it waits.
  EXPECT_TRUE(active(g));
  EXPECT_EQ(leader->peek_state(), EventState::kInactive);
  EXPECT_EQ(late->peek_state(), EventState::kInactive);
  ASSERT_EQ(core_->disable(g), 0);
  ASSERT_EQ(core_->rotate(cpu_), 0);
  EXPECT_TRUE(active(leader));
  EXPECT_TRUE(active(late));
}

TEST_F(CoreTest, RotationIntervalChangesApplyAtOnce) {
  core_->set_rotation_interval(1h);
  Context* ctx = core_->cpu_context(cpu_);
  for (int i = 0; i < 6; ++i) ASSERT_EQ(core_->install(ctx, group(1)), 0);
  auto rotations = [&] { return core_->stats().rotations.load(); };
  std::this_thread::sleep_for(20ms);
  const uint64_t before = rotations();
  EXPECT_EQ(before, 0u) << "an hour's interval: no rotation yet";
  core_->set_rotation_interval(1ms);
  // Under an hour's timer this would never happen; the bound is only against a hang.
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (rotations() < before + 10 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GE(rotations() - before, 10u) << "the armed timer took the new interval";
  core_->set_rotation_interval(1h);
  const uint64_t slowed = rotations();
  std::this_thread::sleep_for(30ms);
  EXPECT_LE(rotations() - slowed, 1u) << "and back";
}

TEST_F(CoreTest, CpuFiltersAreValidated) {
  EventAttr attr;
  attr.pmu = &tsc_;
  attr.cpu = 4096;
  auto impossible = core_->create_event(attr);
  ASSERT_FALSE(impossible);
  EXPECT_EQ(impossible.code(), -EINVAL);
  EXPECT_NE(impossible.error().message.find("CPU 4096"), std::string::npos);
  attr.cpu = cpu_;
  Event* leader = *core_->create_event(attr);
  owned_.push_back(leader);
  EventAttr sib;
  sib.pmu = &tsc_;
  sib.cpu = -1;
  auto mismatched = core_->create_event(sib, leader);
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.code(), -EINVAL);
  if (other_ != cpu_) {
    EXPECT_EQ(core_->install(core_->cpu_context(other_), leader), -EINVAL)
        << "an event filtered to one CPU cannot go into another CPU's context";
  }
  EXPECT_EQ(core_->install(core_->cpu_context(cpu_), leader), 0);
}

// The kernel flips the CPU's flexible groups at a task's sched-in only when the task has
// pinned groups (to keep the order CPU pinned, task pinned, CPU flexible, task flexible).
TEST_F(CoreTest, TheCpusFlexibleGroupsStayOnForTasksWithoutPinnedGroups) {
  Event* cpu_flex = group(1);
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), cpu_flex), 0);
  ASSERT_TRUE(active(cpu_flex));
  Task& plain = new_task();
  ASSERT_EQ(core_->install(task_ctx(plain), group(1)), 0);
  Task& pinned = new_task();
  ASSERT_EQ(core_->install(task_ctx(pinned), group(1, true)), 0);
  // hw_prev is the counter's baseline, set when the event is added; nothing reads it here.
  auto hw_prev = [&] {
    cpu::IrqSpinLockGuard l(cpu_flex->ctx->lock);
    return cpu_flex->hw_prev;
  };
  const uint64_t base = hw_prev();
  switch_in(cpu_, &plain);
  switch_out(cpu_, &plain);
  EXPECT_EQ(hw_prev(), base) << "a task without pinned groups left it alone";
  switch_in(cpu_, &pinned);
  EXPECT_NE(hw_prev(), base) << "a task with a pinned group flipped it";
  EXPECT_TRUE(active(cpu_flex));
  switch_out(cpu_, &pinned);
}

void expect_one_instant(const GroupReading& g, size_t members) {
  ASSERT_EQ(g.counts.size(), members);
  ASSERT_EQ(g.states.size(), members);
  EXPECT_EQ(g.time_enabled, g.time_running) << "never multiplexed";
  EXPECT_GT(g.time_running, 0u);
  for (size_t i = 0; i < members; ++i) EXPECT_GT(g.counts[i], 0u) << i;
}

TEST_F(CoreTest, AGroupReadsAtOneInstantLocallyAndRemotely) {
  EventAttr attr;
  attr.pmu = &tsc_;
  Event* leader = *core_->create_event(attr);
  owned_.push_back(leader);
  (void)*core_->create_event(attr, leader);
  EventAttr soft;
  soft.pmu = &soft_;
  (void)*core_->create_event(soft, leader);
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), leader), 0);
  std::this_thread::sleep_for(1ms);
  const uint64_t remote_before = core_->stats().remote_reads.load();
  const GroupReading remote = core_->read_group(leader);
  expect_one_instant(remote, 3);
  EXPECT_GT(core_->stats().remote_reads.load(), remote_before) << "read where it counts";
  GroupReading local;
  on_cpu(cpu_, [&] { local = core_->read_group(leader); });
  expect_one_instant(local, 3);
  EXPECT_GE(local.time_enabled, remote.time_enabled);
  for (size_t i = 0; i < 3; ++i) EXPECT_GE(local.counts[i], remote.counts[i]) << i;
  // A disabled member keeps its count and says Off; the group's times are the leader's.
  ASSERT_EQ(core_->disable(leader->siblings[0]), 0);
  const GroupReading partial = core_->read_group(leader);
  EXPECT_EQ(partial.states[1], EventState::kOff);
  EXPECT_EQ(partial.states[0], EventState::kActive);
  EXPECT_EQ(partial.time_enabled, partial.time_running);
  // From a sibling, as from a sibling's fd: the whole group.
  const GroupReading via_sibling = core_->read_group(leader->siblings[1]);
  ASSERT_EQ(via_sibling.counts.size(), 3u);
  EXPECT_GE(via_sibling.counts[0], partial.counts[0]);
  EXPECT_EQ(via_sibling.counts[1], partial.counts[1]) << "the disabled member stays as it was";
}

}  // namespace
}  // namespace pctx::core
