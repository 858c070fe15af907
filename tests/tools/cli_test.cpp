// The `pctx` command as a user runs it: its output must be the machine's true facts.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pctx/cpu/sysfs.hpp"
#include "pctx/pmu/kernel_pmus.hpp"

namespace {

struct Run {
  int status = -1;
  std::string out;
};

Run run(const std::string& args) {
  Run r;
  const std::string cmd = std::string(PCTX_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string sysfs_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(PctxInfo, JsonHoldsTheMachinesFacts) {
  auto r = run("info --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"kernel", "cpus", "hardware_pmu", "pmus", "paranoid", "privileged",
                          "rdpmc", "hypervisor"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["cpus"]["online"], sysfs_line("/sys/devices/system/cpu/online"));
  EXPECT_EQ(j["cpus"]["offline"], sysfs_line("/sys/devices/system/cpu/offline"));
  pctx::cpu::CpuSet hotpluggable;
  for (int c : pctx::cpu::present_cpus().cpus()) {
    if (access(("/sys/devices/system/cpu/cpu" + std::to_string(c) + "/online").c_str(), F_OK) ==
        0) {
      hotpluggable.set(c);
    }
  }
  EXPECT_EQ(j["cpus"]["hotpluggable"], hotpluggable.to_string());
  EXPECT_EQ(j["hardware_pmu"].get<bool>(), pctx::pmu::kernel_has_core_pmu());
  EXPECT_EQ(j["paranoid"].get<int>(),
            std::stoi(sysfs_line("/proc/sys/kernel/perf_event_paranoid")));
  if (geteuid() == 0) {
    EXPECT_TRUE(j["privileged"].get<bool>());
  }
  ASSERT_TRUE(j["pmus"].is_array());
  bool software = false;
  for (const auto& p : j["pmus"]) {
    for (const char* key : {"name", "counters", "fixed", "hardware"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    if (p["name"] == "software") software = !p["hardware"].get<bool>();
  }
  EXPECT_TRUE(software) << "the software PMU is always listed";
}

TEST(PctxInfo, HumanTableAndCsv) {
  auto r = run("info");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("hardware PMU"), std::string::npos);
  EXPECT_NE(r.out.find("hotpluggable"), std::string::npos);
  auto csv = run("info -x,");
  ASSERT_EQ(csv.status, 0) << csv.out;
  EXPECT_EQ(csv.out.rfind("key,value\n", 0), 0u);
}

TEST(PctxList, SoftwareEventsAreListed) {
  auto r = run("list");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* ev : {"task-clock", "page-faults", "context-switches", "cpu-clock"}) {
    EXPECT_NE(r.out.find(ev), std::string::npos) << ev;
  }
  auto j = run("list --json");
  ASSERT_EQ(j.status, 0);
  const auto events = nlohmann::json::parse(j.out);
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) {
    EXPECT_TRUE(e["usable"].get<bool>()) << e["name"] << ": only usable events without --all";
    if (!pctx::pmu::kernel_has_core_pmu()) {
      EXPECT_FALSE(e["hardware"].get<bool>()) << e["name"];
    }
  }
}

TEST(PctxList, PatternAndAll) {
  auto r = run("list clock --json");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const auto& e : nlohmann::json::parse(r.out)) {
    EXPECT_NE(e["name"].get<std::string>().find("clock"), std::string::npos);
  }
  auto all = run("list --all cycles --json");
  ASSERT_EQ(all.status, 0) << all.out;
  bool cycles = false;
  for (const auto& e : nlohmann::json::parse(all.out)) cycles |= e["name"] == "cycles";
  EXPECT_TRUE(cycles);
  auto none = run("list no-such-event-anywhere");
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.out.find("no events match"), std::string::npos);
}

TEST(PctxHotplug, StatusAndBadLists) {
  auto r = run("hotplug status --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["online"], sysfs_line("/sys/devices/system/cpu/online"));
  EXPECT_TRUE(j.contains("journaled"));
  auto bad = run("hotplug down 1-x");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("bad CPU list '1-x'"), std::string::npos) << bad.out;
  auto none = run("hotplug up ''");
  EXPECT_EQ(none.status, 2) << none.out;
}

TEST(Pctx, BadUsageFails) {
  EXPECT_NE(run("").status, 0);
  EXPECT_NE(run("no-such-command").status, 0);
  EXPECT_NE(run("info --json -x,").status, 0) << "--json and -x exclude each other";
}

}  // namespace
