// The targets `pctx bench` prints beside its rows: each is judged against figures of the same
// run, a missing figure leaves it unjudged, and the verdict is the target's inequality, over
// many random runs (the seed is printed, PCTX_SEED=N repeats one).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "suites.hpp"
#include "targets.hpp"

namespace pctx::bench {
namespace {

const char* const kRows[] = {"install_remote_running",
                             "install_not_running",
                             "install_cpu_polling",
                             "switch_0_events",
                             "switch_4_events",
                             "switch_4_sw_events",
                             "switch_64_installed_4_counters",
                             "read_local",
                             "read_remote"};

uint64_t seed() {
  const char* s = std::getenv("PCTX_SEED");
  return s != nullptr ? std::strtoull(s, nullptr, 10) : std::random_device{}();
}

TEST(BenchTargets, EveryRowOfTheIssueHasOneAndTheRotationNone) {
  for (const char* name : kRows) EXPECT_TRUE(target_of(name)) << name;
  EXPECT_FALSE(target_of("rotate_16_on_4"));
  EXPECT_FALSE(target_of("install_cpu_local"));
}

TEST(BenchTargets, TheVerdictIsTheInequalityOverRandomRuns) {
  const uint64_t s = seed();
  std::cout << "seed " << s << " (PCTX_SEED=" << s << " repeats it)\n";
  std::mt19937_64 rng(s);
  std::uniform_real_distribution<double> ns(1.0, 20000.0);
  for (int run = 0; run < 2000; ++run) {
    std::vector<SummaryRow> rows;
    for (const char* name : kRows) rows.push_back({name, ns(rng), ns(rng), ns(rng), ""});
    const double base4 = rows[4].pctx_ns;  // switch_4_events
    for (const SummaryRow& r : rows) {
      const auto t = target_of(r.name);
      ASSERT_TRUE(t);
      const auto met = target_met(*t, r, rows);
      ASSERT_TRUE(met) << r.name << ": every figure was measured";
      bool want = true;
      if (r.name == "install_not_running") {
        want = *r.kernel_ns >= 20.0 * r.pctx_ns;
      } else if (r.name == "switch_64_installed_4_counters") {
        want = r.pctx_ns <= 1.1 * base4;
      } else {
        const double k = r.name == "switch_0_events"          ? 15.0
                         : r.name == "switch_4_events"        ? 1.0
                         : r.name == "switch_4_sw_events"     ? 1.3
                         : r.name == "read_local"             ? 2.0
                         : r.name == "install_remote_running" ? 1.2
                                                              : 3.0;
        want = r.pctx_ns <= k * *r.floor_ns;
        if (r.name == "install_remote_running") want = want && r.pctx_ns < *r.kernel_ns;
      }
      EXPECT_EQ(*met, want) << "seed " << s << " run " << run << ": " << r.name << " pctx "
                            << r.pctx_ns << " kernel " << *r.kernel_ns << " floor " << *r.floor_ns;
    }
  }
}

TEST(BenchTargets, AMissingFigureLeavesTheTargetUnjudged) {
  const SummaryRow no_floor{"read_local", 10.0, 300.0, std::nullopt, ""};
  EXPECT_FALSE(target_met(*target_of("read_local"), no_floor, {no_floor}));
  const SummaryRow no_kernel{"install_not_running", 50.0, std::nullopt, std::nullopt, ""};
  EXPECT_FALSE(target_met(*target_of("install_not_running"), no_kernel, {no_kernel}));
  // The 64-groups row is judged against switch_4_events, which a --filter may leave out.
  const SummaryRow many{"switch_64_installed_4_counters", 100.0, std::nullopt, 80.0, ""};
  EXPECT_FALSE(target_met(*target_of(many.name), many, {many}));
  const SummaryRow four{"switch_4_events", 95.0, std::nullopt, 80.0, ""};
  EXPECT_EQ(target_met(*target_of(many.name), many, {many, four}), std::optional<bool>(true));
}

}  // namespace
}  // namespace pctx::bench
