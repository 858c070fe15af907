// core::EventSet over core::PmuRegistry: a spec compiled into groups of core events,
// installed into pctx tasks (spawned by the scheduler, doing real work) and CPU contexts,
// read by name, and freed with the set.
#include "pctx/core/event_set.hpp"

#include <sys/mman.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/event.hpp"
#include "pctx/core/pmu_registry.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;
using core::EventSet;
using testing::spin_for;

bool msr_present() {
  return std::filesystem::exists("/sys/bus/event_source/devices/msr");
}

// Work that every counter here sees: CPU time in user mode and fresh pages touched (page
// faults), with preemption points. The pages come from mmap, not malloc, because malloc
// reuses memory that an earlier test has faulted in already.
void work() {
  spin_for(5ms);
  constexpr size_t kBytes = 4 << 20;
  void* p = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* pages = static_cast<volatile char*>(p);
  for (size_t i = 0; i < kBytes; i += 4096) {
    pages[i] = static_cast<char>(i);
    if (i % (64 * 4096) == 0) this_task::cond_resched();
  }
  munmap(p, kBytes);
  spin_for(5ms);
}

class EventSetTest : public testing::SchedTest {
 protected:
  void SetUp() override {
    SchedTest::SetUp();
    if (HasFatalFailure()) return;
    auto r = core::PmuRegistry::create();
    ASSERT_TRUE(r) << r.error().message;
    pmus_ = std::move(*r);
  }

  base::Result<EventSet> create(std::string_view spec, const core::EventSetOptions& o = {}) {
    return EventSet::create(*core_, *pmus_, spec, o);
  }

  // A task that waits to be woken, so that a set can be installed before it first runs.
  TaskRef spawn_stopped(std::function<void()> fn) {
    SpawnOptions o;
    o.start = false;
    return spawn(std::move(fn), o);
  }

  // Destroyed after the core: TearDown stops the core before the fixture's members go.
  std::unique_ptr<core::PmuRegistry> pmus_;
};

TEST_F(EventSetTest, CreateDescribesTheGroupsAndMembers) {
  auto set = create("tsc,{task-clock,page-faults},cs");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->size(), 4u);
  EXPECT_EQ(set->groups(), 3u);
  EXPECT_FALSE(set->installed());

  const auto& tsc = set->member(0);
  EXPECT_EQ(tsc.name, "tsc");
  EXPECT_EQ(tsc.canonical, "tsc");
  EXPECT_EQ(tsc.source, pmu::EventSource::kTsc);
  EXPECT_EQ(tsc.group, 0u);
  EXPECT_TRUE(tsc.leader);

  const auto& clock = set->member(1);
  EXPECT_EQ(clock.name, "task-clock");
  EXPECT_EQ(clock.canonical, "task-clock");
  EXPECT_EQ(clock.unit, "msec");
  EXPECT_DOUBLE_EQ(clock.scale, 1e-6);
  EXPECT_EQ(clock.source, pmu::EventSource::kSoftware);
  EXPECT_EQ(clock.group, 1u);
  EXPECT_TRUE(clock.leader);

  const auto& faults = set->member(2);
  EXPECT_EQ(faults.name, "page-faults");
  EXPECT_EQ(faults.unit, "");
  EXPECT_EQ(faults.group, 1u);
  EXPECT_FALSE(faults.leader);

  const auto& cs = set->member(3);
  EXPECT_EQ(cs.name, "cs");
  EXPECT_EQ(cs.canonical, "context-switches");
  EXPECT_EQ(cs.group, 2u);
  EXPECT_TRUE(cs.leader);

  EXPECT_EQ(set->find("cs"), 3u);
  EXPECT_EQ(set->find("context-switches"), 3u);
  EXPECT_EQ(set->find("page-faults"), 2u);
  EXPECT_FALSE(set->find("nope").has_value());
  EXPECT_EQ(set->event(2)->leader, set->event(1)) << "page-faults is not task-clock's sibling";
  EXPECT_THROW((void)set->member(4), std::out_of_range);
}

