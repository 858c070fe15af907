// Install and the other user-side operations through every branch: task not running,
// running elsewhere (busy: the signal path), migrating meanwhile, many installers at once;
// lifetimes; and a randomized run with the invariants checked after every step.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <thread>

#include "core/core_fixture.hpp"

namespace pctx::core {
namespace {

using namespace std::chrono_literals;
using testing::CoreTest;

// The CPU thread of cpu_ runs "the task" as user work that never yields while busy_.
class BusyCoreTest : public CoreTest {
 protected:
  bool scheduler_hook(cpu::CpuThread& t) override {
    if (!busy_.load() || t.cpu() != cpu_) return false;
    cpu::CpuThread::BusyScope busy(t);
    spinning_ = true;
    while (busy_.load(std::memory_order_relaxed)) {
    }
    spinning_ = false;
    return true;
  }
  void start_busy() {
    busy_ = true;
    runtime_->thread(cpu_)->kick();
    while (!spinning_.load()) std::this_thread::yield();
  }
  void stop_busy() {
    busy_ = false;
    while (spinning_.load()) std::this_thread::yield();
  }
  std::atomic<bool> busy_{false}, spinning_{false};
};

// A PMU that refuses one config, for the failure paths of create_event.
class RefusingPmu : public testing::CountingSoftPmu {
 public:
  static constexpr uint64_t kRefused = 7;
  int init(PmuEvent& e) override { return e.config == kRefused ? -EINVAL : 0; }
};

class RefusingPmuTest : public CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    core_->register_pmu(refusing_);
  }
  RefusingPmu refusing_;  // outlives the core, which TearDown stops first
};

TEST_F(RefusingPmuTest, ASiblingThePmuRefusesLeavesTheGroupAsItWas) {
  const long before = PerfCore::live_objects().events;
  Event* leader = group(2, false, &refusing_);
  EventAttr attr;
  attr.pmu = &refusing_;
  attr.config = RefusingPmu::kRefused;
  auto refused = core_->create_event(attr, leader);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, -EINVAL);
  EXPECT_EQ(PerfCore::live_objects().events, before + 2) << "the refused sibling is freed";
  ASSERT_EQ(core_->install(core_->cpu_context(cpu_), leader), 0);
  const GroupReading r = core_->read_group(leader);
  EXPECT_EQ(r.counts.size(), 2u) << "the group is its leader and the one sibling made";
  EXPECT_EQ(r.state, EventState::kActive);
}

TEST_F(CoreTest, InstallIntoATaskNotRunningSendsNoCrossCall) {
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  Event* e = group(1);
  const uint64_t calls = core_->stats().task_calls.load();
  const uint64_t locked = core_->stats().locked_ops.load();
  ASSERT_EQ(core_->install(tctx, e), 0);
  EXPECT_EQ(core_->stats().task_calls.load(), calls) << "no call for a task not running";
  EXPECT_EQ(core_->stats().locked_ops.load(), locked + 1);
  EXPECT_EQ(e->peek_state(), EventState::kInactive);
  EXPECT_EQ(core_->read(e).count, 0u);
  // Its next sched-in programs it.
  switch_in(cpu_, &task);
  EXPECT_TRUE(active(e));
  std::this_thread::sleep_for(1ms);
  EXPECT_GT(core_->read(e).count, 0u);
  switch_out(cpu_, &task);
  const Reading out = core_->read(e);
  std::this_thread::sleep_for(1ms);
  EXPECT_EQ(core_->read(e).count, out.count) << "a task that is out does not count";
}

TEST_F(BusyCoreTest, InstallIntoATaskRunningOnAnotherCpuInterruptsIt) {
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  switch_in(cpu_, &task);
  start_busy();  // the task now runs and never yields
  const uint64_t signals = runtime_->thread(cpu_)->stats().signal_calls.load();
  const uint64_t calls = core_->stats().task_calls.load();
  Event* e = group(1);
  ASSERT_EQ(core_->install(tctx, e), 0);
  EXPECT_GT(core_->stats().task_calls.load(), calls);
  EXPECT_GT(runtime_->thread(cpu_)->stats().signal_calls.load(), signals)
      << "the busy CPU was interrupted";
  EXPECT_TRUE(active(e)) << "programmed at install, not at the next switch";
  EXPECT_EQ(e->peek_oncpu(), cpu_);
  const Reading first = core_->read(e);
  std::this_thread::sleep_for(5ms);
  const Reading later = core_->read(e);
  stop_busy();
  // It counts from the install on: running all the time it was enabled.
  EXPECT_GT(later.count, first.count);
  EXPECT_EQ(later.time_enabled, later.time_running);
  EXPECT_GE(later.time_running, 4'000'000u);
}

