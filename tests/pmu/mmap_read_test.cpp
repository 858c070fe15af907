// The rdpmc fast path on synthetic pages: every number here is worked out by hand.
#include "pctx/pmu/mmap_read.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

namespace pctx::pmu {
namespace {

PageSnapshot counting_page() {
  PageSnapshot s;
  s.cap_user_rdpmc = true;
  s.index = 3;
  s.pmc_width = 48;
  return s;
}

TEST(SignExtend, FortyEightBits) {
  EXPECT_EQ(sign_extend(0xFFFFFFFFFFFFull, 48), -1);
  EXPECT_EQ(sign_extend(0x800000000000ull, 48), -(int64_t{1} << 47));
  EXPECT_EQ(sign_extend(0x7FFFFFFFFFFFull, 48), (int64_t{1} << 47) - 1);
  // Bits above the width are garbage and must not leak in.
  EXPECT_EQ(sign_extend(0xABCD000000000005ull, 48), 5);
  EXPECT_EQ(sign_extend(0xFFFFFFFFFFFFFFFFull, 64), -1);
  EXPECT_EQ(sign_extend(0x1234, 0), 0x1234) << "width 0 means the page gave none";
}

TEST(FastRead, OffsetPlusCounter) {
  auto s = counting_page();
  s.offset = 1000;
  s.pmc = 0xFFFFFFFFFFFBull;  // -5 in 48 bits: the counter was preloaded negative
  auto r = compute_fast_read(s);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(r.value, 995u);
  s.offset = -(int64_t{1} << 40);
  s.pmc = (uint64_t{1} << 40) + 7;
  EXPECT_EQ(compute_fast_read(s).value, 7u);
}

TEST(FastRead, TimesWithoutCapUserTimeAreThePagesOwn) {
  auto s = counting_page();
  s.time_enabled = 500;
  s.time_running = 400;
  s.cycles = 123456;  // ignored without cap_user_time
  auto r = compute_fast_read(s);
  EXPECT_EQ(r.enabled, 500u);
  EXPECT_EQ(r.running, 400u);
}

TEST(FastRead, TimeExtrapolation) {
  auto s = counting_page();
  s.cap_user_time = true;
  s.time_shift = 10;
  s.time_mult = 512;  // half a nanosecond per cycle
  s.time_offset = 0;
  s.cycles = 1000000;  // quot 976, rem 576: 976*512 + (576*512 >> 10) = 499712 + 288
  EXPECT_EQ(extrapolate_ns(s), 500000u);
  s.time_enabled = 2000;
  s.time_running = 1000;
  s.time_offset = static_cast<uint64_t>(-400000);  // the page's clock started 400 us ago
  auto r = compute_fast_read(s);
  EXPECT_EQ(r.enabled, 2000u + 100000u);
  EXPECT_EQ(r.running, 1000u + 100000u) << "an event on a counter runs while it is enabled";
}

TEST(FastRead, ExtrapolationDoesNotOverflow) {
  auto s = counting_page();
  s.cap_user_time = true;
  s.time_shift = 31;
  s.time_mult = 0x7fffffffu;
  s.cycles = uint64_t{1} << 62;  // cycles * mult overflows 64 bits; the split must not
  const unsigned __int128 exact =
      (static_cast<unsigned __int128>(s.cycles) * s.time_mult) >> s.time_shift;
  EXPECT_EQ(extrapolate_ns(s), static_cast<uint64_t>(exact));
}

TEST(FastRead, ShortTimeCounter) {
  auto s = counting_page();
  s.cap_user_time = true;
  s.cap_user_time_short = true;
  s.time_shift = 0;
  s.time_mult = 1;
  s.time_cycles = 0x1000;
  s.time_mask = 0xFFFF;   // the hardware counter is 16 bits wide
  s.cycles = 0xABCD1010;  // low 16 bits 0x1010: 0x10 cycles after time_cycles
  EXPECT_EQ(extrapolate_ns(s), 0x1010u);
}

TEST(FastRead, FallsBackWhenNotOnACounter) {
  auto s = counting_page();
  s.index = 0;
  EXPECT_FALSE(compute_fast_read(s).valid) << "index 0: not on a counter, use read()";
  s = counting_page();
  s.cap_user_rdpmc = false;
  EXPECT_FALSE(compute_fast_read(s).valid) << "no rdpmc permission, use read()";
}

// A page in memory that the test mutates, as the kernel would.
struct FakePage {
  FakePage() {
    std::memset(&page, 0, sizeof page);
    page.capabilities = (1u << 2) | (1u << 3);  // cap_user_rdpmc, cap_user_time
    page.pmc_width = 48;
    page.time_mult = 1;
  }
  perf_event_mmap_page page;
};

TEST(SeqlockLoop, RetriesWhenThePageChangesUnderneath) {
  auto fake = std::make_unique<FakePage>();
  auto& pc = fake->page;
  pc.index = 2;
  pc.offset = 100;
  pc.lock = 4;
  int rdpmc_calls = 0;
  auto rdpmc = [&](uint32_t counter) -> uint64_t {
    EXPECT_EQ(counter, 1u) << "rdpmc takes index - 1";
    if (rdpmc_calls++ == 0) {
      // The kernel updates the page in the middle of our first copy.
      pc.lock = 6;
      pc.offset = 200;
      return 999;
    }
    return 5;
  };
  auto rdtsc = [] { return uint64_t{0}; };
  auto snap = snapshot_page(&pc, rdpmc, rdtsc);
  EXPECT_EQ(rdpmc_calls, 2);
  EXPECT_EQ(snap.offset, 200);
  EXPECT_EQ(snap.pmc, 5u);
  EXPECT_EQ(compute_fast_read(snap).value, 205u);
}

TEST(SeqlockLoop, NoRdpmcForIndexZero) {
  auto fake = std::make_unique<FakePage>();
  fake->page.index = 0;
  bool called = false;
  auto snap = snapshot_page(
      &fake->page,
      [&](uint32_t) {
        called = true;
        return uint64_t{0};
      },
      [] { return uint64_t{42}; });
  EXPECT_FALSE(called) << "rdpmc of a counter we do not own would fault or read garbage";
  EXPECT_EQ(snap.cycles, 42u);
  EXPECT_FALSE(compute_fast_read(snap).valid);
}

}  // namespace
}  // namespace pctx::pmu
