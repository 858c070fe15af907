// Real CPU hotplug. Needs root and a hotpluggable CPU; every test leaves every CPU online,
// also when it fails (TearDown) or the process dies (the library's exit guard).
#include "pctx/cpu/hotplug.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <set>

#include "cpu/runtime_fixture.hpp"
#include "pctx/cpu/fault_injection.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "tools/pctx_process.hpp"

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
    ASSERT_TRUE(exit_guard::install());
    journal_path_ = ::testing::TempDir() + "pctx-hotplug-test.journal";
    std::remove(journal_path_.c_str());
    setenv("PCTX_HOTPLUG_JOURNAL", journal_path_.c_str(), 1);
  }
  void TearDown() override {
    fault_injection::reset();  // so that the restore below writes for real
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
  const cli_test::PctxAsNobody nobody;
  ASSERT_EQ(nobody.error(), "");
  auto output = [](const cli_test::PctxResult& r) { return r.out + r.err; };
  const auto down = nobody.run({"hotplug", "down", std::to_string(cpu_)});
  EXPECT_EQ(down.exit_code, 1) << "a runtime failure, not bad input: " << output(down);
  EXPECT_EQ(cli_test::lines_of(output(down)).size(), 1u) << output(down);
  EXPECT_NE(down.err.find("CPU hotplug needs root"), std::string::npos) << output(down);
  EXPECT_NE(down.err.find("sudo"), std::string::npos) << output(down);
  EXPECT_TRUE(cpu_is_online(cpu_));

  // Bad input and no root: one line for each, exit 2 for the input.
  const auto both = nobody.run({"hotplug", "down", std::to_string(cpu_) + "-999"});
  EXPECT_EQ(both.exit_code, 2) << output(both);
  EXPECT_NE(both.err.find("do not exist"), std::string::npos) << output(both);
  EXPECT_NE(both.err.find("CPU hotplug needs root"), std::string::npos) << output(both);
  EXPECT_LE(cli_test::lines_of(output(both)).size(), 3u) << output(both);
  EXPECT_TRUE(cpu_is_online(cpu_));
}

// The whole list is checked before anything changes, and each kind of problem is one
// entry naming all its CPUs. Nothing is written.
TEST_F(Hotplug, CheckAllNamesEachKindOfProblemOnce) {
  cpu::Hotplug hp;
  using Kind = HotplugProblem::Kind;
  auto list = CpuSet::parse("0-999");
  ASSERT_TRUE(list);
  const HotplugCheck check = hp.check_all(*list, false);
  ASSERT_FALSE(check.ok());
  EXPECT_TRUE(check.bad_input());
  std::set<Kind> kinds;
  for (const auto& p : check.problems) {
    EXPECT_TRUE(kinds.insert(p.kind).second) << "one entry per kind: " << p.message;
    EXPECT_FALSE(p.cpus.test(cpu_)) << "CPU " << cpu_ << " is fine: " << p.message;
    EXPECT_EQ(p.message.find('\n'), std::string::npos);
  }
  const HotplugProblem* absent = check.find(Kind::kNotPresent);
  ASSERT_NE(absent, nullptr);
  EXPECT_EQ(absent->cpus, *list - present_cpus());
  EXPECT_EQ(absent->code, -EINVAL);
  EXPECT_NE(absent->message.find("CPUs " + absent->cpus.to_string() + " do not exist"),
            std::string::npos)
      << absent->message;
  // CPU 0 is refused once, as not hotpluggable or as CPU 0, never both.
  const bool zero_fixed = !hotpluggable_cpus().test(0);
  const HotplugProblem* zero = check.find(zero_fixed ? Kind::kNotHotpluggable : Kind::kCpu0);
  ASSERT_NE(zero, nullptr);
  EXPECT_TRUE(zero->cpus.test(0));
  EXPECT_EQ(check.find(zero_fixed ? Kind::kCpu0 : Kind::kNotHotpluggable), nullptr);
  EXPECT_EQ(check.find(Kind::kLastOnline), nullptr) << "CPU 0 stays online";
  EXPECT_EQ(check.find(Kind::kNeedsRoot), nullptr);
  EXPECT_EQ(check.status().code(), -EINVAL) << "the first problem's code";
  const std::string message = check.message();
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n') + 1,
            static_cast<std::ptrdiff_t>(check.problems.size()))
      << message;

  EXPECT_TRUE(hp.check_all(CpuSet::of({cpu_}), false).ok());
  EXPECT_TRUE(hp.check_all(CpuSet::of({cpu_}), true).ok());

  // Every online CPU at once would leave none online.
  HotplugOptions all;
  all.allow_cpu0 = true;
  all.restore_on_exit = false;
  cpu::Hotplug anything(all);
  const HotplugCheck last = anything.check_all(online_cpus(), false);
  if (hotpluggable_cpus() == online_cpus()) {
    ASSERT_NE(last.find(Kind::kLastOnline), nullptr) << last.message();
    EXPECT_EQ(last.find(Kind::kLastOnline)->code, -EBUSY);
  } else {
    EXPECT_EQ(last.find(Kind::kLastOnline), nullptr)
        << "CPUs without an online file stay online: " << last.message();
  }
  EXPECT_TRUE(offline_cpus().empty()) << "checks change nothing";
}

