// Cross-calls under stress: for 10 s, user threads install, remove, read, read_group,
// enable, disable and reset groups of tsc and software events, in the contexts of tasks
// that the scheduler keeps switching and moving between the CPUs (three per CPU, and
// short-lived ones that exit under the calls) and in the CPU contexts, at the default time
// slice and rotation interval. What users rely on is checked all along: every call returns
// 0 or the errno documented for its situation; a count never goes back unless the event
// was reset; times never go back and enabled >= running; a group read's states agree. At
// the end the core's invariants hold, every event and context is freed, and the scheduler
// and core shut down. PCTX_SEED replays a run's choices (the interleavings are the
// machine's).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "pctx/base/errno_text.hpp"
#include "pctx/core/perf_software_pmu.hpp"
#include "pctx/cpu/rcu.hpp"
#include "sched/sched_fixture.hpp"
#include "sched/stress_checks.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;
using core::EventState;
using testing::History;
using testing::kMaxMembers;
using testing::Slot;
using testing::spin_for;
using testing::Target;

constexpr auto kDuration = 10s;
constexpr int kTasksPerCpu = 3;
constexpr size_t kShortLived = 3;  // at any moment; each lives a few milliseconds
constexpr int kWorkers = 4;
constexpr size_t kSlots = 48;
constexpr int kMaxReported = 20;  // failures reported in full; the rest are counted

// The task contexts among the targets, for check_invariants.
std::vector<core::Context*> task_contexts(const std::vector<std::shared_ptr<Target>>& targets) {
  std::vector<core::Context*> contexts;
  for (const auto& t : targets) {
    if (t->cpu < 0) contexts.push_back(t->ctx);
  }
  return contexts;
}

class StressTest : public testing::SchedTest {
 protected:
  void SetUp() override {
    live0_ = core::PerfCore::live_objects();
    SchedTest::SetUp();
    auto sw = core::PerfSoftwarePmu::open(*runtime_);
    ASSERT_TRUE(sw) << sw.error().message;
    sw_ = std::move(*sw);
    ASSERT_GE(core_->register_pmu(*sw_), 0);
    seed_ = testing::seed_from_env("stress");
  }

  void TearDown() override {
    // After a failed set-up, the tasks still end: the fixture joins them.
    stop_tasks_ = true;
    for (auto& t : tasks_) {
      if (t->state() == TaskState::kNew) sched_->wake(*t);
    }
    SchedTest::TearDown();
    sw_.reset();  // the PMU outlives the core
  }

  void fail(const std::string& what) {
    if (failures_.fetch_add(1) < kMaxReported) ADD_FAILURE() << what << " (seed " << seed_ << ")";
  }
  void report(const char* call, const std::string& problem) {
    if (!problem.empty()) fail(std::string(call) + ": " + problem);
  }
  void expect_zero(int rc, const char* call) {
    if (rc == 0) return;
    fail(std::string(call) + " returned " + std::to_string(rc) + " (" + base::errno_text(-rc) +
         ")");
  }

  core::Event* new_event(core::Pmu* pmu, uint64_t config, core::Event* leader, std::mt19937_64& rng,
                         int cpu, bool pinned) {
    core::EventAttr attr;
    attr.pmu = pmu;
    attr.config = config;
    attr.cpu = cpu;
    attr.pinned = pinned;
    attr.disabled = rng() % 6 == 0;
    auto e = core_->create_event(attr, leader);
    if (!e) fail("create_event: " + e.error().message);
    return e ? *e : nullptr;
  }
  uint64_t software_config(std::mt19937_64& rng) {
    static const char* const kNames[] = {"task-clock", "context-switches", "page-faults",
                                         "cpu-migrations"};
    return core::PerfSoftwarePmu::config_of(kNames[rng() % 4]).value();
  }

  // A new group in the slot: a tsc or software leader, sometimes pinned or filtered to a
  // CPU, with up to two siblings (tsc ones only in a tsc group), some created disabled.
  void renew(Slot& s, std::mt19937_64& rng) {
    if (!s.members.empty()) core::put_event(s.members[0]);  // a leader's put releases its siblings
    s.members.clear();
    const bool tsc = rng() % 3 != 0;
    s.cpu_filter = rng() % 6 == 0 ? cpus_[rng() % cpus_.size()] : -1;
    s.pinned = rng() % 8 == 0;
    core::Pmu* pmu = tsc ? static_cast<core::Pmu*>(&tsc_) : sw_.get();
    core::Event* leader =
        new_event(pmu, tsc ? 0 : software_config(rng), nullptr, rng, s.cpu_filter, s.pinned);
    if (leader == nullptr) return;
    s.members.push_back(leader);
    for (size_t n = rng() % kMaxMembers; n > 0; --n) {
      const bool tsc_sibling = tsc && rng() % 2 == 0;
      core::Event* e =
          new_event(tsc_sibling ? static_cast<core::Pmu*>(&tsc_) : sw_.get(),
                    tsc_sibling ? 0 : software_config(rng), leader, rng, s.cpu_filter, false);
      if (e != nullptr) s.members.push_back(e);
    }
    s.generation = next_generation_.fetch_add(1);
  }

