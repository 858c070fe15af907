#include "pctx/core/perf_core.hpp"
#include "pctx/cpu/irq.hpp"

#include <sched.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <functional>
#include <new>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "core/cpu_context.hpp"
#include "core/instant_fast.hpp"
#include "core/pass_scope.hpp"
#include "core/schedule.hpp"
#include "pctx/cpu/cross_call.hpp"
#include "pctx/cpu/hotplug.hpp"
#include "pctx/pmu/mmap_read.hpp"

namespace pctx::core {

using namespace internal;

namespace {

std::atomic<PerfCore*> g_core{nullptr};
constexpr const char* kHotplugStep = "perf-core";

// A scheduling pass on this CPU: locks its own context, then the task context scheduled
// there (the kernel's perf_ctx_lock order), and brackets the pass for every PMU (its
// pmu_disable/pmu_enable). A pass that reschedules for a user-side change or a rotation
// freezes the clocks of the contexts it locks (the kernel's ctx_time_freeze), so that
// groups taken off and put back lose no running time.
//
// For the analysis it holds cc.ctx->lock, cc.task_ctx->lock and extra->lock, by those
// names: a null task context or extra, or one that is another of the three, is locked once
// or not at all, which changes nothing for code that only touches contexts that exist. The
// names stay true while it lives because task_ctx changes meanwhile only to nullptr or to
// `extra` (sched_in adopting the task's context).
class PCTX_SCOPED_CAPABILITY CpuLocks {
 public:
  CpuLocks(PerfCore& core, CpuContext& cc, Context* extra = nullptr, bool freeze = false,
           const Instant* at = nullptr) PCTX_ACQUIRE(cc.ctx->lock, cc.task_ctx->lock, extra->lock)
      : core_(core), cc_(cc) {
    // A pass runs on its CPU. Not a REQUIRES: on a scoped lock's constructor that means
    // adopting the capability, and the destructor would then give up the CPU's role.
    cc_.assert_on_cpu();
    cc_.ctx->lock.lock();
    task_ = cc_.task_ctx;
    if (extra != nullptr && extra != cc_.ctx && extra != task_) extra_ = extra;
    // A task context other than the one scheduled here (a read that raced a migration)
    // is locked with it in address order: two CPUs that each read the other's task would
    // otherwise take the same two locks in opposite orders.
    Context* first = task_ != nullptr ? task_ : extra_;
    Context* second = task_ != nullptr ? extra_ : nullptr;
    if (second != nullptr && std::less<Context*>()(second, first)) std::swap(first, second);
    if (first != nullptr) first->lock.lock();
    if (second != nullptr) second->lock.lock_nested(base::LockNesting::kAddressOrder);
    pass_.emplace(at);  // with irqs off, as instants are taken (instant.cpp)
    if (freeze) {
      for (Context* c : {cc_.ctx, task_, extra_}) {
        if (freeze_time(c)) frozen_[nr_frozen_++] = c;
      }
    }
    // Only the published drivers: a slot past nr_pmus() may be being written by
    // register_pmu on another thread.
    nr_pmus_ = core_.nr_pmus();
    for (int i = 0; i < nr_pmus_; ++i) core_.pmus()[static_cast<size_t>(i)]->begin_pass(cc_.cpu);
  }
  ~CpuLocks() PCTX_RELEASE() {
    for (int i = 0; i < nr_pmus_; ++i) core_.pmus()[static_cast<size_t>(i)]->end_pass(cc_.cpu);
    for (int i = 0; i < nr_frozen_; ++i) thaw_time(frozen_[i]);
    pass_.reset();
    if (extra_ != nullptr) extra_->lock.unlock();
    if (task_ != nullptr) task_->lock.unlock();
    cc_.ctx->lock.unlock();
  }
  CpuLocks(const CpuLocks&) = delete;
  CpuLocks& operator=(const CpuLocks&) = delete;

