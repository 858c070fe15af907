// The perf hardware driver: its slot decisions and counter arithmetic are pure and tested
// everywhere; counting on real counters skips where there is no hardware PMU.
#include "pctx/core/instant.hpp"
#include "pctx/core/perf_hardware_pmu.hpp"

#include <gtest/gtest.h>

#include "core/core_fixture.hpp"
#include "pctx/pmu/capabilities.hpp"

namespace pctx::core {
namespace {

TEST(SlotAllocator, BindsToAProgrammedSlotBeforeReprogramming) {
  SlotAllocator slots(3);
  auto a = slots.acquire(11);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->reprogram) << "a fresh slot must be programmed";
  slots.release(a->slot);
  auto again = slots.acquire(11);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->slot, a->slot);
  EXPECT_FALSE(again->reprogram) << "same encoding, free slot: no system call";
  auto other = slots.acquire(11);
  ASSERT_TRUE(other);
  EXPECT_NE(other->slot, a->slot) << "the programmed slot is busy: another one";
  EXPECT_TRUE(other->reprogram);
}

TEST(SlotAllocator, PrefersEmptySlotsThenTheLeastRecentlyUsed) {
  SlotAllocator slots(3);
  const int s11 = slots.acquire(11)->slot;
  const int s22 = slots.acquire(22)->slot;
  const int s33 = slots.acquire(33)->slot;
  EXPECT_EQ(slots.free(), 0);
  EXPECT_FALSE(slots.acquire(44)) << "every slot busy";
  slots.release(s22);
  slots.release(s11);
  slots.release(s33);
  // 44 is nowhere: the least recently used free slot (11's, acquired first) is taken.
  auto g = slots.acquire(44);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->slot, s11);
  EXPECT_TRUE(g->reprogram);
  EXPECT_EQ(slots.programmed(s11), 44u);
  EXPECT_EQ(slots.programmed(s22), 22u) << "other encodings stay programmed";
  auto keep = slots.acquire(33);
  ASSERT_TRUE(keep);
  EXPECT_EQ(keep->slot, s33);
  EXPECT_FALSE(keep->reprogram);
}

class PerfHardwareTest : public testing::CoreTest {
 protected:
  void SetUp() override {
    const auto caps = pmu::probe_capabilities();
    if (!caps.hardware_pmu) GTEST_SKIP() << caps.hardware_pmu_reason;
    CoreTest::SetUp();
    auto hw = PerfHardwarePmu::open(*runtime_, std::max(1, caps.available_core_counters()));
    ASSERT_TRUE(hw) << hw.error().message;
    hw_ = std::move(*hw);
    core_->register_pmu(*hw_);
  }
  // One event of a spec ("instructions:u"), owned by the fixture.
  Event* hw_event(const char* spec) {
    auto compiled = pmu::compile_spec(spec);
    EXPECT_TRUE(compiled) << compiled.error().message;
    if (!compiled) return nullptr;
    EventAttr attr;
    attr.pmu = hw_.get();
    attr.config = hw_->config_for((*compiled)[0].events[0]);
    auto e = core_->create_event(attr);
    EXPECT_TRUE(e) << e.error().message;
    if (!e) return nullptr;
    owned_.push_back(*e);
    return *e;
  }
  std::unique_ptr<PerfHardwarePmu> hw_;
};

TEST_F(PerfHardwareTest, ATaskCountsCyclesAndInstructionsOnlyWhileCurrent) {
  Event* e = hw_event("instructions:u");
  ASSERT_NE(e, nullptr);
  Task& task = new_task();
  ASSERT_EQ(core_->install(task_ctx(task), e), 0);
  on_cpu(cpu_, [&] {
    core_->sched_in(&task);
    volatile uint64_t sink = 0;
    for (int i = 0; i < 1'000'000; ++i) sink = sink + 1;
    core_->sched_out(&task, nullptr);
  });
  const uint64_t counted = core_->read(e).count;
  EXPECT_GT(counted, 2'000'000u) << "a million loop iterations retire millions of instructions";
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(core_->read(e).count, counted) << "nothing while the task is out";
  EXPECT_GE(hw_->reprograms(), 1u);
}

// Two tasks counting the same two events, switched at one instant each time: each counter
// is read once per switch (prev's del serves next's add), and nothing is re-programmed.
TEST_F(PerfHardwareTest, ATaskSwitchAtOneInstantReadsEachCounterOnce) {
  if (hw_->counters() < 2) GTEST_SKIP() << "needs two free counters";
  Task* tasks[2] = {&new_task(), &new_task()};
  for (Task* t : tasks) {
    for (const char* spec : {"cycles:u", "instructions:u"}) {
      Event* e = hw_event(spec);
      ASSERT_NE(e, nullptr);
      ASSERT_EQ(core_->install(task_ctx(*t), e), 0);
    }
  }
  switch_in(cpu_, tasks[0]);
  const uint64_t reads = hw_->counter_reads();
  const uint64_t reprograms = hw_->reprograms();
  constexpr int kSwitches = 20;
  on_cpu(cpu_, [&] {
    for (int i = 0; i < kSwitches; ++i) {
      const Instant at = take_instant();
      ASSERT_EQ(core_->sched_out(tasks[i % 2], tasks[(i + 1) % 2], at), 0);
      ASSERT_EQ(core_->sched_in(tasks[(i + 1) % 2], at), 0);
    }
  });
  EXPECT_EQ(hw_->counter_reads() - reads, 2u * kSwitches) << "one read per counter per switch";
  EXPECT_EQ(hw_->reprograms(), reprograms) << "the same encodings keep their slots";
}

}  // namespace
}  // namespace pctx::core
