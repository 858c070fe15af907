// What a PMU driver sees of an event, as the kernel's hw_perf_event: the configuration it
// validated in init, the count it folds deltas into, and two words of its own state for
// the CPU where the event counts. Drivers get nothing else: the event's group, context,
// state and times are the core's, and change only under locks the driver does not know.
#pragma once

#include <cstdint>

namespace pctx::core {

// How the core may read an event Active on its CPU without calling the driver, as user
// space reads a counter from the kernel's mapped page (for a task's read of its own event,
// with irqs off and no lock: the kernel's perf_event_read_local). The count is then
// `count` plus the counter's value now less `hw_prev`, and nothing is folded.
enum class DirectRead : uint8_t {
  kNone,        // only the driver can tell: the core reads under the lock, in a pass
  kTsc,         // the counter is the time-stamp counter
  kMappedPage,  // the counter is read from `direct_page`, a perf_event_mmap_page (rdpmc)
};

struct PmuEvent {
  uint64_t config = 0;  // EventAttr::config, in the driver's own encoding
  // The event's count: add, read and del fold the delta since the last add or read into
  // it. The core reads it and resets it, with the same lock held as around the driver.
  uint64_t count = 0;
  uint64_t hw_prev = 0;  // driver state: the raw value at the last add or read
  int hw_slot = -1;      // driver state: the counter (or CPU) the event counts on
  // Set by the driver, for the time it holds a counter at least (add to del).
  DirectRead direct_read = DirectRead::kNone;
  const void* direct_page = nullptr;
};

}  // namespace pctx::core
