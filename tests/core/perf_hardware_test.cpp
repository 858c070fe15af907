// The perf hardware driver: its slot decisions and counter arithmetic are pure and tested
// everywhere; counting on real counters skips where there is no hardware PMU.
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
  std::unique_ptr<PerfHardwarePmu> hw_;
};

TEST_F(PerfHardwareTest, ATaskCountsCyclesAndInstructionsOnlyWhileCurrent) {
  auto spec = pmu::compile_spec("instructions:u");
  ASSERT_TRUE(spec);
  EventAttr attr;
  attr.pmu = hw_.get();
  attr.config = hw_->config_for((*spec)[0].events[0]);
  auto e = core_->create_event(attr);
  ASSERT_TRUE(e) << e.error().message;
  owned_.push_back(*e);
  Task& task = new_task();
  ASSERT_EQ(core_->install(task_ctx(task), *e), 0);
  on_cpu(cpu_, [&] {
    core_->sched_in(&task);
    volatile uint64_t sink = 0;
    for (int i = 0; i < 1'000'000; ++i) sink = sink + 1;
    core_->sched_out(&task, nullptr);
  });
  const uint64_t counted = core_->read(*e).count;
  EXPECT_GT(counted, 2'000'000u) << "a million loop iterations retire millions of instructions";
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(core_->read(*e).count, counted) << "nothing while the task is out";
  EXPECT_GE(hw_->reprograms(), 1u);
}

}  // namespace
}  // namespace pctx::core