TEST_F(EventSetTest, CountsInATaskAndReadsByName) {
  auto set = create("tsc,{task-clock,page-faults},cs");
  ASSERT_TRUE(set) << set.error().message;
  TaskRef t = spawn_stopped(work);
  ASSERT_TRUE(set->install(*t)) << "install into a task that has not run";
  EXPECT_TRUE(set->installed());

  auto again = set->install(*t);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, -EBUSY);

  // Nothing has run yet: nothing is counted.
  for (size_t i = 0; i < set->size(); ++i) EXPECT_EQ(set->read(i).count, 0u) << i;

  ASSERT_EQ(sched_->wake(*t), 0);
  ASSERT_EQ(t->join(), 0);

  auto tsc = set->read("tsc");
  ASSERT_TRUE(tsc) << tsc.error().message;
  EXPECT_GT(tsc->count, 0u);
  auto clock = set->read("task-clock");
  ASSERT_TRUE(clock) << clock.error().message;
  EXPECT_GT(clock->count, 0u);
  EXPECT_GT(clock->time_running, 0u);
  auto faults = set->read("page-faults");
  ASSERT_TRUE(faults) << faults.error().message;
  EXPECT_GE(faults->count, 1u) << "the task touched 1024 fresh pages";

  // The task has exited: its counts are final, so every way of naming one agrees.
  auto cs = set->read("cs");
  auto cs_canonical = set->read("context-switches");
  ASSERT_TRUE(cs) << cs.error().message;
  ASSERT_TRUE(cs_canonical) << cs_canonical.error().message;
  EXPECT_EQ(cs->count, cs_canonical->count);
  EXPECT_EQ(cs->count, set->read(3).count);

  auto nope = set->read("nope");
  ASSERT_FALSE(nope);
  EXPECT_EQ(nope.error().code, -ENOENT);
  EXPECT_NE(nope.error().message.find("'nope'"), std::string::npos) << nope.error().message;
  EXPECT_NE(nope.error().message.find("tsc, task-clock, page-faults, cs"), std::string::npos)
      << nope.error().message;

  const core::GroupReading g = set->read_group(1);
  ASSERT_EQ(g.counts.size(), 2u);
  const core::Reading leader = set->read(1);
  EXPECT_EQ(g.time_enabled, leader.time_enabled);
  EXPECT_EQ(g.time_running, leader.time_running);
  EXPECT_EQ(g.counts[0], leader.count);
  EXPECT_EQ(g.counts[1], set->read(2).count);
  EXPECT_EQ(set->read_group(0).counts.size(), 1u);
  EXPECT_THROW((void)set->read_group(3), std::out_of_range);
}

TEST_F(EventSetTest, CountsOnACpuContext) {
  const int cpu = cpus_.back();
  auto set = create("tsc,{task-clock,page-faults},cs");
  ASSERT_TRUE(set) << set.error().message;
  auto none = set->install(static_cast<core::Context*>(nullptr));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, -EINVAL);
  ASSERT_TRUE(set->install(core_->cpu_context(cpu)));
  const core::Reading tsc0 = set->read(0), clock0 = set->read(1);

  SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpu});
  TaskRef t = spawn([] { spin_for(10ms); }, o);
  ASSERT_EQ(t->join(), 0);

  EXPECT_GT(set->read(0).count, tsc0.count) << "tsc on CPU " << cpu << " did not grow";
  EXPECT_GT(set->read(1).count, clock0.count) << "task-clock on CPU " << cpu << " did not grow";
  auto cs = set->read("context-switches");
  ASSERT_TRUE(cs) << cs.error().message;
  EXPECT_EQ(set->read_group(1).counts.size(), 2u);
  auto busy = set->install(core_->cpu_context(cpu));
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, -EBUSY);

  // Out of the context and in again.
  set->remove();
  EXPECT_FALSE(set->installed());
  EXPECT_EQ(set->event(0)->ctx, nullptr);
  ASSERT_TRUE(set->install(core_->cpu_context(cpu)));
  EXPECT_TRUE(set->installed());
}

TEST_F(EventSetTest, DisableEnableReset) {
  core::EventSetOptions o;
  o.disabled = true;
  auto set = create("tsc", o);
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_TRUE(set->install(core_->cpu_context(cpus_.back())));
  EXPECT_EQ(set->read(0).count, 0u) << "created disabled, yet counting";
  EXPECT_NE(set->read(0).state, core::EventState::kActive);

  ASSERT_TRUE(set->enable());
  const uint64_t a = set->read(0).count;
  const uint64_t b = set->read(0).count;
  EXPECT_GT(b, a) << "an enabled tsc on a CPU context did not advance between reads";

  ASSERT_TRUE(set->disable());
  const uint64_t frozen = set->read(0).count;
  EXPECT_GE(frozen, b);
  std::this_thread::sleep_for(1ms);
  EXPECT_EQ(set->read(0).count, frozen) << "a disabled event counted";

  ASSERT_TRUE(set->reset());
  EXPECT_EQ(set->read(0).count, 0u);

  ASSERT_TRUE(set->enable());
  const uint64_t c = set->read(0).count;
  EXPECT_GT(set->read(0).count, c);
}

