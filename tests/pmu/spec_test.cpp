#include "pctx/pmu/spec.hpp"

#include <gtest/gtest.h>

#include <random>

namespace pctx::pmu {
namespace {

TEST(SpecParser, SingleEvent) {
  auto s = parse_spec("cycles");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->groups.size(), 1u);
  EXPECT_FALSE(s->groups[0].braced);
  EXPECT_EQ(s->groups[0].events[0].name, "cycles");
  EXPECT_TRUE(s->groups[0].events[0].modifiers.empty());
  EXPECT_EQ(s->groups[0].events[0].column, 1u);
}

TEST(SpecParser, TheDesignExample) {
  auto s = parse_spec("cycles,instructions:u,{branches,branch-misses},task-clock,r01c2");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->groups.size(), 5u);
  EXPECT_EQ(s->event_count(), 6u);
  const auto& ins = s->groups[1].events[0];
  EXPECT_EQ(ins.name, "instructions");
  EXPECT_EQ(ins.text, "instructions:u");
  EXPECT_TRUE(ins.modifiers.user);
  EXPECT_FALSE(ins.modifiers.kernel);
  EXPECT_TRUE(s->groups[2].braced);
  ASSERT_EQ(s->groups[2].events.size(), 2u);
  EXPECT_EQ(s->groups[2].events[1].name, "branch-misses");
  EXPECT_EQ(s->groups[2].events[1].column, 33u);
  ASSERT_TRUE(s->groups[4].events[0].raw.has_value());
  EXPECT_EQ(*s->groups[4].events[0].raw, 0x1c2u);
}

TEST(SpecParser, ModifierCombinations) {
  auto s = parse_spec("a:uk,b:ppp,c:kh,d:up");
  ASSERT_TRUE(s) << s.error().message;
  const auto& a = s->groups[0].events[0].modifiers;
  EXPECT_TRUE(a.user && a.kernel && !a.hv);
  EXPECT_EQ(s->groups[1].events[0].modifiers.precise, 3);
  EXPECT_TRUE(s->groups[2].events[0].modifiers.kernel && s->groups[2].events[0].modifiers.hv);
  EXPECT_EQ(s->groups[3].events[0].modifiers.precise, 1);
  EXPECT_TRUE(s->groups[3].events[0].modifiers.user);
}

TEST(SpecParser, GroupModifiersApplyWhereTheEventSaysNothing) {
  auto s = parse_spec("{a,b:k,c:p}:u");
  ASSERT_TRUE(s) << s.error().message;
  const auto& ev = s->groups[0].events;
  EXPECT_TRUE(ev[0].modifiers.user && !ev[0].modifiers.kernel);
  EXPECT_TRUE(ev[1].modifiers.kernel && !ev[1].modifiers.user);
  EXPECT_TRUE(ev[2].modifiers.user);
  EXPECT_EQ(ev[2].modifiers.precise, 1);
}

TEST(SpecParser, AGroupKeepsItsModifiersAsWritten) {
  auto s = parse_spec("{a,b:k}:uk,{c},d:u");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->groups[0].modifier_text, "uk");
  EXPECT_EQ(s->groups[1].modifier_text, "");
  EXPECT_EQ(s->groups[2].modifier_text, "") << "an event's own modifiers stay in its text";
  EXPECT_EQ(s->groups[2].events[0].text, "d:u");
}

TEST(SpecParser, LibpfmUnitMasksAreNotModifiers) {
  auto s = parse_spec("INST_RETIRED:ANY_P,amd64_fam19h_zen4::RETIRED_UOPS:u,ev:c=2");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->groups[0].events[0].name, "INST_RETIRED:ANY_P");
  EXPECT_TRUE(s->groups[0].events[0].modifiers.empty());
  EXPECT_EQ(s->groups[1].events[0].name, "amd64_fam19h_zen4::RETIRED_UOPS");
  EXPECT_TRUE(s->groups[1].events[0].modifiers.user);
  EXPECT_EQ(s->groups[2].events[0].name, "ev:c=2");
}

TEST(SpecParser, RawCodes) {
  auto s = parse_spec("r0,r01c2,r0x1C2,rFFFFFFFFFFFFFFFF,r0000000000000000001,run");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*s->groups[0].events[0].raw, 0u);
  EXPECT_EQ(*s->groups[1].events[0].raw, 0x1c2u);
  EXPECT_EQ(*s->groups[2].events[0].raw, 0x1c2u);
  EXPECT_EQ(*s->groups[3].events[0].raw, ~uint64_t{0});
  EXPECT_EQ(*s->groups[4].events[0].raw, 1u);
  EXPECT_FALSE(s->groups[5].events[0].raw.has_value()) << "'run' is a name, not a raw code";
}

