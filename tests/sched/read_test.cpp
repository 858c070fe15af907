// What a reader relies on: an event's count and times never go back, whoever reads them (the
// task itself, in place on its CPU, or another thread, by a call to that CPU or under the
// context's lock), and a task's read of its own Active event is served in place, with no
// lock and no call (the kernel's perf_event_read_local). Tasks yield, sleep and move at
// random, several per CPU; the seed is printed.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;
using testing::spin_for;

class ReadTest : public testing::SchedTest {
 protected:
  // The largest figures any reader has been given so far, per event.
  struct Seen {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> enabled{0};
    std::atomic<uint64_t> running{0};
  };

  static void raise_to(std::atomic<uint64_t>& max, uint64_t v) {
    uint64_t cur = max.load();
    while (v > cur && !max.compare_exchange_weak(cur, v)) {
    }
  }

  // One read, checked against what every reader had been given before it began: a reading
  // that went back breaks the promise whichever paths the two took.
  core::Reading checked_read(size_t i, const char* who) {
    Seen& s = seen_[i];
    const uint64_t count = s.count.load();
    const uint64_t enabled = s.enabled.load();
    const uint64_t running = s.running.load();
    const core::Reading r = core_->read(events_[i]);
    if (r.count < count || r.time_enabled < enabled || r.time_running < running ||
        r.time_running > r.time_enabled) {
      std::lock_guard<std::mutex> l(failure_mutex_);
      if (failures_++ == 0) {
        failure_ = std::string(who) + " read event " + std::to_string(i) + ": count " +
                   std::to_string(r.count) + " (seen " + std::to_string(count) + "), enabled " +
                   std::to_string(r.time_enabled) + " (seen " + std::to_string(enabled) +
                   "), running " + std::to_string(r.time_running) + " (seen " +
                   std::to_string(running) + ")";
      }
    }
    raise_to(s.count, r.count);
    raise_to(s.enabled, r.time_enabled);
    raise_to(s.running, r.time_running);
    return r;
  }

  // tasks_per_cpu tasks on every CPU, each with `groups` tsc events, reading their own
  // events between random bursts, yields, sleeps and moves, while this thread reads every
  // event all the time. Returns the reads the tasks made.
  uint64_t run_readers(int tasks_per_cpu, int groups, std::chrono::milliseconds duration) {
    const uint64_t seed =
        testing::seed_from_env(::testing::UnitTest::GetInstance()->current_test_info()->name());
    const int tasks = tasks_per_cpu * static_cast<int>(cpus_.size());
    seen_ = std::vector<Seen>(static_cast<size_t>(tasks * groups));
    // The tasks read events_ while later ones are spawned: it must not move meanwhile.
    events_.reserve(seen_.size());
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> task_reads{0};
    std::vector<core::Event*> unused;
    for (int t = 0; t < tasks; ++t) {
      const size_t first = events_.size();
      spawn_counted(
          [&, t, first] {
            std::mt19937_64 rng(seed + static_cast<uint64_t>(t));
            uint64_t reads = 0;
            while (!stop.load()) {
              spin_for(std::chrono::microseconds(rng() % 200));
              for (int k = 0; k < 1 + static_cast<int>(rng() % 8); ++k) {
                checked_read(first + rng() % static_cast<size_t>(groups), "its task");
                ++reads;
              }
              switch (rng() % 4) {
                case 0:
                  this_task::yield();
                  break;
                case 1:
                  this_task::sleep_for(std::chrono::microseconds(rng() % 100));
                  break;
                case 2:
                  this_task::migrate_to(cpus_[rng() % cpus_.size()]);
                  break;
                default:
                  break;
              }
            }
            task_reads.fetch_add(reads);
          },
          groups, &unused);
    }
    const auto end = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < end) {
      for (size_t i = 0; i < events_.size(); ++i) checked_read(i, "another thread");
    }
    stop = true;
    join_all();
    for (size_t i = 0; i < events_.size(); ++i) {
      EXPECT_EQ(checked_read(i, "after exit").state, core::EventState::kExit);
    }
    EXPECT_EQ(failures_, 0u) << "first of " << failures_ << ": " << failure_;
    EXPECT_EQ(core_->check_invariants(), "");
    return task_reads.load();
  }

  std::vector<Seen> seen_;
  std::mutex failure_mutex_;
  uint64_t failures_ = 0;
  std::string failure_;
};

// At the defaults (4 counters, 4 ms rotation), with two groups per task nothing multiplexes,
// so every read a task makes of its own events finds them Active on its CPU: all are served
// in place, and the readings of the other thread (calls and locked reads) interleave with
// them without ever going back.
TEST_F(ReadTest, ReadsNeverGoBackAndATasksOwnAreServedInPlace) {
  const uint64_t before = core_->reads_in_place();
  const uint64_t task_reads = run_readers(3, 2, 400ms);
  ASSERT_GT(task_reads, 1000u) << "the tasks hardly ran";
  EXPECT_EQ(core_->reads_in_place() - before, task_reads)
      << "a task's read of its own Active event takes no lock and makes no call";
  EXPECT_GT(core_->stats().remote_reads.load(), 0u) << "the other thread never read by a call";
}

// Multiplexed (3 groups on 1 counter): a task's read finds its event Active (in place) or
// Inactive (under the lock), and the two paths' readings interleave without going back.
TEST_F(ReadTest, ReadsNeverGoBackWhileGroupsRotate) {
  tsc_.set_counters(1);
  const uint64_t before = core_->reads_in_place();
  const uint64_t task_reads = run_readers(3, 3, 400ms);
  ASSERT_GT(task_reads, 1000u) << "the tasks hardly ran";
  const uint64_t in_place = core_->reads_in_place() - before;
  EXPECT_GT(in_place, 0u) << "no read found its event Active";
  EXPECT_LT(in_place, task_reads) << "3 groups on 1 counter: some reads find theirs Inactive";
  EXPECT_GT(core_->stats().rotations.load(), 0u);
}

}  // namespace
}  // namespace pctx::sched
