// Scheduling semantics on the tsc PMU with 4 counters. Each expected Active set is worked
// out by hand in the test.
#include <gtest/gtest.h>

#include <thread>

#include "core/core_fixture.hpp"
#include "pctx/pmu/scale.hpp"

namespace pctx::core {
namespace {

using namespace std::chrono_literals;
using testing::CoreTest;

TEST_F(CoreTest, SchedInOrderGivesTheExactActiveSet) {
  Task& task = new_task();
  switch_in(cpu_, &task);
  Context* cpu_ctx = core_->cpu_context(cpu_);
  Context* tctx = task_ctx(task);
  Event* cpu_pinned1 = group(1, true);
  Event* task_pinned2 = group(2, true);
  Event* cpu_flex1 = group(1);
  Event* cpu_flex2 = group(2);
  Event* task_flex1 = group(1);
  Event* task_flex3 = group(3);
  ASSERT_EQ(core_->install(cpu_ctx, cpu_pinned1), 0);
  ASSERT_EQ(core_->install(tctx, task_pinned2), 0);
  ASSERT_EQ(core_->install(cpu_ctx, cpu_flex1), 0);
  ASSERT_EQ(core_->install(cpu_ctx, cpu_flex2), 0);
  ASSERT_EQ(core_->install(tctx, task_flex1), 0);
  ASSERT_EQ(core_->install(tctx, task_flex3), 0);
  // A full switch out and in, so the pass is the kernel's from scratch.
  switch_out(cpu_, &task);
  switch_in(cpu_, &task);
  // By hand, 4 counters: CPU pinned {1} -> 1 used; task pinned {2} -> 3; CPU flexible {1}
  // -> 4; CPU flexible {2} does not fit, and then nothing more of tsc goes on: task
  // flexible {1} stays off although it would fit nowhere anyway, {3} too.
  EXPECT_TRUE(active(cpu_pinned1));
  EXPECT_TRUE(active(task_pinned2));
  EXPECT_TRUE(active(task_pinned2->siblings[0]));
  EXPECT_TRUE(active(cpu_flex1));
  EXPECT_EQ(cpu_flex2->peek_state(), EventState::kInactive);
  EXPECT_EQ(task_flex1->peek_state(), EventState::kInactive);
  EXPECT_EQ(task_flex3->peek_state(), EventState::kInactive);
  EXPECT_EQ(core_->check_invariants({tctx}), "");
  switch_out(cpu_, &task);
  // With the task out, its events are off and its context stops.
  EXPECT_EQ(task_pinned2->peek_state(), EventState::kInactive);
  cpu::IrqSpinLockGuard l(tctx->lock);
  EXPECT_EQ(tctx->is_active, 0);
}

TEST_F(CoreTest, GroupsGoOnAllOrNothingAndStopThePass) {
  Context* ctx = core_->cpu_context(cpu_);
  Event* two = group(2);
  Event* three = group(3);
  Event* one = group(1);
  Event* soft = group(3, false, &soft_);
  ASSERT_EQ(core_->install(ctx, two), 0);
  ASSERT_EQ(core_->install(ctx, three), 0);
  ASSERT_EQ(core_->install(ctx, one), 0);
  ASSERT_EQ(core_->install(ctx, soft), 0);
  // {2} on (2 free left); {3} does not fit, so none of it goes on; {1} would fit but the
  // pass stopped at the first misfit; software groups always go on.
  EXPECT_TRUE(active(two));
  EXPECT_EQ(three->peek_state(), EventState::kInactive);
  for (Event* s : three->siblings) EXPECT_EQ(s->peek_state(), EventState::kInactive);
  EXPECT_EQ(one->peek_state(), EventState::kInactive);
  EXPECT_TRUE(active(soft));
  for (Event* s : soft->siblings) EXPECT_TRUE(active(s));
}

TEST_F(CoreTest, APinnedGroupThatCannotFitGoesToErrorUntilEnabled) {
  Task& task = new_task();
  switch_in(cpu_, &task);
  Event* blocker = group(3, true);
  Event* pinned = group(2, true);
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), blocker), 0);
  ASSERT_EQ(core_->install(task_ctx(task), pinned), 0);
  EXPECT_EQ(pinned->peek_state(), EventState::kError);
  std::this_thread::sleep_for(2ms);
  Reading r = core_->read(pinned);
  EXPECT_EQ(r.state, EventState::kError);
  EXPECT_EQ(r.time_running, 0u);
  EXPECT_FALSE(pmu::scale(r.count, r.time_enabled, r.time_running).counted)
      << "never ran: not counted, not zero";
  // It stays in Error across switches...
  switch_out(cpu_, &task);
  switch_in(cpu_, &task);
  EXPECT_EQ(pinned->peek_state(), EventState::kError);
  // ... until enabled again, with room for it.
  ASSERT_EQ(core_->remove(blocker), 0);
  ASSERT_EQ(core_->enable(pinned), 0);
  EXPECT_TRUE(active(pinned));
  EXPECT_TRUE(active(pinned->siblings[0]));
}

