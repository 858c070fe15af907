// The perf core in user space: per-CPU and per-task contexts over the CPU runtime, with
// the kernel's semantics for scheduling groups, multiplexing, time, install and removal.
//
// What users hold: events and contexts are opaque handles, as file descriptors are for the
// kernel's perf. create_event gives a core::Event* (event_ref.hpp: put_event releases it);
// cpu_context borrows a CPU's core::Context*, and task_context gives a task's as a
// ContextRef (context_ref.hpp). Everything about them is asked of the core: read and
// read_group give counts, times and states (Reading, GroupReading). Their bodies (group
// trees, locks, the per-CPU state) are internal to src/core. PMU drivers implement Pmu
// (pmu.hpp) and see an event through its PmuEvent part (pmu_event.hpp).
//
// Threads: user-side operations (install, remove, enable, disable, reset, read) run in
// any thread that is not a CPU thread holding irqs off; they reach the CPU where a context
// is active through cross-calls. Operations on different events may run concurrently;
// the removal of an event must not race other operations on that same event (the kernel
// has the same rule for a file descriptor and its close). The switch hooks run on the CPU
// thread that switches.
//
// Errors, one vocabulary: a negative errno, as the kernel's perf calls give. The slow paths
// that a person's input reaches (start, create_event, task_context) return base::Result with
// a message that says what to do; the calls that act on events already made (install,
// remove, enable, disable, reset, sched_in, sched_out) return the bare -errno, so the fast
// paths build no strings; reads cannot fail. core::EventSet (event_set.hpp) wraps them all
// in base::Status with messages, for users who start from a spec string.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pctx/base/mutex.hpp"
#include "pctx/base/result.hpp"
#include "pctx/core/context_ref.hpp"
#include "pctx/core/event_attr.hpp"
#include "pctx/core/event_ref.hpp"
#include "pctx/core/instant.hpp"
#include "pctx/core/pmu.hpp"
#include "pctx/core/task.hpp"
#include "pctx/cpu/function_ref.hpp"
#include "pctx/cpu/runtime.hpp"

namespace pctx::core {

struct CpuContext;

namespace internal {
// A context's mutex, for the thread-safety annotations of the core's private calls (the
// context itself is opaque here); defined in src/core.
const base::Mutex& context_mutex(const Context* ctx);
}  // namespace internal

struct CoreOptions {
  std::chrono::nanoseconds rotation_interval{std::chrono::milliseconds(4)};
};

struct Reading {
  uint64_t count = 0;
  uint64_t time_enabled = 0;
  uint64_t time_running = 0;
  EventState state = EventState::kOff;
};

// A whole group read at one instant, as a PERF_FORMAT_GROUP read: the leader's times, and
// every member's count and state, leader first, then siblings in creation order.
struct GroupReading {
  uint64_t time_enabled = 0;
  uint64_t time_running = 0;
  EventState state = EventState::kOff;  // the leader's
  std::vector<uint64_t> counts;
  std::vector<EventState> states;  // effective: a sibling of an Off leader is Off
};

// The core's objects not yet freed, in the whole process: a leak check compares two of
// these, taken before and after (and after cpu::rcu::barrier(), which frees the last).
struct LiveObjects {
  long events = 0;
  long contexts = 0;
  long pmu_contexts = 0;
  bool operator==(const LiveObjects&) const = default;
};

// Counters of what the slow and fast paths did, for tests and benchmarks.
struct CoreStats {
  std::atomic<uint64_t> install_fast{0};  // Off group added under the lock, no call
  // User-side operations on task contexts (install, remove, enable, disable, reset, exit):
  std::atomic<uint64_t> task_calls{0};    // calls sent to the task's CPU
  std::atomic<uint64_t> task_retries{0};  // the task moved or became current meanwhile
  std::atomic<uint64_t> locked_ops{0};    // done under the lock, the task not running
  std::atomic<uint64_t> rotations{0};
  std::atomic<uint64_t> remote_reads{0};
};

class PerfCore {
 public:
  static constexpr int kMaxPmus = 8;

  // Plugs into the runtime's CPUs and hotplug steps. One core per runtime.
  static base::Result<std::unique_ptr<PerfCore>> start(cpu::CpuRuntime& runtime,
                                                       CoreOptions options = {});
  ~PerfCore();
  PerfCore(const PerfCore&) = delete;
  PerfCore& operator=(const PerfCore&) = delete;
  static PerfCore* current();
  static LiveObjects live_objects();

  // Registers a driver, also while events count (from any thread); the PMU must outlive
  // the core. -ENOSPC beyond kMaxPmus.
  int register_pmu(Pmu& pmu);

  // An event (and, with a leader, a sibling of its group), initialised by its PMU. A
  // group may mix one counting PMU with software PMUs; pinned and exclusive are for
  // leaders. The caller owns one reference. -ENOMEM when memory runs out (nothing throws).
  base::Result<Event*> create_event(const EventAttr& attr, Event* leader = nullptr);

  Context* cpu_context(int cpu) const;  // borrowed; nullptr for CPUs not managed
  // The task's context, created on first use: an owning reference, so a racing exit
  // cannot free it under the caller. -ESRCH once the task has exited; -ENOMEM when memory
  // runs out.
  base::Result<ContextRef> task_context(Task& task);

