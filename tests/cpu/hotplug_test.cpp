// Real CPU hotplug. Needs root and a hotpluggable CPU; every test leaves every CPU online,
// also when it fails (TearDown) or the process dies (the library's exit guard).
#include "pctx/cpu/hotplug.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "cpu/runtime_fixture.hpp"
#include "pctx/cpu/sysfs.hpp"

extern char** environ;

namespace pctx::cpu {
namespace {

using Clock = std::chrono::steady_clock;

void all_cpus_online() {
  for (int cpu : hotpluggable_cpus().cpus()) {
    if (!cpu_is_online(cpu)) (void)write_cpu_online(cpu, true);
  }
}

class Hotplug : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "CPU hotplug needs root";
    const CpuSet candidates = hotpluggable_cpus() - CpuSet::of({0});
    if (candidates.empty()) GTEST_SKIP() << "no hotpluggable CPU other than CPU 0";
    cpu_ = candidates.last();
    all_cpus_online();
    exit_guard::install();
    journal_path_ = ::testing::TempDir() + "pctx-hotplug-test.journal";
    std::remove(journal_path_.c_str());
    setenv("PCTX_HOTPLUG_JOURNAL", journal_path_.c_str(), 1);
  }
  void TearDown() override {
    all_cpus_online();
    EXPECT_TRUE(offline_cpus().empty()) << "a CPU stayed offline";
  }

  // A raw sysfs write, as someone else would do it; the exit guard still restores it.
  void raw_offline(int cpu) {
    exit_guard::mark_offline(cpu);
    ASSERT_TRUE(write_cpu_online(cpu, false));
  }
  void raw_online(int cpu) {
    ASSERT_TRUE(write_cpu_online(cpu, true));
    exit_guard::mark_online(cpu);
  }

  int cpu_ = -1;
  std::string journal_path_;
};

TEST_F(Hotplug, DownAndUpParkAndRepinTheCpuThread) {
  auto rt = testing::start_runtime();
  ASSERT_TRUE(rt);
  auto& hp = rt->hotplug();
  ASSERT_EQ(rt->thread(cpu_)->state(), CpuState::kRunning);

  ASSERT_TRUE(hp.cpu_down(cpu_));
  EXPECT_FALSE(online_cpus().test(cpu_));
  EXPECT_EQ(rt->thread(cpu_)->state(), CpuState::kParked);
  EXPECT_EQ(cpu_function_call(cpu_, [] { return 0; }), -ENXIO);
  EXPECT_TRUE(hp.journal().cpus().test(cpu_)) << "the offline is journaled";
  EXPECT_FALSE(hp.online().test(cpu_));
  EXPECT_FALSE(hp.topology().online.test(cpu_));
  EXPECT_EQ(hp.topology().place(cpu_), nullptr) << "hwloc no longer sees the CPU";

  ASSERT_TRUE(hp.cpu_up(cpu_));
  EXPECT_TRUE(online_cpus().test(cpu_));
  // cpu_up returns once the CPU is usable: a call right after runs there, pinned.
  EXPECT_EQ(cpu_function_call(cpu_, [this] { return pinned_to(cpu_) ? sched_getcpu() : -1; }),
            cpu_);
  EXPECT_FALSE(hp.journal().cpus().test(cpu_));
  EXPECT_TRUE(hp.topology().online.test(cpu_)) << "the topology is reloaded after a change";
  EXPECT_NE(hp.topology().place(cpu_), nullptr);
  const auto& pin = rt->thread(cpu_)->stats().last_pin;
  EXPECT_EQ(pin.error, 0);
  const auto history = hp.history();
  ASSERT_GE(history.size(), 2u);
  std::printf("cpu_down took %.1f ms, cpu_up %.1f ms, EINVAL window on re-pin %.3f ms\n",
              history[history.size() - 2].took.count() / 1e6, history.back().took.count() / 1e6,
              pin.einval_window.count() / 1e6);
}

TEST_F(Hotplug, RefusesWhatWouldHurt) {
  cpu::Hotplug hp;
  auto zero = hp.cpu_down(0);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, -EPERM);
  auto absent = hp.cpu_down(CpuSet::kMaxCpus - 1);
  ASSERT_FALSE(absent);
  EXPECT_NE(absent.error().message.find("does not exist"), std::string::npos);
  EXPECT_TRUE(hp.cpu_up(cpu_)) << "bringing up an online CPU is a no-op";
}

TEST_F(Hotplug, WithoutRootTheErrorSaysSo) {
  const std::string cmd = "setpriv --reuid=65534 --regid=65534 --clear-groups " +
                          std::string(PCTX_BINARY) + " hotplug down " + std::to_string(cpu_) +
                          " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = pclose(p);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(out.find("CPU hotplug needs root"), std::string::npos) << out;
  EXPECT_TRUE(cpu_is_online(cpu_));
}

