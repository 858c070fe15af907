// Misuse is an error or a clean teardown, never a hang or a crash (issue 12): a scheduler
// destroyed with tasks never woken, sleeping or blocked; spawns that cannot get a stack;
// the task and switch-hook calls made from a thread that is not a task or a CPU thread.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <thread>

#include "core/address_space.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/sched/wait_queue.hpp"
#include "sched/sched_fixture.hpp"

namespace pctx::sched {
namespace {

using namespace std::chrono_literals;

// How long a teardown may take before the test calls it a hang: far beyond any honest
// teardown on a loaded machine, far below ctest's timeout.
constexpr auto kHangBound = 120s;

class TeardownTest : public testing::SchedTest {
 protected:
  // Destroys the scheduler on another thread; a teardown that does not finish within the
  // hang bound fails the test and ends the process (the hung destructor cannot be undone).
  void destroy_scheduler() {
    auto done = std::async(std::launch::async, [this] { sched_.reset(); });
    if (done.wait_for(kHangBound) != std::future_status::ready) {
      ADD_FAILURE() << "~Scheduler hung";
      std::fprintf(stderr, "~Scheduler did not return within %lld s\n",
                   static_cast<long long>(kHangBound.count()));
      std::_Exit(1);
    }
  }

  // A tsc event installed in the task's context, owned by the fixture.
  core::Event* install_tsc(Task& t) {
    auto ref = core_->task_context(t);
    EXPECT_TRUE(ref) << ref.error().message;
    core::EventAttr attr;
    attr.pmu = &tsc_;
    auto e = core_->create_event(attr);
    EXPECT_TRUE(e) << e.error().message;
    EXPECT_EQ(core_->install(ref->get(), *e), 0);
    contexts_.push_back(std::move(*ref));
    events_.push_back(*e);
    return *e;
  }
};

TEST_F(TeardownTest, TasksNeverWokenAreCancelledWhenTheSchedulerIsDestroyed) {
  std::atomic<int> ran{0};
  SpawnOptions o;
  o.start = false;
  for (int i = 0; i < 3; ++i) spawn([&] { ++ran; }, o);
  spawn([&] { ++ran; });  // started: runs and exits as usual
  EXPECT_EQ(tasks_.back()->join(), 0);
  EXPECT_EQ(sched_->live_tasks(), 3u);
  destroy_scheduler();
  EXPECT_EQ(ran.load(), 1) << "a cancelled task's function must never be called";
  for (size_t i = 0; i < 3; ++i) {
    Task& t = *tasks_[i];
    EXPECT_TRUE(t.done());
    EXPECT_TRUE(t.cancelled());
    EXPECT_EQ(t.state(), TaskState::kDead);
    EXPECT_EQ(t.join(), -ECANCELED);
    EXPECT_EQ(t.switches(), 0u);
  }
  EXPECT_FALSE(tasks_.back()->cancelled());
}

// The perf core's side: the cancelled task's context is torn down as at an exit, so its
// events can be read, removed and put afterwards (ASan checks the use-after-free).
TEST_F(TeardownTest, ACancelledTaskWithAnInstalledEventHasItsContextTornDown) {
  SpawnOptions o;
  o.start = false;
  TaskRef t = spawn([] {}, o);
  core::Event* e = install_tsc(*t);
  core::Event* f = install_tsc(*t);
  core::Context* ctx = contexts_.back().get();
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(core_->read(e).state, core::EventState::kInactive);
  destroy_scheduler();
  EXPECT_TRUE(t->cancelled());
  EXPECT_EQ(t->perf_ctx.load(), nullptr) << "the cancellation detaches the context";
  EXPECT_TRUE(t->exited.load());
  for (core::Event* ev : {e, f}) {
    const core::Reading r = core_->read(ev);
    EXPECT_EQ(r.state, core::EventState::kExit);
    EXPECT_EQ(r.count, 0u) << "a task that never ran never counted";
    EXPECT_EQ(r.time_running, 0u);
  }
  core::EventAttr attr;
  attr.pmu = &tsc_;
  auto late = core_->create_event(attr);
  ASSERT_TRUE(late);
  EXPECT_EQ(core_->install(ctx, *late), -ESRCH) << "no install after the cancellation";
  core::put_event(*late);
  EXPECT_EQ(core_->remove(f), 0);
  EXPECT_EQ(core_->check_invariants(), "");
  // e is removed and put by the fixture's TearDown.
}

TEST_F(TeardownTest, AJoinOfANeverWokenTaskReturnsWhenItIsCancelled) {
  SpawnOptions o;
  o.start = false;
  TaskRef never = spawn([] {}, o);
  std::atomic<int> joined{1};
  std::atomic<bool> joining{false};
  spawn([&] {
    joining = true;
    joined = never->join();
  });
  // A thread joins it too.
  std::atomic<int> thread_joined{1};
  std::thread joiner([&] { thread_joined = never->join(); });
  while (!joining.load()) std::this_thread::sleep_for(1ms);
  destroy_scheduler();
  joiner.join();
  EXPECT_EQ(joined.load(), -ECANCELED);
  EXPECT_EQ(thread_joined.load(), -ECANCELED);
}

TEST_F(TeardownTest, DestructionWaitsForASleepingTaskToFinish) {
  std::atomic<bool> finished{false};
  std::atomic<bool> asleep{false};
  spawn([&] {
    asleep = true;
    this_task::sleep_for(30ms);
    finished = true;
  });
  while (!asleep.load()) std::this_thread::sleep_for(1ms);
  destroy_scheduler();
  EXPECT_TRUE(finished.load()) << "a sleeper sleeps its time out and returns";
  EXPECT_EQ(tasks_.back()->join(), 0);
  EXPECT_FALSE(tasks_.back()->cancelled());
}

TEST_F(TeardownTest, DestructionWaitsForABlockedTaskUntilSomeoneWakesIt) {
  WaitQueue wq;
  std::atomic<bool> go{false};
  std::atomic<bool> blocked{false};
  spawn([&] {
    blocked = true;
    wq.wait([&] { return go.load(); });
  });
  while (!blocked.load() || wq.empty()) std::this_thread::sleep_for(1ms);
  auto destroyed = std::async(std::launch::async, [this] { sched_.reset(); });
  // Not a timing assertion: while the task is blocked the destructor cannot return.
  EXPECT_EQ(destroyed.wait_for(50ms), std::future_status::timeout);
  EXPECT_FALSE(tasks_.back()->done());
  go = true;
  wq.wake_all();
  ASSERT_EQ(destroyed.wait_for(kHangBound), std::future_status::ready) << "~Scheduler hung";
  EXPECT_EQ(tasks_.back()->join(), 0);
}

TEST_F(TeardownTest, SpawnReportsAStackItCannotMap) {
  SpawnOptions huge;
  huge.stack_size = size_t{1} << 60;  // beyond any x86-64 or arm64 address space
  auto t = sched_->spawn([] {}, huge);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, -ENOMEM);
  EXPECT_NE(t.error().message.find("stack"), std::string::npos) << t.error().message;
  SpawnOptions tiny;
  tiny.stack_size = 1024;
  auto u = sched_->spawn([] {}, tiny);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, -EINVAL);
  EXPECT_EQ(sched_->live_tasks(), 0u);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// Caps the address space a little above what the process uses, then spawns tasks with
// 1 MiB stacks until spawn fails. Exits 0 when it failed with -ENOMEM after some spawns.
[[noreturn]] void spawn_until_out_of_memory(Scheduler& s) {
  pctx::testing::cap_address_space(rlim_t{256} << 20);
  SpawnOptions o;
  o.start = false;
  o.stack_size = 1 << 20;
  for (int spawned = 0; spawned <= 100'000; ++spawned) {
    auto t = s.spawn([] {}, o);
    if (!t) std::_Exit(t.error().code == -ENOMEM && spawned > 0 ? 0 : 5);
  }
  std::_Exit(6);  // the cap did not hold
}

// Memory really runs out, in a child (the sanitizers reserve terabytes of shadow, so they
// cannot run under a cap): spawn keeps answering, with -ENOMEM, and never throws.
TEST_F(TeardownTest, SpawnUntilTheAddressSpaceRunsOutReturnsENOMEM) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(spawn_until_out_of_memory(*sched_), ::testing::ExitedWithCode(0), "");
}
#endif