  // Installs a group (its leader, with siblings created before) into a context. -EINVAL
  // for a sibling, or a CPU filter other than the CPU context's; -EBUSY if installed
  // already; -ESRCH if the context's task has exited. These user-side calls (install,
  // remove, enable, disable, reset) return -EDEADLK, with nothing done, on a CPU thread
  // with irqs off (a cross-call handler, a timer callback), which must not wait.
  int install(Context* ctx, Event* leader);
  int remove(Event* leader);  // the group leaves its context; the caller still owns it
  // As the kernel's enable/disable ioctls, on a leader (the group) or on one sibling.
  // Enable also clears Error; a disabled sibling stops counting while its group goes on.
  int enable(Event* event);
  int disable(Event* event);
  int reset(Event* event);     // clears the count, not the times
  Reading read(Event* event);  // fresh: an event Active on another CPU is read there
  // Every member of the event's group at one instant (a sibling reads its leader's group),
  // locally or by a cross-call to where it counts.
  GroupReading read_group(Event* event);

  // The switch hooks, called on the CPU thread that switches tasks. 0, or -EPERM (and
  // nothing done) on a thread that is not a CPU thread of this core's runtime: the hooks
  // program that CPU's counters, so only its own thread may run them (from elsewhere, use
  // cpu::cpu_function_call to that CPU).
  int sched_out(Task* prev, Task* next);
  int sched_in(Task* next);
  // The same at a given instant (instant.hpp): a scheduler that takes one instant per switch
  // and passes it to both hooks has the switch read the clock and the tsc once each, and
  // may record the task's time on CPU with it.
  int sched_out(Task* prev, Task* next, const Instant& at);
  int sched_in(Task* next, const Instant& at);
  // Both at once: sched_out(prev, next, at) then sched_in(next, at), in one pass, so a
  // switch between two tasks with events locks the CPU's context and brackets the drivers
  // once. prev or next may be nullptr (a CPU going idle, or leaving idle).
  int sched_switch(Task* prev, Task* next, const Instant& at);
  // The task exits: its events go to Exit and its context is tombstoned. It waits as the
  // user-side calls do, so not on a CPU thread with irqs off (the scheduler calls it after
  // the task's sched-out, with irqs on).
  void exit_task(Task& task);

  // Every context that multiplexes rotates once per interval of its own time (4 ms by
  // default); a change applies at once, also to armed timers.
  // Like the other user-side calls, not from a CPU thread holding irqs off.
  void set_rotation_interval(std::chrono::nanoseconds interval);
  // One rotation of every context that needs it on that CPU now, due or not.
  int rotate(int cpu);

  // Every invariant of the design, checked on every CPU and in the CPU contexts and the
  // given task contexts; "" when all hold, else one line per violation. Not from a CPU
  // thread. Debug builds run it after every user-side operation.
  std::string check_invariants(const std::vector<Context*>& task_contexts = {});

  CoreStats& stats() { return stats_; }
  // Reads of an event Active on the reader's own CPU, served there without the lock or a
  // pass (the kernel's perf_event_read_local), on every CPU so far.
  uint64_t reads_in_place() const;
  cpu::CpuRuntime& runtime() { return runtime_; }
  const std::array<Pmu*, kMaxPmus>& pmus() const { return pmus_; }
  // The registered drivers are pmus()[0 .. nr_pmus()): a pass reads no slot beyond.
  int nr_pmus() const { return nr_pmus_.load(std::memory_order_acquire); }
  std::chrono::nanoseconds rotation_interval() const { return rotation_interval_.load(); }

 private:
  explicit PerfCore(cpu::CpuRuntime& runtime);
  // The core's own per-CPU state (src/core/cpu_context.hpp); nullptr for a CPU not managed
  // (-1: not a CPU thread). Inline: every switch and local read asks it.
  CpuContext* cpu(int cpu) const {
    if (cpu < 0 || static_cast<size_t>(cpu) >= cpus_.size()) return nullptr;
    return cpus_[static_cast<size_t>(cpu)].get();
  }
  // Runs fn under ctx's lock, where the context is active; for a user-side change, which
  // holds ctx's mutex throughout.
  void event_function_call(Context* ctx, cpu::FunctionRef<void(CpuContext*)> fn)
      PCTX_REQUIRES(internal::context_mutex(ctx));
  void with_event_stable(Event* e, uint32_t pmu_mask, cpu::FunctionRef<void(bool)> snapshot);
  // An event Active on this CPU, without the lock; `counted` in reads_in_place.
  bool read_in_place(Event* e, Reading& r, bool counted = true);
  bool read_remote(Event* e, Reading& r);  // one Active on another CPU, by a call there
  int sched_switch(Task* prev, Task* next, const Instant& at, bool out, bool in);
  void debug_check(Context* ctx);
  int cpu_bringup(int cpu);  // hotplug steps
  int cpu_teardown(int cpu);

  cpu::CpuRuntime& runtime_;
  std::vector<std::unique_ptr<CpuContext>> cpus_;
  std::array<Pmu*, kMaxPmus> pmus_{};
  std::atomic<int> nr_pmus_{0};
  // Registrations. The slots it guards are published by nr_pmus_ and read without it.
  base::Mutex pmus_mutex_{"core.perf_core.pmus_mutex"};
  std::atomic<std::chrono::nanoseconds> rotation_interval_{};
  // Creation of task contexts, against a task's exit.
  base::Mutex tasks_mutex_{"core.perf_core.tasks_mutex"};
  CoreStats stats_;
  bool hotplug_step_ = false;  // ours is registered (at HotplugStage::kPerfCore)
};

}  // namespace pctx::core
