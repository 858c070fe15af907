// What a user says about an event: what it counts and where (EventAttr, given to
// PerfCore::create_event), and the states it goes through (EventState, in every Reading).
#pragma once

#include <cstdint>

namespace pctx::core {

class Pmu;

// Ordered as the kernel's: everything above Off can count.
enum class EventState : int8_t {
  kDead = -4,
  kExit = -3,
  kError = -2,
  kOff = -1,
  kInactive = 0,
  kActive = 1,
};
const char* to_string(EventState s);

struct EventAttr {
  Pmu* pmu = nullptr;
  uint64_t config = 0;     // driver-specific
  int cpu = -1;            // count only on this CPU; -1: any
  bool pinned = false;     // leaders only: must always be on, or go to Error
  bool exclusive = false;  // leaders only: nothing else on the PMU while it is on
  bool disabled = false;   // start Off; enable() turns it on
};

}  // namespace pctx::core
