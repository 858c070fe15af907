#include "pctx/pmu/scale.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace pctx::pmu {
namespace {

TEST(Scale, NotMultiplexed) {
  auto s = scale(1234, 1000, 1000);
  EXPECT_TRUE(s.counted);
  EXPECT_EQ(s.value, 1234u);
  EXPECT_DOUBLE_EQ(s.running_fraction, 1.0);
  EXPECT_FALSE(s.multiplexed());
}

TEST(Scale, HalfTheTime) {
  auto s = scale(100, 200, 100);
  EXPECT_EQ(s.value, 200u);
  EXPECT_DOUBLE_EQ(s.running_fraction, 0.5);
  EXPECT_TRUE(s.multiplexed());
  EXPECT_EQ(scale(10, 3, 2).value, 15u);
}

TEST(Scale, NeverRanIsNotCountedNotZeroNorHuge) {
  auto s = scale(0, 5000, 0);
  EXPECT_FALSE(s.counted);
  EXPECT_EQ(s.value, 0u);
  EXPECT_FALSE(s.multiplexed());
  EXPECT_FALSE(scale(0, 0, 0).counted);
}

TEST(Scale, NoOverflow) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(scale(kMax / 2, 4, 2).value, kMax - 1) << "the product needs 65 bits";
  EXPECT_EQ(scale(kMax, 3, 1).value, kMax) << "an estimate beyond 64 bits saturates";
  EXPECT_EQ(scale(uint64_t{1} << 40, uint64_t{1} << 40, uint64_t{1} << 39).value,
            uint64_t{1} << 41);
}

TEST(Scale, RunningAboveEnabledIsTakenAsFullyCounted) {
  EXPECT_EQ(scale(77, 10, 11).value, 77u);
}

}  // namespace
}  // namespace pctx::pmu