  std::shared_ptr<Target> pick_target(std::mt19937_64& rng) {
    std::lock_guard lock(targets_mutex_);
    return targets_[rng() % targets_.size()];
  }

  // With the slot alone: removes an installed group (renewing it if its task exited, or
  // at random), or installs one into a random context.
  void install_or_remove(Slot& s, std::mt19937_64& rng) {
    if (s.where != nullptr) {
      expect_zero(core_->remove(s.members[0]), "remove");
      const bool exited = core_->read(s.members[0]).state == EventState::kExit;
      if (exited && !s.where->may_exit) fail("a group of a task that runs went to Exit");
      s.where.reset();
      if (exited || rng() % 2 == 0) renew(s, rng);
      return;
    }
    auto target = pick_target(rng);
    const int rc = core_->install(target->ctx, s.members[0]);
    if (rc == 0) {
      s.where = std::move(target);
      return;
    }
    // -ESRCH: the task exited; -EINVAL: a group filtered to one CPU, into another's context.
    const bool documented =
        (rc == -ESRCH && target->may_exit) ||
        (rc == -EINVAL && target->cpu >= 0 && s.cpu_filter >= 0 && s.cpu_filter != target->cpu);
    if (!documented) expect_zero(rc, "install");
  }

  void read_one(Slot& s, size_t m, History& history) {
    const History::Window w = History::window(s.resets[m]);
    const core::Reading r = core_->read(s.members[m]);
    report("read", testing::state_problem(s, m, r.state));
    report("read", history.observe(s, m, w, r.count, &r));
  }

  // From any member, the whole group; the leader's times.
  void read_group(Slot& s, size_t from, History& history) {
    std::array<History::Window, kMaxMembers> w{};
    for (size_t m = 0; m < s.members.size(); ++m) w[m] = History::window(s.resets[m]);
    const core::GroupReading g = core_->read_group(s.members[from]);
    const std::string problem = testing::group_problem(s, g);
    report("read_group", problem);
    if (!problem.empty()) return;
    const core::Reading times{g.counts[0], g.time_enabled, g.time_running, g.state};
    for (size_t m = 0; m < s.members.size(); ++m) {
      report("read_group", history.observe(s, m, w[m], g.counts[m], m == 0 ? &times : nullptr));
    }
  }

  void worker(int id);
  void task_body(uint64_t seed, bool short_lived);
  void churn();
  void checker();
  void spawn_long_lived();
  std::shared_ptr<Target> task_target(TaskRef task, bool may_exit);
  void add_anchor(const std::shared_ptr<Target>& t);
  void print_and_check_coverage();
  void end_everything();

  std::unique_ptr<core::PerfSoftwarePmu> sw_;
  uint64_t seed_ = 0;
  core::LiveObjects live0_;
  std::atomic<int> failures_{0};
  std::atomic<bool> stop_calls_{false}, stop_tasks_{false};
  std::atomic<uint64_t> next_generation_{1}, calls_{0};
  std::mutex targets_mutex_;
  std::vector<std::shared_ptr<Target>> targets_;  // CPUs', long-lived tasks', short-lived'
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::pair<core::Event*, std::shared_ptr<Target>>> anchors_;  // never touched
};

void StressTest::worker(int id) {
  std::mt19937_64 rng(seed_ * 1'000'003 + static_cast<uint64_t>(id));
  History history;
  while (!stop_calls_.load()) {
    Slot& s = *slots_[rng() % slots_.size()];
    const auto roll = rng() % 100;
    calls_.fetch_add(1, std::memory_order_relaxed);
    if (roll < 15) {
      std::unique_lock alone(s.lifecycle);
      if (!s.members.empty()) install_or_remove(s, rng);
      continue;
    }
    std::shared_lock shared(s.lifecycle);
    std::unique_lock<std::shared_mutex> alone;
    if (s.where == nullptr) {  // uninstalled: alone (it may be installed by then: fine)
      shared.unlock();
      alone = std::unique_lock(s.lifecycle);
    }
    if (s.members.empty()) continue;
    const size_t m = rng() % s.members.size();
    if (roll < 40) {
      read_one(s, m, history);
    } else if (roll < 55) {
      read_group(s, m, history);
    } else if (roll < 70) {
      expect_zero(core_->enable(s.members[m]), "enable");
    } else if (roll < 85) {
      expect_zero(core_->disable(s.members[m]), "disable");
    } else {
      s.resets[m].begun.fetch_add(1);
      expect_zero(core_->reset(s.members[m]), "reset");
      s.resets[m].done.fetch_add(1);
    }
  }
}