// From a plain thread: no task, no CPU. Each call falls back to the thread's equivalent or
// fails with its documented error; none crashes or blocks forever.
TEST_F(TeardownTest, TaskCallsFromAPlainThreadFailCleanly) {
  std::thread plain([&] {
    EXPECT_EQ(this_task::current(), nullptr);
    EXPECT_EQ(this_task::cpu(), -1);
    this_task::yield();
    this_task::cond_resched();
    EXPECT_FALSE(this_task::need_resched());
    this_task::sleep_for(1ms);
    EXPECT_EQ(this_task::migrate_to(cpus_.front()), -EPERM);
    WaitQueue wq;
    EXPECT_EQ(wq.wait([] { return false; }), -EPERM);
    EXPECT_EQ(wq.wake_all(), 0);
    core::Task foreign;
    EXPECT_EQ(core_->sched_in(&foreign), -EPERM);
    EXPECT_EQ(core_->sched_out(&foreign, nullptr), -EPERM);
    EXPECT_EQ(foreign.oncpu.load(), -1) << "a refused sched_in changes nothing";
  });
  plain.join();
}

// A CPU thread outside a task (a cross-call handler here) runs the tasks: a join there
// would wait for a task that needs that very thread, so it is refused at once.
TEST_F(TeardownTest, AJoinOnACpuThreadOutsideATaskIsRefused) {
  SpawnOptions o;
  o.start = false;
  TaskRef t = spawn([] {}, o);
  EXPECT_EQ(cpu::cpu_function_call(cpus_.front(), [&] { return t->join(); }), -EDEADLK);
  EXPECT_EQ(sched_->wake(*t), 0);
  EXPECT_EQ(t->join(), 0);
}

}  // namespace
}  // namespace pctx::sched
