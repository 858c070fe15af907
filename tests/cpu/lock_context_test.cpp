// The lock validator's context checks, each bug injected with real CPU threads,
// cross-calls, IrqSpinLocks and base::Mutexes: a blocking call with irqs off or inside a
// handler, a synchronous cross-call holding a lock class that handlers take, a sleep or a
// grace-period wait under the RCU read side, a handler's lock held with irqs on, and an
// unlock of a lock not held. And the same objects used rightly report nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "base/report_log.hpp"
#include "cpu/runtime_fixture.hpp"
#include "pctx/base/mutex.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/fault_injection.hpp"
#include "pctx/cpu/irq.hpp"
#include "pctx/cpu/irq_spinlock.hpp"
#include "pctx/cpu/pinning.hpp"
#include "pctx/cpu/rcu.hpp"

namespace pctx::cpu {
namespace {

using base::lock_validator::Blocking;
using base::lock_validator::ReportKind;
using base::testing::ReportLog;

// A runtime whose last CPU thread runs `work` once from its loop (outside any handler)
// when asked: code on a CPU thread, as the scheduler's is.
class LockContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PCTX_REQUIRE_LOCK_VALIDATOR();
    RuntimeOptions options;
    options.thread.scheduler = [this](CpuThread&) {
      if (!armed_.exchange(false)) return false;
      work_();
      ran_ = true;
      return true;
    };
    runtime_ = testing::start_runtime(options);
    ASSERT_TRUE(runtime_);
    cpu_ = runtime_->running_cpus().last();
    log_ = std::make_unique<ReportLog>();
  }

  void TearDown() override {
    log_.reset();
    runtime_.reset();
  }

  // Runs `work` on the CPU thread's loop and waits for it.
  void run_on_cpu_thread(std::function<void()> work) {
    work_ = std::move(work);
    ran_ = false;
    armed_ = true;
    runtime_->thread(cpu_)->kick();
    ASSERT_TRUE(testing::eventually([&] { return ran_.load(); })) << "the loop never ran it";
  }

  std::unique_ptr<CpuRuntime> runtime_;
  int cpu_ = -1;
  std::unique_ptr<ReportLog> log_;
  std::function<void()> work_;
  std::atomic<bool> armed_{false};
  std::atomic<bool> ran_{false};
};

TEST_F(LockContextTest, AMutexTakenWithAnIrqSpinLockHeldIsABlockingCallWithIrqsOff) {
  IrqSpinLock spin("test.irqs_off.spin");
  base::Mutex mutex("test.irqs_off.mutex");
  spin.lock();
  mutex.lock();
  mutex.unlock();
  spin.unlock();
  // Stacks: where irqs went off, and the blocking call.
  log_->expect_one(ReportKind::kBlockingWithIrqsOff, Blocking::kMutex, "test.irqs_off.spin");
}

TEST_F(LockContextTest, ASynchronousCrossCallWithIrqsOffIsReported) {
  {
    IrqGuard irqs_off;
    EXPECT_EQ(cpu_function_call(cpu_, [] { return 0; }), 0) << "off a CPU thread, it runs";
  }
  log_->expect_one(ReportKind::kBlockingWithIrqsOff, Blocking::kCrossCall);
}

TEST_F(LockContextTest, BlockingInsideAHandlerIsReported) {
  base::Mutex mutex("test.in_handler.mutex");
  EXPECT_EQ(cpu_function_call(cpu_,
                              [&] {
                                mutex.lock();
                                mutex.unlock();
                                return 0;
                              }),
            0);
  log_->expect_one(ReportKind::kBlockingInHandler, Blocking::kMutex, "", 1);
  // A synchronous call from a handler to another CPU: refused, and reported.
  if (runtime_->running_cpus().count() >= 2) {
    const int other = runtime_->running_cpus().first();
    EXPECT_EQ(cpu_function_call(cpu_, [&] { return cpu_function_call(other, [] { return 0; }); }),
              -EDEADLK);
    const auto reports = log_->of(ReportKind::kBlockingInHandler);
    ASSERT_EQ(reports.size(), 2u) << log_->text();
    EXPECT_EQ(reports[1].blocking, Blocking::kCrossCall);
  }
}

TEST_F(LockContextTest, ACrossCallHoldingALockClassThatHandlersTakeIsReported) {
  // A handler takes one lock of the class...
  IrqSpinLock in_handler("test.cross_call.lock");
  EXPECT_EQ(cpu_function_call(cpu_,
                              [&] {
                                in_handler.lock();
                                in_handler.unlock();
                                return 0;
                              }),
            0);
  EXPECT_TRUE(log_->all().empty()) << log_->text();
  // ...and a thread holding another lock of that class calls the CPU synchronously: had
  // the handler needed this one, it would spin while the caller waits for it. Reported
  // although this call's handler needs nothing.
  IrqSpinLock held("test.cross_call.lock");
  held.lock();
  EXPECT_EQ(cpu_function_call(cpu_, [] { return 0; }), 0);
  held.unlock();
  // Stacks: where a handler took the class, and the cross-call.
  log_->expect_one(ReportKind::kCrossCallHoldingLock, Blocking::kCrossCall, "test.cross_call.lock");
  EXPECT_EQ(log_->all().size(), 1u) << "the specific report, not also irqs-off:\n" << log_->text();
}