TEST_F(Hotplug, ApplyAllIsAllOrNothing) {
  cpu::Hotplug hp;
  // A list with one bad CPU changes none, not even the good one.
  auto bad = hp.apply_all(CpuSet::of({cpu_, CpuSet::kMaxCpus - 1}), false);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, -EINVAL);
  EXPECT_TRUE(cpu_is_online(cpu_));

  auto down = hp.apply_all(CpuSet::of({cpu_}), false);
  ASSERT_TRUE(down) << down.error().message;
  EXPECT_EQ(*down, CpuSet::of({cpu_}));
  EXPECT_FALSE(cpu_is_online(cpu_));
  auto again = hp.apply_all(CpuSet::of({cpu_}), false);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->empty()) << "already offline: nothing changed";

  // A step that fails after the CPU came online fails the request, and the CPU is taken
  // back down: the request changed nothing.
  ASSERT_TRUE(
      hp.add_step({HotplugStage::kApplication, "fails", [](int) { return -EIO; }, nullptr}));
  auto up = hp.apply_all(CpuSet::of({cpu_}), true);
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("undone: CPU " + std::to_string(cpu_) + " is offline again"),
            std::string::npos)
      << up.error().message;
  EXPECT_EQ(up.error().message.find('\n'), std::string::npos) << "one line";
  EXPECT_FALSE(cpu_is_online(cpu_));
  hp.remove_step(HotplugStage::kApplication);
  auto back = hp.apply_all(CpuSet::of({cpu_}), true);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(cpu_is_online(cpu_));
  EXPECT_FALSE(hp.journal().cpus().test(cpu_));
}

// With two hotpluggable CPUs besides CPU 0, a write refused midway undoes the first.
TEST_F(Hotplug, AFailureMidwayUndoesWhatWasDone) {
  const CpuSet candidates = hotpluggable_cpus() - CpuSet::of({0});
  if (candidates.count() < 2) GTEST_SKIP() << "needs two hotpluggable CPUs besides CPU 0";
  const int first = candidates.first();
  const int second = candidates.cpus()[1];
  cpu::Hotplug hp;
  fault_injection::inject_online_write_error(10'000, EBUSY, second);
  auto r = hp.apply_all(CpuSet::of({first, second}), false);
  fault_injection::reset();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, -EBUSY);
  EXPECT_NE(r.error().message.find("undone: CPU " + std::to_string(first) + " is online again"),
            std::string::npos)
      << r.error().message;
  EXPECT_TRUE(offline_cpus().empty());
}

// EBUSY and EAGAIN from the online file are retried; the counters see every one.
TEST_F(Hotplug, InjectedEbusyAndEagainAreRetriedAndCounted) {
  constexpr int kFailures = 3;
  cpu::Hotplug hp;
  for (int err : {EBUSY, EAGAIN}) {
    const uint64_t before = online_write_failures()[err];
    const uint64_t reported = hotplug_failures_by_errno()[err];
    fault_injection::inject_online_write_error(kFailures, err, cpu_);
    ASSERT_TRUE(hp.cpu_down(cpu_)) << errno_name(err);
    EXPECT_FALSE(cpu_is_online(cpu_));
    EXPECT_EQ(online_write_failures()[err] - before, uint64_t{kFailures}) << errno_name(err);
    fault_injection::inject_online_write_error(kFailures, err, cpu_);
    ASSERT_TRUE(hp.cpu_up(cpu_)) << errno_name(err);
    EXPECT_TRUE(cpu_is_online(cpu_));
    EXPECT_EQ(online_write_failures()[err] - before, uint64_t{2 * kFailures}) << errno_name(err);
    EXPECT_EQ(hotplug_failures_by_errno()[err] - reported, uint64_t{2 * kFailures});
  }
}