TEST_F(CoreTest, InstallWhileTheTaskMigratesLandsExactlyOnce) {
  if (runtime_->running_cpus().count() < 2) GTEST_SKIP() << "needs two online CPUs";
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  std::atomic<bool> stop{false};
  std::thread migrator([&] {
    std::mt19937 rng(42);
    int at = cpu_;
    switch_in(at, &task);
    while (!stop.load()) {
      // Current for a while on each CPU, so installs meet it running, moving, and gone.
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      switch_out(at, &task);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 50));
      at = at == cpu_ ? other_ : cpu_;
      switch_in(at, &task);
    }
    switch_out(at, &task);
  });
  constexpr int kGroups = 300;
  std::vector<Event*> installed;
  for (int i = 0; i < kGroups; ++i) {
    installed.push_back(group(1 + i % 2, false, i % 3 == 0 ? &soft_ : nullptr));
    ASSERT_EQ(core_->install(tctx, installed.back()), 0);
    std::this_thread::sleep_for(std::chrono::microseconds(i % 50));
  }
  stop = true;
  migrator.join();
  int events = 0;
  for (Event* e : installed) {
    EXPECT_EQ(e->ctx, tctx);
    events += 1 + static_cast<int>(e->siblings.size());
  }
  {
    cpu::IrqSpinLockGuard l(tctx->lock);
    EXPECT_EQ(tctx->nr_events, events) << "every group landed exactly once";
    EXPECT_EQ(tctx->flexible_groups.size(), static_cast<size_t>(kGroups));
  }
  EXPECT_EQ(core_->check_invariants({tctx}), "");
  std::printf("install while migrating: %llu cross-calls, %llu retries, %llu locked\n",
              static_cast<unsigned long long>(core_->stats().task_calls.load()),
              static_cast<unsigned long long>(core_->stats().task_retries.load()),
              static_cast<unsigned long long>(core_->stats().locked_ops.load()));
}

TEST_F(CoreTest, AnOffGroupJoinsAContextWithEventsWithoutACrossCall) {
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  switch_in(cpu_, &task);
  ASSERT_EQ(core_->install(tctx, group(1)), 0);  // the first needs the call
  const uint64_t calls = core_->stats().task_calls.load();
  const uint64_t fast = core_->stats().install_fast.load();
  Event* off = group(2, false, nullptr, /*disabled=*/true);
  ASSERT_EQ(core_->install(tctx, off), 0);
  EXPECT_EQ(core_->stats().task_calls.load(), calls) << "no call for an Off group";
  EXPECT_EQ(core_->stats().install_fast.load(), fast + 1);
  EXPECT_EQ(off->peek_state(), EventState::kOff);
  ASSERT_EQ(core_->enable(off), 0);  // enable reschedules, on the task's CPU
  EXPECT_TRUE(active(off));
  switch_out(cpu_, &task);
}

// A CPU thread with irqs off (here, in a cross-call handler) must not wait for a mutex or
// another CPU: every user-side call refuses with -EDEADLK and changes nothing, whatever the
// context. (Before, an install into another CPU's context returned 0 having done nothing.)
TEST_F(CoreTest, UserSideCallsRefuseToWaitWithIrqsOff) {
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  Event* installed = group(1);
  ASSERT_EQ(core_->install(core_->cpu_context(other_), installed), 0);
  Event* fresh = group(2);
  std::vector<int> rcs;
  on_cpu(cpu_, [&] {
    rcs.push_back(core_->install(core_->cpu_context(other_), fresh));
    rcs.push_back(core_->install(core_->cpu_context(cpu_), fresh));
    rcs.push_back(core_->install(tctx, fresh));
    rcs.push_back(core_->disable(installed));
    rcs.push_back(core_->enable(installed));
    rcs.push_back(core_->reset(installed));
    rcs.push_back(core_->remove(installed));
  });
  EXPECT_EQ(rcs, std::vector<int>(7, -EDEADLK));
  EXPECT_EQ(fresh->ctx, nullptr) << "nothing was installed";
  EXPECT_EQ(installed->ctx, core_->cpu_context(other_)) << "nothing was removed";
  EXPECT_EQ(core_->read(installed).state, EventState::kActive) << "nothing was disabled";
  EXPECT_EQ(core_->install(tctx, fresh), 0) << "the same call from a thread that may wait";
}