// Spins in bursts, and between them yields, sleeps or moves to a random CPU; a short-lived
// task returns after a few milliseconds.
void StressTest::task_body(uint64_t seed, bool short_lived) {
  std::mt19937_64 rng(seed);
  const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 8000);
  while (!stop_tasks_.load(std::memory_order_relaxed)) {
    if (short_lived && std::chrono::steady_clock::now() > end) return;
    spin_for(std::chrono::microseconds(50 + rng() % 450));
    switch (rng() % 6) {
      case 0:
        this_task::yield();
        break;
      case 1:
        this_task::sleep_for(std::chrono::microseconds(rng() % 200));
        break;
      case 2:
        this_task::migrate_to(cpus_[rng() % cpus_.size()]);
        break;
      default:
        break;
    }
  }
}

std::shared_ptr<Target> StressTest::task_target(TaskRef task, bool may_exit) {
  auto ref = core_->task_context(*task);
  if (!ref) {
    if (!(may_exit && ref.error().code == -ESRCH)) fail("task_context: " + ref.error().message);
    return nullptr;
  }
  auto t = std::make_shared<Target>();
  t->task = std::move(task);
  t->ctx = ref->get();
  t->ref = std::move(*ref);
  t->may_exit = may_exit;
  return t;
}

// Short-lived tasks, replaced as they exit; groups are installed into them meanwhile.
void StressTest::churn() {
  std::mt19937_64 rng(seed_ ^ 0x5bd1e995);
  std::vector<size_t> replace;  // indices in targets_ of tasks that exited; SIZE_MAX: a new one
  while (!stop_calls_.load()) {
    replace.clear();
    {
      std::lock_guard lock(targets_mutex_);
      size_t short_lived = 0;
      for (size_t i = 0; i < targets_.size(); ++i) {
        if (!targets_[i]->may_exit) continue;
        ++short_lived;
        if (targets_[i]->task->done()) replace.push_back(i);
      }
      replace.resize(replace.size() + kShortLived - short_lived, SIZE_MAX);
    }
    for (size_t i : replace) {
      const uint64_t task_seed = rng();
      auto task = sched_->spawn([this, task_seed] { task_body(task_seed, true); });
      if (!task) {
        fail("spawn: " + task.error().message);
        continue;
      }
      auto t = task_target(std::move(*task), true);
      if (t == nullptr) continue;
      std::lock_guard lock(targets_mutex_);
      if (i == SIZE_MAX) {
        targets_.push_back(std::move(t));
      } else {
        targets_[i] = std::move(t);
      }
    }
    std::this_thread::sleep_for(1ms);
  }
}

// The core's invariants, in every context, while the calls go on.
void StressTest::checker() {
  while (!stop_calls_.load()) {
    std::vector<std::shared_ptr<Target>> held;  // keeps their contexts for the check
    {
      std::lock_guard lock(targets_mutex_);
      held = targets_;
    }
    const std::string bad = core_->check_invariants(task_contexts(held));
    if (!bad.empty()) fail("invariants: " + bad.substr(0, bad.find('\n')));
    std::this_thread::sleep_for(20ms);
  }
}

// A task-clock group that no call touches: it must count wherever it is.
void StressTest::add_anchor(const std::shared_ptr<Target>& t) {
  core::EventAttr attr;
  attr.pmu = sw_.get();
  attr.config = core::PerfSoftwarePmu::config_of("task-clock").value();
  auto anchor = core_->create_event(attr);
  ASSERT_TRUE(anchor) << anchor.error().message;
  anchors_.emplace_back(*anchor, t);
  ASSERT_EQ(core_->install(t->ctx, *anchor), 0);
}

