// The perf software driver: kernel software counters of each CPU thread, charged to the
// pctx task that is current there.
#include "pctx/core/instant.hpp"
#include "pctx/core/perf_software_pmu.hpp"

#include <gtest/gtest.h>

#include <ctime>

#include "core/core_fixture.hpp"

namespace pctx::core {
namespace {

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

class PerfSoftwareTest : public testing::CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    auto sw = PerfSoftwarePmu::open(*runtime_);
    ASSERT_TRUE(sw) << sw.error().message;
    sw_ = std::move(*sw);
    core_->register_pmu(*sw_);
  }
  Event* sw_event(const char* name) {
    EventAttr attr;
    attr.pmu = sw_.get();
    attr.config = PerfSoftwarePmu::config_of(name).value();
    auto e = core_->create_event(attr);
    EXPECT_TRUE(e) << e.error().message;
    owned_.push_back(*e);
    return *e;
  }
  std::unique_ptr<PerfSoftwarePmu> sw_;  // outlives the core (TearDown stops it first)
};

TEST_F(PerfSoftwareTest, TaskClockIsTheSumOfTheTasksOwnIntervals) {
  Task& task = new_task();
  Event* clock = sw_event("task-clock");
  ASSERT_EQ(core_->install(task_ctx(task), clock), 0);
  uint64_t on_cpu_ns = 0;
  for (int round = 0; round < 10; ++round) {
    on_cpu(cpu_, [&] {
      core_->sched_in(&task);
      const uint64_t t0 = thread_cpu_ns();
      while (thread_cpu_ns() - t0 < 3'000'000) {
      }
      on_cpu_ns += thread_cpu_ns() - t0;
      core_->sched_out(&task, nullptr);
    });
    // The CPU thread idles (and spins in its loop) here, charged to no task.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const Reading r = core_->read(clock);
  EXPECT_NEAR(static_cast<double>(r.count) / static_cast<double>(on_cpu_ns), 1.0, 0.05)
      << "task-clock " << r.count << " ns, on-CPU intervals " << on_cpu_ns << " ns";
  EXPECT_EQ(r.time_enabled, r.time_running) << "software events never multiplex";
}

TEST_F(PerfSoftwareTest, OneGroupReadPerSwitch) {
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  for (const char* n : {"task-clock", "page-faults", "context-switches"}) {
    ASSERT_EQ(core_->install(tctx, sw_event(n)), 0);
  }
  switch_in(cpu_, &task);
  switch_out(cpu_, &task);
  const uint64_t before = sw_->group_reads();
  for (int i = 0; i < 10; ++i) {
    switch_in(cpu_, &task);
    switch_out(cpu_, &task);
  }
  EXPECT_EQ(sw_->group_reads() - before, 20u) << "one read() at each switch in and out";
}

// A task switch is one instant (instant.hpp): prev's last reading is next's first, so a
// switch between two counting tasks reads the group once; hooks at instants of their own
// read it each.
TEST_F(PerfSoftwareTest, ATaskSwitchAtOneInstantReadsTheGroupOnce) {
  Task* tasks[2] = {&new_task(), &new_task()};
  Event* clocks[2] = {};
  for (int i = 0; i < 2; ++i) {
    clocks[i] = sw_event("task-clock");
    ASSERT_EQ(core_->install(task_ctx(*tasks[i]), clocks[i]), 0);
    ASSERT_EQ(core_->install(task_ctx(*tasks[i]), sw_event("page-faults")), 0);
  }
  switch_in(cpu_, tasks[0]);
  const uint64_t before = sw_->group_reads();
  constexpr int kSwitches = 20;
  on_cpu(cpu_, [&] {
    for (int i = 0; i < kSwitches; ++i) {
      Task* prev = tasks[i % 2];
      Task* next = tasks[(i + 1) % 2];
      const Instant at = take_instant();
      ASSERT_EQ(core_->sched_out(prev, next, at), 0);
      ASSERT_EQ(core_->sched_in(next, at), 0);
    }
  });
  EXPECT_EQ(sw_->group_reads() - before, static_cast<uint64_t>(kSwitches))
      << "one read() per switch";
  on_cpu(cpu_, [&] {
    const Instant a = take_instant();
    ASSERT_EQ(core_->sched_out(tasks[0], nullptr, a), 0);
    const Instant b = take_instant();
    ASSERT_EQ(core_->sched_in(tasks[1], b), 0);
  });
  EXPECT_EQ(sw_->group_reads() - before, static_cast<uint64_t>(kSwitches) + 2)
      << "hooks at two instants read twice";
  for (Event* c : clocks) {
    const Reading r = core_->read(c);
    EXPECT_GT(r.count, 0u) << "both tasks were charged";
    EXPECT_EQ(r.time_enabled, r.time_running);
  }
}

TEST_F(PerfSoftwareTest, PageFaultsOfTheTaskAreCharged) {
  Task& task = new_task();
  Event* faults = sw_event("page-faults");
  ASSERT_EQ(core_->install(task_ctx(task), faults), 0);
  constexpr size_t kPages = 64;
  on_cpu(cpu_, [&] {
    core_->sched_in(&task);
    // Fresh pages touched by the CPU thread while the task is current. (Allocating in a
    // call handler is fine for a test whose CPU thread is not busy.)
    std::vector<char> mem(kPages * 4096);
    for (size_t i = 0; i < mem.size(); i += 4096) static_cast<volatile char&>(mem[i]) = 1;
    core_->sched_out(&task, nullptr);
  });
  EXPECT_GE(core_->read(faults).count, kPages);
}

}  // namespace
}  // namespace pctx::core
