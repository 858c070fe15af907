// An event: one counter request, attached to a context as a group leader or a sibling.
// Internal to the core: users hold an opaque Event* (pctx/core/event_ref.hpp), and drivers
// see its PmuEvent part (pctx/core/pmu_event.hpp).
#pragma once

#include <boost/intrusive/list_hook.hpp>
#include <boost/intrusive/set_hook.hpp>

#include <atomic>
#include <cstdint>
#include <vector>

#include "pctx/base/thread_annotations.hpp"
#include "pctx/core/event_attr.hpp"
#include "pctx/core/event_ref.hpp"
#include "pctx/core/pmu.hpp"
#include "pctx/core/pmu_event.hpp"

namespace pctx::base {
class Mutex;
}
namespace pctx::cpu {
class IrqSpinLock;
}

namespace pctx::core {

class Context;
class PmuContext;

namespace internal {
// The locks of a context, as the annotations of Event and PmuContext name them: both are
// defined before Context (whose lists hold them), so they cannot write ctx->lock. context.hpp
// defines these and tells the analysis what they return, ctx->lock and ctx->mutex, so a
// field GUARDED_BY(context_lock(ctx)) needs e->ctx->lock held.
const cpu::IrqSpinLock& context_lock(const Context* ctx);
const base::Mutex& context_mutex(const Context* ctx);
}  // namespace internal

namespace bi = boost::intrusive;
using SafeHook = bi::link_mode<bi::safe_link>;

// The driver's part (config, count, hw_prev, hw_slot) is the base, so that the core passes
// an Event to its PMU as it is; count and the driver state change with the context lock held.
class Event : public PmuEvent {
 public:
  EventAttr attr;
  Event* leader = this;
  int id = 0;

  // State and times, changed with the context lock held. An event in no context is its
  // owner's alone: internal::assert_unlinked says so to the analysis. (The count and the
  // driver state are in the PmuEvent base, which the analysis cannot tie to the context.)
  EventState state PCTX_GUARDED_BY(internal::context_lock(ctx)) = EventState::kOff;
  uint64_t time_enabled PCTX_GUARDED_BY(internal::context_lock(ctx)) = 0;
  uint64_t time_running PCTX_GUARDED_BY(internal::context_lock(ctx)) = 0;
  // Context time of the last time update.
  uint64_t tstamp PCTX_GUARDED_BY(internal::context_lock(ctx)) = 0;
  // Insertion order in its tree; rotation renews it.
  uint64_t group_index PCTX_GUARDED_BY(internal::context_lock(ctx)) = 0;
  int oncpu PCTX_GUARDED_BY(internal::context_lock(ctx)) = -1;  // CPU where it is Active
  // attr.cpu was -1 and install set it to the CPU context's. Changed by install and remove
  // under the mutex of the context the group joins or leaves, while it is in none: a lock
  // the event cannot name then, so not annotated.
  bool cpu_from_context = false;

  // Where the event is: set and cleared with both locks of that context held, read by the
  // event's owner (its operations do not race its removal) and by passes under the lock.
  // The guard of the fields above, so not guarded itself.
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
  void set_state_and_cpu(EventState s, int cpu) PCTX_REQUIRES(internal::context_lock(ctx)) {
    std::atomic_ref<EventState>(state).store(s, std::memory_order_relaxed);
    std::atomic_ref<int>(oncpu).store(cpu, std::memory_order_relaxed);
  }
  void set_state_only(EventState s) PCTX_REQUIRES(internal::context_lock(ctx)) {
    std::atomic_ref<EventState>(state).store(s, std::memory_order_relaxed);
  }
  // The peeks read without the lock on purpose (see above), which the analysis would
  // rightly refuse for a plain read: exempt, and nothing else in them.
  EventState peek_state() const PCTX_NO_THREAD_SAFETY_ANALYSIS {
    return std::atomic_ref<EventState>(const_cast<EventState&>(state))
        .load(std::memory_order_relaxed);
  }
  int peek_oncpu() const PCTX_NO_THREAD_SAFETY_ANALYSIS {
    return std::atomic_ref<int>(const_cast<int&>(oncpu)).load(std::memory_order_relaxed);
  }
  // A sibling whose leader is Off or lower has its leader's state.
  EventState effective_state() const PCTX_REQUIRES(internal::context_lock(ctx));

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
