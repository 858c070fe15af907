// Contexts: the events of one task or of one CPU, and their per-PMU parts. Internal to the
// core: users hold an opaque Context* or a ContextRef (pctx/core/context_ref.hpp).
#pragma once

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/set.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <tuple>

#include "core/event.hpp"
#include "pctx/core/context_ref.hpp"
#include "pctx/cpu/irq_spinlock.hpp"
#include "pctx/cpu/rcu.hpp"

namespace pctx::core {

class Task;

// Trees of group leaders keyed (cpu, pmu, group_index): the groups one CPU may schedule
// for one PMU are two contiguous runs, cpu == -1 and cpu == this, each in insertion order.
struct GroupKey {
  int cpu;
  int pmu;
  uint64_t group_index;
  bool operator<(const GroupKey& o) const {
    return std::tie(cpu, pmu, group_index) < std::tie(o.cpu, o.pmu, o.group_index);
  }
};
struct GroupKeyOf {
  using type = GroupKey;
  GroupKey operator()(const Event& e) const {
    return {e.attr.cpu, e.attr.pmu->index(), e.group_index};
  }
};
using GroupTree =
    bi::multiset<Event, bi::member_hook<Event, bi::set_member_hook<SafeHook>, &Event::tree_hook>,
                 bi::key_of_value<GroupKeyOf>>;
using EventList =
    bi::list<Event, bi::member_hook<Event, bi::list_member_hook<SafeHook>, &Event::ctx_hook>>;
using ActiveList =
    bi::list<Event, bi::member_hook<Event, bi::list_member_hook<SafeHook>, &Event::active_hook>>;

// is_active bits.
enum ContextActive : uint8_t {
  kEventPinned = 1,
  kEventFlexible = 2,
  kEventAll = kEventPinned | kEventFlexible,
  kEventTime = 4,
};

// One per context and PMU with events there: its events are its references, and it is
// unlisted and freed through RCU when the last one leaves. Changed with both the context
// mutex and lock held; read with either.
class PmuContext : public cpu::rcu::Head {
 public:
  Pmu* pmu = nullptr;
  Context* ctx = nullptr;
  ActiveList active_pinned;
  ActiveList active_flexible;
  int nr_events = 0;
  // A flexible group did not fit in the last pass (the kernel's flag of that name; a
  // sched-out clears it, and the next pass sets it again).
  bool rotate_necessary = false;
  // Rotation by the context's own time (invariant 10): `multiplexing` survives sched-out,
  // unlike rotate_necessary, and `rotate_stamp` is the context time of the last rotation
  // (or of the pass that started multiplexing). The PmuContext is due to rotate once
  // `interval` of its context's time has passed since then.
  bool multiplexing = false;
  uint64_t rotate_stamp = 0;

  bi::list_member_hook<SafeHook> ctx_hook;  // Context::pmu_contexts

  static long alive();
  PmuContext();
  ~PmuContext();
};

using PmuContextList =
    bi::list<PmuContext,
             bi::member_hook<PmuContext, bi::list_member_hook<SafeHook>, &PmuContext::ctx_hook>>;

class Context {
 public:
  std::mutex mutex;       // user-side changes: install, remove, enable
  cpu::IrqSpinLock lock;  // everything the scheduler touches

  Task* task = nullptr;    // nullptr for a CPU context
  int cpu = -1;            // for a CPU context
  bool tombstone = false;  // the task exited

  PmuContextList pmu_contexts;
  GroupTree pinned_groups;
  GroupTree flexible_groups;
  EventList events;
  int nr_events = 0;
  uint64_t next_group_index = 1;

  uint8_t is_active = 0;
  uint64_t time = 0;       // runs only while the context is active
  uint64_t timestamp = 0;  // clock value at the last time update
  // Set for the length of a reschedule (install, remove, enable, disable, reset,
  // rotation): the clock stands still, so groups taken off and put back lose no time
  // (the kernel's ctx_time_freeze).
  bool time_frozen = false;

  void get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put();
  static Context* create(Task* task, int cpu);
  static long alive();

 private:
  Context();
  ~Context();
  std::atomic<int> refs_{1};
};

// The clock contexts run on, in nanoseconds.
uint64_t clock_ns();

}  // namespace pctx::core