// Three tasks per CPU, each with an anchor.
void StressTest::spawn_long_lived() {
  for (int i = 0; i < kTasksPerCpu * static_cast<int>(cpus_.size()); ++i) {
    SpawnOptions so;
    so.start = false;
    so.affinity = cpu::CpuSet::of({cpus_[static_cast<size_t>(i) % cpus_.size()]});
    const uint64_t task_seed = seed_ + static_cast<uint64_t>(i);
    TaskRef task = spawn([this, task_seed] { task_body(task_seed, false); }, so);
    auto t = task_target(task, false);
    ASSERT_NE(t, nullptr);
    add_anchor(t);
    if (HasFatalFailure()) return;
    targets_.push_back(std::move(t));
    ASSERT_EQ(sched_->wake(*task), 0);
  }
}

// What the run reached, printed; and asserted where the test's point depends on it: calls
// reached running tasks, tasks that were not running, and other CPUs, and the tasks moved.
void StressTest::print_and_check_coverage() {
  auto n = [](const std::atomic<uint64_t>& v) { return static_cast<unsigned long long>(v.load()); };
  const auto& core = core_->stats();
  const auto& sched = sched_->stats();
  std::printf(
      "stress: %llu calls; core: %llu sent to a task's CPU, %llu retried (the task moved), %llu "
      "under the lock, %llu remote reads, %llu rotations; sched: %llu switches, %llu "
      "migrations\n",
      n(calls_), n(core.task_calls), n(core.task_retries), n(core.locked_ops), n(core.remote_reads),
      n(core.rotations), static_cast<unsigned long long>(sched_->switches()), n(sched.migrations));
  EXPECT_GT(core.task_calls.load(), 0u);
  EXPECT_GT(core.locked_ops.load(), 0u);
  EXPECT_GT(core.remote_reads.load(), 0u);
  EXPECT_GT(sched.migrations.load(), 0u);
}

// Tasks end, groups leave and are freed, the scheduler, core and runtime shut down, and
// nothing is left: every event, context and PMU context made was freed.
void StressTest::end_everything() {
  stop_tasks_ = true;
  join_all();
  for (const auto& t : targets_) {
    if (t->task) t->task->join();
  }
  for (auto& s : slots_) {
    if (s->where != nullptr) expect_zero(core_->remove(s->members[0]), "remove");
    if (!s->members.empty()) core::put_event(s->members[0]);
  }
  for (auto& [anchor, where] : anchors_) {
    expect_zero(core_->remove(anchor), "remove");
    core::put_event(anchor);
  }
  slots_.clear();
  anchors_.clear();
  targets_.clear();
  tasks_.clear();
  EXPECT_EQ(core_->check_invariants(), "");
  EXPECT_EQ(sched_->live_tasks(), 0u);
  EXPECT_TRUE(sched_->drain_timeouts().empty());
  sched_.reset();
  core_.reset();
  runtime_.reset();
  sw_.reset();
  cpu::rcu::barrier();
  const core::LiveObjects live = core::PerfCore::live_objects();
  EXPECT_EQ(live.events, live0_.events) << "events leaked";
  EXPECT_EQ(live.contexts, live0_.contexts) << "contexts leaked";
  EXPECT_EQ(live.pmu_contexts, live0_.pmu_contexts) << "PMU contexts leaked";
}

TEST_F(StressTest, CrossCallsFromManyThreadsKeepEveryPromise) {
  std::mt19937_64 rng(seed_);
  for (int c : cpus_) {
    auto t = std::make_shared<Target>();
    t->ctx = core_->cpu_context(c);
    t->cpu = c;
    targets_.push_back(t);
    add_anchor(t);
  }
  spawn_long_lived();
  if (HasFatalFailure()) return;
  for (size_t i = 0; i < kSlots; ++i) renew(*slots_.emplace_back(std::make_unique<Slot>()), rng);

  std::vector<std::thread> threads;
  for (int i = 0; i < kWorkers; ++i) threads.emplace_back([this, i] { worker(i); });
  threads.emplace_back([this] { churn(); });
  threads.emplace_back([this] { checker(); });
  std::this_thread::sleep_for(kDuration);
  stop_calls_ = true;
  for (auto& t : threads) t.join();

  EXPECT_EQ(core_->check_invariants(task_contexts(targets_)), "");
  for (const auto& [anchor, where] : anchors_) {
    const core::Reading r = core_->read(anchor);
    EXPECT_GT(r.count, 0u) << (where->cpu >= 0 ? "a CPU's" : "a task's") << " anchor";
    EXPECT_GT(r.time_running, 0u);
  }
  print_and_check_coverage();
  end_everything();
  EXPECT_EQ(failures_.load(), 0) << "failures (the first " << kMaxReported << " shown above)";
}

}  // namespace
}  // namespace pctx::sched
