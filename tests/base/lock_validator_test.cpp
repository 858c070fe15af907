// The lock validator's order checks on base::Mutex: inversions (with the cycle and both
// stacks), recursion, declared nesting, one report per problem, and the default handler.
// The context checks, with CPU threads and cross-calls, are in tests/cpu.
#include "pctx/base/lock_validator.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "base/report_log.hpp"
#include "pctx/base/mutex.hpp"

namespace pctx::base {
namespace {

using lock_validator::Blocking;
using lock_validator::ReportKind;
using testing::ReportLog;

// Takes `first`, then `second`, on a thread of its own: an order learnt elsewhere.
void on_another_thread(Mutex& first, Mutex& second) {
  std::thread([&] {
    MutexLock a(first);
    MutexLock b(second);
  }).join();
}

TEST(LockValidator, AnInversionIsReportedWithBothStacks) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  ReportLog log;
  Mutex a("test.inversion.a");
  Mutex b("test.inversion.b");
  on_another_thread(a, b);
  EXPECT_TRUE(log.all().empty()) << log.text();
  {
    MutexLock hold_b(b);
    MutexLock take_a(a);  // b then a, after a then b: a cycle, though nothing deadlocked
  }
  // Stacks: the one that recorded a -> b, and this one; the class held is b.
  const auto r = log.expect_one(ReportKind::kInversion, Blocking::kNone, "test.inversion.b");
  EXPECT_EQ(r.classes[1], "test.inversion.a") << "the class taken";
  EXPECT_EQ(r.cycle, (std::vector<std::string>{"test.inversion.a", "test.inversion.b"}));
  // Symbolised: even the functions of an anonymous namespace are named.
  EXPECT_NE(r.text.find("on_another_thread"), std::string::npos) << r.text;
  EXPECT_EQ(log.all().size(), 1u) << log.text();
}

TEST(LockValidator, AnInversionIsReportedOnce) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  ReportLog log;
  Mutex a("test.once.a");
  Mutex b("test.once.b");
  on_another_thread(a, b);
  for (int i = 0; i < 3; ++i) on_another_thread(b, a);
  EXPECT_EQ(log.of(ReportKind::kInversion).size(), 1u) << log.text();
}

TEST(LockValidator, ALongerCycleIsReportedWithItsPath) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  ReportLog log;
  Mutex a("test.cycle.a");
  Mutex b("test.cycle.b");
  Mutex c("test.cycle.c");
  on_another_thread(a, b);
  on_another_thread(b, c);
  EXPECT_TRUE(log.all().empty()) << log.text();
  on_another_thread(c, a);  // closes a -> b -> c -> a
  const auto r = log.expect_one(ReportKind::kInversion, Blocking::kNone, "test.cycle.c");
  EXPECT_EQ(r.classes[1], "test.cycle.a");
  EXPECT_EQ(r.cycle, (std::vector<std::string>{"test.cycle.a", "test.cycle.b", "test.cycle.c"}));
}

TEST(LockValidator, OneOrderOnEveryThreadAndTryLocksReportNothing) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  ReportLog log;
  Mutex a("test.clean.a");
  Mutex b("test.clean.b");
  for (int i = 0; i < 3; ++i) on_another_thread(a, b);
  {
    MutexLock hold_a(a);
    MutexLock hold_b(b);
  }
  {
    // A try-lock never waits, so the opposite order through one is no cycle.
    MutexLock hold_b(b);
    if (a.try_lock()) {
      a.unlock();
    } else {
      ADD_FAILURE() << "nothing else holds a";
    }
  }
  EXPECT_TRUE(log.all().empty()) << log.text();
}

TEST(LockValidator, RecursionOnOneClassIsReported) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  ReportLog log;
  Mutex first("test.recursion");
  Mutex second("test.recursion");
  {
    MutexLock a(first);
    MutexLock b(second);  // two locks of one class, no declared nesting
  }
  // Stacks: where the held one was taken, and where the second was.
  log.expect_one(ReportKind::kRecursion, Blocking::kNone, "test.recursion");
}

TEST(LockValidator, AddressOrderNestingIsAcceptedInOrderOnly) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  ReportLog log;
  // Members, so that their addresses rise in this order (and the analysis tells them apart,
  // which it does not for the elements of an array).
  struct {
    Mutex m0{"test.nested"};
    Mutex m1{"test.nested"};
    Mutex m2{"test.nested"};
  } locks;
  Mutex after("test.nested.after");
  {
    MutexLock first(locks.m0);
    MutexLock second(locks.m1, LockNesting::kAddressOrder);
    MutexLock third(locks.m2, LockNesting::kAddressOrder);
    MutexLock other(after);  // learns test.nested -> test.nested.after, as for one lock
  }
  EXPECT_TRUE(log.all().empty()) << log.text();
  {
    MutexLock high(locks.m2);
    MutexLock low(locks.m0, LockNesting::kAddressOrder);  // declared, but out of order
  }
  const auto r = log.expect_one(ReportKind::kRecursion, Blocking::kNone, "test.nested");
  EXPECT_NE(r.text.find("lower address"), std::string::npos) << r.text;
}

// Two threads each taking a low and a high lock of one class with another class between
// them deadlock (the first holds its low one and the other class, the second its low one,
// which is the first's high one): the other class is ordered under the nest's later locks
// too.
TEST(LockValidator, AClassTakenInsideAnAddressOrderNestIsOrderedBothWays) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  ReportLog log;
  Mutex locks[2] = {Mutex("test.nest_between"), Mutex("test.nest_between")};
  Mutex between("test.nest_between.other");
  Mutex* low = std::less<Mutex*>()(&locks[0], &locks[1]) ? &locks[0] : &locks[1];
  Mutex* high = low == &locks[0] ? &locks[1] : &locks[0];
  {
    MutexLock a(*low);
    MutexLock b(between);
    MutexLock c(*high, LockNesting::kAddressOrder);
  }
  const auto r = log.expect_one(ReportKind::kInversion, Blocking::kNone, "test.nest_between.other");
  EXPECT_EQ(r.classes[1], "test.nest_between");
}

TEST(LockValidator, ResetForgetsTheOrder) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  Mutex a("test.reset.a");
  Mutex b("test.reset.b");
  {
    ReportLog first;
    on_another_thread(a, b);
  }
  ReportLog second;  // resets
  on_another_thread(b, a);
  EXPECT_TRUE(second.all().empty()) << second.text();
}

// The default handler prints the report, its classes and symbolised stacks to stderr, and
// aborts: in a debug build, a test or a CI run that hits a report fails.
TEST(LockValidatorDeathTest, TheDefaultHandlerPrintsTheReportAndAborts) {
  PCTX_REQUIRE_LOCK_VALIDATOR();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        lock_validator::set_report_handler(nullptr, nullptr);
        Mutex first("test.death");
        Mutex second("test.death");
        MutexLock a(first);
        MutexLock b(second);
      },
      "recursive locking.*test\\.death.*taken again here:.*#0 .*Mutex::lock.*aborting");
}

}  // namespace
}  // namespace pctx::base
