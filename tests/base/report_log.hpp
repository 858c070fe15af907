// Collects the lock validator's reports for a test, instead of the default handler (which
// aborts), and forgets what the validator learnt before and after.
#pragma once

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "pctx/base/lock_validator.hpp"

// Tests that need the validator skip where it is compiled out (or turned off at run time).
#define PCTX_REQUIRE_LOCK_VALIDATOR()                                                       \
  if (!::pctx::base::lock_validator::kEnabled || !::pctx::base::lock_validator::active())   \
  GTEST_SKIP() << "the lock validator is not built in (PCTX_LOCK_VALIDATOR is on in Debug " \
                  "builds: the debug and asan presets)"

namespace pctx::base::testing {

// A report, copied out of the handler.
struct SeenReport {
  lock_validator::ReportKind kind = lock_validator::ReportKind::kInversion;
  lock_validator::Blocking blocking = lock_validator::Blocking::kNone;
  std::string classes[2];
  std::vector<std::string> cycle;
  int depths[2] = {0, 0};
  std::string text;
};

class ReportLog {
 public:
  ReportLog() {
    lock_validator::reset();
    lock_validator::set_report_handler(&ReportLog::handle, this);
  }
  ~ReportLog() {
    lock_validator::set_report_handler(nullptr, nullptr);
    lock_validator::reset();
  }
  ReportLog(const ReportLog&) = delete;
  ReportLog& operator=(const ReportLog&) = delete;

  std::vector<SeenReport> all() const {
    std::lock_guard lock(mutex_);  // a std::mutex: the validator does not follow it
    return seen_;
  }
  std::vector<SeenReport> of(lock_validator::ReportKind kind) const {
    std::vector<SeenReport> out;
    for (const SeenReport& r : all()) {
      if (r.kind == kind) out.push_back(r);
    }
    return out;
  }
  // The one report of `kind`, checked: its blocking call, its first class (unless empty),
  // and both stacks recorded (only the current one when `stacks` is 1). Any other number of
  // such reports fails the test, and an empty report is returned.
  SeenReport expect_one(lock_validator::ReportKind kind,
                        lock_validator::Blocking blocking = lock_validator::Blocking::kNone,
                        const std::string& first_class = "", int stacks = 2) const {
    const std::vector<SeenReport> found = of(kind);
    EXPECT_EQ(found.size(), 1u) << "reports of kind " << lock_validator::to_string(kind) << ":\n"
                                << text();
    if (found.size() != 1) return {};
    const SeenReport& r = found[0];
    EXPECT_EQ(r.blocking, blocking) << r.text;
    if (!first_class.empty()) {
      EXPECT_EQ(r.classes[0], first_class) << r.text;
    }
    if (stacks == 2) {
      EXPECT_GT(r.depths[0], 0) << "the earlier stack is missing:\n" << r.text;
    }
    EXPECT_GT(r.depths[1], 0) << "the current stack is missing:\n" << r.text;
    return r;
  }

  // Every report's text, for a failure message.
  std::string text() const {
    std::string out;
    for (const SeenReport& r : all()) out += r.text;
    return out;
  }

 private:
  static void handle(const lock_validator::Report& r, void* self) {
    SeenReport s{r.kind, r.blocking, {}, {}, {r.stacks[0].depth, r.stacks[1].depth}, {}};
    for (int i = 0; i < 2; ++i) s.classes[i] = r.classes[i] != nullptr ? r.classes[i] : "";
    for (int i = 0; i < r.cycle_length; ++i) s.cycle.emplace_back(r.cycle[i]);
    s.text = lock_validator::format(r);
    auto* log = static_cast<ReportLog*>(self);
    std::lock_guard lock(log->mutex_);
    log->seen_.push_back(std::move(s));
  }

  mutable std::mutex mutex_;
  std::vector<SeenReport> seen_;
};

}  // namespace pctx::base::testing
