#include "pctx/cpu/topology.hpp"

#include <gtest/gtest.h>

#include <string>

#include "pctx/cpu/sysfs.hpp"
#include "pctx/cpu/uevent.hpp"

namespace pctx::cpu {
namespace {

TEST(Topology, DescribesEveryOnlineCpu) {
  auto t = Topology::load();
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->online, online_cpus());
  EXPECT_EQ(static_cast<int>(t->places.size()), t->online.count());
  for (const auto& p : t->places) {
    EXPECT_TRUE(t->online.test(p.cpu)) << p.cpu;
    EXPECT_GE(p.core, 0);
    EXPECT_GE(p.package, 0);
  }
  EXPECT_GE(t->cores, 1);
  EXPECT_GE(t->packages, 1);
  EXPECT_GE(t->numa_nodes, 1);
  EXPECT_LE(t->cores, t->online.count());
  EXPECT_NE(t->place(t->online.first()), nullptr);
  EXPECT_EQ(t->place(-1), nullptr);
}

std::string datagram(std::initializer_list<const char*> fields) {
  std::string d;
  for (const char* f : fields) {
    d += f;
    d += '\0';
  }
  return d;
}

TEST(Uevent, ParsesCpuOnlineAndOffline) {
  auto off = parse_cpu_uevent(
      datagram({"offline@/devices/system/cpu/cpu1", "ACTION=offline",
                "DEVPATH=/devices/system/cpu/cpu1", "SUBSYSTEM=cpu", "SEQNUM=4242"}));
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->online);
  EXPECT_EQ(off->cpu, 1);
  auto on = parse_cpu_uevent(datagram({"online@/devices/system/cpu/cpu17", "ACTION=online",
                                       "DEVPATH=/devices/system/cpu/cpu17", "SUBSYSTEM=cpu"}));
  ASSERT_TRUE(on);
  EXPECT_TRUE(on->online);
  EXPECT_EQ(on->cpu, 17);
}

TEST(Uevent, IgnoresEverythingElse) {
  EXPECT_FALSE(parse_cpu_uevent(""));
  EXPECT_FALSE(parse_cpu_uevent(datagram({"add@/devices/virtual/net/lo", "ACTION=add",
                                          "DEVPATH=/devices/virtual/net/lo", "SUBSYSTEM=net"})));
  EXPECT_FALSE(parse_cpu_uevent(datagram({"change@/devices/system/cpu/cpu1", "ACTION=change",
                                          "DEVPATH=/devices/system/cpu/cpu1", "SUBSYSTEM=cpu"})));
  EXPECT_FALSE(parse_cpu_uevent(datagram({"libudev", "ACTION=online", "SUBSYSTEM=cpu"})))
      << "udev's rebroadcast has no ACTION@DEVPATH header";
  EXPECT_FALSE(
      parse_cpu_uevent(datagram({"online@/devices/system/cpu/cpufreq", "ACTION=online",
                                 "DEVPATH=/devices/system/cpu/cpufreq", "SUBSYSTEM=cpu"})));
  EXPECT_FALSE(parse_cpu_uevent(datagram({"online@/devices/system/cpu/cpu1x", "ACTION=online",
                                          "DEVPATH=/devices/system/cpu/cpu1x", "SUBSYSTEM=cpu"})));
}

// Found by the uevent fuzzer: from_chars alone took "cpu08" for CPU 8 and "cpu-0" for CPU 0.
TEST(Uevent, TheCpuNumberIsWrittenAsTheKernelWritesIt) {
  const auto parse = [](const std::string& cpu) {
    const std::string devpath = "/devices/system/cpu/" + cpu;
    return parse_cpu_uevent(datagram({("online@" + devpath).c_str(), "ACTION=online",
                                      ("DEVPATH=" + devpath).c_str(), "SUBSYSTEM=cpu"}));
  };
  for (const char* cpu :
       {"cpu08", "cpu00", "cpu-0", "cpu+1", "cpu", "cpu 1", "cpu8192", "cpu99999999999"}) {
    EXPECT_FALSE(parse(cpu)) << cpu;
  }
  for (int cpu : {0, 10, CpuSet::kMaxCpus - 1}) {
    const auto event = parse("cpu" + std::to_string(cpu));
    ASSERT_TRUE(event) << cpu;
    EXPECT_EQ(event->cpu, cpu);
  }
}

}  // namespace
}  // namespace pctx::cpu
