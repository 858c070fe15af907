// Pinning the calling thread to one CPU. On some kernels sched_setaffinity to a CPU that
// has just come online fails with EINVAL for a few milliseconds while cpusets catch up, so
// EINVAL is retried with exponential backoff and the window is measured.
#pragma once

#include <chrono>

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

}  // namespace pctx::cpu
