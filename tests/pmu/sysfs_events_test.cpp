// Kernel-PMU events in perf's `pmu/event/` and `pmu/term=value/` syntax, against a fake
// sysfs tree, so that the formats, aliases and errors are the test's own and not this
// machine's.
#include "pctx/pmu/sysfs_events.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>

#include <fmt/format.h>

#include "pctx/pmu/spec.hpp"

namespace pctx::pmu {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kFakeType = 42;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p);
  out << text << "\n";  // sysfs files end with a newline
}

// The bits of `word` that the bit ranges select, packed from the lowest range up: the
// inverse of what a format does with a value.
uint64_t extract(uint64_t word, std::initializer_list<std::pair<int, int>> ranges) {
  uint64_t v = 0;
  int width = 0;
  for (auto [low, high] : ranges) {
    for (int bit = low; bit <= high; ++bit, ++width) v |= ((word >> bit) & 1) << width;
  }
  return v;
}

class SysfsEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) /
            fmt::format("pctx-sysfs-{}-{}", getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    const fs::path pmu = root_ / "fake";
    write_file(pmu / "type", std::to_string(kFakeType));
    write_file(pmu / "format" / "event", "config:0-7");
    write_file(pmu / "format" / "umask", "config:8-15");
    write_file(pmu / "format" / "split", "config1:0-3,8-11");
    write_file(pmu / "events" / "foo", "event=0x3c,umask=0x02");
    write_file(pmu / "events" / "foo.unit", "Joules");
    write_file(pmu / "events" / "foo.scale", "2.5e-3");
    write_file(root_ / "other" / "type", "43");
  }
  void TearDown() override { fs::remove_all(root_); }

  // Parses `spec` (one kernel-PMU event) and encodes it against the fake tree.
  base::Result<SysfsEncoding> encode(const std::string& spec) {
    auto parsed = parse_spec(spec);
    EXPECT_TRUE(parsed) << spec << ": " << parsed.error().message;
    if (!parsed) return parsed.error();
    EXPECT_EQ(parsed->event_count(), 1u) << spec;
    return encode_sysfs_event(parsed->groups[0].events[0], root_.string());
  }

  fs::path root_;
};

TEST_F(SysfsEventsTest, ListsTheNamedEventsWithUnitAndScale) {
  const auto events = sysfs_events(root_.string());
  ASSERT_EQ(events.size(), 1u) << "foo.unit and foo.scale are not events";
  EXPECT_EQ(events[0].pmu, "fake");
  EXPECT_EQ(events[0].name, "foo");
  EXPECT_EQ(events[0].terms, "event=0x3c,umask=0x02");
  EXPECT_EQ(events[0].unit, "Joules");
  EXPECT_DOUBLE_EQ(events[0].scale, 2.5e-3);
  EXPECT_EQ(events[0].spec(), "fake/foo/");
}

TEST_F(SysfsEventsTest, ANamedEventExpandsToItsTerms) {
  auto e = encode("fake/foo/");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->attr.type, kFakeType);
  EXPECT_EQ(e->attr.size, sizeof(perf_event_attr));
  EXPECT_EQ(e->attr.config, 0x023cu);
  EXPECT_EQ(e->attr.config1, 0u);
  EXPECT_EQ(e->attr.config2, 0u);
  EXPECT_EQ(e->unit, "Joules");
  EXPECT_DOUBLE_EQ(e->scale, 2.5e-3);
}

TEST_F(SysfsEventsTest, ModifiersAreLeftToTheCaller) {
  auto e = encode("fake/foo/u");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->attr.config, 0x023cu);
  EXPECT_EQ(e->attr.exclude_kernel, 0u);
  EXPECT_EQ(e->attr.exclude_user, 0u);
}

