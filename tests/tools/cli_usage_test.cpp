// What `pctx` promises a user beyond its results: every --help ends with examples that are
// real pctx commands, and `info -x` prints plain CSV cells.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tools/pctx_process.hpp"

namespace {

using pctx::cli_test::lines_of;
using pctx::cli_test::run_pctx;

std::string sysfs_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The lines after the last "Examples:" line of `help`, which must end it: each one indented
// example, nothing else after them.
std::vector<std::string> examples_of(const std::string& help) {
  const auto lines = lines_of(help);
  size_t at = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == "Examples:") at = i;
  }
  std::vector<std::string> examples;
  for (size_t i = at + 1; i < lines.size(); ++i) examples.push_back(lines[i]);
  return examples;
}

TEST(PctxHelp, EveryCommandEndsWithExamplesOfPctx) {
  const std::vector<std::vector<std::string>> commands = {{},
                                                          {"info"},
                                                          {"list"},
                                                          {"run"},
                                                          {"bench"},
                                                          {"hotplug"},
                                                          {"hotplug", "down"},
                                                          {"hotplug", "up"},
                                                          {"hotplug", "status"},
                                                          {"hotplug", "restore"},
                                                          {"torture"}};
  for (auto args : commands) {
    std::string name = "pctx";
    for (const auto& a : args) name += " " + a;
    SCOPED_TRACE(name);
    args.push_back("--help");
    const auto r = run_pctx(args);
    ASSERT_FALSE(r.hung);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const auto examples = examples_of(r.out);
    ASSERT_FALSE(examples.empty()) << "no Examples section at the end:\n" << r.out;
    for (const auto& e : examples) {
      ASSERT_EQ(e.rfind("  ", 0), 0u) << "an example, indented by two: '" << e << "'";
      const std::string command = e.substr(2);
      EXPECT_EQ(command.substr(0, command.find(' ')), "pctx") << e;
      if (args.size() > 1) {
        // The examples of a command are of that command (hotplug down's may show up too).
        EXPECT_EQ(command.rfind("pctx " + args[0], 0), 0u) << e;
      }
    }
  }
}

// The examples that only read the machine run here and succeed; the others run workloads,
// benchmarks or hotplug and are left to their own tests.
TEST(PctxHelp, ReadOnlyExamplesSucceed) {
  int ran = 0;
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"info"}, std::vector<std::string>{"list"},
        std::vector<std::string>{"hotplug", "status"}}) {
    auto args = command;
    args.push_back("--help");
    for (const auto& e : examples_of(run_pctx(args).out)) {
      std::vector<std::string> words;
      std::string word;
      for (char c : e.substr(2) + " ") {
        if (c != ' ') {
          word += c;
        } else if (!word.empty()) {
          words.push_back(word);
          word.clear();
        }
      }
      if (words.size() < 2 || words[1] != command[0]) continue;
      if (words.size() > 2 && command[0] == "hotplug" && words[2] != "status") continue;
      words.erase(words.begin());
      const auto r = run_pctx(words, std::chrono::seconds(30));
      EXPECT_EQ(r.exit_code, 0) << e << ": " << r.err;
      EXPECT_FALSE(r.out.empty()) << e;
      ++ran;
    }
  }
  EXPECT_EQ(ran, 9) << "info's three examples, list's four and hotplug status's two";
}

// Each row of `info -x,` is a key and a plain value: no JSON object or array in a cell, one
// row per key, and the values are info --json's.
TEST(PctxInfo, CsvCellsArePlainValues) {
  const auto csv = run_pctx({"info", "-x,"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const auto lines = lines_of(csv.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "key,value");
  std::map<std::string, std::string> cells;
  for (size_t i = 1; i < lines.size(); ++i) {
    const auto& line = lines[i];
    const auto comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << line;
    const std::string key = line.substr(0, comma);
    std::string value = line.substr(comma + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);  // quoted for a comma inside, as CSV does
    } else {
      EXPECT_EQ(value.find(','), std::string::npos) << "two cells in one row: " << line;
    }
    EXPECT_TRUE(value.empty() || (value.front() != '{' && value.front() != '['))
        << "JSON in a cell: " << line;
    EXPECT_TRUE(cells.emplace(key, value).second) << "key twice: " << key;
  }
  EXPECT_EQ(cells["cpus.online"], sysfs_line("/sys/devices/system/cpu/online"));
  EXPECT_EQ(cells["cpus.offline"], sysfs_line("/sys/devices/system/cpu/offline"));

  const auto json = run_pctx({"info", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto j = nlohmann::json::parse(json.out);
  EXPECT_EQ(cells["kernel"], j["kernel"].get<std::string>());
  EXPECT_EQ(cells["paranoid"], std::to_string(j["paranoid"].get<int>()));
  EXPECT_EQ(cells["hardware_pmu"], j["hardware_pmu"].get<bool>() ? "true" : "false");
  std::string kernel_pmus;
  for (const auto& p : j["kernel_pmus"]) {
    kernel_pmus += (kernel_pmus.empty() ? "" : " ") + p.get<std::string>();
  }
  EXPECT_EQ(cells["kernel_pmus"], kernel_pmus) << "a list is one space-separated cell";
  for (const auto& p : j["pmus"]) {
    const std::string prefix = "pmus." + p["name"].get<std::string>() + ".";
    EXPECT_EQ(cells[prefix + "counters"], std::to_string(p["counters"].get<int>()));
    EXPECT_EQ(cells[prefix + "usable"], p["usable"].get<bool>() ? "true" : "false");
  }
  EXPECT_EQ(cells["hypervisor"],
            j["hypervisor"].is_null() ? "" : j["hypervisor"].get<std::string>());

  // Another separator splits the same rows.
  const auto semi = run_pctx({"info", "-x;"});
  ASSERT_EQ(semi.exit_code, 0) << semi.err;
  EXPECT_EQ(lines_of(semi.out).size(), lines.size());
  EXPECT_EQ(lines_of(semi.out)[0], "key;value");
}

}  // namespace
