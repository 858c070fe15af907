#include "pctx/pmu/suggest.hpp"

#include <gtest/gtest.h>

namespace pctx::pmu {
namespace {

TEST(Suggest, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("cycles", "cycles"), 0u);
  EXPECT_EQ(edit_distance("cycels", "cycles"), 1u) << "a transposition is one edit";
  EXPECT_EQ(edit_distance("CYCLES", "cycles"), 0u) << "case is ignored";
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
}

TEST(Suggest, ClosestFirstAndBounded) {
  const std::vector<std::string> names = {"cycles",     "cpu-cycles", "instructions",
                                          "task-clock", "cpu-clock",  "branch-misses",
                                          "branches",   "ref-cycles", "bus-cycles"};
  auto c = closest_names("cycels", names);
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c[0], "cycles");
  EXPECT_LE(c.size(), 3u);
  EXPECT_TRUE(closest_names("zzzzzzzz", names).empty());
  auto prefix = closest_names("branch", names);
  ASSERT_FALSE(prefix.empty());
  EXPECT_EQ(prefix[0].rfind("branch", 0), 0u);
  EXPECT_TRUE(closest_names("cycles", names, 3).size() <= 3u);
}

}  // namespace
}  // namespace pctx::pmu