TEST_F(SysfsEventsTest, ExplicitTermsFillTheirFormatBits) {
  auto e = encode("fake/event=0xab,umask=0xcd,split=0x5a/");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->attr.type, kFakeType);
  EXPECT_EQ(e->attr.config, 0xcdabu);
  // 0x5a = 0b0101'1010: the low nibble goes to config1 bits 0-3, the high one to 8-11.
  EXPECT_EQ(e->attr.config1, 0x50au);
  EXPECT_EQ(e->unit, "");
  EXPECT_DOUBLE_EQ(e->scale, 1.0);
}

TEST_F(SysfsEventsTest, DecimalValuesAndRawConfigWords) {
  auto e = encode("fake/event=60,umask=2/");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->attr.config, 0x023cu);
  auto raw = encode("fake/config=0x1234,config1=7,config2=0xff00/");
  ASSERT_TRUE(raw) << raw.error().message;
  EXPECT_EQ(raw->attr.config, 0x1234u);
  EXPECT_EQ(raw->attr.config1, 7u);
  EXPECT_EQ(raw->attr.config2, 0xff00u);
}

TEST_F(SysfsEventsTest, ABareFormatTermIsOne) {
  auto e = encode("fake/umask/");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->attr.config, 0x100u);
  auto s = encode("fake/split,event=3/");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->attr.config1, 1u);
  EXPECT_EQ(s->attr.config, 3u);
}

TEST_F(SysfsEventsTest, ValuesWiderThanTheFieldAreRefused) {
  for (const char* spec : {"fake/umask=0x100/", "fake/event=256/", "fake/split=0x100/",
                           "fake/event=0xffffffffffffffff/"}) {
    auto e = encode(spec);
    ASSERT_FALSE(e) << spec << " was accepted";
    EXPECT_EQ(e.error().code, -EINVAL) << spec;
    EXPECT_NE(e.error().message.find("does not fit the 8 bits"), std::string::npos)
        << spec << ": " << e.error().message;
  }
  // The widest value that fits is taken.
  auto e = encode("fake/split=0xff/");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->attr.config1, 0xf0fu);
}

TEST_F(SysfsEventsTest, ValuesThatAreNotNumbersAreRefused) {
  for (const char* spec : {"fake/umask=zz/", "fake/umask=0x1g/", "fake/config=-1/"}) {
    auto e = encode(spec);
    ASSERT_FALSE(e) << spec << " was accepted";
    EXPECT_EQ(e.error().code, -EINVAL) << spec;
    EXPECT_NE(e.error().message.find("must be a number"), std::string::npos)
        << spec << ": " << e.error().message;
  }
  auto e = encode("fake/config/");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, -EINVAL);
  EXPECT_NE(e.error().message.find("needs a value"), std::string::npos) << e.error().message;
}

TEST_F(SysfsEventsTest, AnUnknownTermListsTheEventsAndTerms) {
  auto e = encode("fake/bar/");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, -ENOENT);
  const std::string& m = e.error().message;
  EXPECT_NE(m.find("'bar'"), std::string::npos) << m;
  EXPECT_NE(m.find("its events: foo;"), std::string::npos) << m;
  EXPECT_NE(m.find("its terms: event, split, umask"), std::string::npos) << m;
  EXPECT_EQ(m.find("foo.unit"), std::string::npos) << "a unit file listed as an event: " << m;
}

TEST_F(SysfsEventsTest, AnUnknownPmuListsThePmus) {
  auto e = encode("nope/foo/");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, -ENOENT);
  const std::string& m = e.error().message;
  EXPECT_NE(m.find("no PMU 'nope'"), std::string::npos) << m;
  EXPECT_NE(m.find("its PMUs: fake, other"), std::string::npos) << m;
}

