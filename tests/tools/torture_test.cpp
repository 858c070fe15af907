// `pctx torture` and `pctx run` under real CPU hotplug, as a user types them (root and a
// hotpluggable CPU other than CPU 0, else skipped). Every test leaves every CPU online.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cpu/runtime_fixture.hpp"
#include "pctx/cpu/sysfs.hpp"

namespace {

using namespace std::chrono_literals;

// A pctx process with its stdout in a file, so a test can signal it while it runs.
class Pctx {
 public:
  explicit Pctx(const std::vector<std::string>& args) : out_(temp_path()) {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(out_.c_str(), "w", stdout);
      if (f == nullptr) _exit(127);
      std::vector<char*> argv;
      std::string binary = PCTX_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Pctx() {
    if (pid_ > 0 && status_ < 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::remove(out_.c_str());
  }
  void signal(int sig) const { kill(pid_, sig); }
  // The exit status, or -1 if it did not end within `limit`.
  int wait(std::chrono::seconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  std::string output() const {
    std::ifstream in(out_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  static std::string temp_path() {
    static std::atomic<int> n{0};
    return "/tmp/pctx-test-" + std::to_string(getpid()) + "-" + std::to_string(n++) + ".out";
  }
  std::string out_;
  pid_t pid_ = -1;
  int status_ = -1;
};

class HotplugCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    victim_ = pctx::cpu::testing::hotplug_victim(&why);
    if (victim_ < 0) GTEST_SKIP() << why;
    pctx::cpu::testing::bring_every_cpu_online();
  }
  void TearDown() override { pctx::cpu::testing::bring_every_cpu_online(); }
  nlohmann::json json_of(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in, nullptr, false);
  }
  void expect_clean_report(const nlohmann::json& j) {
    ASSERT_FALSE(j.is_discarded()) << "the JSON report does not parse";
    for (const char* key :
         {"verdict", "seed", "cycles", "offline", "online", "per_cpu", "uevent_delay_ns",
          "einval_window", "rebalance_delay_ns", "install_retries", "cross_calls", "signals",
          "rotations", "violations", "kernel_log"}) {
      EXPECT_TRUE(j.contains(key)) << key;
    }
    for (const char* op : {"offline", "online"}) {
      for (const char* key :
           {"attempts", "successes", "failures_by_errno", "min_ns", "p50_ns", "p99_ns", "max_ns"}) {
        EXPECT_TRUE(j[op].contains(key)) << op << "." << key;
      }
    }
    EXPECT_EQ(j["verdict"], "SUCCESS") << j["violations"].dump(2);
    EXPECT_TRUE(j["violations"].empty());
    EXPECT_GT(j["cycles"].get<uint64_t>(), 0u);  // how many depends on the machine
    EXPECT_EQ(j["offline"]["attempts"], j["offline"]["successes"]);
    EXPECT_EQ(pctx::cpu::online_cpus(), pctx::cpu::present_cpus()) << "every CPU back online";
  }
  int victim_ = -1;
};

TEST_F(HotplugCli, TortureTwentySeconds) {
  const std::string json = "/tmp/pctx-torture-internal.json";
  Pctx p({"torture", "--duration", "20", "--json", json});
  ASSERT_EQ(p.wait(120s), 0) << p.output();
  EXPECT_NE(p.output().find("SUCCESS"), std::string::npos) << p.output();
  expect_clean_report(json_of(json));
  std::remove(json.c_str());
}

TEST_F(HotplugCli, TortureTwentySecondsExternal) {
  const std::string json = "/tmp/pctx-torture-external.json";
  Pctx p({"torture", "--duration", "20", "--external", "--json", json});
  ASSERT_EQ(p.wait(120s), 0) << p.output();
  const auto j = json_of(json);
  expect_clean_report(j);
  EXPECT_GT(j["uevent_delay_ns"]["max"].get<int64_t>(), 0) << "pctx followed outside changes";
  std::remove(json.c_str());
}

// Another program toggles the same CPU meanwhile: operations may fail (HOTPLUG_FAIL), but
// nothing pctx promises may break, and every CPU is back at the end.
TEST_F(HotplugCli, TortureHoldsWhileAnUnknownProgramTogglesCpus) {
  const std::string json = "/tmp/pctx-torture-toggled.json";
  Pctx p({"torture", "--duration", "8", "--json", json});
  std::this_thread::sleep_for(1s);
  for (int i = 0; i < 40; ++i) {
    (void)pctx::cpu::write_cpu_online(victim_, i % 2 == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + (i * 7) % 40));
  }
  (void)pctx::cpu::write_cpu_online(victim_, true);
  const int status = p.wait(120s);
  ASSERT_TRUE(status == 0 || status == 3) << "status " << status << "\n" << p.output();
  const auto j = json_of(json);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_TRUE(j["violations"].empty()) << j["violations"].dump(2);
  EXPECT_EQ(pctx::cpu::online_cpus(), pctx::cpu::present_cpus());
  std::remove(json.c_str());
}

TEST_F(HotplugCli, CtrlCPrintsTheTortureReportSoFar) {
  const std::string json = "/tmp/pctx-torture-interrupted.json";
  Pctx p({"torture", "--duration", "120", "--json", json});
  std::this_thread::sleep_for(3s);
  p.signal(SIGINT);
  const int status = p.wait(60s);
  ASSERT_EQ(status, 0) << p.output();
  EXPECT_NE(p.output().find("interrupted"), std::string::npos) << p.output();
  const auto j = json_of(json);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_TRUE(j["interrupted"].get<bool>());
  EXPECT_EQ(j["verdict"], "SUCCESS") << j["violations"].dump(2);
  EXPECT_EQ(pctx::cpu::online_cpus(), pctx::cpu::present_cpus());
  std::remove(json.c_str());
}

TEST_F(HotplugCli, TortureRefusesBadUsageAndChangesNothing) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"torture", "--duration", "nan"},
        std::vector<std::string>{"torture", "--duration", "-1"},
        std::vector<std::string>{"torture", "--interval", "-5"},
        std::vector<std::string>{"torture", "--seed", "twelve"},
        std::vector<std::string>{"torture", "--json", "/nonexistent/dir/r.json"}}) {
    Pctx p(args);
    EXPECT_EQ(p.wait(10s), 2) << args[1] << " " << args[2];
    EXPECT_EQ(pctx::cpu::online_cpus(), pctx::cpu::present_cpus());
  }
}

