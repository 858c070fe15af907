// One instant per pass and per task switch (instant.hpp): what drivers and the scheduler
// rely on, checked over random sequences of passes (PCTX_SEED replays one).
#include "pctx/core/instant.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "core/pass_scope.hpp"
#include "pctx/core/instant_reading.hpp"

namespace pctx::core {
namespace {

using internal::PassScope;

uint64_t seed_of(const char* test) {
  const char* v = std::getenv("PCTX_SEED");
  const uint64_t seed = v != nullptr ? std::strtoull(v, nullptr, 0) : std::random_device{}();
  std::printf("%s: seed %llu (PCTX_SEED reproduces)\n", test,
              static_cast<unsigned long long>(seed));
  return seed;
}

TEST(Instant, APassReadsTheClocksOnceAndASwitchGivesThemToBothHooks) {
  EXPECT_EQ(pass_instant_id(), 0u) << "no pass open";
  const Instant at = take_instant();
  EXPECT_NE(at.id, 0u);
  EXPECT_TRUE(instant_is_latest(at));
  {
    PassScope out(&at);
    EXPECT_EQ(pass_tsc(), at.tsc);
    EXPECT_EQ(pass_ns(), at.ns);
    EXPECT_EQ(pass_instant_id(), at.id);
  }
  {
    PassScope in(&at);  // the sched-in half: the same instant
    EXPECT_EQ(pass_instant_id(), at.id);
  }
  EXPECT_TRUE(instant_is_latest(at)) << "passes at a given instant leave it the latest";
  uint64_t first_tsc = 0, first_ns = 0, id = 0;
  {
    PassScope own(nullptr);
    id = pass_instant_id();
    EXPECT_NE(id, at.id);
    first_tsc = pass_tsc();
    first_ns = pass_ns();
    EXPECT_GE(first_tsc, at.tsc);
    EXPECT_GE(first_ns, at.ns);
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(pass_tsc(), first_tsc) << "one reading per pass";
      EXPECT_EQ(pass_ns(), first_ns);
    }
    {
      PassScope inner(&at);
      EXPECT_EQ(pass_tsc(), at.tsc);
    }
    EXPECT_EQ(pass_tsc(), first_tsc) << "an inner pass gives the outer one back";
    EXPECT_EQ(pass_instant_id(), id);
  }
  EXPECT_FALSE(instant_is_latest(at)) << "a pass of its own read the clocks after it";
  EXPECT_EQ(pass_instant_id(), 0u);
  EXPECT_GE(pass_ns(), first_ns) << "outside a pass, a fresh reading";
}

// A counter read through InstantReading: each instant that reads it reads it once, and a
// switch's two halves read it once between them, whatever the order of passes.
TEST(InstantReading, EachInstantReadsTheCounterOnce) {
  std::mt19937_64 rng(seed_of("instant_reading"));
  for (int round = 0; round < 200; ++round) {
    InstantReading last;
    uint64_t counter = 0;  // the "hardware": moves on every read
    uint64_t reads = 0;
    uint64_t instants_that_read = 0;
    auto read = [&] {
      ++reads;
      return counter += 1 + rng() % 100;
    };
    for (int step = 0; step < 50; ++step) {
      const int kind = static_cast<int>(rng() % 3);
      if (kind == 0) {  // a pass of its own, reading 1 to 4 times
        PassScope pass(nullptr);
        const uint64_t v = last.get(read);
        const int more = static_cast<int>(rng() % 4);
        for (int i = 0; i < more; ++i) ASSERT_EQ(last.get(read), v) << "one value per pass";
        ++instants_that_read;
      } else if (kind == 1) {  // a switch: sched-out reads, sched-in starts from it
        const Instant at = take_instant();
        uint64_t out = 0;
        {
          PassScope sched_out(&at);
          out = last.get(read);
        }
        {
          PassScope sched_in(&at);
          ASSERT_EQ(last.get(read), out) << "next starts from prev's last reading";
        }
        ++instants_that_read;
      } else {  // outside any pass: always fresh
        const uint64_t before = counter;
        ASSERT_GT(last.get(read), before);
        ++instants_that_read;
      }
    }
    EXPECT_EQ(reads, instants_that_read) << "round " << round;
  }
}

}  // namespace
}  // namespace pctx::core