TEST_F(LockContextTest, ALockHeldAcrossACrossCallAndLaterTakenByAHandlerIsReported) {
  base::Mutex mutex("test.cross_call.mutex");
  {
    base::MutexLock hold(mutex);
    EXPECT_EQ(cpu_function_call(cpu_, [] { return 0; }), 0);
  }
  EXPECT_TRUE(log_->all().empty()) << log_->text();
  EXPECT_EQ(cpu_function_call(cpu_,
                              [&] {
                                if (mutex.try_lock()) mutex.unlock();  // never blocks
                                return 0;
                              }),
            0);
  // Stacks: the cross-call with it held, and the handler taking it.
  log_->expect_one(ReportKind::kCrossCallHoldingLock, Blocking::kNone, "test.cross_call.mutex");
}

TEST_F(LockContextTest, AGracePeriodWaitUnderTheRcuReadSideIsReported) {
  // A CPU thread is an online QSBR reader between quiescent states: its loop's work is
  // inside the read side.
  run_on_cpu_thread([] { rcu::synchronize(); });
  // Stacks: where the thread came online, and the wait.
  log_->expect_one(ReportKind::kSleepInRcuReadSide, Blocking::kRcuSynchronize);
  rcu::synchronize();  // off a CPU thread: no reader, nothing reported
  EXPECT_EQ(log_->all().size(), 1u) << log_->text();
}

TEST_F(LockContextTest, ASleepUnderTheRcuReadSideIsReported) {
  // Pinning backs off with a sleep when the kernel refuses (EINVAL): injected once.
  const int cpu = cpu_;
  fault_injection::inject_pin_einval(1, cpu);
  run_on_cpu_thread([cpu] { EXPECT_EQ(pin_current_thread(cpu).error, 0); });
  log_->expect_one(ReportKind::kSleepInRcuReadSide, Blocking::kSleep);
}

// The userspace shape of the kernel bug where an RCU read-side unlock raised work that
// needed a lock an IPI handler takes: here, irqs turned back on (which runs deferred
// calls) while holding a lock that handlers take.
TEST_F(LockContextTest, AHandlerLockHeldWithIrqsOnIsReported) {
  IrqSpinLock lock("test.irq_unsafe.lock");
  EXPECT_EQ(cpu_function_call(cpu_,
                              [&] {
                                lock.lock();
                                lock.unlock();
                                return 0;
                              }),
            0);
  run_on_cpu_thread([&] {
    lock.lock();
    local_irq_enable();  // unbalanced: a call arriving now would spin on `lock` forever
    local_irq_disable();
    lock.unlock();
  });
  // Stacks: where a handler took it, and where irqs went on with it held.
  log_->expect_one(ReportKind::kIrqUnsafe, Blocking::kNone, "test.irq_unsafe.lock");
}

// Unbalanced on purpose, beyond what clang's analysis accepts: a lock taken by a thread
// that is gone, released here.
void take_and_keep(IrqSpinLock& lock) PCTX_NO_THREAD_SAFETY_ANALYSIS {
  lock.lock();
}
void unlock_here(IrqSpinLock& lock) PCTX_NO_THREAD_SAFETY_ANALYSIS {
  local_irq_disable();  // what the unlock's enable pairs with on this thread
  lock.unlock();
}

TEST_F(LockContextTest, AnUnlockOfALockNotHeldIsReported) {
  IrqSpinLock lock("test.bad_unlock.lock");
  std::thread([&] { take_and_keep(lock); }).join();
  unlock_here(lock);
  log_->expect_one(ReportKind::kBadUnlock, Blocking::kNone, "", 1);
}

TEST_F(LockContextTest, RightUsesReportNothing) {
  IrqSpinLock outer("test.clean.outer");
  IrqSpinLock inner("test.clean.inner");
  IrqSpinLock nested[2] = {IrqSpinLock("test.clean.nested"), IrqSpinLock("test.clean.nested")};
  base::Mutex mutex("test.clean.mutex");
  auto take_both = [&] {
    outer.lock();
    inner.lock();
    inner.unlock();
    outer.unlock();
    IrqSpinLock* low = std::less<IrqSpinLock*>()(&nested[0], &nested[1]) ? &nested[0] : &nested[1];
    IrqSpinLock* high = low == &nested[0] ? &nested[1] : &nested[0];
    low->lock();
    high->lock_nested(base::LockNesting::kAddressOrder);
    high->unlock();
    low->unlock();
    return 0;
  };
  // Handlers on every CPU, and this thread, take the spin locks in one order...
  for (int c : runtime_->running_cpus().cpus()) EXPECT_EQ(cpu_function_call(c, take_both), 0);
  take_both();
  {
    // ...a mutex that no handler takes may be held across a call, and irqs may be off
    // around locks that only spin...
    base::MutexLock hold(mutex);
    EXPECT_EQ(cpu_function_call(cpu_, take_both), 0);
    IrqGuard irqs_off;
    outer.lock();
    outer.unlock();
  }
  // ...an asynchronous call is waited for with nothing held, the loop takes a handler's
  // lock with irqs off, and a thread that is no RCU reader waits for a grace period.
  AsyncCall call(take_both);
  ASSERT_EQ(cpu_function_call_async(cpu_, call), 0);
  EXPECT_EQ(call.wait(), 0);
  run_on_cpu_thread([&] { take_both(); });
  rcu::synchronize();
  rcu::barrier();
  // The CPU threads went idle (a futex sleep, offline) many times meanwhile.
  EXPECT_TRUE(log_->all().empty()) << log_->text();
}

}  // namespace
}  // namespace pctx::cpu
