// Hardware counters: written for bare metal, skipped with the reason where there is no PMU.
#include <gtest/gtest.h>

#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/counter_group.hpp"

namespace pctx::pmu {
namespace {

class HardwareCounters : public testing::Test {
 protected:
  void SetUp() override {
    caps_ = probe_capabilities();
    if (!caps_.hardware_pmu) GTEST_SKIP() << caps_.hardware_pmu_reason;
  }
  Capabilities caps_;
};

uint64_t spin(uint64_t n) {
  volatile uint64_t sink = 0;
  for (uint64_t i = 0; i < n; ++i) sink = sink + i;
  return sink;
}

TEST_F(HardwareCounters, CyclesAndInstructionsCountAGroup) {
  auto spec = compile_spec("{cycles:u,instructions:u}");
  ASSERT_TRUE(spec) << spec.error().message;
  auto g = CounterGroup::open((*spec)[0], Target::this_thread());
  ASSERT_TRUE(g) << g.error().message;
  auto before = g->read();
  spin(10'000'000);
  auto after = g->read();
  ASSERT_TRUE(before && after);
  EXPECT_GT(after->values[0] - before->values[0], 10'000'000u) << "cycles";
  // Each iteration retires at least three instructions (load, add, store) plus the loop.
  EXPECT_GT(after->values[1] - before->values[1], 30'000'000u) << "instructions";
}

TEST_F(HardwareCounters, RdpmcAgreesWithRead) {
  if (!caps_.rdpmc) GTEST_SKIP() << caps_.rdpmc_reason;
  auto spec = compile_spec("instructions:u");
  ASSERT_TRUE(spec);
  auto g = CounterGroup::open((*spec)[0], Target::this_thread(), OpenOptions{.map_pages = true});
  ASSERT_TRUE(g) << g.error().message;
  spin(1'000'000);
  const auto slow1 = g->read();
  const auto fast = fast_read(g->page(0));
  const auto slow2 = g->read();
  ASSERT_TRUE(fast.valid) << "the event is on a counter while this thread runs";
  EXPECT_LE(slow1->values[0], fast.value);
  EXPECT_LE(fast.value, slow2->values[0]);
  EXPECT_GE(fast.enabled, fast.running);
}

TEST_F(HardwareCounters, AGroupLargerThanThePmuIsRefused) {
  if (caps_.available_core_counters() <= 0) GTEST_SKIP() << "core counter count unknown";
  std::string spec = "{";
  for (int i = 0; i <= caps_.available_core_counters() + 2; ++i) spec += "cycles:u,";
  spec.back() = '}';
  auto compiled = compile_spec(spec, caps_.available_core_counters());
  ASSERT_FALSE(compiled);
  EXPECT_NE(compiled.error().message.find("hardware events but the cpu PMU has"),
            std::string::npos);
}

}  // namespace
}  // namespace pctx::pmu