TEST(SpecParser, WhitespaceAroundSeparators) {
  auto s = parse_spec("  cycles , { a , b }:u ,\ttask-clock ");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->groups.size(), 3u);
  EXPECT_EQ(s->groups[1].events.size(), 2u);
  EXPECT_TRUE(s->groups[1].events[1].modifiers.user);
}

// perf's kernel-PMU form: `pmu/terms/` with modifiers after the closing slash, with or
// without a ':'. The commas between the slashes separate terms, not events.
TEST(SpecParser, KernelPmuEventAlone) {
  auto s = parse_spec("msr/tsc/");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->event_count(), 1u);
  const auto& e = s->groups[0].events[0];
  EXPECT_EQ(e.pmu, "msr");
  EXPECT_EQ(e.name, "msr/tsc/");
  EXPECT_EQ(e.text, "msr/tsc/");
  ASSERT_EQ(e.pmu_terms.size(), 1u);
  EXPECT_EQ(e.pmu_terms[0].key, "tsc");
  EXPECT_FALSE(e.pmu_terms[0].value.has_value());
  EXPECT_TRUE(e.modifiers.empty());
  EXPECT_FALSE(e.raw.has_value());
}

TEST(SpecParser, KernelPmuModifiersWithAndWithoutColon) {
  for (const char* spec : {"msr/tsc/u", "msr/tsc/:u"}) {
    auto s = parse_spec(spec);
    ASSERT_TRUE(s) << spec << ": " << s.error().message;
    const auto& e = s->groups[0].events[0];
    EXPECT_EQ(e.pmu, "msr") << spec;
    EXPECT_EQ(e.name, "msr/tsc/") << spec;
    EXPECT_EQ(e.text, spec);
    EXPECT_TRUE(e.modifiers.user && !e.modifiers.kernel && !e.modifiers.hv) << spec;
  }
  auto k = parse_spec("msr/tsc/:k");
  ASSERT_TRUE(k) << k.error().message;
  const auto& m = k->groups[0].events[0].modifiers;
  EXPECT_TRUE(m.kernel && !m.user && !m.hv);
}

TEST(SpecParser, KernelPmuTermsWithValuesDoNotSplitTheEvent) {
  auto s = parse_spec("cpu/event=0x3c,umask=0x1/,cycles");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->groups.size(), 2u) << "a comma between the slashes split the event";
  const auto& e = s->groups[0].events[0];
  EXPECT_EQ(e.pmu, "cpu");
  EXPECT_EQ(e.name, "cpu/event=0x3c,umask=0x1/");
  ASSERT_EQ(e.pmu_terms.size(), 2u);
  EXPECT_EQ(e.pmu_terms[0].key, "event");
  EXPECT_EQ(e.pmu_terms[0].value, "0x3c");
  EXPECT_EQ(e.pmu_terms[1].key, "umask");
  EXPECT_EQ(e.pmu_terms[1].value, "0x1");
  EXPECT_EQ(s->groups[1].events[0].name, "cycles");
  EXPECT_EQ(s->groups[1].events[0].column, 27u);
}

TEST(SpecParser, KernelPmuEventsInAGroupTakeTheGroupsModifiers) {
  auto s = parse_spec("{msr/tsc/,task-clock}:u");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->groups.size(), 1u);
  const auto& g = s->groups[0];
  EXPECT_TRUE(g.braced);
  ASSERT_EQ(g.events.size(), 2u);
  EXPECT_EQ(g.events[0].pmu, "msr");
  EXPECT_EQ(g.events[0].name, "msr/tsc/");
  EXPECT_TRUE(g.events[0].modifiers.user && !g.events[0].modifiers.kernel);
  EXPECT_EQ(g.events[1].name, "task-clock");
  EXPECT_TRUE(g.events[1].pmu.empty());
  EXPECT_TRUE(g.events[1].modifiers.user);
  EXPECT_EQ(g.modifier_text, "u");

  auto multi = parse_spec("{cpu/event=0x3c,umask=0x1/k,msr/tsc/},cs");
  ASSERT_TRUE(multi) << multi.error().message;
  ASSERT_EQ(multi->groups.size(), 2u);
  ASSERT_EQ(multi->groups[0].events.size(), 2u);
  EXPECT_TRUE(multi->groups[0].events[0].modifiers.kernel);
  EXPECT_EQ(multi->groups[0].events[0].pmu_terms.size(), 2u);
  EXPECT_EQ(multi->groups[0].events[1].pmu, "msr");
  EXPECT_EQ(multi->groups[1].events[0].name, "cs");
}

