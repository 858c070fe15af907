// A user-side call to a CPU context whose thread refuses calls (parked) acts under the
// context's lock only while the context is off. Here the thread is parked with its context
// still on, which is the state such a call meets when the CPU comes back between the
// refusal and the lock (its thread takes calls, then its bringup pass puts the context on):
// the call must wait for the thread and act there, not leave a group on the PMU. A removal
// that did not was a use-after-free that `pctx torture` found under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "core/core_fixture.hpp"
#include "core/event.hpp"

namespace pctx::core {
namespace {

using namespace std::chrono_literals;

class RefusedCallTest : public testing::CoreTest {
 protected:
  // Runs `call` on another thread while this CPU's thread is parked, and unparks it after
  // a while; `call` must not have returned by then.
  void while_parked(const std::function<int()>& call) {
    cpu::CpuThread* t = runtime_->thread(cpu_);
    t->park();
    std::atomic<bool> returned{false};
    std::thread caller([&] {
      EXPECT_EQ(call(), 0);
      returned = true;
    });
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(returned.load()) << "the call acted on a context that is on, off its CPU";
    ASSERT_EQ(t->unpark(), 0);
    caller.join();
  }
};

TEST_F(RefusedCallTest, ARemovalWaitsForTheCpuAndTakesTheGroupOff) {
  Context* c = core_->cpu_context(cpu_);
  Event* a = group(1, false, &soft_);
  Event* x = group(1, false, &soft_);
  ASSERT_EQ(core_->install(c, a), 0);
  ASSERT_EQ(core_->install(c, x), 0);
  ASSERT_TRUE(active(x));
  while_parked([&] { return core_->remove(x); });
  EXPECT_FALSE(x->active_hook.is_linked()) << "a removed group stayed on the PMU";
  EXPECT_EQ(x->peek_state(), EventState::kInactive);
  // The group after it on the list: taking it off touched x's links when x was left there.
  EXPECT_EQ(core_->disable(a), 0);
  EXPECT_EQ(core_->check_invariants(), "");
}

TEST_F(RefusedCallTest, ADisableWaitsForTheCpuAndTakesTheGroupOff) {
  Context* c = core_->cpu_context(cpu_);
  Event* x = group(2, false, &soft_);
  ASSERT_EQ(core_->install(c, x), 0);
  ASSERT_TRUE(active(x));
  while_parked([&] { return core_->disable(x); });
  EXPECT_EQ(x->peek_state(), EventState::kOff);
  EXPECT_FALSE(x->active_hook.is_linked()) << "a disabled group stayed on the PMU";
  EXPECT_EQ(core_->check_invariants(), "");
}

TEST_F(RefusedCallTest, AnInstallIntoAnEmptyContextCountsOnceTheCpuIsBack) {
  Context* c = core_->cpu_context(cpu_);
  Event* x = group(1);
  while_parked([&] { return core_->install(c, x); });
  EXPECT_TRUE(active(x)) << "the first group of a CPU context that is on must go on";
  EXPECT_EQ(core_->check_invariants(), "");
}

}  // namespace
}  // namespace pctx::core
