// The probe reports facts that can be checked another way.
#include "pctx/pmu/capabilities.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "pctx/pmu/kernel_pmus.hpp"

namespace pctx::pmu {
namespace {

TEST(Capabilities, MatchTheKernel) {
  const auto caps = probe_capabilities();
  utsname u{};
  ASSERT_EQ(uname(&u), 0);
  EXPECT_EQ(caps.kernel, u.release);
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  int paranoid = 99;
  in >> paranoid;
  EXPECT_EQ(caps.paranoid, paranoid);
  EXPECT_EQ(caps.root, geteuid() == 0);
  if (caps.root) {
    EXPECT_TRUE(caps.privileged);
  }
  // A hardware counter opens exactly when the kernel registers a core PMU.
  EXPECT_EQ(caps.hardware_pmu, kernel_has_core_pmu()) << caps.hardware_pmu_reason;
  if (!caps.hardware_pmu) {
    EXPECT_FALSE(caps.rdpmc);
    EXPECT_FALSE(caps.hardware_pmu_reason.empty());
    EXPECT_EQ(caps.core_counters, -1);
  }
}

TEST(Capabilities, SoftwarePmuAlwaysListedAndUsable) {
  const auto caps = probe_capabilities();
  // The names `pctx list` uses: pctx's tsc driver first, then the kernel's software events.
  ASSERT_GE(caps.pmus.size(), 2u);
  EXPECT_EQ(caps.pmus[0].name, "tsc");
  EXPECT_EQ(caps.pmus[1].name, "software");
  EXPECT_TRUE(caps.pmus[1].usable);
  EXPECT_FALSE(caps.pmus[1].hardware);
  for (const auto& p : caps.pmus) {
    if (p.hardware) {
      EXPECT_EQ(p.usable, caps.hardware_pmu) << p.name;
    }
  }
}

TEST(Capabilities, NmiWatchdogTakesACounter) {
  Capabilities c;
  c.core_counters = 6;
  c.nmi_watchdog = 1;
  EXPECT_EQ(c.available_core_counters(), 5);
  c.nmi_watchdog = 0;
  EXPECT_EQ(c.available_core_counters(), 6);
  c.core_counters = -1;
  EXPECT_EQ(c.available_core_counters(), -1);
}

}  // namespace
}  // namespace pctx::pmu
