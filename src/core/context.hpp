// Contexts: the events of one task or of one CPU, and their per-PMU parts. Internal to the
// core: users hold an opaque Context* or a ContextRef (pctx/core/context_ref.hpp).
#pragma once

#include <boost/intrusive/list.hpp>
#include <boost/intrusive/set.hpp>

#include <atomic>
#include <cstdint>
#include <tuple>

#include "core/event.hpp"
#include "core/instant_fast.hpp"
#include "pctx/base/mutex.hpp"
#include "pctx/base/thread_annotations.hpp"
#include "pctx/base/thread_role.hpp"
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
  GroupKey operator()(const Event& e) const;  // below, where Context is complete
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
// unlisted and freed through RCU when the last one leaves. It is listed and unlisted with
// both the context mutex and lock held, so either keeps it on the list; its lists, count
// and rotation state change under the context lock (the count also under the mutex, by
// install and remove).
class PmuContext : public cpu::rcu::Head {
 public:
  Pmu* pmu = nullptr;      // fixed once listed
  Context* ctx = nullptr;  // fixed once listed
  ActiveList active_pinned PCTX_GUARDED_BY(internal::context_lock(ctx));
  ActiveList active_flexible PCTX_GUARDED_BY(internal::context_lock(ctx));
  int nr_events PCTX_GUARDED_BY(internal::context_lock(ctx)) = 0;
  // A flexible group did not fit in the last pass (the kernel's flag of that name; a
  // sched-out clears it, and the next pass sets it again).
  bool rotate_necessary PCTX_GUARDED_BY(internal::context_lock(ctx)) = false;
  // Rotation by the context's own time (invariant 10): `multiplexing` survives sched-out,
  // unlike rotate_necessary, and `rotate_stamp` is the context time of the last rotation
  // (or of the pass that started multiplexing). The PmuContext is due to rotate once
  // `interval` of its context's time has passed since then.
  bool multiplexing PCTX_GUARDED_BY(internal::context_lock(ctx)) = false;
  uint64_t rotate_stamp PCTX_GUARDED_BY(internal::context_lock(ctx)) = 0;

  bi::list_member_hook<SafeHook> ctx_hook;  // Context::pmu_contexts

  static long alive();
  PmuContext();
  ~PmuContext();
};

using PmuContextList =
    bi::list<PmuContext,
             bi::member_hook<PmuContext, bi::list_member_hook<SafeHook>, &PmuContext::ctx_hook>>;

// The locks (docs/lock-rules.md): `mutex` for the user side, taken first; `lock`, with irqs
// off, for everything the scheduler touches. A field changed with both held may be read
// with either. Clang has no "either" rule: such a field is GUARDED_BY(lock), its writers
// REQUIRE the mutex as well, and a reader that holds only the mutex reads it through the
// *_under_mutex() accessor, which REQUIRES the mutex.
class Context {
 public:
  // Held across a whole user-side change, its cross-calls included: install, remove,
  // enable, disable, reset, the task's exit, and check_invariants' look at the context. One
  // change at a time; never taken on a CPU thread with irqs off.
  base::Mutex mutex{"core.context.mutex"};
  // Everything the scheduler touches: taken on the CPU where the context is active, or by a
  // user-side change while it is active nowhere.
  cpu::IrqSpinLock lock PCTX_ACQUIRED_AFTER(mutex);

  Task* task = nullptr;  // nullptr for a CPU context; fixed
  int cpu = -1;          // for a CPU context; fixed
  // The task exited. Changed with both locks held.
  bool tombstone PCTX_GUARDED_BY(lock) = false;

  // Changed with both locks held.
  PmuContextList pmu_contexts PCTX_GUARDED_BY(lock);
  GroupTree pinned_groups PCTX_GUARDED_BY(lock);
  GroupTree flexible_groups PCTX_GUARDED_BY(lock);  // rotation reorders it under the lock
  EventList events PCTX_GUARDED_BY(lock);
  // Changed with both locks held, by add_events; peeked at without them (peek_nr_events).
  int nr_events PCTX_GUARDED_BY(lock) = 0;
  uint64_t next_group_index PCTX_GUARDED_BY(lock) = 1;

  uint8_t is_active PCTX_GUARDED_BY(lock) = 0;
  uint64_t time PCTX_GUARDED_BY(lock) = 0;       // runs only while the context is active
  uint64_t timestamp PCTX_GUARDED_BY(lock) = 0;  // clock value at the last time update
  // Set for the length of a reschedule (install, remove, enable, disable, reset,
  // rotation): the clock stands still, so groups taken off and put back lose no time
  // (the kernel's ctx_time_freeze).
  bool time_frozen PCTX_GUARDED_BY(lock) = false;

