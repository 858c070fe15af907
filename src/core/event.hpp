// An event: one counter request, attached to a context as a group leader or a sibling.
// Internal to the core: users hold an opaque Event* (pctx/core/event_ref.hpp), and drivers
// see its PmuEvent part (pctx/core/pmu_event.hpp).
#pragma once

#include <boost/intrusive/list_hook.hpp>
#include <boost/intrusive/set_hook.hpp>

#include <atomic>
#include <cstdint>
#include <vector>

#include "pctx/core/event_attr.hpp"
#include "pctx/core/event_ref.hpp"
#include "pctx/core/pmu.hpp"
#include "pctx/core/pmu_event.hpp"

namespace pctx::core {

class Context;
class PmuContext;

namespace bi = boost::intrusive;
using SafeHook = bi::link_mode<bi::safe_link>;

// The driver's part (config, count, hw_prev, hw_slot) is the base, so that the core passes
// an Event to its PMU as it is; count and the driver state change with the context lock held.
class Event : public PmuEvent {
 public:
  EventAttr attr;
  Event* leader = this;
  int id = 0;

  // State and times, changed with the context lock held.
  EventState state = EventState::kOff;
  uint64_t time_enabled = 0;
  uint64_t time_running = 0;
  uint64_t tstamp = 0;            // context time of the last time update
  uint64_t group_index = 0;       // insertion order in its tree; rotation renews it
  int oncpu = -1;                 // CPU where it is Active
  bool cpu_from_context = false;  // attr.cpu was -1 and install set it to the CPU context's

  Context* ctx = nullptr;
  PmuContext* pmu_ctx = nullptr;

  // A leader's siblings, in creation order. Filled when a sibling is created (process
  // context); removing one only erases, so the sched paths never allocate.
  std::vector<Event*> siblings;

  bi::set_member_hook<SafeHook> tree_hook;     // a group tree (leaders)
  bi::list_member_hook<SafeHook> ctx_hook;     // Context::events
  bi::list_member_hook<SafeHook> active_hook;  // PmuContext active lists (leaders)

  bool is_leader() const { return leader == this; }

  // state and oncpu are written with the context lock held, but read() peeks at them
  // without it (as the kernel's READ_ONCE) to find the CPU to read on, then checks again
  // there under the lock. So every write, and that peek, is a relaxed atomic access.
  void set_state_and_cpu(EventState s, int cpu) {
    std::atomic_ref<EventState>(state).store(s, std::memory_order_relaxed);
    std::atomic_ref<int>(oncpu).store(cpu, std::memory_order_relaxed);
  }
  void set_state_only(EventState s) {
    std::atomic_ref<EventState>(state).store(s, std::memory_order_relaxed);
  }
  EventState peek_state() const {
    return std::atomic_ref<EventState>(const_cast<EventState&>(state))
        .load(std::memory_order_relaxed);
  }
  int peek_oncpu() const {
    return std::atomic_ref<int>(const_cast<int&>(oncpu)).load(std::memory_order_relaxed);
  }
  // A sibling whose leader is Off or lower has its leader's state.
  EventState effective_state() const;

  // Reference counting, libperf style: a leader is created with one reference, the
  // caller's; a sibling's first reference is its leader's (callers only borrow it, or
  // get() it to keep it longer).
  void get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put();

  // A new event; a sibling of `leader` when it is not nullptr.
  static Event* create(const EventAttr& attr, Event* leader = nullptr);
  static long alive();  // events not yet freed, for leak checks

 private:
  Event() = default;
  ~Event();
  std::atomic<int> refs_{1};
};

}  // namespace pctx::core