 private:
  PerfCore& core_;
  CpuContext& cc_;
  Context* task_ = nullptr;
  Context* extra_ = nullptr;
  std::array<Context*, 3> frozen_{};
  int nr_frozen_ = 0;
  int nr_pmus_ = 0;  // the drivers this pass began, so that it ends the same ones
  std::optional<PassScope> pass_;
};

// User-side calls wait: for a context's mutex, and for the CPU where the context is
// active. A CPU thread with irqs off must not wait (the CPU it waits for may be waiting for
// it, and a handler may not take a mutex): such calls get -EDEADLK, with nothing done,
// before they touch anything. (cpu_function_call would refuse the wait too, but only after
// the caller took references and the mutex, and with no way to finish the operation.)
int refuse_wait() {
  return cpu::current_cpu() >= 0 && cpu::irqs_disabled() ? -EDEADLK : 0;
}

// What an event_function_call handler may assume, which the analysis cannot carry into it
// through the cross-call: the caller holds ctx->mutex (event_function_call REQUIRES it),
// and the handler runs with ctx->lock held, and, on a CPU (cc not nullptr), on that CPU with
// its CpuLocks. Debug builds check all but the mutex, whose holder is the calling thread.
void assert_handler_locks(Context* ctx, CpuContext* cc) PCTX_ASSERT_CAPABILITY(ctx->mutex)
    PCTX_ASSERT_CAPABILITY(ctx->lock) PCTX_ASSERT_CAPABILITY(cc->owner)
        PCTX_ASSERT_CAPABILITY(cc->ctx->lock) PCTX_ASSERT_CAPABILITY(cc->task_ctx->lock) {
  ctx->lock.assert_held();
  if (cc == nullptr) return;
  cc->assert_on_cpu();
  cc->ctx->lock.assert_held();
  if (cc->task_ctx != nullptr) cc->task_ctx->lock.assert_held();
}

// Whether this thread may bring ctx's clock up to now: it is on the CPU where ctx is active
// (for a task context, where its task is, which is published before the context goes on
// there, and seen under the lock), or ctx is active nowhere and its clock stands. Anyone
// else leaves it as that CPU's last pass did: the clocks of two threads differ by up to
// microseconds, so time that another thread added could pass what a read in place on that
// CPU had given, and the next read there would give less.
bool clock_runs_here(const Context* ctx) PCTX_REQUIRES(ctx->lock) {
  if (!(ctx->is_active & kEventTime)) return true;
  const int here = cpu::current_cpu();
  return here >= 0 && here == (ctx->task != nullptr ? ctx->task->oncpu.load() : ctx->cpu);
}

// An event's reading under its context's lock; with `fresh` (its count is whole where this
// runs) the running delta and the times are brought up to now first.
Reading locked_reading(Event* e, bool fresh) PCTX_REQUIRES(e->ctx->lock) {
  if (fresh) {
    read_active(e);
    if (clock_runs_here(e->ctx)) update_context_time(e->ctx);
    update_event_time(e);
  }
  return {e->count, e->time_enabled, e->time_running, e->state};
}

bool task_curr(PerfCore& core, const Task* task) {
  const int cpu = task->oncpu.load();
  if (cpu < 0) return false;
  auto* t = core.runtime().thread(cpu);
  return t != nullptr && t->state() == cpu::CpuState::kRunning;
}

}  // namespace

PerfCore::PerfCore(cpu::CpuRuntime& runtime) : runtime_(runtime) {}

PerfCore* PerfCore::current() {
  return g_core.load();
}

LiveObjects PerfCore::live_objects() {
  return {Event::alive(), Context::alive(), PmuContext::alive()};
}

Context* PerfCore::cpu_context(int cpu) const {
  auto* cc = this->cpu(cpu);
  return cc != nullptr ? cc->ctx : nullptr;
}

base::Result<std::unique_ptr<PerfCore>> PerfCore::start(cpu::CpuRuntime& runtime,
                                                        CoreOptions options) {
  std::unique_ptr<PerfCore> core(new PerfCore(runtime));
  PerfCore* expected = nullptr;
  if (!g_core.compare_exchange_strong(expected, core.get())) {
    return base::make_error(-EBUSY, "a perf core is already running in this process");
  }
  core->rotation_interval_ = options.rotation_interval;
  core->cpus_.resize(static_cast<size_t>(runtime.cpus().last()) + 1);
  PerfCore* self = core.get();
  for (int c : runtime.cpus().cpus()) {
    auto cc = std::make_unique<CpuContext>(c, Context::create(nullptr, c),
                                           runtime.thread(c)->state() == cpu::CpuState::kRunning);
    for (int i = 0; i < kMaxPmus; ++i) {
      CpuContext* raw = cc.get();
      cc->rotation_timers[static_cast<size_t>(i)] = std::make_unique<cpu::CpuTimer>([self, raw, i] {
        raw->assert_on_cpu();  // a timer fires on the CPU that armed it
        CpuLocks locks(*self, *raw, nullptr, /*freeze=*/true);
        rotate_pmu(*self, *raw, i, /*force=*/false);
      });
    }
    core->cpus_[static_cast<size_t>(c)] = std::move(cc);
  }
  // Per-CPU contexts follow their CPU: scheduled out before it goes, back in when it
  // returns, so CPU events survive hotplug (the kernel's must be re-opened).
  auto st = runtime.hotplug().add_step({cpu::HotplugStage::kPerfCore, kHotplugStep,
                                        [self](int c) { return self->cpu_bringup(c); },
                                        [self](int c) { return self->cpu_teardown(c); }});
  if (!st) return st.error();
  core->hotplug_step_ = true;
  return core;
}

int PerfCore::cpu_bringup(int c) {
  return cpu::cpu_function_call(c, [this, c] {
    CpuContext& cc = *cpu(c);
    cc.assert_on_cpu();
    CpuLocks locks(*this, cc);
    cc.online = true;
    sched_in_all(*this, cc);
    return 0;
  });
}

int PerfCore::cpu_teardown(int c) {
  return cpu::cpu_function_call(c, [this, c] {
    CpuContext& cc = *cpu(c);
    cc.assert_on_cpu();
    {
      CpuLocks locks(*this, cc);
      ctx_sched_out(*this, cc, cc.task_ctx, kEventAll);
      ctx_sched_out(*this, cc, cc.ctx, kEventAll);
      cc.online = false;
      // No task is current on an offline CPU: the scheduler places it elsewhere, and
      // until then it runs nowhere, so installs take the locked path.
      cc.task_ctx = nullptr;
      if (cc.current != nullptr) {
        int here = c;
        cc.current->oncpu.compare_exchange_strong(here, -1);
        cc.current = nullptr;
      }
    }
    for (auto& t : cc.rotation_timers) runtime_.thread(c)->cancel_timer(*t);
    return 0;
  });
}

PerfCore::~PerfCore() {
  if (hotplug_step_) runtime_.hotplug().remove_step(cpu::HotplugStage::kPerfCore);
  for (auto& cc : cpus_) {
    if (!cc) continue;
    auto* thread = runtime_.thread(cc->cpu);
    auto cancel = [&] {
      for (auto& t : cc->rotation_timers) thread->cancel_timer(*t);
      return 0;
    };
    // A parked thread runs no timers, so its list may be changed from here.
    if (cpu::cpu_function_call(cc->cpu, cancel) != 0) cancel();
    cc->ctx->put();
  }
  cpu::rcu::barrier();
  PerfCore* self = this;
  g_core.compare_exchange_strong(self, nullptr);
}

// The slot is written before the count publishes it (release), and passes read only the
// slots below the count (acquire), so a driver may be registered while CPUs run passes.
int PerfCore::register_pmu(Pmu& pmu) {
  base::MutexLock lock(pmus_mutex_);
  const int i = nr_pmus_.load(std::memory_order_relaxed);
  if (i >= kMaxPmus) return -ENOSPC;
  pmu.set_index(i);
  pmus_[static_cast<size_t>(i)] = &pmu;
  nr_pmus_.store(i + 1, std::memory_order_release);
  return i;
}

// Applies at once: every CPU re-arms its armed rotation timers for the new interval, and
// the contexts' rotation stamps are measured against it from their next check.
void PerfCore::set_rotation_interval(std::chrono::nanoseconds interval) {
  rotation_interval_.store(interval);
  for (const auto& cc : cpus_) {
    if (!cc) continue;
    cpu::cpu_function_call(cc->cpu, [&] {
      cc->assert_on_cpu();
      CpuLocks locks(*this, *cc);
      for (int i = 0; i < nr_pmus_.load(); ++i) {
        if (cc->rotation_timers[static_cast<size_t>(i)]->armed()) rearm_rotation(*this, *cc, i);
      }
      return 0;
    });  // an offline CPU has no timer armed
  }
}

base::Result<Event*> PerfCore::create_event(const EventAttr& attr, Event* leader) {
  Pmu* pmu = attr.pmu;
  if (pmu == nullptr || pmu->index() < 0 || pmus_[static_cast<size_t>(pmu->index())] != pmu) {
    return base::make_error(-EINVAL, "the event's PMU is not registered with the core");
  }
  if (attr.cpu != -1 && (attr.cpu < 0 || !runtime_.cpus().test(attr.cpu))) {
    return base::make_error(
        -EINVAL, fmt::format("CPU {} is not a CPU of this runtime (CPUs {}); use -1 for any CPU",
                             attr.cpu, runtime_.cpus().to_string()));
  }
  if (leader != nullptr) {
    if (attr.cpu != leader->attr.cpu) {
      return base::make_error(-EINVAL, fmt::format("a sibling counts where its leader does: CPU {} "
                                                   "differs from the leader's {}",
                                                   attr.cpu, leader->attr.cpu));
    }
    if (!leader->is_leader()) return base::make_error(-EINVAL, "a sibling's leader is a sibling");
    if (leader->ctx != nullptr) {
      return base::make_error(-EBUSY, "the group is installed: create siblings before install");
    }
    if (attr.pinned || attr.exclusive) {
      return base::make_error(-EINVAL, "pinned and exclusive are for group leaders");
    }
    const Pmu* lp = leader->attr.pmu;
    if (!pmu->software() && pmu != lp) {
      return base::make_error(-EINVAL, fmt::format("a group counts on one PMU with counters: {} "
                                                   "cannot join a {} group (software events can)",
                                                   pmu->name(), lp->name()));
    }
    if (!pmu->software()) {
      int members = 2;
      for (const Event* s : leader->siblings) members += s->attr.pmu == pmu ? 1 : 0;
      if (members > pmu->counters()) {
        return base::make_error(-EINVAL,
                                fmt::format("too many events in the group: the {} PMU "
                                            "has {} counters, the group would need {}; split "
                                            "it into smaller groups (separate groups are "
                                            "multiplexed)",
                                            pmu->name(), pmu->counters(), members));
      }
    }
  } else if (!pmu->software() && pmu->counters() < 1) {
    return base::make_error(-EINVAL, fmt::format("the {} PMU has no counters", pmu->name()));
  }
  Event* e = nullptr;
  try {
    e = Event::create(attr, leader);
  } catch (const std::bad_alloc&) {
    return base::make_error_nothrow(
        -ENOMEM, [] { return std::string("out of memory creating an event; close some events"); });
  }
  if (int err = pmu->init(*e)) {
    // A sibling joined its leader's list last, holding the list's reference: it leaves it
    // with that reference, or the leader would release it a second time.
    if (leader != nullptr) leader->siblings.pop_back();
    e->put();
    return base::make_error(err, fmt::format("the {} PMU refused the event", pmu->name()));
  }
  return e;
}

base::Result<ContextRef> PerfCore::task_context(Task& task) {
  base::MutexLock lock(tasks_mutex_);
  if (task.exited.load()) {
    return base::make_error(-ESRCH, "the task has exited: its events can no longer count");
  }
  Context* ctx = task.perf_ctx.load();
  if (ctx == nullptr) {
    try {
      ctx = Context::create(&task, -1);  // the task's reference
    } catch (const std::bad_alloc&) {
      return base::make_error_nothrow(
          -ENOMEM, [] { return std::string("out of memory creating the task's perf context"); });
    }
    // Published before install looks at where the task runs (see install).
    task.perf_ctx.store(ctx, std::memory_order_seq_cst);
  }
  return ContextRef(ctx);
}

// Runs fn with the context's lock held: on the CPU where the context is active (fn gets
// that CPU), or, when it is not active anywhere, right here (fn gets nullptr). The kernel's
// event_function_call, with its answers: the task moved (retry), it is not running (lock).
//
// Nothing to return: fn runs exactly once whatever happens on the way. An offline CPU's
// context is inactive, so fn runs here under its lock (once the lock shows it offline: a
// refused call alone may be stale); a task that moved is followed, and one that is not
// running is handled under the lock. The one refusal, a caller that must
// not wait (refuse_wait), is checked by the user-side calls before they change anything
// (exit_task asserts it), and a dead context (tombstone) under the mutex, as the kernel's
// callers do.
void PerfCore::event_function_call(Context* ctx, cpu::FunctionRef<void(CpuContext*)> fn) {
  auto on_cpu = [&](CpuContext* cc) {
    cc->assert_on_cpu();
    CpuLocks locks(*this, *cc, ctx, /*freeze=*/true);
    fn(cc);
  };
  if (ctx->task == nullptr) {
    CpuContext* cc = cpu(ctx->cpu);
    while (true) {
      const int r = cpu::cpu_function_call(ctx->cpu, [&] {
        on_cpu(cc);
        return 0;
      });
      if (r != -ENXIO) return;
      // Its thread refused the call, but the CPU may have come back since: the refusal
      // says nothing under the lock. Offline (not brought up, or torn down), the context
      // is off, and the bringup's pass will see what fn did. Online, its thread takes
      // calls again (it did before the bringup's pass), so the call is made again.
      {
        cpu::IrqSpinLockGuard l(cc->ctx->lock);
        if (!cc->online) {
          fn(nullptr);
          return;
        }
      }
      sched_yield();
    }
  }
  Task* task = ctx->task;
  while (true) {
    if (!ctx->tombstone_under_mutex()) {
      const int cpu_now = task->oncpu.load();
      if (cpu_now >= 0) {
        stats_.task_calls.fetch_add(1, std::memory_order_relaxed);
        const int r = cpu::cpu_function_call(cpu_now, [&] {
          CpuContext* cc = cpu(cpu::current_cpu());
          cc->assert_on_cpu();
          if (cc->current != task) return task->oncpu.load() >= 0 ? -EAGAIN : -ESRCH;
          // A context that had no events when its task came in was not adopted then.
          if (cc->task_ctx == nullptr) cc->task_ctx = ctx;
          on_cpu(cc);
          return 0;
        });
        if (r == 0) return;
        if (r == -EAGAIN) {  // it moved meanwhile: let it arrive (the kernel's cond_resched)
          stats_.task_retries.fetch_add(1, std::memory_order_relaxed);
          sched_yield();
          continue;
        }
      }
    }
    // Not running (or its CPU went away): the context is inactive, and sched_in takes the
    // same lock, so it cannot slip between the check and fn.
    ctx->lock.lock();
    if (!ctx->tombstone && task_curr(*this, task)) {
      ctx->lock.unlock();
      stats_.task_retries.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    stats_.locked_ops.fetch_add(1, std::memory_order_relaxed);
    fn(nullptr);
    ctx->lock.unlock();
    return;
  }
}

int PerfCore::install(Context* ctx, Event* leader) {
  if (ctx == nullptr || leader == nullptr || !leader->is_leader()) return -EINVAL;
  if (leader->ctx != nullptr) return -EBUSY;
  if (ctx->task == nullptr && leader->attr.cpu != -1 && leader->attr.cpu != ctx->cpu) {
    return -EINVAL;  // an event filtered to one CPU cannot count in another CPU's context
  }
  if (int err = refuse_wait()) return err;
  {
    cpu::ServingMutexLock m(ctx->mutex);
    assert_unlinked(leader);  // it joins ctx below
    if (ctx->tombstone_under_mutex()) return -ESRCH;
    if (ctx->task == nullptr && leader->attr.cpu == -1) {
      // A CPU context counts on its CPU; remove gives the group back its "any CPU".
      leader->cpu_from_context = true;
      leader->attr.cpu = ctx->cpu;
      for (Event* s : leader->siblings) s->attr.cpu = ctx->cpu;
    }
    // Everything is allocated here, in process context; the handler only links.
    const auto& listed = ctx->pmu_contexts_under_mutex();
    if (std::none_of(listed.begin(), listed.end(),
                     [&](const PmuContext& pc) { return pc.pmu == leader->attr.pmu; })) {
      auto* pc = new PmuContext();
      pc->pmu = leader->attr.pmu;
      pc->ctx = ctx;
      cpu::IrqSpinLockGuard l(ctx->lock);
      ctx->pmu_contexts.push_back(*pc);
    }
    // An installed group holds its events and its context; remove drops both.
    leader->get();
    for (Event* s : leader->siblings) s->get();
    ctx->get();
    if (leader->state == EventState::kOff && ctx->nr_events_under_mutex() > 0) {
      // A disabled group in a context that already has events cannot change what runs:
      // link it under the lock, no cross-call. (The first event needs the call, to make
      // the context active.) Enable will reschedule.
      cpu::IrqSpinLockGuard l(ctx->lock);
      add_group_to_ctx(ctx, leader);
      stats_.install_fast.fetch_add(1, std::memory_order_relaxed);
    } else {
      // The context pointer is published (task_context) before this reads the task's
      // CPU, so a call that misses the task means its next sched_in sees the context and
      // this group.
      event_function_call(ctx, [&](CpuContext* cc) {
        assert_handler_locks(ctx, cc);
        add_group_to_ctx(ctx, leader);
        if (cc != nullptr && cc->online) resched(*this, *cc, ctx, leader);
      });
    }
  }
  debug_check(ctx);
  return 0;
}

int PerfCore::remove(Event* leader) {
  if (leader == nullptr || !leader->is_leader()) return -EINVAL;
  Context* ctx = leader->ctx;
  if (ctx == nullptr) return -ENOENT;
  if (int err = refuse_wait()) return err;
  {
    cpu::ServingMutexLock m(ctx->mutex);
    PmuContext* pc = leader->pmu_ctx;
    bool unused = false;  // the group was the PmuContext's last
    event_function_call(ctx, [&](CpuContext* cc) {
      assert_handler_locks(ctx, cc);
      remove_group_from_ctx(*this, cc, ctx, leader);
      assert_in(pc, ctx);
      unused = pc->nr_events == 0;
    });
    if (leader->cpu_from_context) {  // unlinked: nothing else reads it now
      leader->cpu_from_context = false;
      leader->attr.cpu = -1;
      for (Event* s : leader->siblings) s->attr.cpu = -1;
    }
    if (unused) {
      {
        cpu::IrqSpinLockGuard l(ctx->lock);
        ctx->pmu_contexts.erase(ctx->pmu_contexts.iterator_to(*pc));
      }
      cpu::rcu::defer_delete(pc);
    }
  }
  for (Event* s : leader->siblings) s->put();
  leader->put();
  debug_check(ctx->task != nullptr ? ctx : nullptr);
  ctx->put();  // after the mutex is released: this may free the context
  return 0;
}

// As the kernel's PERF_EVENT_IOC_ENABLE on a leader's or a sibling's fd: Off or Error
// becomes Inactive, and where the context is on, the group's PMU is rescheduled so the
// group can go on (a sibling only joins a group that is on).
int PerfCore::enable(Event* event) {
  if (event == nullptr) return -EINVAL;
  if (int err = refuse_wait()) return err;
  Context* ctx = event->ctx;
  if (ctx == nullptr) {
    assert_unlinked(event);
    if (event->state == EventState::kOff || event->state == EventState::kError) {
      event->set_state_only(EventState::kInactive);
    }
    return 0;
  }
  {
    cpu::ServingMutexLock m(ctx->mutex);
    event_function_call(ctx, [&](CpuContext* cc) {
      assert_handler_locks(ctx, cc);
      assert_in(event, ctx);
      assert_in(event->leader, ctx);
      if (event->state >= EventState::kInactive || event->state < EventState::kError) return;
      set_state(event, EventState::kInactive);  // Error clears here too
      if (cc == nullptr || !cc->online || !(ctx->is_active & kEventAll)) return;
      if (event->attr.cpu != -1 && event->attr.cpu != cc->cpu) return;
      if (!event->is_leader() && event->leader->state != EventState::kActive) return;
      resched(*this, *cc, ctx, event->leader);
    });
  }
  debug_check(ctx->task != nullptr ? ctx : nullptr);
  return 0;
}

// As the kernel's PERF_EVENT_IOC_DISABLE: the group (or the one sibling) leaves the PMU
// and goes Off. As in the kernel, the counters it frees wait for the next sched-in or
// rotation.
int PerfCore::disable(Event* event) {
  if (event == nullptr) return -EINVAL;
  if (int err = refuse_wait()) return err;
  Context* ctx = event->ctx;
  if (ctx == nullptr) {
    assert_unlinked(event);
    if (event->state >= EventState::kInactive) event->set_state_only(EventState::kOff);
    return 0;
  }
  {
    cpu::ServingMutexLock m(ctx->mutex);
    event_function_call(ctx, [&](CpuContext* cc) {
      assert_handler_locks(ctx, cc);
      assert_in(event, ctx);
      if (event->state <= EventState::kOff) return;
      if (event->state == EventState::kActive && cc != nullptr) {
        if (event->is_leader()) {
          group_sched_out(*cc, event);
        } else {
          sibling_sched_out(*cc, event);
        }
      }
      set_state(event, EventState::kOff);
    });
  }
  debug_check(ctx->task != nullptr ? ctx : nullptr);
  return 0;
}

int PerfCore::reset(Event* event) {
  if (event == nullptr) return -EINVAL;
  if (int err = refuse_wait()) return err;
  Context* ctx = event->ctx;
  if (ctx == nullptr) {
    assert_unlinked(event);
    event->count = 0;
    return 0;
  }
  cpu::ServingMutexLock m(ctx->mutex);
  event_function_call(ctx, [&](CpuContext* cc) {
    assert_handler_locks(ctx, cc);
    assert_in(event, ctx);
    read_active(event);  // folds the running delta, so the count restarts from now
    event->count = 0;
  });
  return 0;
}

// Runs `snapshot(true)` where `e`'s count is whole: on the CPU where it is Active (in place
// when that is this CPU, else by a cross-call), or under its context's lock when it is not
// counting. If e raced a sched-in, its running delta is out of reach: `snapshot(false)`
// then copies the values as of its last update, under the lock all the same.
void PerfCore::with_event_stable(Event* e, uint32_t pmu_mask,
                                 cpu::FunctionRef<void(bool)> snapshot) {
  const int oncpu = e->peek_oncpu();
  // Active here: read in place, with irqs off so that no handler interleaves, under the
  // context's lock, in a pass of the PMUs read only (a local read needs no other lock, and
  // a pass of an uninvolved software PMU would cost it a system call).
  if (oncpu >= 0 && oncpu == cpu::current_cpu() && e->peek_state() == EventState::kActive) {
    cpu::IrqGuard irqs_off;
    cpu::IrqSpinLockGuard l(e->ctx->lock);
    if (e->state == EventState::kActive && e->oncpu == oncpu) {
      PassScope pass(nullptr);
      for (size_t i = 0; i < pmus_.size(); ++i) {
        if (pmu_mask & (1u << i)) pmus_[i]->begin_pass(oncpu);
      }
      snapshot(true);
      for (size_t i = 0; i < pmus_.size(); ++i) {
        if (pmu_mask & (1u << i)) pmus_[i]->end_pass(oncpu);
      }
      return;
    }
  }
  // An Active event elsewhere is read on its CPU, in a pass.
  if (e->peek_state() == EventState::kActive && oncpu >= 0) {
    bool done = false;
    cpu::cpu_function_call(oncpu, [&] {
      CpuContext* cc = cpu(oncpu);
      cc->assert_on_cpu();
      CpuLocks locks(*this, *cc, e->ctx);
      if (e->state == EventState::kActive && e->oncpu == oncpu) {
        snapshot(true);
        done = true;
      }
      return 0;
    });
    if (done) {
      if (oncpu != cpu::current_cpu()) stats_.remote_reads.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  // Not counting (or it stopped meanwhile): its count is whole under the lock.
  cpu::IrqSpinLockGuard l(e->ctx->lock);
  snapshot(e->state != EventState::kActive);
}

// A read of an event Active on this CPU, as the kernel's perf_event_read_local: with irqs
// off nothing else runs here, and no other thread writes an event or a context while it is
// active here (a change to an active context is a call to this CPU, and install's no-call
// path and readers elsewhere leave the context's clock alone: clock_runs_here), so the
// count and times are computed as they stand, without the lock, at one instant, and
// nothing is folded into the event. A later read under the lock never finds less: what it
// finds was last updated here, after this.
// The instant is a real one (take_instant), so a scheduler holding an older instant does
// not switch at it after this read saw time past it. False, with nothing read, where the
// event is not Active here or its driver cannot read without folding.
// Inline: read() is its only caller, and the call cost a fifth of the read.
__attribute__((always_inline)) inline bool PerfCore::read_in_place(
    Event* e, Reading& r, bool counted) PCTX_NO_THREAD_SAFETY_ANALYSIS {
  CpuContext* here = cpu(cpu::current_cpu());  // none off a CPU thread
  if (here == nullptr) return false;
  cpu::IrqGuard irqs_off;
  if (e->peek_state() != EventState::kActive || e->peek_oncpu() != here->cpu) return false;
  const Instant at = take_instant_fast();
  uint64_t counter = 0;
  switch (e->direct_read) {
    case DirectRead::kTsc:
      counter = at.tsc;
      break;
    case DirectRead::kMappedPage: {
      const auto v = pmu::fast_read(static_cast<const perf_event_mmap_page*>(e->direct_page));
      if (!v.valid) return false;
      counter = v.value;
      break;
    }
    case DirectRead::kNone:
      return false;
  }
  const uint64_t count = e->count + (counter > e->hw_prev ? counter - e->hw_prev : 0);
  // update_context_time and update_event_time, computed instead of stored.
  const Context* ctx = e->ctx;
  uint64_t now = ctx->time;
  if ((ctx->is_active & kEventTime) && !ctx->time_frozen && at.ns > ctx->timestamp) {
    now += at.ns - ctx->timestamp;
  }
  const uint64_t delta = now - e->tstamp;
  r = {count, e->time_enabled + delta, e->time_running + delta, EventState::kActive};
  if (counted) {
    std::atomic<uint64_t>& served = here->reads_in_place;
    served.store(served.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  return true;
}

uint64_t PerfCore::reads_in_place() const {
  uint64_t n = 0;
  for (const auto& cc : cpus_) {
    if (cc) n += cc->reads_in_place.load(std::memory_order_relaxed);
  }
  return n;
}

// Every return is of `r`, so that it is built in the caller's slot (a read in place
// filled a copy, which the return then read back whole, a store-forwarding stall).
Reading PerfCore::read(Event* e) {
  Reading r;
  if (e == nullptr) return r;
  if (e->ctx == nullptr) {
    assert_unlinked(e);
    r = {e->count, e->time_enabled, e->time_running, e->state};
    return r;
  }
  if (read_in_place(e, r) || read_remote(e, r)) return r;
  with_event_stable(e, 1u << e->attr.pmu->index(), [&](bool fresh) {
    assert_locked(e);  // with_event_stable's promise
    r = locked_reading(e, fresh);
  });
  return r;
}

// An event Active on another CPU is read there by a call that carries the event and brings
// the reading back in the call's own cache line (cpu_function_call_value), so the target
// touches nothing of the caller's; where the driver reads in place (tsc, rdpmc), the
// handler takes no lock either and writes nothing of the event's. False when the event is
// not Active elsewhere, or stopped before the call came: the caller reads it where it is.
//
// A read in place stores nothing, so the values stored in an Active event may be older
// than what a read in place gave: a CPU whose thread refuses the call while it parks (the
// CPU is going offline) is asked again until the event stopped there, as the teardown
// stops it, rather than leave the caller those. A caller that may not wait (a CPU thread
// with irqs off) makes no call here; with_event_stable gives it the stored values, as of
// the last pass where the event counts.
bool PerfCore::read_remote(Event* e, Reading& r) {
  if (cpu::current_cpu() >= 0 && cpu::irqs_disabled()) return false;
  struct Remote {
    Reading reading;
    bool ok;
  };
  Remote got{};
  int rc = -ENXIO;
  for (bool parking = true; rc == -ENXIO && parking;) {
    const int oncpu = e->peek_oncpu();
    if (oncpu < 0 || oncpu == cpu::current_cpu() || e->peek_state() != EventState::kActive) {
      return false;
    }
    rc = cpu::cpu_function_call_value(
        oncpu,
        [this, e]() PCTX_NO_THREAD_SAFETY_ANALYSIS {
          Remote out{};
          out.ok = read_in_place(e, out.reading, /*counted=*/false);  // a remote read
          if (out.ok) return out;
          CpuContext* cc = cpu(cpu::current_cpu());
          cc->assert_on_cpu();
          CpuLocks locks(*this, *cc, e->ctx);
          if (e->state == EventState::kActive && e->oncpu == cc->cpu) {
            out = {locked_reading(e, true), true};
          }
          return out;
        },
        got);
    if (rc == -ENXIO) {
      const cpu::CpuThread* t = runtime_.thread(oncpu);
      parking = t != nullptr && t->state() == cpu::CpuState::kParking;
      sched_yield();
    }
  }
  if (rc != 0 || !got.ok) return false;
  stats_.remote_reads.fetch_add(1, std::memory_order_relaxed);
  r = got.reading;
  return true;
}

// One snapshot of the whole group, taken where its leader counts: every member's count
// and the leader's times, as a PERF_FORMAT_GROUP read gives them (from any member's fd).
GroupReading PerfCore::read_group(Event* event) {
  GroupReading g;
  if (event == nullptr) return g;
  Event* leader = event->leader;
  g.counts.resize(leader->siblings.size() + 1);  // allocated here, not in the handler
  g.states.resize(g.counts.size());
  // Called with the leader's context lock held, or with the group in no context.
  auto fill = [&] {
    if (leader->ctx != nullptr) {
      assert_locked(leader);
    } else {
      assert_unlinked(leader);
    }
    g.counts[0] = leader->count;
    g.states[0] = leader->state;
    for (size_t i = 0; i < leader->siblings.size(); ++i) {
      Event* s = leader->siblings[i];
      assert_in(s, leader->ctx);
      g.counts[i + 1] = s->count;
      g.states[i + 1] = s->effective_state();
    }
    g.time_enabled = leader->time_enabled;
    g.time_running = leader->time_running;
    g.state = leader->state;
  };
  if (leader->ctx == nullptr) {
    fill();
    return g;
  }
  uint32_t pmus = 1u << leader->attr.pmu->index();
  for (const Event* s : leader->siblings) pmus |= 1u << s->attr.pmu->index();
  with_event_stable(leader, pmus, [&](bool fresh) {
    assert_locked(leader);  // with_event_stable's promise
    if (fresh) {
      read_active(leader);
      for (Event* s : leader->siblings) {
        assert_in(s, leader->ctx);
        read_active(s);
      }
      if (clock_runs_here(leader->ctx)) update_context_time(leader->ctx);
      update_event_time(leader);
      for (Event* s : leader->siblings) {
        assert_in(s, leader->ctx);
        update_event_time(s);
      }
    }
    fill();
  });
  return g;
}

// The switch hooks run whole with irqs off, as the kernel's do under the runqueue lock: a
// cross-call handler (delivered by the CPU's timer signal even between tasks) must never
// see the task current with its context half switched, or it would adopt the context on
// a CPU the task is leaving, and the task's context would stay on after it left.
//
// Off a CPU thread, current_cpu() is -1 and cpu() has no context for it: the one check the
// fast path pays for refusing such a call.
int PerfCore::sched_out(Task* prev, Task* next) {
  cpu::IrqGuard irqs_off;  // the instant is taken with irqs off (instant.cpp)
  return sched_out(prev, next, take_instant());
}

int PerfCore::sched_in(Task* next) {
  cpu::IrqGuard irqs_off;
  return sched_in(next, take_instant());
}

int PerfCore::sched_out(Task* prev, Task*, const Instant& at) {
  return sched_switch(prev, nullptr, at, /*out=*/true, /*in=*/false);
}

int PerfCore::sched_in(Task* next, const Instant& at) {
  return sched_switch(nullptr, next, at, /*out=*/false, /*in=*/true);
}

int PerfCore::sched_switch(Task* prev, Task* next, const Instant& at) {
  return sched_switch(prev, next, at, /*out=*/true, /*in=*/true);
}

namespace {

// The first half of next's sched-in: next is current here from now on, and its context,
// where it has events to put on. Where the task's context exists already, its lock orders
// this switch with an install: oncpu is published before the lock is taken (here, or by the
// pass that follows), and the installer that finds the task not running looks at oncpu
// again under that lock. Only a context that may be appearing right now needs a full
// barrier (a seq_cst store): install publishes the context and then looks at oncpu; we
// publish oncpu and then look at the context, and one of us sees the other. The barrier
// cost most of an empty context's sched-in.
Context* arriving_context(CpuContext& cc, Task* next) PCTX_REQUIRES(cc.owner) {
  cc.current = next;
  if (next == nullptr) return nullptr;
  Context* ctx = next->perf_ctx.load(std::memory_order_acquire);
  if (ctx != nullptr) {
    next->oncpu.store(cc.cpu, std::memory_order_release);
  } else {
    next->oncpu.store(cc.cpu, std::memory_order_seq_cst);
    ctx = next->perf_ctx.load(std::memory_order_seq_cst);
    if (ctx == nullptr) return nullptr;
  }
  // A context that looks empty is looked at under its own lock alone: an empty one has
  // nothing to put on and no pass to make, so the CPU's lock and the pass are spared (most
  // of a switch between tasks without events). Its lock orders this with an install as
  // above; an install's first group that links after it calls this CPU, where the task is
  // now current, and the call adopts the context.
  if (ctx->peek_nr_events() == 0) {
    cpu::IrqSpinLockGuard l(ctx->lock);
    if (ctx->tombstone || ctx->nr_events == 0) return nullptr;
  }
  return ctx;
}

}  // namespace

// The switch hooks' one body: prev's context goes off and next's comes on in one pass, so a
// switch between two tasks with events takes the CPU context's lock and brackets the drivers
// once, not twice. `out` and `in` say which halves the caller asked for (sched_out alone
// leaves the CPU with no current task; sched_in alone expects none scheduled).
int PerfCore::sched_switch(Task* prev, Task* next, const Instant& at, bool out, bool in) {
  CpuContext* here = cpu(cpu::current_cpu());
  if (here == nullptr) [[unlikely]]
    return -EPERM;
  cpu::IrqGuard irqs_off;
  CpuContext& cc = *here;
  cc.assert_on_cpu();
  if (out) cc.current = nullptr;
  Context* arriving = in ? arriving_context(cc, next) : nullptr;
  if ((out && cc.task_ctx != nullptr) || arriving != nullptr) {
    CpuLocks locks(*this, cc, arriving, /*freeze=*/false, &at);
    if (out && cc.task_ctx != nullptr) {
      ctx_sched_out(*this, cc, cc.task_ctx, kEventAll);
      cc.task_ctx = nullptr;
    }
    if (arriving != nullptr && !arriving->tombstone && arriving->nr_events != 0) {
      cc.task_ctx = arriving;
      // The task's pinned groups go before the CPU's flexible ones, so those make room; a
      // task with no pinned group leaves the CPU's flexible groups as they are (the
      // kernel's rule: no PMU work, no lost counts).
      if (!arriving->pinned_groups.empty()) ctx_sched_out(*this, cc, cc.ctx, kEventFlexible);
      // Invariant 10: a context rotates by its own time, so a task whose slices never meet
      // the timer still rotates, here.
      rotate_due_at_sched_in(*this, cc, arriving);
      sched_in_all(*this, cc);
    }
  }
  if (out && prev != nullptr) prev->oncpu.store(-1, std::memory_order_release);
  return 0;
}

void PerfCore::exit_task(Task& task) {
  Context* ctx = nullptr;
  {
    // No context is made for the task from here on (task_context says -ESRCH).
    base::MutexLock lock(tasks_mutex_);
    task.exited.store(true);
    ctx = task.perf_ctx.load();
  }
  if (ctx == nullptr) return;
  assert(refuse_wait() == 0 && "exit_task waits for the task's CPU: not with irqs off");
  {
    cpu::ServingMutexLock m(ctx->mutex);
    event_function_call(ctx, [&](CpuContext* cc) {
      assert_handler_locks(ctx, cc);
      if (cc != nullptr) {
        ctx_sched_out(*this, *cc, ctx, kEventAll);
        if (cc->task_ctx == ctx) cc->task_ctx = nullptr;
      }
      update_context_time(ctx);
      ctx->tombstone = true;
      for (Event& e : ctx->events) {
        assert_in(&e, ctx);
        set_state(&e, EventState::kExit);
      }
    });
  }
  task.perf_ctx.store(nullptr);
  ctx->put();  // the task's reference; groups installed and ContextRefs keep their own
}

int PerfCore::rotate(int cpu_number) {
  return cpu::cpu_function_call(cpu_number, [&] {
    CpuContext& cc = *cpu(cpu_number);
    cc.assert_on_cpu();
    CpuLocks locks(*this, cc, nullptr, /*freeze=*/true);
    for (int i = 0; i < nr_pmus_.load(); ++i) rotate_pmu(*this, cc, i, /*force=*/true);
    return 0;
  });
}

}  // namespace pctx::core