TEST_F(SysfsEventsTest, ABadFormatFileIsReportedNotGuessed) {
  write_file(root_ / "fake" / "format" / "weird", "config3:0-7");
  write_file(root_ / "fake" / "format" / "backwards", "config:7-0");
  write_file(root_ / "fake" / "format" / "junk", "config:x-7");
  // Found by the sysfs-format fuzzer: sscanf's "%d-%d" took "1=" for bit 1, wrapped
  // 4294967296 to bit 0 and ignored a third bound.
  write_file(root_ / "fake" / "format" / "trailing", "config:1=");
  write_file(root_ / "fake" / "format" / "wrapped", "config:4294967296-4294967297");
  write_file(root_ / "fake" / "format" / "three", "config:1-2-3");
  write_file(root_ / "fake" / "format" / "dangling", "config:0-7,");
  write_file(root_ / "fake" / "format" / "empty", "config:");
  for (const char* spec :
       {"fake/weird=1/", "fake/backwards=1/", "fake/junk=1/", "fake/trailing=1/", "fake/wrapped=1/",
        "fake/three=1/", "fake/dangling=1/", "fake/empty=0/"}) {
    auto e = encode(spec);
    ASSERT_FALSE(e) << spec << " was accepted";
    EXPECT_EQ(e.error().code, -EINVAL) << spec;
    EXPECT_NE(e.error().message.find("is not understood"), std::string::npos)
        << spec << ": " << e.error().message;
  }
}

// Found by the sysfs-format fuzzer: strtoull's base 0 read "010" as octal 8 where perf reads
// ten, took a '+', and skipped a leading '\v', reading "\v-1" as 2^64 - 1.
TEST_F(SysfsEventsTest, ValuesAreDecimalOrHexAsPerfReadsThem) {
  auto e = encode("fake/event=010,umask=0X1F/");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->attr.config, 0x1f0au);
  for (const char* spec : {"fake/config=\v-1/", "fake/config=+5/", "fake/event=0x/",
                           "fake/config=18446744073709551616/", "fake/event=0x0x1/"}) {
    auto bad = encode(spec);
    ASSERT_FALSE(bad) << spec << " was accepted";
    EXPECT_EQ(bad.error().code, -EINVAL) << spec;
    EXPECT_NE(bad.error().message.find("must be a number"), std::string::npos)
        << spec << ": " << bad.error().message;
  }
}

// A later term sets its field whole, as perf's: it does not OR into an earlier one.
TEST_F(SysfsEventsTest, ALaterTermOverridesTheField) {
  auto twice = encode("fake/event=0xc0,event=0x3c/");
  ASSERT_TRUE(twice) << twice.error().message;
  EXPECT_EQ(twice->attr.config & 0xff, 0x3cu);
  auto alias_then_field = encode("fake/foo,umask=0x01/");
  ASSERT_TRUE(alias_then_field) << alias_then_field.error().message;
  EXPECT_EQ(alias_then_field->attr.config, 0x013cu);
}

// Property: any value within a field's width lands in the field's bits and comes back out
// unchanged, and no bit outside the fields is set.
TEST_F(SysfsEventsTest, ValuesWithinTheWidthRoundTrip) {
  const unsigned seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  std::cout << "[   SEED   ] " << seed << "\n";
  RecordProperty("seed", std::to_string(seed));
  for (int i = 0; i < 2000; ++i) {
    const uint64_t event = rng() & 0xff, umask = rng() & 0xff, split = rng() & 0xff;
    const std::string spec =
        fmt::format("fake/event={:#x},umask={},split={:#x}/", event, umask, split);
    auto e = encode(spec);
    ASSERT_TRUE(e) << "seed " << seed << " " << spec << ": " << e.error().message;
    EXPECT_EQ(extract(e->attr.config, {{0, 7}}), event) << "seed " << seed << " " << spec;
    EXPECT_EQ(extract(e->attr.config, {{8, 15}}), umask) << "seed " << seed << " " << spec;
    EXPECT_EQ(extract(e->attr.config1, {{0, 3}, {8, 11}}), split) << "seed " << seed << " " << spec;
    EXPECT_EQ(e->attr.config & ~uint64_t{0xffff}, 0u) << "seed " << seed << " " << spec;
    EXPECT_EQ(e->attr.config1 & ~uint64_t{0xf0f}, 0u) << "seed " << seed << " " << spec;
    EXPECT_EQ(e->attr.config2, 0u) << "seed " << seed << " " << spec;
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace pctx::pmu