// The task's CPU, as install reads it, is not where the task is current: it is moving. The
// call there answers -EAGAIN, install retries, and lands exactly once where it arrives.
TEST_F(CoreTest, InstallRetriesWhileTheTaskMoves) {
  if (runtime_->running_cpus().count() < 2) GTEST_SKIP() << "needs two online CPUs";
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  task.oncpu.store(cpu_);  // leaving cpu_ (not current there), not yet on other_
  std::thread arrives([&] {
    std::this_thread::sleep_for(5ms);
    switch_in(other_, &task);
  });
  Event* e = group(1);
  const uint64_t retries = core_->stats().task_retries.load();
  ASSERT_EQ(core_->install(tctx, e), 0);
  arrives.join();
  EXPECT_GT(core_->stats().task_retries.load(), retries) << "it retried while the task moved";
  {
    cpu::IrqSpinLockGuard l(tctx->lock);
    EXPECT_EQ(tctx->nr_events, 1) << "landed exactly once";
  }
  EXPECT_TRUE(active(e));
  EXPECT_EQ(e->peek_oncpu(), other_);
  switch_out(other_, &task);
}

TEST_F(CoreTest, ManyThreadsInstallingAtOnceAllLand) {
  Task& task = new_task();
  Context* tctx = task_ctx(task);
  std::vector<Context*> targets = {tctx};
  for (int c : runtime_->running_cpus().cpus()) targets.push_back(core_->cpu_context(c));
  std::atomic<bool> stop{false};
  std::thread switcher([&] {
    while (!stop.load()) {
      switch_in(cpu_, &task);
      switch_out(cpu_, &task);
    }
  });
  // Groups are created here (creation is not what is under test), installed in parallel.
  constexpr int kThreads = 4, kEach = 40;
  std::vector<std::vector<Event*>> per_thread(kThreads);
  for (auto& v : per_thread) {
    for (int i = 0; i < kEach; ++i) v.push_back(group(1 + i % 3, i % 7 == 0));
  }
  std::vector<std::thread> installers;
  for (int t = 0; t < kThreads; ++t) {
    installers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        Context* c = targets[static_cast<size_t>(i + t) % targets.size()];
        EXPECT_EQ(core_->install(c, per_thread[static_cast<size_t>(t)][static_cast<size_t>(i)]), 0);
      }
    });
  }
  for (auto& t : installers) t.join();
  stop = true;
  switcher.join();
  int expected = 0, landed = 0;
  for (auto& v : per_thread) {
    for (Event* e : v) expected += 1 + static_cast<int>(e->siblings.size());
  }
  for (Context* c : targets) {
    cpu::IrqSpinLockGuard l(c->lock);
    landed += c->nr_events;
  }
  EXPECT_EQ(landed, expected);
  EXPECT_EQ(core_->check_invariants({tctx}), "");
}

TEST_F(CoreTest, EverythingIsFreedAfterRemoval) {
  cpu::rcu::barrier();
  const long events = Event::alive(), contexts = Context::alive();
  const long pmu_contexts = PmuContext::alive();
  {
    Task task;
    ContextRef ref = *core_->task_context(task);
    Context* tctx = ref.get();
    EXPECT_EQ(Context::alive(), contexts + 1);
    std::vector<Event*> mine;
    auto make = [&](int size, Pmu* pmu) {
      EventAttr attr;
      attr.pmu = pmu;
      Event* leader = *core_->create_event(attr);
      for (int i = 1; i < size; ++i) (void)core_->create_event(attr, leader);
      mine.push_back(leader);
      return leader;
    };
    switch_in(cpu_, &task);
    ASSERT_EQ(core_->install(tctx, make(3, &tsc_)), 0);
    ASSERT_EQ(core_->install(tctx, make(2, &soft_)), 0);
    ASSERT_EQ(core_->install(core_->cpu_context(cpu_), make(1, &tsc_)), 0);
    EXPECT_EQ(PmuContext::alive(), pmu_contexts + 3);
    switch_out(cpu_, &task);
    core_->exit_task(task);  // the context lives on while groups are installed
    EXPECT_EQ(Context::alive(), contexts + 1);
    for (Event* e : mine) {
      EXPECT_EQ(e->peek_state(), e->ctx == tctx ? EventState::kExit : e->peek_state());
      ASSERT_EQ(core_->remove(e), 0);
      e->put();
    }
  }
  cpu::rcu::barrier();
  EXPECT_EQ(Event::alive(), events);
  EXPECT_EQ(Context::alive(), contexts);
  EXPECT_EQ(PmuContext::alive(), pmu_contexts);
}

