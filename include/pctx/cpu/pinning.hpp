// Pinning the calling thread to one CPU. On some kernels sched_setaffinity to a CPU that
// has just come online fails with EINVAL for a few milliseconds while cpusets catch up, so
// EINVAL is retried with exponential backoff and the window is measured.
#pragma once

#include <chrono>
#include <cstdint>

namespace pctx::cpu {

struct PinResult {
  int error = 0;  // 0 or -errno of the last attempt
  int attempts = 0;
  std::chrono::nanoseconds einval_window{0};  // time spent retrying EINVAL
};

PinResult pin_current_thread(int cpu,
                             std::chrono::milliseconds give_up = std::chrono::milliseconds(2000));

// Whether the calling thread's affinity mask is exactly {cpu}.
bool pinned_to(int cpu);

// What every pin_current_thread of this process has met so far, for tools that report how
// the kernel behaved under hotplug (a torture run's summary).
struct PinStats {
  uint64_t pins = 0;            // calls
  uint64_t failed = 0;          // calls that gave up or met another error
  uint64_t einval_retries = 0;  // attempts refused with EINVAL, each retried unless given up
  uint64_t other_errors = 0;    // attempts refused with anything else (not retried)
  std::chrono::nanoseconds max_einval_window{0};  // the longest PinResult::einval_window
};
PinStats pin_stats();

}  // namespace pctx::cpu
