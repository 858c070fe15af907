// When memory runs out, the core's allocating entry points return -ENOMEM: nothing throws
// (issue 12). Run in a child whose address space is capped a little above what it uses;
// the sanitizers reserve terabytes of shadow, so these run only without them.
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "core/address_space.hpp"
#include "core/core_fixture.hpp"

namespace pctx::core {
namespace {

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)

using pctx::testing::cap_address_space;
using testing::CoreTest;

constexpr size_t kTasks = 1'000'000;

// Creates events until create_event fails, then task contexts until task_context fails:
// exits 0 when both failed with -ENOMEM (an escaping std::bad_alloc aborts the child).
[[noreturn]] void create_until_out_of_memory(PerfCore& core, Pmu& pmu) {
  auto tasks = std::make_unique<Task[]>(kTasks);  // before the cap: the test's own memory
  cap_address_space(rlim_t{64} << 20);
  EventAttr attr;
  attr.pmu = &pmu;
  bool events_ran_out = false;
  for (size_t i = 0; i < 10'000'000; ++i) {
    auto e = core.create_event(attr);
    if (!e) {
      if (e.error().code != -ENOMEM) std::_Exit(5);
      events_ran_out = true;
      break;
    }
  }
  if (!events_ran_out) std::_Exit(6);  // the cap did not hold
  for (size_t i = 0; i < kTasks; ++i) {
    auto ctx = core.task_context(tasks[i]);  // the task keeps its own reference
    if (!ctx) std::_Exit(ctx.error().code == -ENOMEM ? 0 : 7);
  }
  std::_Exit(8);
}

TEST_F(CoreTest, CreateEventAndTaskContextReturnENOMEMWhenMemoryRunsOut) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(create_until_out_of_memory(*core_, tsc_), ::testing::ExitedWithCode(0), "");
}

#endif

}  // namespace
}  // namespace pctx::core
