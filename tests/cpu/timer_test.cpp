#include "pctx/cpu/cpu_timer.hpp"

#include <sched.h>

#include <gtest/gtest.h>

#include <atomic>

#include "cpu/runtime_fixture.hpp"
#include "pctx/cpu/cross_call.hpp"

namespace pctx::cpu {
namespace {

using namespace std::chrono_literals;
using testing::eventually;

// Timers are armed and cancelled on their own CPU thread, so through cross-calls.
void arm_on(CpuRuntime& rt, int cpu, CpuTimer& timer, std::chrono::nanoseconds period) {
  ASSERT_EQ(cpu_function_call(cpu,
                              [&] {
                                rt.thread(cpu)->arm_timer(timer, period);
                                return 0;
                              }),
            0);
}

void cancel_on(CpuRuntime& rt, int cpu, CpuTimer& timer) {
  ASSERT_EQ(cpu_function_call(cpu,
                              [&] {
                                rt.thread(cpu)->cancel_timer(timer);
                                return 0;
                              }),
            0);
}

TEST(CpuTimer, APeriodicTimerFiresOnItsCpuUntilCancelled) {
  auto rt = testing::start_runtime();
  ASSERT_TRUE(rt);
  const int cpu = rt->running_cpus().last();
  std::atomic<int> count{0}, wrong_cpu{0};
  CpuTimer timer([&] {
    if (sched_getcpu() != cpu) wrong_cpu.fetch_add(1);
    count.fetch_add(1);
  });
  arm_on(*rt, cpu, timer, 1ms);
  ASSERT_TRUE(eventually([&] { return count.load() >= 10; }));
  cancel_on(*rt, cpu, timer);
  const int after_cancel = count.load();
  std::this_thread::sleep_for(20ms);  // twenty periods
  EXPECT_EQ(count.load(), after_cancel) << "a cancelled timer fired";
  EXPECT_EQ(wrong_cpu.load(), 0);
  EXPECT_FALSE(timer.armed());
}

TEST(CpuTimer, AnIdleThreadSleepsBetweenExpiries) {
  RuntimeOptions options;
  options.thread.spin = std::chrono::nanoseconds(0);
  auto rt = testing::start_runtime(options);
  ASSERT_TRUE(rt);
  const int cpu = rt->running_cpus().last();
  std::atomic<int> count{0};
  CpuTimer timer([&] { count.fetch_add(1); });
  const uint64_t sleeps = rt->thread(cpu)->stats().sleeps.load();
  arm_on(*rt, cpu, timer, 2ms);
  ASSERT_TRUE(eventually([&] { return count.load() >= 5; })) << "the sleep did not time out";
  EXPECT_GE(rt->thread(cpu)->stats().sleeps.load() - sleeps, 4u)
      << "it should sleep (with a timeout) between expiries, not spin";
  cancel_on(*rt, cpu, timer);
}

TEST(CpuTimer, FiresWhileUserWorkNeverYields) {
  std::atomic<bool> armed{false}, spinning{false}, released{false};
  RuntimeOptions options;
  options.thread.scheduler = [&](CpuThread& t) {
    if (!armed.exchange(false)) return false;
    CpuThread::BusyScope busy(t);
    spinning = true;
    while (!released) {
    }
    spinning = false;
    return true;
  };
  auto rt = testing::start_runtime(options);
  ASSERT_TRUE(rt);
  const int cpu = rt->running_cpus().last();
  CpuTimer timer([&] { released = true; });
  arm_on(*rt, cpu, timer, 5ms);
  armed = true;
  rt->thread(cpu)->kick();
  ASSERT_TRUE(eventually([&] { return released.load() && !spinning.load(); }))
      << "the timer did not interrupt the busy loop";
  EXPECT_GT(rt->thread(cpu)->stats().timer_signals.load(), 0u) << "it fired from the signal";
  cancel_on(*rt, cpu, timer);
}

TEST(CpuTimer, ACallbackMayCancelItself) {
  auto rt = testing::start_runtime();
  ASSERT_TRUE(rt);
  const int cpu = rt->running_cpus().last();
  std::atomic<int> count{0};
  CpuTimer* self = nullptr;
  CpuTimer timer([&] {
    if (count.fetch_add(1) + 1 == 3) rt->thread(cpu)->cancel_timer(*self);
  });
  self = &timer;
  arm_on(*rt, cpu, timer, 1ms);
  ASSERT_TRUE(eventually([&] { return count.load() >= 3; }));
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(count.load(), 3);
  // Cancelling on its CPU (a no-op now) orders the timer's destruction after its callback.
  cancel_on(*rt, cpu, timer);
}

}  // namespace
}  // namespace pctx::cpu