struct BadSpec {
  const char* spec;
  const char* error;  // a part of the message it must give
};

void PrintTo(const BadSpec& b, std::ostream* os) {
  *os << "'" << b.spec << "'";
}

class BadSpecs : public testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecs, GiveTheirError) {
  const auto& p = GetParam();
  auto s = parse_spec(p.spec);
  ASSERT_FALSE(s) << "'" << p.spec << "' parsed";
  EXPECT_EQ(s.error().code, -EINVAL);
  EXPECT_NE(s.error().message.find(p.error), std::string::npos)
      << "spec '" << p.spec << "' gave: " << s.error().message;
  EXPECT_NE(s.error().message.find("^"), std::string::npos) << "no caret under the culprit";
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadSpecs,
    testing::Values(
        BadSpec{"", "empty event spec"}, BadSpec{"   ", "empty event spec"},
        BadSpec{",", "empty event"}, BadSpec{"cycles,", "column 8: empty event"},
        BadSpec{",cycles", "column 1: empty event"},
        BadSpec{"cycles,,instructions", "column 8: empty event"}, BadSpec{"{", "unclosed group"},
        BadSpec{"}", "'}' without a matching '{'"}, BadSpec{"{}", "empty group"},
        BadSpec{"{cycles", "unclosed group"}, BadSpec{"cycles}", "'}' without a matching '{'"},
        BadSpec{"{{cycles}}", "nested group"}, BadSpec{"{a,{b}}", "nested group"},
        BadSpec{"{cycles,}", "empty event"}, BadSpec{"{,cycles}", "empty event"},
        BadSpec{"cycles:", "missing modifier"}, BadSpec{"cycles:u:", "missing modifier"},
        BadSpec{"cycles:uu", "duplicate modifier 'u'"},
        BadSpec{"cycles:kk", "duplicate modifier 'k'"},
        BadSpec{"cycles:pppp", "too many 'p' modifiers"},
        BadSpec{"cycles instructions", "expected ','"},
        BadSpec{"cycles;instructions", "invalid character ';'"},
        BadSpec{"cyc\x01les", "invalid character byte 0x01"},
        BadSpec{"t\xc3\xa9", "invalid character byte 0xc3"},
        BadSpec{"{cycles}:q", "bad group modifier 'q'"}, BadSpec{"{cycles}:", "missing modifier"},
        BadSpec{"{cycles}:uu", "duplicate modifier 'u'"}, BadSpec{"{cycles}x", "expected ','"},
        BadSpec{"{a}{b}", "expected ','"}, BadSpec{"{a b}", "expected ',' or '}'"},
        BadSpec{"::cycles", "missing PMU name"}, BadSpec{"perf::", "missing event name"},
        BadSpec{"r12345678901234567", "raw code too large"},
        BadSpec{"r0x", "raw code 'r0x' has no hex digits"},
        BadSpec{"cycles,{instructions", "unclosed group"}, BadSpec{"msr/tsc", "unclosed 'msr/'"},
        BadSpec{"msr//", "no terms"}, BadSpec{"msr/tsc/zz", "bad modifier 'zz'"},
        BadSpec{"msr/event=/", "missing value"}, BadSpec{"msr/tsc/:", "missing modifier"},
        BadSpec{"msr/a,,b/", "empty term"}, BadSpec{"msr/tsc/x,tsc", "bad modifier 'x'"},
        BadSpec{"cycles#", "invalid character '#'"}, BadSpec{":u", "missing event name before ':'"},
        BadSpec{"{:k}", "missing event name before ':'"}),
    [](const testing::TestParamInfo<BadSpec>& info) {
      return "Case" + std::to_string(info.index);
    });

// Random inputs over the language's own alphabet: parsing never crashes, and every
// outcome is either a well-formed spec or an error that explains itself.
TEST(SpecParser, NothingCrashesOnAnyInput) {
  const std::string alphabet = "{},:ukhpqr0x1cyles -=;:\t\x01\xff";
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  for (int i = 0; i < 50000; ++i) {
    std::string s;
    const size_t len = rng() % 24;
    for (size_t k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    auto r = parse_spec(s);
    if (r) {
      ASSERT_GE(r->event_count(), 1u) << "seed " << seed << " input '" << s << "'";
      for (const auto& g : r->groups) {
        for (const auto& e : g.events) ASSERT_FALSE(e.name.empty()) << "seed " << seed;
      }
    } else {
      ASSERT_EQ(r.error().message.rfind("bad event spec at column ", 0), 0u)
          << "seed " << seed << " input '" << s << "': " << r.error().message;
    }
  }
}

}  // namespace
}  // namespace pctx::pmu
