// The `pctx` command as a user runs it: its output must be the machine's true facts.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "pctx/cpu/sysfs.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/kernel_pmus.hpp"

namespace {

struct Run {
  int status = -1;
  std::string out;
};

// Runs pctx; stderr is captured too unless `stdout_only` (for JSON).
Run run(const std::string& args, bool stdout_only = false) {
  Run r;
  const std::string cmd =
      std::string(PCTX_BINARY) + " " + args + (stdout_only ? " 2>/dev/null" : " 2>&1");
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

namespace {

// Each task's events from `pctx run --json`, by event label.
struct TaskResult {
  std::string workload;
  double on_cpu_ticks = 0;
  std::map<std::string, nlohmann::json> events;
};

std::vector<TaskResult> tasks_of(const nlohmann::json& j) {
  std::vector<TaskResult> out;
  for (const auto& t : j["tasks"]) {
    TaskResult r;
    r.workload = t["workload"];
    r.on_cpu_ticks = t["on_cpu_ticks"].get<double>();
    for (const auto& e : t["events"]) r.events[e["event"]] = e;
    out.push_back(std::move(r));
  }
  return out;
}

TEST(PctxRun, DefaultsCountEveryTaskAndWorkloadsDiffer) {
  auto r = run("run --duration 0.4 --json", true);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("tasks") && j.contains("cpus"));
  const bool hw = j["spec"] == "cycles,instructions";
  if (!hw) {
    EXPECT_EQ(j["spec"], "tsc,task-clock,page-faults,context-switches");
  }
  const auto tasks = tasks_of(j);
  ASSERT_GE(tasks.size(), 4u) << "two tasks per CPU by default, workloads in turn";
  std::map<std::string, const TaskResult*> by_workload;
  for (const auto& t : tasks) {
    by_workload[t.workload] = &t;
    for (const auto& [name, e] : t.events) {
      for (const char* key :
           {"count", "time_enabled", "time_running", "scaled", "percent_running"}) {
        EXPECT_TRUE(e.contains(key)) << name << " lacks " << key;
      }
      EXPECT_GT(e["time_enabled"].get<uint64_t>(), 0u) << t.workload << " " << name;
    }
  }
  for (const auto& c : j["cpus"]) EXPECT_FALSE(c["events"].empty());
  if (hw) return;
  ASSERT_TRUE(by_workload.count("spin") && by_workload.count("chase") &&
              by_workload.count("syscall"));
  auto value = [&](const char* w, const char* e) {
    return by_workload[w]->events.at(e)["count"].get<double>();
  };
  // What each workload is made of shows in what it counts.
  // The chase faults in 8 MiB (2048 pages); a spin touches only its stack (and, under
  // TSan, the shadow of what its CPU thread touches).
  EXPECT_GT(value("chase", "page-faults"), 10 * (value("spin", "page-faults") + 1))
      << "the chase faults its buffer in";
  // Involuntary switches of a loaded machine land on any task: a margin, not a ratio.
  EXPECT_GT(value("syscall", "context-switches"), 2 * (value("spin", "context-switches") + 1))
      << "the syscall workload sleeps in the kernel";
  EXPECT_LT(value("syscall", "task-clock") / value("syscall", "tsc"),
            0.95 * value("spin", "task-clock") / value("spin", "tsc"))
      << "time asleep runs the tsc, not task-clock";
}

TEST(PctxRun, CappedCountersMultiplexAndScaleToTheTaskTime) {
  auto r = run("run --duration 0.5 --tasks 1 --counters tsc=2 -e tsc,tsc,tsc,tsc --json", true);
  ASSERT_EQ(r.status, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j["tasks"].empty());
  for (const auto& t : j["tasks"]) {
    const double ticks = t["on_cpu_ticks"].get<double>();
    ASSERT_EQ(t["events"].size(), 4u);
    for (const auto& e : t["events"]) {
      EXPECT_LT(e["percent_running"].get<double>(), 90.0) << "4 events on 2 counters";
      EXPECT_GT(e["percent_running"].get<double>(), 10.0) << "every group gets its turn";
      ASSERT_FALSE(e["scaled"].is_null());
      EXPECT_NEAR(e["scaled"].get<double>() / ticks, 1.0, 0.05) << t["name"];
    }
  }
}

// The command as a user types it, at the default time slice and rotation interval: with
// 2, 3 and 4 tasks per CPU every event of every task runs 40-60% of its task's time (the
// tasks' slices once lined up with the rotation timer and starved the second task).
TEST(PctxRun, EveryTaskMultiplexesFairlyAtTheDefaults) {
  for (int tasks : {2, 3, 4}) {
    auto r = run("run --duration 2 --counters tsc=2 -e tsc,tsc,tsc,tsc -w spin --tasks " +
                     std::to_string(tasks) + " --json",
                 true);
    ASSERT_EQ(r.status, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_FALSE(j["tasks"].empty());
    for (const auto& t : j["tasks"]) {
      ASSERT_EQ(t["events"].size(), 4u);
      for (const auto& e : t["events"]) {
        const double pct = e["percent_running"].get<double>();
        EXPECT_GE(pct, 40.0) << tasks << " tasks per CPU: " << t["name"];
        EXPECT_LE(pct, 60.0) << tasks << " tasks per CPU: " << t["name"];
      }
    }
  }
}

TEST(PctxRun, TableAndCsv) {
  // perf stat's layout: a header, a block per task, right-aligned counts with units and
  // `#` metrics, and the elapsed time.
  auto table = run("run --duration 0.2 --tasks 1 -w spin -e tsc,task-clock,page-faults");
  ASSERT_EQ(table.status, 0) << table.out;
  EXPECT_NE(table.out.find("Performance counter stats for"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" msec task-clock"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("CPUs utilized"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("seconds time elapsed"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("spin-"), std::string::npos);
  auto csv = run("run --duration 0.2 --tasks 1 -w spin -e task-clock -x,", true);
  ASSERT_EQ(csv.status, 0) << csv.out;
  // perf stat -x, with perf's leading scope column (a task as name-id, a CPU as CPUn).
  EXPECT_NE(csv.out.find(",msec,task-clock,"), std::string::npos) << csv.out;
  EXPECT_NE(csv.out.find("CPU0,"), std::string::npos) << csv.out;
}

TEST(PctxRun, BadInputSaysWhatToDo) {
  auto e = run("run --duration 0.1 -e nosuchevent");
  EXPECT_NE(e.status, 0);
  EXPECT_NE(e.out.find("nosuchevent"), std::string::npos) << e.out;
  auto c = run("run --duration 0.1 --cpus 4000");
  EXPECT_EQ(c.status, 2);
  EXPECT_NE(c.out.find("offline"), std::string::npos) << c.out;
  auto p = run("run --duration 0.1 --counters bogus=2");
  EXPECT_NE(p.status, 0);
  EXPECT_NE(p.out.find("tsc=N"), std::string::npos) << p.out;
  auto w = run("run --duration 0.1 -w nope");
  EXPECT_EQ(w.status, 2);
  EXPECT_NE(w.out.find("spin, chase, syscall, mixed"), std::string::npos) << w.out;
  if (!pctx::pmu::kernel_has_core_pmu()) {
    auto hw = run("run --duration 0.1 -e cycles");
    EXPECT_NE(hw.status, 0);
    EXPECT_NE(hw.out.find("hardware PMU"), std::string::npos) << hw.out;
  }
}

}  // namespace

namespace {

// pctx bench --quick end to end: the table, the JSON (Google Benchmark's report plus the
// summary) and the plot. Speed is not asserted: the machine is shared.
TEST(PctxBench, QuickPrintsTheTableAndWritesJsonAndPlot) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the timing suites run in the release build, not under a sanitizer";
#endif
  const std::string json = ::testing::TempDir() + "pctx-bench.json";
  const std::string png = ::testing::TempDir() + "pctx-bench.png";
  std::remove(json.c_str());
  std::remove(png.c_str());
  const bool matplotlib = std::system("/usr/bin/python3 -c 'import matplotlib' 2>/dev/null") == 0;
  auto r = run("bench --quick --json " + json + (matplotlib ? " --plot " + png : ""));
  ASSERT_EQ(r.status, 0) << r.out;
  const char* names[] = {"install_remote_running",
                         "install_not_running",
                         "install_cpu_polling",
                         "switch_4_events",
                         "switch_4_sw_events",
                         "switch_64_installed_4_counters",
                         "read_local",
                         "read_remote",
                         "rotate_16_on_4"};
  for (const char* name : names) EXPECT_NE(r.out.find(name), std::string::npos) << name;
  EXPECT_NE(r.out.find("kernel/pctx"), std::string::npos);
  EXPECT_NE(r.out.find("target"), std::string::npos);

  std::ifstream in(json);
  ASSERT_TRUE(in) << "no " << json;
  const auto j = nlohmann::json::parse(in);
  ASSERT_TRUE(j.contains("benchmarks") && j.contains("context")) << "Google Benchmark's report";
  std::map<std::string, nlohmann::json> summary;
  for (const auto& s : j["summary"]) summary[s["name"]] = s;
  for (const char* name : names) {
    ASSERT_TRUE(summary.count(name)) << name;
    const auto& s = summary[name];
    for (const char* key : {"name", "pctx_ns", "kernel_ns", "floor_ns", "speedup"}) {
      EXPECT_TRUE(s.contains(key)) << name << " lacks " << key;
    }
    EXPECT_GT(s["pctx_ns"].get<double>(), 0) << name;
    EXPECT_EQ(s["kernel_ns"].is_null(), s["speedup"].is_null()) << name;
  }
  // The hardware rows run where there is a PMU, and are skipped with the reason elsewhere.
  const auto caps = pctx::pmu::probe_capabilities();
  for (const char* bench : {"switch_hw/2", "read_local_hw", "rdpmc_floor"}) {
    const bool can = caps.hardware_pmu && (std::string(bench) != "rdpmc_floor" || caps.rdpmc);
    const auto at = r.out.find(std::string("skipped ") + bench + ": ");
    EXPECT_EQ(at == std::string::npos, can) << bench << "\n" << r.out;
    if (!can && at != std::string::npos) {
      EXPECT_NE(r.out.find(caps.hardware_pmu ? caps.rdpmc_reason : caps.hardware_pmu_reason, at),
                std::string::npos)
          << bench << " is skipped with the reason";
    }
  }
  EXPECT_EQ(summary.count("switch_2_hw_events") == 1, caps.hardware_pmu);
  EXPECT_FALSE(summary["install_not_running"]["kernel_ns"].is_null());
  EXPECT_TRUE(summary["rotate_16_on_4"]["kernel_ns"].is_null());
  EXPECT_FALSE(summary["install_cpu_polling"]["floor_ns"].is_null());
  // Every row but the rotation has a target, and in a whole run each is judged: met or not.
  for (const char* name : names) {
    const auto& s = summary[name];
    ASSERT_TRUE(s.contains("target") && s.contains("target_met")) << name;
    if (std::string(name) == "rotate_16_on_4") {
      EXPECT_TRUE(s["target"].is_null() && s["target_met"].is_null()) << name;
      continue;
    }
    EXPECT_TRUE(s["target"].is_string()) << name;
    EXPECT_TRUE(s["target_met"].is_boolean()) << name << ": " << s.dump();
  }

  if (!matplotlib) GTEST_SKIP() << "no python3-matplotlib: the plot was not tried";
  std::ifstream plot(png, std::ios::binary);
  char magic[4] = {};
  plot.read(magic, 4);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG") << "no PNG written at " << png;
}

}  // namespace

namespace {

size_t line_count(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n' ? 1 : 0;
  return n;
}

// `pctx hotplug down|up` with a bad list changes nothing: one line per kind of problem,
// naming the CPUs as a kernel list, and exit 2. Root or not, nothing is written.
TEST(PctxHotplug, ABadListChangesNothingAndSaysWhyOnce) {
  const std::string offline_before = sysfs_line("/sys/devices/system/cpu/offline");
  const auto present = pctx::cpu::present_cpus();
  auto many = run("hotplug down 0-999");
  EXPECT_EQ(many.status, 2) << many.out;
  EXPECT_LE(line_count(many.out), 4u) << many.out;
  if (present.last() < 999) {
    auto absent = pctx::cpu::CpuSet::parse("0-999");
    ASSERT_TRUE(absent);
    const std::string expected = "pctx hotplug: CPUs " + (*absent - present).to_string() +
                                 " do not exist (present: " + present.to_string() + ")";
    EXPECT_NE(many.out.find(expected), std::string::npos) << many.out;
  }
  EXPECT_EQ(many.out.find("offline\n"), std::string::npos) << "nothing was taken offline";
  EXPECT_EQ(sysfs_line("/sys/devices/system/cpu/offline"), offline_before);

  auto zero = run("hotplug down 0");
  EXPECT_EQ(zero.status, 2) << zero.out;
  EXPECT_EQ(line_count(zero.out), 1u) << zero.out;
  const bool zero_hotpluggable = pctx::cpu::hotpluggable_cpus().test(0);
  EXPECT_NE(zero.out.find(zero_hotpluggable ? "CPU 0 is left alone unless --allow-cpu0"
                                            : "CPU 0 cannot be hotplugged"),
            std::string::npos)
      << zero.out;

  auto up = run("hotplug up 0-999");
  EXPECT_EQ(up.status, 2) << up.out;
  EXPECT_LE(line_count(up.out), 4u) << up.out;
  EXPECT_EQ(sysfs_line("/sys/devices/system/cpu/offline"), offline_before);
}

}  // namespace