// Random install, remove, enable, disable, switch, migrate, rotate and read steps on random
// groups and tasks across the CPUs, with every invariant checked after each step. The seed
// is printed; PCTX_SEED sets it, PCTX_STEPS the length.
TEST_F(CoreTest, RandomizedStepsKeepEveryInvariant) {
  const char* seed_env = std::getenv("PCTX_SEED");
  const unsigned seed = seed_env != nullptr
                            ? static_cast<unsigned>(std::strtoul(seed_env, nullptr, 10))
                            : std::random_device{}();
  const char* steps_env = std::getenv("PCTX_STEPS");
  const int steps = steps_env != nullptr ? std::atoi(steps_env) : 10000;
  std::printf("randomized core test: PCTX_SEED=%u PCTX_STEPS=%d\n", seed, steps);
  std::mt19937 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  core_->set_rotation_interval(500us);

  const auto cpus = runtime_->running_cpus().cpus();
  std::vector<Task*> tasks = {&new_task(), &new_task(), &new_task()};
  std::vector<int> where(tasks.size(), -1);  // the CPU a task is current on
  std::map<int, int> current;                // CPU -> task index
  std::vector<Context*> contexts;
  for (Task* t : tasks) contexts.push_back(task_ctx(*t));
  for (int c : cpus) contexts.push_back(core_->cpu_context(c));
  std::vector<Event*> installed, spare;
  std::map<Event*, Reading> last;

  for (int step = 0; step < steps; ++step) {
    const int op = static_cast<int>(pick(9));
    std::string what;
    if (op == 0 || (op == 1 && installed.empty())) {
      Event* g = group(1 + static_cast<int>(pick(3)), pick(5) == 0, pick(3) == 0 ? &soft_ : nullptr,
                       pick(10) == 0);
      Context* c = contexts[pick(contexts.size())];
      what = "install";
      ASSERT_EQ(core_->install(c, g), 0) << "step " << step;
      installed.push_back(g);
    } else if (op == 1) {
      const size_t i = pick(installed.size());
      what = "remove";
      ASSERT_EQ(core_->remove(installed[i]), 0) << "step " << step;
      last.erase(installed[i]);
      installed.erase(installed.begin() + static_cast<long>(i));
    } else if (op == 2 && !installed.empty()) {
      what = "enable";
      ASSERT_EQ(core_->enable(installed[pick(installed.size())]), 0);
    } else if (op == 3 && !installed.empty()) {
      what = "disable";
      ASSERT_EQ(core_->disable(installed[pick(installed.size())]), 0);
    } else if (op == 4 || op == 5) {
      // Switch: a task comes in on a CPU (the one there goes out), or goes out.
      const size_t t = pick(tasks.size());
      const int c = cpus[pick(cpus.size())];
      what = "switch";
      if (where[t] >= 0) {
        switch_out(where[t], tasks[t]);
        current.erase(where[t]);
        where[t] = -1;
      }
      if (op == 4) {
        if (auto it = current.find(c); it != current.end()) {
          switch_out(c, tasks[static_cast<size_t>(it->second)]);
          where[static_cast<size_t>(it->second)] = -1;
        }
        switch_in(c, tasks[t]);
        where[t] = c;
        current[c] = static_cast<int>(t);
      }
    } else if (op == 6) {
      what = "rotate";
      ASSERT_EQ(core_->rotate(cpus[pick(cpus.size())]), 0);
    } else if (op == 7 && !installed.empty()) {
      what = "read";
      Event* e = installed[pick(installed.size())];
      const Reading r = core_->read(e);
      auto it = last.find(e);
      if (it != last.end()) {
        ASSERT_GE(r.count, it->second.count) << "step " << step << ": count went back";
        ASSERT_GE(r.time_enabled, it->second.time_enabled) << "step " << step;
        ASSERT_GE(r.time_running, it->second.time_running) << "step " << step;
      }
      ASSERT_GE(r.time_enabled, r.time_running) << "step " << step;
      last[e] = r;
    } else {
      what = "reset";
      if (!installed.empty()) {
        Event* e = installed[pick(installed.size())];
        ASSERT_EQ(core_->reset(e), 0);
        last.erase(e);
      }
    }
    const std::string problems = core_->check_invariants(contexts);
    ASSERT_EQ(problems, "") << "after step " << step << " (" << what << "), PCTX_SEED=" << seed;
  }
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (where[t] >= 0) switch_out(where[t], tasks[t]);
  }
}

}  // namespace
}  // namespace pctx::core