// The per-CPU rows of `pctx run` are CPU-context events: cpu1's row is there with its
// offline time, its events counted, and the tasks that asked for cpu1 went back to it
// after 30 toggles by another program.
TEST_F(HotplugCli, RunKeepsPerCpuRowsAndUsesEveryCpuAfterOutsideToggles) {
  // Long enough that the run goes on well after the toggles (about 2.5 s here).
  Pctx p({"run", "--duration", "10", "--tasks", "2", "-w", "spin", "--json"});
  std::this_thread::sleep_for(500ms);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) {
    (void)pctx::cpu::write_cpu_online(victim_, i % 2 == 1);
    std::this_thread::sleep_for(30ms);
  }
  (void)pctx::cpu::write_cpu_online(victim_, true);
  const double toggling_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("30 toggles took %.1f s\n", toggling_s);
  ASSERT_EQ(p.wait(60s), 0) << p.output();
  const auto j = nlohmann::json::parse(p.output(), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << p.output();
  bool row = false;
  for (const auto& c : j["cpus"]) {
    if (c["cpu"] != victim_) continue;
    row = true;
    EXPECT_GT(c["offline_ns"].get<int64_t>(), 100'000'000) << "15 offline periods of ~30 ms";
    for (const auto& e : c["events"]) EXPECT_GT(e["count"].get<uint64_t>(), 0u) << e["event"];
  }
  EXPECT_TRUE(row) << "no row for cpu" << victim_;
  EXPECT_FALSE(j["affinity_restored"].empty()) << "tasks asked for cpu" << victim_;
  int on_victim = 0;
  for (const auto& t : j["tasks"]) on_victim += t["cpu"] == victim_ ? 1 : 0;
  EXPECT_EQ(on_victim, 2) << "after the toggles, cpu" << victim_ << "'s tasks run there again";
}

}  // namespace
