#include "pctx/pmu/encoding.hpp"

#include <gtest/gtest.h>

namespace pctx::pmu {
namespace {

EncodedEvent encode_one(const char* spec) {
  auto g = compile_spec(spec);
  EXPECT_TRUE(g) << spec << ": " << g.error().message;
  return g ? (*g)[0].events[0] : EncodedEvent{};
}

TEST(Encoding, SoftwareEvents) {
  struct {
    const char* name;
    uint64_t config;
  } cases[] = {{"task-clock", PERF_COUNT_SW_TASK_CLOCK},
               {"cpu-clock", PERF_COUNT_SW_CPU_CLOCK},
               {"page-faults", PERF_COUNT_SW_PAGE_FAULTS},
               {"faults", PERF_COUNT_SW_PAGE_FAULTS},
               {"context-switches", PERF_COUNT_SW_CONTEXT_SWITCHES},
               {"cs", PERF_COUNT_SW_CONTEXT_SWITCHES},
               {"cpu-migrations", PERF_COUNT_SW_CPU_MIGRATIONS},
               {"minor-faults", PERF_COUNT_SW_PAGE_FAULTS_MIN},
               {"perf::task-clock", PERF_COUNT_SW_TASK_CLOCK}};
  for (const auto& c : cases) {
    const auto ev = encode_one(c.name);
    EXPECT_EQ(ev.attr.type, PERF_TYPE_SOFTWARE) << c.name;
    EXPECT_EQ(ev.attr.config, c.config) << c.name;
    EXPECT_FALSE(ev.hardware()) << c.name;
    EXPECT_EQ(ev.kernel_pmu(), "software") << c.name;
    EXPECT_EQ(ev.attr.size, sizeof(perf_event_attr));
  }
}

TEST(Encoding, GenericHardwareNamesEncodeWithoutAPmu) {
  struct {
    const char* name;
    uint64_t config;
  } cases[] = {{"cycles", PERF_COUNT_HW_CPU_CYCLES},
               {"instructions", PERF_COUNT_HW_INSTRUCTIONS},
               {"branches", PERF_COUNT_HW_BRANCH_INSTRUCTIONS},
               {"branch-misses", PERF_COUNT_HW_BRANCH_MISSES},
               {"cache-misses", PERF_COUNT_HW_CACHE_MISSES},
               {"ref-cycles", PERF_COUNT_HW_REF_CPU_CYCLES}};
  for (const auto& c : cases) {
    const auto ev = encode_one(c.name);
    EXPECT_EQ(ev.attr.type, PERF_TYPE_HARDWARE) << c.name;
    EXPECT_EQ(ev.attr.config, c.config) << c.name;
    EXPECT_TRUE(ev.hardware()) << c.name;
    EXPECT_EQ(ev.kernel_pmu(), "cpu") << c.name;
  }
}

TEST(Encoding, PrivilegeModifiersSetTheExcludeBits) {
  const auto both = encode_one("cycles");
  EXPECT_FALSE(both.attr.exclude_user);
  EXPECT_FALSE(both.attr.exclude_kernel);
  const auto user = encode_one("instructions:u");
  EXPECT_FALSE(user.attr.exclude_user);
  EXPECT_TRUE(user.attr.exclude_kernel);
  const auto kernel = encode_one("task-clock:k");
  EXPECT_TRUE(kernel.attr.exclude_user);
  EXPECT_FALSE(kernel.attr.exclude_kernel);
  const auto grouped = compile_spec("{cycles,instructions}:u");
  ASSERT_TRUE(grouped);
  for (const auto& e : (*grouped)[0].events) EXPECT_TRUE(e.attr.exclude_kernel) << e.text;
}

TEST(Encoding, PreciseAndRaw) {
  EXPECT_EQ(encode_one("cycles:pp").attr.precise_ip, 2u);
  const auto raw = encode_one("r01c2:u");
  EXPECT_EQ(raw.attr.type, PERF_TYPE_RAW);
  EXPECT_EQ(raw.attr.config, 0x1c2u);
  EXPECT_TRUE(raw.attr.exclude_kernel);
  EXPECT_FALSE(raw.attr.exclude_user);
  EXPECT_TRUE(raw.hardware());
  EXPECT_EQ(raw.canonical, "raw:0x1c2");
}

struct BadName {
  const char* spec;
  int code;
  const char* error;
};

void PrintTo(const BadName& b, std::ostream* os) {
  *os << "'" << b.spec << "'";
}

class BadNames : public testing::TestWithParam<BadName> {};

TEST_P(BadNames, GiveTheirError) {
  const auto& p = GetParam();
  auto g = compile_spec(p.spec);
  ASSERT_FALSE(g) << p.spec << " compiled";
  EXPECT_EQ(g.error().code, p.code) << g.error().message;
  EXPECT_NE(g.error().message.find(p.error), std::string::npos)
      << p.spec << " gave: " << g.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadNames,
    testing::Values(BadName{"cycels", -ENOENT, "did you mean cycles"},
                    BadName{"task-clok", -ENOENT, "task-clock"},
                    BadName{"pagefaults", -ENOENT, "page-faults"},
                    BadName{"nosuchevent", -ENOENT, "unknown event 'nosuchevent'"},
                    BadName{"r", -ENOENT, "unknown event 'r'"},
                    BadName{"perf::nosuch", -ENOENT, "unknown event"},
                    BadName{"nosuchpmu::cycles", -ENOENT, "unknown PMU 'nosuchpmu'"},
                    BadName{"task-clock:bogus=1", -EINVAL, "bad unit mask or attribute"},
                    BadName{"cycles,{instructions,cycels}", -ENOENT, "did you mean cycles"}),
    [](const testing::TestParamInfo<BadName>& info) {
      return "Case" + std::to_string(info.index);
    });

EncodedEvent synthetic(const char* text, uint32_t type) {
  EncodedEvent e;
  e.text = text;
  e.attr.type = type;
  return e;
}

TEST(GroupValidation, AGroupAcrossTwoHardwarePmusIsRejected) {
  // Type 0xfff0 stands for a dynamic PMU (an uncore one, say) that no kernel registers.
  EncodedGroup g{{synthetic("cycles", PERF_TYPE_HARDWARE), synthetic("l3_misses", 0xfff0)}, true};
  auto st = validate_group(g);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, -EINVAL);
  EXPECT_NE(st.error().message.find("{cycles,l3_misses} mixes events of hardware PMUs cpu and "
                                    "type 65520"),
            std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("split it"), std::string::npos);
}

TEST(GroupValidation, SoftwareEventsJoinAnyGroup) {
  auto g = compile_spec("{cycles,task-clock,instructions,page-faults}");
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_TRUE(validate_group((*g)[0], 2));
}

TEST(GroupValidation, TooManyHardwareEventsForThePmu) {
  auto g = compile_spec("{cycles,instructions,branches,task-clock}", 2);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("has 3 hardware events but the cpu PMU has 2 counters"),
            std::string::npos)
      << g.error().message;
  EXPECT_TRUE(compile_spec("cycles,instructions,branches", 2)) << "separate groups multiplex";
}

}  // namespace
}  // namespace pctx::pmu
