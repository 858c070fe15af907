// Every perf_event_open failure tells the user what to do.
#include "pctx/pmu/open_error.hpp"

#include <gtest/gtest.h>

namespace pctx::pmu {
namespace {

ErrorContext context() {
  ErrorContext c;
  c.paranoid = 2;
  c.fd_limit = 1024;
  c.online_cpus = "0-1";
  c.software_events = {"task-clock", "page-faults"};
  return c;
}

EncodedEvent event(const char* text, uint32_t type, bool exclude_kernel = false) {
  EncodedEvent e;
  e.text = text;
  e.attr.type = type;
  e.attr.exclude_kernel = exclude_kernel;
  return e;
}

void expect_contains(const base::Error& e, const std::string& part) {
  EXPECT_NE(e.message.find(part), std::string::npos) << "'" << part << "' not in: " << e.message;
}

TEST(OpenError, PermissionNamesParanoidAndTheFix) {
  auto e =
      open_error(EACCES, event("cycles", PERF_TYPE_HARDWARE), Target::this_thread(), context());
  EXPECT_EQ(e.code, -EACCES);
  expect_contains(e, "perf_event_paranoid = 2");
  expect_contains(e, "'cycles:u'");
  expect_contains(e, "sysctl -w kernel.perf_event_paranoid");
  expect_contains(e, "CAP_PERFMON");
  auto cpu =
      open_error(EPERM, event("cycles:u", PERF_TYPE_HARDWARE, true), Target::on_cpu(1), context());
  expect_contains(cpu, "counting a whole CPU needs perf_event_paranoid <= 0");
}

TEST(OpenError, HardwareEventWithoutAPmu) {
  auto e =
      open_error(ENOENT, event("cycles", PERF_TYPE_HARDWARE), Target::this_thread(), context());
  EXPECT_EQ(e.code, -ENOENT);
  expect_contains(e, "no hardware PMU on this machine");
  expect_contains(e, "software events available: task-clock, page-faults");
}

TEST(OpenError, OfflineCpu) {
  auto e = open_error(ENODEV, event("cpu-clock", PERF_TYPE_SOFTWARE), Target::on_cpu(1), context());
  EXPECT_EQ(e.code, -ENODEV);
  expect_contains(e, "CPU 1 is offline");
  expect_contains(e, "pctx hotplug up 1");
  expect_contains(e, "(0-1)");
}

TEST(OpenError, DeadTaskFdLimitAndBusy) {
  auto dead =
      open_error(ESRCH, event("task-clock", PERF_TYPE_SOFTWARE), Target::thread(4242), context());
  expect_contains(dead, "thread 4242: no such thread");
  auto fds =
      open_error(EMFILE, event("task-clock", PERF_TYPE_SOFTWARE), Target::this_thread(), context());
  expect_contains(fds, "limit 1024");
  expect_contains(fds, "ulimit -n");
  auto busy =
      open_error(EBUSY, event("cycles", PERF_TYPE_HARDWARE), Target::this_thread(), context());
  expect_contains(busy, "nmi_watchdog");
}

TEST(OpenError, UnknownErrnoStillNamesEventAndTarget) {
  auto e = open_error(EXDEV, event("x", PERF_TYPE_SOFTWARE), Target::thread(7), context());
  EXPECT_EQ(e.code, -EXDEV);
  expect_contains(e, "'x' on thread 7");
}

}  // namespace
}  // namespace pctx::pmu