TEST_F(CoreTest, RotationSendsTheFirstFlexibleGroupToTheBack) {
  core_->set_rotation_interval(1h);  // rotations here are the test's own
  Context* ctx = core_->cpu_context(cpu_);
  std::vector<Event*> g;
  for (int i = 0; i < 6; ++i) {
    g.push_back(group(1));
    ASSERT_EQ(core_->install(ctx, g.back()), 0);
  }
  // g0..g3 on, g4 and g5 waiting.
  for (int i = 0; i < 6; ++i) EXPECT_EQ(active(g[static_cast<size_t>(i)]), i < 4) << i;
  ASSERT_EQ(core_->rotate(cpu_), 0);
  // Order now g1 g2 g3 g4 g5 g0: g1..g4 on.
  for (int i = 0; i < 6; ++i) EXPECT_EQ(active(g[static_cast<size_t>(i)]), i >= 1 && i <= 4) << i;
  ASSERT_EQ(core_->rotate(cpu_), 0);
  // g2 g3 g4 g5 g0 g1: g2..g5 on.
  for (int i = 0; i < 6; ++i) EXPECT_EQ(active(g[static_cast<size_t>(i)]), i >= 2) << i;
  ASSERT_EQ(core_->rotate(cpu_), 0);
  // g3 g4 g5 g0 g1 g2: g3, g4, g5, g0 on.
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(active(g[static_cast<size_t>(i)]), i == 0 || i >= 3) << i;
  }
}

TEST_F(CoreTest, MultiplexingGivesEveryGroupTimeAndHonestScaling) {
  core_->set_rotation_interval(1ms);
  Context* ctx = core_->cpu_context(cpu_);
  Event* reference = group(1, true);  // always on: the true value
  ASSERT_EQ(core_->install(ctx, reference), 0);
  std::vector<Event*> g;
  for (int i = 0; i < 6; ++i) {
    g.push_back(group(1));
    ASSERT_EQ(core_->install(ctx, g.back()), 0);
  }
  // Six groups on three free counters, rotated by the CPU's timer.
  std::vector<Reading> last(6);
  for (int round = 0; round < 30; ++round) {
    std::this_thread::sleep_for(10ms);
    for (size_t i = 0; i < 6; ++i) {
      Reading r = core_->read(g[i]);
      EXPECT_GE(r.time_enabled, r.time_running);
      EXPECT_GE(r.count, last[i].count) << "counts never decrease";
      EXPECT_GE(r.time_enabled, last[i].time_enabled) << "times never decrease";
      EXPECT_GE(r.time_running, last[i].time_running);
      last[i] = r;
    }
  }
  EXPECT_GT(core_->stats().rotations.load(), 20u);
  const Reading ref = core_->read(reference);
  ASSERT_EQ(ref.time_enabled, ref.time_running) << "the pinned reference never multiplexes";
  for (size_t i = 0; i < 6; ++i) {
    const Reading r = core_->read(g[i]);
    ASSERT_GT(r.time_running, 0u) << "group " << i << " never ran";
    EXPECT_LT(r.time_running, r.time_enabled) << "group " << i << " was never off";
    // The true value over this group's enabled time, from the reference's rate.
    const double truth = static_cast<double>(ref.count) * static_cast<double>(r.time_enabled) /
                         static_cast<double>(ref.time_enabled);
    const auto scaled = pmu::scale(r.count, r.time_enabled, r.time_running);
    EXPECT_NEAR(static_cast<double>(scaled.value) / truth, 1.0, 0.05)
        << "group " << i << " ran " << scaled.running_fraction * 100 << "% of the time";
  }
}

