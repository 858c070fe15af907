#include "pctx/cpu/hotplug_journal.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "cpu/journal_text.hpp"

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

// Found by the journal fuzzer: the reader stopped at the first damaged line, forgetting the
// CPUs journaled after it (and dropping them at the next write), and passed a negative CPU
// to CpuSet::set, which crashed `pctx hotplug status`.
TEST(HotplugJournal, ADamagedLineCostsOnlyItself) {
  const auto entries =
      parse_journal("1 100\ngarbage\n-1 5\n8192 7\n3 0\n4 abc\n5 1 2\n 6\t600 \r\n7 700");
  EXPECT_EQ(entries, (JournalEntries{{1, 100}, {6, 600}, {7, 700}}));

  const std::string path = ::testing::TempDir() + "pctx-journal-damaged.journal";
  {
    std::ofstream out(path, std::ios::trunc);
    out << "-1 5\n2 200\nx\n";
  }
  HotplugJournal journal(path);
  EXPECT_EQ(journal.cpus(), CpuSet::of({2}));
  ASSERT_TRUE(journal.add(3));
  EXPECT_EQ(journal.cpus(), CpuSet::of({2, 3}));
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "2 200\n3 " + std::to_string(getpid()) + "\n") << "damaged lines dropped";
  std::remove(path.c_str());
}

TEST(HotplugJournal, WhatTheWriterWritesReadsBack) {
  const JournalEntries entries{{0, 1}, {8191, 4194304}, {64, 123}};
  EXPECT_EQ(format_journal(entries), "0 1\n64 123\n8191 4194304\n");
  EXPECT_EQ(parse_journal(format_journal(entries)), entries);
  EXPECT_TRUE(parse_journal("").empty());
}

}  // namespace
}  // namespace pctx::cpu