TEST_F(EventSetTest, ABadSpecCreatesNothing) {
  const long alive = core::Event::alive();
  struct Case {
    const char* spec;
    int code;
    const char* message;
  };
  for (const Case& c : {Case{"tsc,,cs", -EINVAL, "empty event"},
                        Case{"tsc,{task-clock,cs},nope", -ENOENT, "unknown event 'nope'"},
                        Case{"tsc:u,task-clock", -EINVAL, "tsc takes no modifiers"},
                        Case{"tsc,{task-clock,cs},{tsc,tsc,tsc,tsc,tsc}", -EINVAL, "split it"}}) {
    auto set = create(c.spec);
    ASSERT_FALSE(set) << c.spec << " was created";
    EXPECT_EQ(set.error().code, c.code) << c.spec << ": " << set.error().message;
    EXPECT_NE(set.error().message.find(c.message), std::string::npos)
        << c.spec << ": " << set.error().message;
    EXPECT_EQ(core::Event::alive(), alive) << c.spec << " left events behind";
  }
}

TEST_F(EventSetTest, AGroupLargerThanTheTscDriverIsRefused) {
  auto four = create("{tsc,tsc,tsc,tsc}");
  ASSERT_TRUE(four) << "the tsc driver has 4 counters: " << four.error().message;
  auto five = create("{tsc,tsc,tsc,tsc,tsc}");
  ASSERT_FALSE(five);
  EXPECT_EQ(five.error().code, -EINVAL);
  EXPECT_NE(five.error().message.find("split it"), std::string::npos) << five.error().message;
  EXPECT_NE(five.error().message.find("{tsc,tsc,tsc,tsc,tsc}"), std::string::npos)
      << five.error().message;
  // As separate groups they multiplex instead.
  auto separate = create("tsc,tsc,tsc,tsc,tsc");
  EXPECT_TRUE(separate) << separate.error().message;
}

TEST_F(EventSetTest, DestroyingAnInstalledSetFreesEverything) {
  const long alive = core::Event::alive();
  TaskRef t = spawn_stopped(work);
  {
    auto set = create("tsc,{task-clock,page-faults},cs");
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_EQ(core::Event::alive(), alive + 4);
    ASSERT_TRUE(set->install(*t));
    auto on_cpu = create("{tsc,cs}");
    ASSERT_TRUE(on_cpu) << on_cpu.error().message;
    ASSERT_TRUE(on_cpu->install(core_->cpu_context(cpus_.front())));
    EXPECT_EQ(core::Event::alive(), alive + 6);
  }
  EXPECT_EQ(core::Event::alive(), alive) << "the sets left events behind";
  // The task runs with nothing installed any more.
  ASSERT_EQ(sched_->wake(*t), 0);
  ASSERT_EQ(t->join(), 0);

  // And after the task has run and exited.
  TaskRef u = spawn_stopped(work);
  {
    auto set = create("tsc,task-clock");
    ASSERT_TRUE(set) << set.error().message;
    ASSERT_TRUE(set->install(*u));
    ASSERT_EQ(sched_->wake(*u), 0);
    ASSERT_EQ(u->join(), 0);
    EXPECT_GT(set->read(0).count, 0u);
  }
  EXPECT_EQ(core::Event::alive(), alive) << "a set in an exited task left events behind";
}

TEST_F(EventSetTest, MovesTransferOwnership) {
  const long alive = core::Event::alive();
  auto created = create("tsc,{task-clock,cs}");
  ASSERT_TRUE(created) << created.error().message;
  EventSet a = std::move(*created);
  ASSERT_TRUE(a.install(core_->cpu_context(cpus_.back())));

  EventSet b(std::move(a));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.groups(), 0u);
  EXPECT_FALSE(a.installed());
  EXPECT_EQ(b.size(), 3u);
  EXPECT_TRUE(b.installed());
  const uint64_t first = b.read(0).count;
  EXPECT_GT(b.read(0).count, first) << "the moved-to set does not count";
  EXPECT_EQ(core::Event::alive(), alive + 3);

  // Assigning over an installed set releases what it held.
  auto other = create("tsc");
  ASSERT_TRUE(other) << other.error().message;
  ASSERT_TRUE(other->install(core_->cpu_context(cpus_.front())));
  EXPECT_EQ(core::Event::alive(), alive + 4);
  b = std::move(*other);
  EXPECT_EQ(core::Event::alive(), alive + 1);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_TRUE(b.installed());
  EXPECT_EQ(b.member(0).name, "tsc");

  EventSet empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_FALSE(empty.installed());
  b = std::move(empty);
  EXPECT_EQ(core::Event::alive(), alive);
}

TEST_F(EventSetTest, InstallIntoAnExitedTaskIsEsrch) {
  TaskRef t = spawn([] {});
  ASSERT_EQ(t->join(), 0);
  const long alive = core::Event::alive();
  {
    auto set = create("tsc,task-clock");
    ASSERT_TRUE(set) << set.error().message;
    auto st = set->install(*t);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, -ESRCH);
    EXPECT_NE(st.error().message.find("exited"), std::string::npos) << st.error().message;
    EXPECT_FALSE(set->installed());
  }
  EXPECT_EQ(core::Event::alive(), alive);
}

