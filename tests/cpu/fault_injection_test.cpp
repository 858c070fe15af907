// The test-only fault injection, and the retry paths it exercises, without touching CPU
// state: pins are of this process's threads, and injected writes target a CPU that does
// not exist, so no write reaches a real online file.
#include "pctx/cpu/fault_injection.hpp"

#include <sched.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <thread>

#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/sysfs.hpp"

namespace pctx::cpu {
namespace {

constexpr int kNoSuchCpu = CpuSet::kMaxCpus - 1;

class FaultInjection : public ::testing::Test {
 protected:
  void TearDown() override { fault_injection::reset(); }
};

// Runs `fn` on a thread of its own, so that pinning leaves the test's thread alone.
template <class F>
void on_a_thread(F&& fn) {
  std::thread t(std::forward<F>(fn));
  t.join();
}

TEST_F(FaultInjection, PinRetriesThroughInjectedEinvalAndReportsTheWindow) {
  constexpr int kRefusals = 5;
  const int cpu = online_cpus().last();
  const PinStats before = pin_stats();
  fault_injection::inject_pin_einval(kRefusals, cpu);
  on_a_thread([&] {
    const PinResult r = pin_current_thread(cpu);
    EXPECT_EQ(r.error, 0);
    EXPECT_EQ(r.attempts, kRefusals + 1);
    EXPECT_GT(r.einval_window.count(), 0);
    EXPECT_TRUE(pinned_to(cpu));
    const PinStats after = pin_stats();
    EXPECT_EQ(after.pins - before.pins, 1u);
    EXPECT_EQ(after.failed - before.failed, 0u);
    EXPECT_EQ(after.einval_retries - before.einval_retries, uint64_t{kRefusals});
    EXPECT_GE(after.max_einval_window, r.einval_window);
  });
}

TEST_F(FaultInjection, APinGivesUpWhenTheWindowOutlastsIt) {
  const int cpu = online_cpus().last();
  const PinStats before = pin_stats();
  fault_injection::inject_pin_einval(1'000'000, cpu);
  on_a_thread([&] {
    const PinResult r = pin_current_thread(cpu, std::chrono::milliseconds(20));
    EXPECT_EQ(r.error, -EINVAL);
    EXPECT_GT(r.attempts, 1);
    EXPECT_GE(r.einval_window, std::chrono::milliseconds(20));
    EXPECT_EQ(pin_stats().failed - before.failed, 1u);
  });
}

TEST_F(FaultInjection, APinFaultForOneCpuLeavesOthersAlone) {
  const int cpu = online_cpus().last();
  fault_injection::inject_pin_einval(3, kNoSuchCpu);
  on_a_thread([&] {
    const PinResult r = pin_current_thread(cpu);
    EXPECT_EQ(r.error, 0);
    EXPECT_EQ(r.attempts, 1);
  });
}

// The "after an online" window starts only when a CPU comes online.
TEST_F(FaultInjection, AnAfterOnlineWindowWaitsForTheOnline) {
  const int cpu = online_cpus().last();
  fault_injection::inject_pin_einval_after_online(2, cpu);
  on_a_thread([&] { EXPECT_EQ(pin_current_thread(cpu).attempts, 1) << "not started yet"; });
  fault_injection::hooks::came_online(kNoSuchCpu);
  on_a_thread([&] { EXPECT_EQ(pin_current_thread(cpu).attempts, 1) << "another CPU came up"; });
  fault_injection::hooks::came_online(cpu);
  on_a_thread([&] { EXPECT_EQ(pin_current_thread(cpu).attempts, 3); });
  on_a_thread([&] { EXPECT_EQ(pin_current_thread(cpu).attempts, 1) << "used up"; });
}

// K injected EBUSY are retried and counted; the write then reaches the kernel, which has
// no such CPU and says so without a retry.
TEST_F(FaultInjection, OnlineWritesRetryEbusyAndCountEveryFailure) {
  const auto before = online_write_failures();
  auto count = [&](int err) {
    const auto now = online_write_failures();
    const auto was = before.find(err);
    return now.count(err) ? now.at(err) - (was == before.end() ? 0 : was->second) : 0;
  };
  fault_injection::inject_online_write_error(3, EBUSY, kNoSuchCpu);
  auto st = write_cpu_online(kNoSuchCpu, true);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, -ENOENT);
  EXPECT_NE(st.error().message.find("not hotpluggable"), std::string::npos) << st.error().message;
  EXPECT_EQ(count(EBUSY), 3u);
  EXPECT_EQ(count(ENOENT), 1u);
}

// Past the retry bound the write fails, names the errno and what to do.
TEST_F(FaultInjection, OnlineWritesGiveUpAtTheBound) {
  const uint64_t before = online_write_failures()[EAGAIN];
  fault_injection::inject_online_write_error(1'000'000, EAGAIN, kNoSuchCpu);
  const auto t0 = std::chrono::steady_clock::now();
  auto st = write_cpu_online(kNoSuchCpu, false);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, -EAGAIN);
  const std::string& m = st.error().message;
  EXPECT_NE(m.find("EAGAIN (Resource temporarily unavailable)"), std::string::npos) << m;
  EXPECT_NE(m.find("retry"), std::string::npos) << m;
  const uint64_t tries = online_write_failures()[EAGAIN] - before;
  EXPECT_GE(tries, 2u);
  EXPECT_LE(tries, uint64_t{kOnlineWriteTries});
  EXPECT_NE(m.find("all " + std::to_string(tries) + " tries"), std::string::npos) << m;
  EXPECT_LT(took, kOnlineWriteGiveUp + std::chrono::milliseconds(500));
}

TEST(Errno, NamesAndText) {
  EXPECT_EQ(errno_name(EBUSY), "EBUSY");
  EXPECT_EQ(errno_name(-EAGAIN), "EAGAIN");
  EXPECT_EQ(errno_text(-EINVAL), "EINVAL (Invalid argument)");
}

}  // namespace
}  // namespace pctx::cpu