  // Reads with the mutex alone of fields changed with both locks held: no writer runs
  // while the mutex is held, but the analysis, which checks these fields against `lock`,
  // cannot know that. Exempt from it, each only a read, and callers must hold the mutex.
  bool tombstone_under_mutex() const PCTX_REQUIRES(mutex) PCTX_NO_THREAD_SAFETY_ANALYSIS {
    return tombstone;
  }
  int nr_events_under_mutex() const PCTX_REQUIRES(mutex) PCTX_NO_THREAD_SAFETY_ANALYSIS {
    return nr_events;
  }
  // A hint, read without the lock: sched_in takes fewer locks for a context that looks
  // empty, and checks again under its lock. So every write is a relaxed atomic store.
  int peek_nr_events() const PCTX_NO_THREAD_SAFETY_ANALYSIS {
    return std::atomic_ref<int>(const_cast<int&>(nr_events)).load(std::memory_order_relaxed);
  }
  void add_events(int delta) PCTX_REQUIRES(lock) {
    std::atomic_ref<int>(nr_events).store(nr_events + delta, std::memory_order_relaxed);
  }
  const PmuContextList& pmu_contexts_under_mutex() const
      PCTX_REQUIRES(mutex) PCTX_NO_THREAD_SAFETY_ANALYSIS {
    return pmu_contexts;
  }

  void get() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put();
  static Context* create(Task* task, int cpu);
  static long alive();

 private:
  Context();
  ~Context();
  std::atomic<int> refs_{1};
};

// The clock contexts run on, in CLOCK_MONOTONIC nanoseconds: inside a pass, the pass's
// instant (instant.hpp), so that a pass reads it once.
inline uint64_t clock_ns() {
  return internal::pass_ns_fast();
}

namespace internal {

// What the annotations of Event and PmuContext name (see event.hpp).
inline const cpu::IrqSpinLock& context_lock(const Context* ctx) PCTX_RETURN_CAPABILITY(ctx->lock) {
  return ctx->lock;
}
inline const base::Mutex& context_mutex(const Context* ctx) PCTX_RETURN_CAPABILITY(ctx->mutex) {
  return ctx->mutex;
}

// Links the analysis cannot follow: an event or a PmuContext reached from `ctx` (its lists,
// find_pmu_context, a leader's siblings, a sibling's leader) is in `ctx`, so it is guarded by
// the lock the caller holds. Debug builds check the link; nullptr passes.
inline void assert_in(const Event* e, const Context* ctx) PCTX_REQUIRES(ctx->lock)
    PCTX_ASSERT_CAPABILITY(context_lock(e->ctx)) {
  base::check_held([&] { return e == nullptr || e->ctx == ctx; },
                   "an event's context lock (not its context)");
}
inline void assert_in(const PmuContext* pc, const Context* ctx) PCTX_REQUIRES(ctx->lock)
    PCTX_ASSERT_CAPABILITY(context_lock(pc->ctx)) {
  base::check_held([&] { return pc == nullptr || pc->ctx == ctx; },
                   "a PmuContext's lock (not its context)");
}
// Where the caller's locks are out of the analysis' sight (a callback): the event's context
// lock is held. Debug builds check that it is taken, with irqs off here.
inline void assert_locked(const Event* e) PCTX_ASSERT_CAPABILITY(context_lock(e->ctx)) {
  base::check_held(
      [&] { return e->ctx != nullptr && e->ctx->lock.is_locked() && cpu::irqs_disabled(); },
      "an event's context lock");
}
// An event in no context is its owner's alone: no lock guards its fields then.
inline void assert_unlinked(const Event* e) PCTX_ASSERT_CAPABILITY(context_lock(e->ctx)) {
  base::check_held([&] { return e->ctx == nullptr; },
                   "an event's context lock (it is in a context)");
}

}  // namespace internal

// Here, not in event.hpp, since it needs assert_in; inline, as update_event_time asks it
// for every event at every switch.
inline EventState Event::effective_state() const {
  internal::assert_in(leader, ctx);  // a group shares its context
  if (!is_leader() && leader->state <= EventState::kOff) return leader->state;
  return state;
}

// The trees call it inside their own operations, which need the tree's context lock (they
// are GUARDED_BY it): held by the caller, out of sight here.
inline GroupKey GroupKeyOf::operator()(const Event& e) const {
  internal::assert_locked(&e);
  return {e.attr.cpu, e.attr.pmu->index(), e.group_index};
}

}  // namespace pctx::core
