// The tsc clock against CLOCK_MONOTONIC itself: every reading lies between two
// clock_gettime calls that bracket it, to within the slack the CPU loop allows for it
// (1 µs), on several threads, across many anchors, and in a signal handler that interrupts
// the thread's own readings.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "pctx/base/tsc_clock.hpp"

namespace pctx::base {
namespace {

constexpr uint64_t kSlackNs = 1000;

// Spins until the rate is known (the first calibration takes 10 ms of the process's time).
bool wait_for_rate() {
  const uint64_t until = monotonic_ns() + 2'000'000'000;
  while (tsc_clock_info().ns_per_tick_q32 == 0) {
    if (monotonic_ns() > until) return false;
    (void)fast_monotonic_ns();
  }
  return true;
}

struct Bracket {
  uint64_t before, fast, after;
};

Bracket bracket() {
  Bracket b{};
  b.before = monotonic_ns();
  b.fast = fast_monotonic_ns();
  b.after = monotonic_ns();
  return b;
}

// The slack, plus the clock's own uncertainty: half the widest bracket an anchor used
// (a few hundred ticks at most here, in release and under TSan, whose clock_gettime
// interceptor widens the bracket).
uint64_t slack_ns() {
  const TscClockInfo info = tsc_clock_info();
  return kSlackNs + ((info.max_anchor_spread_ticks / 2 * info.ns_per_tick_q32) >> 32);
}

void expect_inside(const Bracket& b, const char* where) {
  const uint64_t slack = slack_ns();
  EXPECT_GE(b.fast + slack, b.before) << where << ": the tsc clock runs behind";
  EXPECT_LE(b.fast, b.after + slack) << where << ": the tsc clock runs ahead";
}

void spin_ticks(uint64_t ticks) {
  const uint64_t start = read_tsc();
  while (read_tsc() - start < ticks) {
  }
}

TEST(TscClock, FollowsClockMonotonicOnEveryThreadAcrossAnchors) {
  if (!tsc_clock_info().invariant_tsc)
    GTEST_SKIP() << "no invariant tsc: the clock is clock_gettime";
  ASSERT_TRUE(wait_for_rate()) << "no rate after 2 s";
  const auto seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([seed, t] {
      std::mt19937_64 rng(seed + static_cast<unsigned>(t));
      // Waits from nothing to several anchors' worth (2^22 ticks each), so readings land at
      // every place in a window and across new anchors.
      std::uniform_int_distribution<uint64_t> wait(0, uint64_t{3} << 22);
      for (int i = 0; i < 3000; ++i) {
        spin_ticks(i % 4 == 0 ? wait(rng) : wait(rng) / 1000);
        expect_inside(bracket(), "a thread");
      }
    });
  }
  for (auto& th : threads) th.join();
  std::printf("slack %llu ns (widest anchor bracket %llu ticks)\n",
              static_cast<unsigned long long>(slack_ns()),
              static_cast<unsigned long long>(tsc_clock_info().max_anchor_spread_ticks));
}

std::vector<Bracket> g_in_handler;
std::atomic<size_t> g_handler_count{0};

void on_alarm(int) {
  const size_t i = g_handler_count.load(std::memory_order_relaxed);
  if (i < g_in_handler.size()) g_in_handler[i] = bracket();
  g_handler_count.store(i + 1, std::memory_order_relaxed);
}

TEST(TscClock, ASignalHandlerReadsItWhileTheThreadDoes) {
  if (!tsc_clock_info().invariant_tsc)
    GTEST_SKIP() << "no invariant tsc: the clock is clock_gettime";
  ASSERT_TRUE(wait_for_rate()) << "no rate after 2 s";
  g_in_handler.assign(2000, Bracket{});
  g_handler_count = 0;
  struct sigaction sa {};
  sa.sa_handler = on_alarm;
  ASSERT_EQ(sigaction(SIGALRM, &sa, nullptr), 0);
  // Every 50 µs, on this thread's CPU time, so that it lands inside its readings.
  timer_t timer{};
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGALRM;
  sev._sigev_un._tid = gettid();
  ASSERT_EQ(timer_create(CLOCK_MONOTONIC, &sev, &timer), 0);
  itimerspec spec{};
  spec.it_interval.tv_nsec = 50'000;
  spec.it_value.tv_nsec = 50'000;
  ASSERT_EQ(timer_settime(timer, 0, &spec, nullptr), 0);
  const uint64_t until = monotonic_ns() + 500'000'000;
  size_t mine = 0;
  while (g_handler_count.load(std::memory_order_relaxed) < g_in_handler.size() &&
         monotonic_ns() < until) {
    expect_inside(bracket(), "the thread");
    if (++mine % 64 == 0) spin_ticks(uint64_t{1} << 21);  // half an anchor's window
  }
  timer_delete(timer);
  signal(SIGALRM, SIG_DFL);
  const size_t n = std::min(g_handler_count.load(), g_in_handler.size());
  EXPECT_GT(n, 100u) << "the timer's signals did not arrive";
  for (size_t i = 0; i < n; ++i) expect_inside(g_in_handler[i], "a signal handler");
}

}  // namespace
}  // namespace pctx::base