// Past the retry bound the operation fails, says which errno and what to do, and leaves
// everything as it was: the CPU, the journal, the exit guard, the steps.
TEST_F(Hotplug, MoreFailuresThanTheRetryBoundChangeNothing) {
  auto rt = testing::start_runtime();
  ASSERT_TRUE(rt);
  auto& hp = rt->hotplug();
  const uint64_t before = online_write_failures()[EBUSY];
  fault_injection::inject_online_write_error(10'000, EBUSY, cpu_);
  const auto t0 = Clock::now();
  auto down = hp.cpu_down(cpu_);
  const auto took = Clock::now() - t0;
  fault_injection::reset();
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, -EBUSY);
  EXPECT_NE(down.error().message.find("EBUSY"), std::string::npos) << down.error().message;
  EXPECT_NE(down.error().message.find("retry"), std::string::npos) << down.error().message;
  const uint64_t tries = online_write_failures()[EBUSY] - before;
  EXPECT_GE(tries, 2u);
  EXPECT_LE(tries, uint64_t{kOnlineWriteTries});
  EXPECT_LT(took, kOnlineWriteGiveUp + std::chrono::milliseconds(500)) << "bounded";
  EXPECT_TRUE(cpu_is_online(cpu_));
  EXPECT_TRUE(hp.online().test(cpu_));
  EXPECT_FALSE(hp.journal().cpus().test(cpu_));
  EXPECT_FALSE(exit_guard::marked().test(cpu_));
  EXPECT_EQ(rt->thread(cpu_)->state(), CpuState::kRunning) << "its steps were brought back";
  EXPECT_EQ(cpu_function_call(cpu_, [] { return sched_getcpu(); }), cpu_);

  // The same for a bringup: the CPU stays offline, and a later cpu_up works.
  ASSERT_TRUE(hp.cpu_down(cpu_));
  fault_injection::inject_online_write_error(10'000, EAGAIN, cpu_);
  auto up = hp.apply_all(CpuSet::of({cpu_}), true);
  fault_injection::reset();
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code, -EAGAIN);
  EXPECT_NE(up.error().message.find("EAGAIN"), std::string::npos) << up.error().message;
  EXPECT_NE(up.error().message.find("nothing was changed"), std::string::npos)
      << up.error().message;
  EXPECT_FALSE(cpu_is_online(cpu_));
  EXPECT_TRUE(hp.journal().cpus().test(cpu_)) << "still offline, still journaled";
  ASSERT_TRUE(hp.cpu_up(cpu_));
  EXPECT_EQ(cpu_function_call(cpu_, [] { return sched_getcpu(); }), cpu_);
}

// The re-pin after a bringup meets an injected EINVAL window, retries through it, and
// reports the window; cpu_up still returns only once the CPU is usable.
TEST_F(Hotplug, RepinRetriesThroughAnInjectedEinvalWindow) {
  constexpr int kRefusals = 4;
  auto rt = testing::start_runtime();
  ASSERT_TRUE(rt);
  auto& hp = rt->hotplug();
  ASSERT_TRUE(hp.cpu_down(cpu_));
  const PinStats before = pin_stats();
  fault_injection::inject_pin_einval_after_online(kRefusals, cpu_);
  ASSERT_TRUE(hp.cpu_up(cpu_));
  const PinResult pin = rt->thread(cpu_)->stats().last_pin;
  EXPECT_EQ(pin.error, 0);
  EXPECT_EQ(pin.attempts, kRefusals + 1);
  EXPECT_GT(pin.einval_window.count(), 0);
  const PinStats after = pin_stats();
  EXPECT_EQ(after.einval_retries - before.einval_retries, uint64_t{kRefusals});
  EXPECT_GE(after.max_einval_window, pin.einval_window);
  EXPECT_EQ(cpu_function_call(cpu_, [this] { return pinned_to(cpu_) ? sched_getcpu() : -1; }),
            cpu_);
  std::printf("re-pin after an online: %d attempts, EINVAL window %.3f ms\n", pin.attempts,
              pin.einval_window.count() / 1e6);
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
  // The helper meets the signals it is sent with their default action, whatever this
  // process inherited (a test run under nohup ignores SIGHUP), and none blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, none;
  sigemptyset(&defaults);
  for (int sig : {SIGHUP, SIGINT, SIGTERM}) sigaddset(&defaults, sig);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child c;
  if (posix_spawn(&c.pid, argv[0], &actions, &attr, argv.data(), environ) != 0) c.pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
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

// A process that took a CPU down with restore_on_exit brings it back when SIGHUP (its
// terminal closing), SIGINT or SIGTERM kills it, then dies of that signal.
TEST_F(Hotplug, HangupInterruptAndTerminateBringTheCpuBack) {
  for (int sig : {SIGHUP, SIGINT, SIGTERM}) {
    Child c = spawn({HOTPLUG_HELPER, "down-and-wait", std::to_string(cpu_)});
    ASSERT_GT(c.pid, 0);
    ASSERT_EQ(read_line(c.out), "down\n") << strsignal(sig);
    EXPECT_FALSE(cpu_is_online(cpu_)) << strsignal(sig);
    kill(c.pid, sig);
    int status = 0;
    ASSERT_EQ(waitpid(c.pid, &status, 0), c.pid);
    fclose(c.out);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig)
        << strsignal(sig) << ": the helper dies of the signal, after restoring";
    EXPECT_TRUE(cpu_is_online(cpu_)) << strsignal(sig) << " left CPU " << cpu_ << " offline";
    all_cpus_online();
  }
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
