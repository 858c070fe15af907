#include "pctx/cpu/cpu_set.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "pctx/cpu/sysfs.hpp"

namespace pctx::cpu {
namespace {

TEST(CpuSet, PrintsLikeTheKernel) {
  EXPECT_EQ(CpuSet().to_string(), "");
  EXPECT_EQ(CpuSet::of({0}).to_string(), "0");
  EXPECT_EQ(CpuSet::of({0, 1, 2, 3, 7}).to_string(), "0-3,7");
  EXPECT_EQ(CpuSet::of({7, 3, 2, 1, 0}).to_string(), "0-3,7");
  EXPECT_EQ(CpuSet::of({1, 3, 5}).to_string(), "1,3,5");
  EXPECT_EQ(CpuSet::of({63, 64, 65, 200}).to_string(), "63-65,200");
}

TEST(CpuSet, ParsesWhatItPrints) {
  for (const char* text : {"", "0", "0-3,7", "1,3,5", "63-65,200", "0-8191"}) {
    auto s = CpuSet::parse(text);
    ASSERT_TRUE(s) << text << ": " << s.error().message;
    EXPECT_EQ(s->to_string(), text);
  }
  auto nl = CpuSet::parse("0-1\n");
  ASSERT_TRUE(nl) << "sysfs files end in a newline";
  EXPECT_EQ(nl->count(), 2);
  auto stride = CpuSet::parse("0-7:2");
  ASSERT_TRUE(stride);
  EXPECT_EQ(stride->to_string(), "0,2,4,6");
  auto overlap = CpuSet::parse("0-3,2-5");
  ASSERT_TRUE(overlap);
  EXPECT_EQ(overlap->to_string(), "0-5");
}

TEST(CpuSet, BadListsAreClearErrors) {
  struct {
    const char* text;
    const char* error;
  } cases[] = {{"a", "unexpected 'a'"},
               {"1-", "a range needs an end"},
               {"3-1", "range '3-1' runs backwards"},
               {"0,,1", "unexpected ','"},
               {"0,", "missing CPU"},
               {"-1", "unexpected '-'"},
               {"8192", "CPU number too large"},
               {"0-99999", "CPU number too large"},
               {"0-7:0", "stride must be a positive number"},
               {"1 2", "unexpected ' '"},
               {"0x1", "unexpected 'x'"}};
  for (const auto& c : cases) {
    auto s = CpuSet::parse(c.text);
    ASSERT_FALSE(s) << c.text;
    EXPECT_EQ(s.error().code, -EINVAL);
    EXPECT_NE(s.error().message.find(c.error), std::string::npos)
        << c.text << " gave: " << s.error().message;
    EXPECT_NE(s.error().message.find("e.g. 0-3,7"), std::string::npos);
  }
}

TEST(CpuSet, SetOperations) {
  const auto a = CpuSet::of({0, 1, 2, 100});
  const auto b = CpuSet::of({2, 3});
  EXPECT_EQ((a & b).to_string(), "2");
  EXPECT_EQ((a | b).to_string(), "0-3,100");
  EXPECT_EQ((a - b).to_string(), "0-1,100");
  EXPECT_EQ(a.first(), 0);
  EXPECT_EQ(a.last(), 100);
  EXPECT_EQ(CpuSet().first(), -1);
  EXPECT_TRUE(a.test(100));
  EXPECT_FALSE(a.test(-1));
  EXPECT_FALSE(a.test(5000));
  EXPECT_EQ(CpuSet::of({1}) | CpuSet(), CpuSet::of({1}));
}

TEST(Sysfs, OnlineMatchesTheKernelFile) {
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(online_cpus().to_string(), line);
  EXPECT_FALSE(online_cpus().empty());
  EXPECT_TRUE((online_cpus() - present_cpus()).empty()) << "online CPUs are present";
  EXPECT_TRUE((hotpluggable_cpus() - present_cpus()).empty());
}

}  // namespace
}  // namespace pctx::cpu
