// `pctx run` as perf stat users read it: its -x CSV and --json parse with the same reader
// as perf stat's own output recorded on this machine; -I and -r print what perf's do;
// Ctrl-C and SIGTERM print the counts so far; and every event `pctx list` offers counts.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "pctx_process.hpp"
#include "perf_stat_parse.hpp"

namespace {

using pctx::cli_test::parse_perf_stat_csv;
using pctx::cli_test::parse_perf_stat_json;
using pctx::cli_test::PerfStatRow;
using pctx::cli_test::run_pctx;

std::string data_file(const std::string& name) {
  std::ifstream in(std::string(PCTX_TEST_DATA) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::pair<std::string, std::string>> scope_events(const std::vector<PerfStatRow>& rows) {
  std::set<std::pair<std::string, std::string>> out;
  for (const auto& r : rows) out.insert({r.scope, r.event});
  return out;
}

// What perf stat prints and a reader relies on, for rows of task-clock and a count.
void expect_perf_shape(const std::vector<PerfStatRow>& rows, const std::string& what) {
  ASSERT_FALSE(rows.empty()) << what;
  for (const auto& r : rows) {
    SCOPED_TRACE(what + ": " + r.scope + " " + r.event);
    EXPECT_GE(r.percent_running, 0.0);
    EXPECT_LE(r.percent_running, 100.0);
    if (!r.counted()) continue;
    if (r.event == "task-clock") {
      EXPECT_EQ(r.unit, "msec");
      EXPECT_EQ(r.metric_unit, "CPUs utilized");
    } else {
      EXPECT_EQ(r.unit, "");
    }
    EXPECT_GT(r.runtime, 0u);
    EXPECT_GE(r.number(), 0.0);
  }
}

TEST(PerfStatReader, ReadsPerfStatsOwnOutputRecordedHere) {
  for (const char* name : {"perf_stat_x.csv", "perf_stat_per_cpu_x.csv", "perf_stat_repeat_x.csv",
                           "perf_stat_interval_x.csv"}) {
    const auto rows = parse_perf_stat_csv(data_file(name));
    expect_perf_shape(rows, name);
  }
  for (const char* name : {"perf_stat_j.jsonl", "perf_stat_per_cpu_j.jsonl",
                           "perf_stat_repeat_j.jsonl", "perf_stat_interval_j.jsonl"}) {
    const auto rows = parse_perf_stat_json(data_file(name));
    expect_perf_shape(rows, name);
  }
  // The columns land where perf puts them.
  const auto per_cpu = parse_perf_stat_csv(data_file("perf_stat_per_cpu_x.csv"));
  EXPECT_EQ(per_cpu[0].scope, "CPU0");
  const auto repeat = parse_perf_stat_csv(data_file("perf_stat_repeat_x.csv"));
  EXPECT_TRUE(repeat[0].variance.has_value());
  const auto interval = parse_perf_stat_csv(data_file("perf_stat_interval_x.csv"));
  EXPECT_TRUE(interval[0].interval.has_value());
  EXPECT_EQ(parse_perf_stat_json(data_file("perf_stat_per_cpu_j.jsonl"))[0].scope, "0");
}

TEST(PctxRunOutput, CsvAndJsonParseAsPerfStatsDo) {
  const auto csv = run_pctx({"run", "-e", "task-clock,page-faults", "-x,", "--duration", "0.3"},
                            std::chrono::seconds(30));
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const auto csv_rows = parse_perf_stat_csv(csv.out);
  expect_perf_shape(csv_rows, "pctx run -x,");
  const auto json = run_pctx({"run", "-e", "task-clock,page-faults", "--json", "--duration", "0.3"},
                             std::chrono::seconds(30));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto json_rows = parse_perf_stat_json(json.out);
  expect_perf_shape(json_rows, "pctx run --json");
  // Every task and CPU is a row in both, like perf stat --per-thread and -A.
  EXPECT_EQ(scope_events(csv_rows).size(), scope_events(json_rows).size());
  std::map<std::string, std::set<std::string>> events_of;
  for (const auto& r : csv_rows) events_of[r.scope].insert(r.event);
  int tasks = 0, cpus = 0;
  for (const auto& [scope, events] : events_of) {
    if (scope.rfind("CPU", 0) == 0) {
      ++cpus;
      EXPECT_EQ(events, (std::set<std::string>{"task-clock", "context-switches"})) << scope;
    } else {
      ++tasks;
      EXPECT_EQ(events, (std::set<std::string>{"task-clock", "page-faults"})) << scope;
    }
  }
  EXPECT_GE(tasks, 2);  // two tasks per CPU by default
  EXPECT_GE(cpus, 1);
  for (const auto& r : json_rows) EXPECT_TRUE(r.counted()) << r.scope << " " << r.event;
}

TEST(PctxRunOutput, IntervalsAndRepeatsAsPerfStat) {
  const auto iv = run_pctx({"run", "-e", "task-clock", "--tasks", "1", "--cpu-events", "none", "-I",
                            "100", "--duration", "0.45", "-x,"},
                           std::chrono::seconds(30));
  ASSERT_EQ(iv.exit_code, 0) << iv.err;
  std::set<double> times;
  const auto interval_rows = parse_perf_stat_csv(iv.out);
  for (const auto& r : interval_rows) {
    ASSERT_TRUE(r.interval.has_value());
    times.insert(*r.interval);
  }
  // Each interval counts its own stretch, not the total so far: the deltas add up to the
  // last reading less the baseline at the start, so one task's intervals sum to at most
  // the wall time up to the last stamp (plus that last read's latency). Running totals
  // would sum to several times that by the third interval.
  std::map<std::string, double> sum_ms;  // per task
  for (const auto& r : interval_rows) {
    EXPECT_TRUE(r.counted());
    sum_ms[r.scope] += r.number();
  }
  ASSERT_FALSE(times.empty());
  for (const auto& [scope, sum] : sum_ms) {
    EXPECT_LE(sum, *times.rbegin() * 1e3 + 50) << scope << "\n" << iv.out;
  }
  EXPECT_GE(times.size(), 3u);
  const auto ij = run_pctx({"run", "-e", "task-clock", "--tasks", "1", "--cpu-events", "none", "-I",
                            "100", "--duration", "0.35", "--json"},
                           std::chrono::seconds(30));
  ASSERT_EQ(ij.exit_code, 0) << ij.err;
  size_t with_interval = 0;
  for (const auto& r : parse_perf_stat_json(ij.out)) with_interval += r.interval ? 1 : 0;
  EXPECT_GE(with_interval, 2u);
  const auto rep = run_pctx({"run", "-e", "task-clock,page-faults", "--tasks", "1", "--cpu-events",
                             "none", "-r", "3", "--duration", "0.1", "-x,"},
                            std::chrono::seconds(30));
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const auto rows = parse_perf_stat_csv(rep.out);
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) EXPECT_TRUE(r.variance.has_value()) << r.event;
}

// Ctrl-C (SIGINT) or SIGTERM in the middle of a long run: the counts so far, complete and
// valid, and then the signal ends pctx, as it ends perf stat (a shell sees exit 130).
TEST(PctxRunOutput, InterruptedRunPrintsTheCountsSoFar) {
  const auto r = run_pctx({"run", "-e", "task-clock,page-faults", "--duration", "120", "--json"},
                          std::chrono::seconds(60), "", {SIGINT, std::chrono::milliseconds(1500)});
  ASSERT_FALSE(r.hung) << r.err;
  EXPECT_EQ(r.signal, SIGINT) << r.err;
  const auto doc = nlohmann::json::parse(r.out);  // throws on partial JSON
  EXPECT_TRUE(doc["interrupted"].get<bool>());
  EXPECT_LT(doc["elapsed_s"].get<double>(), 60.0);
  ASSERT_FALSE(doc["tasks"].empty());
  for (const auto& t : doc["tasks"]) {
    for (const auto& e : t["events"]) {
      if (e["event"] == "task-clock") {
        EXPECT_GT(e["count"].get<uint64_t>(), 0u) << t["name"];
      }
    }
  }
  EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.err;

  const auto term =
      run_pctx({"run", "-e", "task-clock", "--duration", "120", "-x,"}, std::chrono::seconds(60),
               "", {SIGTERM, std::chrono::milliseconds(1000)});
  ASSERT_FALSE(term.hung) << term.err;
  EXPECT_EQ(term.signal, SIGTERM) << term.err;
  const auto rows = parse_perf_stat_csv(term.out);
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) EXPECT_TRUE(row.counted()) << row.scope;
}

// Where the kernel keeps kernel mode from unprivileged users (paranoid >= 2, its
// default), software events still count in user mode, and the refusal says what to do.
TEST(PctxRunOutput, AnUnprivilegedUserCountsSoftwareEventsInUserMode) {
  std::ifstream in("/proc/sys/kernel/perf_event_paranoid");
  int paranoid = 0;
  in >> paranoid;
  if (paranoid < 2) GTEST_SKIP() << "perf_event_paranoid < 2: anyone counts kernel mode here";
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run pctx as an unprivileged user";
  const pctx::cli_test::PctxAsNobody nobody;
  ASSERT_EQ(nobody.error(), "");
  const auto counted =
      nobody.run({"run", "-e", "task-clock:u,page-faults:u,cs:u", "--tasks", "1", "--cpus", "0",
                  "--cpu-events", "none", "--duration", "0.1", "--json"});
  ASSERT_EQ(counted.exit_code, 0) << counted.err;
  const auto doc = nlohmann::json::parse(counted.out);
  for (const auto& e : doc["tasks"][0]["events"]) {
    EXPECT_GT(e["time_running"].get<uint64_t>(), 0u) << e["event"];
  }
  const auto refused = nobody.run({"run", "-e", "task-clock", "--tasks", "1", "--cpus", "0",
                                   "--cpu-events", "none", "--duration", "0.1"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("perf_event_paranoid"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find(":u"), std::string::npos) << refused.err;
}

// What `pctx list` offers, `pctx run` counts: every usable event and alias, in a task.
TEST(PctxRunOutput, EveryUsableListedEventCountsInATask) {
  const auto list = run_pctx({"list", "--json"}, std::chrono::seconds(30));
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::vector<std::string> names;
  for (const auto& e : nlohmann::json::parse(list.out)) {
    if (!e["usable"].get<bool>()) continue;
    names.push_back(e["name"].get<std::string>());
    for (const auto& a : e["aliases"]) names.push_back(a.get<std::string>());
  }
  ASSERT_GE(names.size(), 10u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const auto r = run_pctx({"run", "-e", name, "--tasks", "1", "--cpus", "0", "--cpu-events",
                             "none", "--duration", "0.05", "--json"},
                            std::chrono::seconds(30));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    ASSERT_EQ(doc["tasks"].size(), 1u);
    const auto& ev = doc["tasks"][0]["events"];
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0]["event"], name);
    // It was on for the task's whole life, whatever it counted (dummy counts nothing).
    EXPECT_GT(ev[0]["time_running"].get<uint64_t>(), 0u);
    EXPECT_EQ(ev[0]["time_running"], ev[0]["time_enabled"]);
  }
}

}  // namespace