TEST_F(Hotplug, AnOfflineFromOutsideIsReconciledQuickly) {
  RuntimeOptions options;
  options.watch_hotplug = true;
  auto started = CpuRuntime::start(options);
  ASSERT_TRUE(started) << started.error().message;
  auto& rt = *started;
  CpuThread* t = rt->thread(cpu_);

  const auto t0 = Clock::now();
  raw_offline(cpu_);
  const auto written = Clock::now();
  ASSERT_TRUE(
      testing::eventually([&] { return t->state() == CpuState::kParked; }, std::chrono::seconds(5)))
      << "the CPU thread was not parked after an outside offline";
  const auto parked = Clock::now();
  EXPECT_EQ(cpu_function_call(cpu_, [] { return 0; }), -ENXIO);

  raw_online(cpu_);
  const auto online = Clock::now();
  ASSERT_TRUE(testing::eventually([&] { return t->state() == CpuState::kRunning; },
                                  std::chrono::seconds(5)))
      << "the CPU thread did not come back after an outside online";
  const auto running = Clock::now();
  EXPECT_EQ(cpu_function_call(cpu_, [] { return sched_getcpu(); }), cpu_);
  if (rt->hotplug().watching_uevents()) {
    // The sysfs poll may reconcile before a uevent lands; both must arrive all the same.
    EXPECT_TRUE(testing::eventually([&] { return rt->hotplug().cpu_uevents() >= 2; },
                                    std::chrono::seconds(5)))
        << "offline and online uevents; got " << rt->hotplug().cpu_uevents();
  }
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf(
      "sysfs offline write %.1f ms, parked %.1f ms after it; online write %.1f ms, "
      "running %.1f ms after it (uevents: %s)\n",
      ms(written - t0), ms(parked - written), ms(online - parked), ms(running - online),
      rt->hotplug().watching_uevents() ? "yes" : "no, sysfs polling");
  // Generous: the uevent path takes milliseconds, the sysfs poll at most its interval.
  EXPECT_LT(parked - written, std::chrono::seconds(2));
  EXPECT_LT(running - online, std::chrono::seconds(2));
}

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child spawn(std::vector<std::string> args) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  if (posix_spawn(&c.pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) c.pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  c.out = fdopen(fds[0], "r");
  return c;
}

std::string read_line(FILE* f) {
  char buf[256] = {};
  return fgets(buf, sizeof buf, f) != nullptr ? buf : "";
}

TEST_F(Hotplug, AJournalLeftByAKilledProcessIsRestoredByPctx) {
  Child c = spawn({HOTPLUG_HELPER, "down-and-die", std::to_string(cpu_)});
  ASSERT_GT(c.pid, 0);
  EXPECT_EQ(read_line(c.out), "down\n");
  int status = 0;
  ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
  fclose(c.out);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  exit_guard::mark_offline(cpu_);  // ours to restore if pctx fails
  EXPECT_FALSE(cpu_is_online(cpu_)) << "a killed process restores nothing by itself";
  EXPECT_TRUE(HotplugJournal(journal_path_).cpus().test(cpu_));

  const std::string cmd = std::string(PCTX_BINARY) + " hotplug restore";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  const std::string said = read_line(p);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(said, "restored: " + std::to_string(cpu_) + "\n");
  EXPECT_TRUE(cpu_is_online(cpu_));
  EXPECT_TRUE(HotplugJournal(journal_path_).cpus().empty());
  exit_guard::mark_online(cpu_);
}

TEST_F(Hotplug, SigtermInTheMiddleOfCpuDownLeavesEveryCpuOnline) {
  std::mt19937 rng(std::random_device{}());
  int killed_while_offline = 0;
  for (int round = 0; round < 6; ++round) {
    Child c = spawn({HOTPLUG_HELPER, "cycle", std::to_string(cpu_)});
    ASSERT_GT(c.pid, 0);
    ASSERT_EQ(read_line(c.out), "ready\n");
    ASSERT_EQ(read_line(c.out), "down\n");
    // The helper is now inside cpu_down, which takes about 50 ms here: land in it.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 40000));
    kill(c.pid, SIGTERM);
    if (!cpu_is_online(cpu_)) ++killed_while_offline;
    int status = 0;
    ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
    fclose(c.out);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    EXPECT_TRUE(offline_cpus().empty())
        << "round " << round << ": CPUs " << offline_cpus().to_string() << " left offline";
    all_cpus_online();
  }
  std::printf(
      "SIGTERM landed inside cpu_down in 6 rounds; the CPU read offline right after the "
      "signal in %d\n",
      killed_while_offline);
}

}  // namespace
}  // namespace pctx::cpu
