#include "pctx/cpu/rcu.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "cpu/runtime_fixture.hpp"
#include "pctx/cpu/cross_call.hpp"

namespace pctx::cpu {
namespace {

std::atomic<int> g_freed{0};

struct Counted : rcu::Head {
  ~Counted() { g_freed.fetch_add(1); }
  int value = 42;
};

TEST(Rcu, AReaderOnACpuThreadKeepsTheObjectAlive) {
  auto rt = testing::start_runtime();
  ASSERT_TRUE(rt);
  const int cpu = rt->running_cpus().last();
  std::atomic<Counted*> published{new Counted};
  std::atomic<bool> holding{false}, finish{false};
  std::atomic<int> seen{0};
  // A cross-call runs between two quiescent states of its CPU thread: a read-side section.
  AsyncCall reader([&] {
    Counted* p = published.load();
    holding = true;
    while (!finish) {
    }
    seen = p->value;  // still valid: the writer's grace period waits for us
    return 0;
  });
  ASSERT_EQ(cpu_function_call_async(cpu, reader), 0);
  ASSERT_TRUE(testing::eventually([&] { return holding.load(); }));
  const int freed_before = g_freed.load();
  rcu::defer_delete(published.exchange(nullptr));
  // Give a wrong implementation every chance to free it early.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(g_freed.load(), freed_before) << "freed while a reader held it";
  finish = true;
  EXPECT_EQ(reader.wait(), 0);
  EXPECT_EQ(seen.load(), 42);
  rcu::barrier();
  EXPECT_EQ(g_freed.load(), freed_before + 1);
}

TEST(Rcu, SynchronizeReturnsWithIdleAndBusyCpuThreads) {
  auto rt = testing::start_runtime();
  ASSERT_TRUE(rt);
  for (int i = 0; i < 20; ++i) rcu::synchronize();
  int freed_before = g_freed.load();
  for (int i = 0; i < 100; ++i) rcu::defer_delete(new Counted);
  rcu::barrier();
  EXPECT_EQ(g_freed.load(), freed_before + 100);
}

// A CPU thread that polls for long (pctx bench's polling CPUs spin for an hour) still lets
// grace periods end: it reports quiescent states while it spins.
TEST(Rcu, SynchronizeReturnsWhileACpuThreadPollsForLong) {
  RuntimeOptions options;
  options.thread.spin = std::chrono::hours(1);
  auto rt = testing::start_runtime(options);
  ASSERT_TRUE(rt);
  for (int c : rt->running_cpus().cpus()) {
    ASSERT_EQ(cpu_function_call(c, [] { return 0; }), 0);  // each one polling now
  }
  std::atomic<bool> done{false};
  std::thread sync([&] {
    rcu::synchronize();
    done = true;
  });
  EXPECT_TRUE(testing::eventually([&] { return done.load(); }, std::chrono::seconds(5)))
      << "a polling CPU thread held up the grace period";
  sync.join();  // the test would hang here without the fix; ctest's timeout reports it
}

}  // namespace
}  // namespace pctx::cpu