TEST_F(EventSetTest, VariantsCountInATask) {
  std::string spec = "page-faults:u,task-clock:k,cpu-clock";
  if (msr_present()) spec += ",msr/tsc/";
  auto set = create(spec);
  ASSERT_TRUE(set) << spec << ": " << set.error().message;
  EXPECT_EQ(set->member(0).canonical, "page-faults");
  EXPECT_EQ(set->member(1).canonical, "task-clock");
  TaskRef t = spawn_stopped(work);
  ASSERT_TRUE(set->install(*t));
  ASSERT_EQ(sched_->wake(*t), 0);
  ASSERT_EQ(t->join(), 0);
  for (size_t i = 0; i < set->size(); ++i) {
    const core::Reading r = set->read(i);
    EXPECT_GT(r.count, 0u) << set->member(i).name << " did not count in a task that worked";
    EXPECT_GT(r.time_running, 0u) << set->member(i).name;
  }
  if (msr_present()) {
    EXPECT_EQ(set->member(3).source, pmu::EventSource::kKernelPmu);
    EXPECT_EQ(set->member(3).canonical, "msr/tsc/");
  } else {
    std::cout << "[   INFO   ] no msr PMU here: msr/tsc/ not counted\n";
  }
}

TEST(PmuRegistry, CapsAreChecked) {
  auto bogus = core::PmuRegistry::create({{"bogus", 2}});
  ASSERT_FALSE(bogus);
  EXPECT_EQ(bogus.error().code, -EINVAL);
  EXPECT_NE(bogus.error().message.find("'bogus'"), std::string::npos) << bogus.error().message;

  auto zero = core::PmuRegistry::create({{"tsc", 0}});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, -EINVAL);

  auto tsc = core::PmuRegistry::create({{"tsc", 2}});
  ASSERT_TRUE(tsc) << tsc.error().message;
  EXPECT_EQ((*tsc)->caps().at("tsc"), 2);
}

TEST(PmuRegistry, AHardwareCapNeedsAHardwarePmu) {
  if (pmu::probe_capabilities().hardware_pmu) GTEST_SKIP() << "this machine has a hardware PMU";
  auto hw = core::PmuRegistry::create({{"hardware", 2}});
  ASSERT_FALSE(hw);
  EXPECT_EQ(hw.error().code, -ENOENT);
  EXPECT_NE(hw.error().message.find("tsc=N"), std::string::npos) << hw.error().message;
}

// A tsc cap is the driver's counter count: a group larger than it is refused.
TEST_F(EventSetTest, ATscCapLimitsGroups) {
  pmus_.reset();  // no driver of it was registered yet
  auto r = core::PmuRegistry::create({{"tsc", 2}});
  ASSERT_TRUE(r) << r.error().message;
  pmus_ = std::move(*r);
  EXPECT_TRUE(create("{tsc,tsc}"));
  auto three = create("{tsc,tsc,tsc}");
  ASSERT_FALSE(three);
  EXPECT_NE(three.error().message.find("split it"), std::string::npos) << three.error().message;
}

TEST_F(EventSetTest, AHardwareEventWithoutAHardwarePmuIsEnoent) {
  if (pmu::probe_capabilities().hardware_pmu) GTEST_SKIP() << "this machine has a hardware PMU";
  const long alive = core::Event::alive();
  auto set = create("tsc,cycles");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code, -ENOENT) << set.error().message;
  EXPECT_EQ(core::Event::alive(), alive);
}

// A driver registered while other events count: the CPUs' passes must see a new driver
// whole or not at all (TSan checks the publication), and both sets count.
TEST_F(EventSetTest, ADriverRegisteredWhileEventsCountJoinsCleanly) {
  const int cpu = cpus_.front();
  auto sw = create("task-clock,cs");
  ASSERT_TRUE(sw) << sw.error().message;
  ASSERT_TRUE(sw->install(core_->cpu_context(cpu)));
  std::atomic<bool> stop{false};
  SpawnOptions o;
  o.affinity = cpu::CpuSet::of({cpu});  // switches there: passes that walk the drivers
  TaskRef busy = spawn(
      [&] {
        while (!stop.load()) this_task::yield();
      },
      o);
  spin_for(20ms);
  auto tsc = create("tsc");  // the first tsc set: registers the tsc driver now
  ASSERT_TRUE(tsc) << tsc.error().message;
  ASSERT_TRUE(tsc->install(core_->cpu_context(cpu)));
  spin_for(20ms);
  stop = true;
  busy->join();
  EXPECT_GT(sw->read("task-clock")->count, 0u);
  EXPECT_GT(tsc->read("tsc")->count, 0u);
}

}  // namespace
}  // namespace pctx::sched
