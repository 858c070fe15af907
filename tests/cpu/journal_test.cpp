#include "pctx/cpu/hotplug_journal.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>
#include <vector>

namespace pctx::cpu {
namespace {

// Journal writers in several threads (or processes) lose no entry: each read-modify-write
// holds the lock file, which the atomic replace of the journal never swaps out.
TEST(HotplugJournal, ConcurrentWritersLoseNothing) {
  const std::string path = ::testing::TempDir() + "pctx-journal-test.journal";
  std::remove(path.c_str());
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      HotplugJournal journal(path);
      for (int i = 0; i < kEach; ++i) EXPECT_TRUE(journal.add(100 + t * kEach + i));
    });
  }
  for (auto& w : writers) w.join();
  HotplugJournal journal(path);
  EXPECT_EQ(journal.cpus().count(), kThreads * kEach);
  writers.clear();
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      HotplugJournal j(path);
      for (int i = 0; i < kEach; ++i) EXPECT_TRUE(j.remove(100 + t * kEach + i));
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_TRUE(journal.cpus().empty());
}

}  // namespace
}  // namespace pctx::cpu
