// Turning a failed perf_event_open into a message that says what to do.
#pragma once

#include <string>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/pmu/encoding.hpp"
#include "pctx/pmu/target.hpp"

namespace pctx::pmu {

// The machine facts a message needs, gathered once so messages are testable.
struct ErrorContext {
  int paranoid = 2;
  bool privileged = false;
  long fd_limit = 0;
  std::string online_cpus;  // kernel CPU-list format, e.g. "0-1"
  std::vector<std::string> software_events;

  static ErrorContext current();
};

// errno_value is the positive errno from perf_event_open; the result's code is -errno.
base::Error open_error(int errno_value, const EncodedEvent& event, const Target& target,
                       const ErrorContext& context);
base::Error open_error(int errno_value, const EncodedEvent& event, const Target& target);

}  // namespace pctx::pmu