TEST_F(CoreTest, RemoveWhileActiveDisableEnableReset) {
  Context* ctx = core_->cpu_context(cpu_);
  Event* a = group(2);
  Event* b = group(3);
  ASSERT_EQ(core_->install(ctx, a), 0);
  ASSERT_EQ(core_->install(ctx, b), 0);
  EXPECT_TRUE(active(a));
  EXPECT_EQ(b->peek_state(), EventState::kInactive);
  // Removing the active group frees its counters for the other.
  ASSERT_EQ(core_->remove(a), 0);
  EXPECT_EQ(a->ctx, nullptr);
  EXPECT_EQ(a->peek_state(), EventState::kInactive);
  ASSERT_EQ(core_->rotate(cpu_), 0);
  EXPECT_TRUE(active(b));
  // Disable stops it and its siblings; enable brings them back.
  ASSERT_EQ(core_->disable(b), 0);
  EXPECT_EQ(b->peek_state(), EventState::kOff);
  for (EventState s : core_->read_group(b).states) EXPECT_EQ(s, EventState::kOff);
  const Reading off = core_->read(b);
  std::this_thread::sleep_for(2ms);
  const Reading still = core_->read(b);
  EXPECT_EQ(still.count, off.count) << "a disabled group does not count";
  EXPECT_EQ(still.time_enabled, off.time_enabled) << "nor accrue enabled time";
  ASSERT_EQ(core_->enable(b), 0);
  EXPECT_TRUE(active(b));
  std::this_thread::sleep_for(2ms);
  const Reading before = core_->read(b);
  EXPECT_GT(before.count, off.count);
  ASSERT_EQ(core_->reset(b), 0);
  const Reading after = core_->read(b);
  EXPECT_LT(after.count, before.count) << "reset clears the count";
  EXPECT_GE(after.time_enabled, before.time_enabled) << "but not the times";
  EXPECT_GE(after.time_running, before.time_running);
}

TEST_F(CoreTest, AReadOfAnEventActiveOnAnotherCpuIsFresh) {
  Event* e = group(1);
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), e), 0);
  ASSERT_TRUE(active(e));
  const uint64_t remote = core_->stats().remote_reads.load();
  const Reading first = core_->read(e);
  std::this_thread::sleep_for(1ms);
  const Reading second = core_->read(e);
  EXPECT_GT(second.count, first.count);
  EXPECT_GT(second.time_running, first.time_running);
  EXPECT_GE(core_->stats().remote_reads.load() - remote, 2u) << "read on its CPU";
}

TEST_F(CoreTest, BadGroupsAreRefused) {
  EventAttr tsc;
  tsc.pmu = &tsc_;
  Event* leader = group(4);
  auto fifth = core_->create_event(tsc, leader);
  ASSERT_FALSE(fifth);
  EXPECT_NE(fifth.error().message.find("too many events in the group"), std::string::npos);
  static TscPmu other_tsc(4);  // registered PMUs outlive the core
  core_->register_pmu(other_tsc);
  EventAttr mixed;
  mixed.pmu = &other_tsc;
  auto across = core_->create_event(mixed, group(1));
  ASSERT_FALSE(across);
  EXPECT_NE(across.error().message.find("one PMU with counters"), std::string::npos);
  EventAttr soft;
  soft.pmu = &soft_;
  EXPECT_TRUE(core_->create_event(soft, leader)) << "software events join any group";
  EventAttr pinned_sibling = tsc;
  pinned_sibling.pinned = true;
  EXPECT_FALSE(core_->create_event(pinned_sibling, group(1)));
  EventAttr unregistered;
  TscPmu stray;
  unregistered.pmu = &stray;
  EXPECT_FALSE(core_->create_event(unregistered));
}

}  // namespace
}  // namespace pctx::core
