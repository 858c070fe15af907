// check_invariants(): the design's invariants 1-7, verified where they can be seen whole.
// The per-CPU half runs in a cross-call handler and so only fills a fixed-size snapshot;
// messages are formatted afterwards.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "core/cpu_context.hpp"
#include "core/schedule.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/cpu/cross_call.hpp"

namespace pctx::core {

using internal::assert_in;

namespace {

struct CpuSnapshot {
  bool checked = false;
  int counters_in_use[PerfCore::kMaxPmus] = {};  // CpuPmuContext::active_counters
  int counters_held[PerfCore::kMaxPmus] = {};    // Active events holding one
  int active_off_cpu = 0;                        // Active events whose oncpu is not this CPU
  int active_in_inactive_ctx = 0;
  int sibling_without_leader = 0;
  int empty_but_active = 0;       // invariant 5
  int task_ctx_not_current = 0;   // invariant 5
  int current_not_scheduled = 0;  // invariant 8: a current task's context is scheduled
  bool current_detail_task = false;
  int current_detail_active = 0;
  int current_detail_oncpu = 0;
  int current_detail_ctx_active = 0;
};

// Holds a context's lock for a scope, or nothing for a null context (a CPU with no task
// context scheduled): the names the analysis sees are those of CpuLocks.
class PCTX_SCOPED_CAPABILITY MaybeLock {
 public:
  explicit MaybeLock(Context* c) PCTX_ACQUIRE(c->lock) : c_(c) {
    if (c_ != nullptr) c_->lock.lock();
  }
  ~MaybeLock() PCTX_RELEASE() {
    if (c_ != nullptr) c_->lock.unlock();
  }
  MaybeLock(const MaybeLock&) = delete;
  MaybeLock& operator=(const MaybeLock&) = delete;

 private:
  Context* c_;
};

// Every given context's mutex, for the whole check. A runtime-sized set is beyond the
// analysis (it names locks, it does not count them), and constructors and destructors are
// not analysed: nothing after relies on these mutexes for the analysis, since each check
// takes the lock it reads under. The contexts come sorted by address, and the mutexes are
// taken in that order, which no two checks can invert: declared to the lock validator,
// which would otherwise report the second mutex of the class as recursion.
class AllMutexes {
 public:
  explicit AllMutexes(const std::vector<Context*>& contexts) : contexts_(contexts) {
    for (Context* c : contexts_) c->mutex.lock_nested(base::LockNesting::kAddressOrder);
  }
  ~AllMutexes() {
    for (auto it = contexts_.rbegin(); it != contexts_.rend(); ++it) (*it)->mutex.unlock();
  }
  AllMutexes(const AllMutexes&) = delete;
  AllMutexes& operator=(const AllMutexes&) = delete;

 private:
  const std::vector<Context*>& contexts_;
};

// What the current task's context shows when it is not the one scheduled here: peeked
// without its lock, which may be held elsewhere and which a handler must not spin on.
// Relaxed atomic loads of fields the lock guards, which the analysis rightly refuses for
// plain reads: exempt, and nothing else in here.
struct ContextPeek {
  int nr_events;
  bool tombstone;
  uint8_t is_active;
};
ContextPeek peek(Context* c) PCTX_NO_THREAD_SAFETY_ANALYSIS {
  return {c->peek_nr_events(), std::atomic_ref<bool>(c->tombstone).load(),
          std::atomic_ref<uint8_t>(c->is_active).load()};
}

void snapshot_context(const Context* ctx, int cpu, CpuSnapshot& s) PCTX_REQUIRES(ctx->lock) {
  if (ctx == nullptr) return;
  if (ctx->is_active && ctx->nr_events == 0) ++s.empty_but_active;
  for (const Event& e : ctx->events) {
    assert_in(&e, ctx);
    assert_in(e.leader, ctx);
    if (e.state != EventState::kActive) continue;
    if (e.oncpu != cpu) ++s.active_off_cpu;
    if (!(ctx->is_active & kEventAll)) ++s.active_in_inactive_ctx;
    if (!e.is_leader() && e.leader->state != EventState::kActive) ++s.sibling_without_leader;
    const Pmu* gp = e.leader->attr.pmu;
    if (e.attr.pmu == gp && !gp->software()) ++s.counters_held[gp->index()];
  }
}

void check_context(const Context* ctx, std::vector<std::string>& out) PCTX_REQUIRES(ctx->lock) {
  const std::string name = ctx->task != nullptr ? fmt::format("task context {}", fmt::ptr(ctx))
                                                : fmt::format("CPU {} context", ctx->cpu);
  // 1. Event counts agree.
  int listed = 0, by_pmu = 0, leaders = 0;
  for (const Event& e : ctx->events) {
    assert_in(&e, ctx);
    ++listed;
    if (e.is_leader()) ++leaders;
    // 2. Leaders sit in the tree their pinned flag names; siblings in none.
    if (e.is_leader() != e.tree_hook.is_linked()) {
      out.push_back(fmt::format("{}: event {} is {} but {} a group tree", name, e.id,
                                e.is_leader() ? "a leader" : "a sibling",
                                e.tree_hook.is_linked() ? "is in" : "is not in"));
    }
    // 7. Enabled time covers running time.
    if (e.time_enabled < e.time_running) {
      out.push_back(fmt::format("{}: event {} ran {} ns of {} ns enabled", name, e.id,
                                e.time_running, e.time_enabled));
    }
    if (e.ctx != ctx) out.push_back(fmt::format("{}: event {} points elsewhere", name, e.id));
    // 3. A leader is on its PmuContext's active list exactly while it is Active: one left
    // there would be walked after it is freed.
    if (e.is_leader() && e.active_hook.is_linked() != (e.state == EventState::kActive)) {
      out.push_back(fmt::format("{}: leader {} is {} but {} an active list", name, e.id,
                                to_string(e.state), e.active_hook.is_linked() ? "on" : "not on"));
    }
  }
  std::set<const Pmu*> pmus;
  for (const PmuContext& pc : ctx->pmu_contexts) {
    assert_in(&pc, ctx);
    by_pmu += pc.nr_events;
    // 4. One PmuContext per PMU, listed only while events hold it.
    if (!pmus.insert(pc.pmu).second) {
      out.push_back(fmt::format("{}: two PmuContexts for {}", name, pc.pmu->name()));
    }
    if (pc.nr_events <= 0) {
      out.push_back(
          fmt::format("{}: PmuContext for {} listed with no events", name, pc.pmu->name()));
    }
  }
  if (listed != ctx->nr_events || by_pmu != ctx->nr_events) {
    out.push_back(fmt::format("{}: nr_events {} but {} listed and {} by PMU", name, ctx->nr_events,
                              listed, by_pmu));
  }
  size_t in_pinned = 0, in_flexible = 0;
  for (const Event& e : ctx->pinned_groups) in_pinned += e.attr.pinned ? 1 : 0;
  for (const Event& e : ctx->flexible_groups) in_flexible += e.attr.pinned ? 0 : 1;
  if (in_pinned != ctx->pinned_groups.size() || in_flexible != ctx->flexible_groups.size() ||
      in_pinned + in_flexible != static_cast<size_t>(leaders)) {
    out.push_back(fmt::format("{}: {} leaders but trees hold {} pinned and {} flexible rightly",
                              name, leaders, in_pinned, in_flexible));
  }
}

}  // namespace

std::string PerfCore::check_invariants(const std::vector<Context*>& task_contexts) {
  std::vector<Context*> contexts = task_contexts;
  for (const auto& cc : cpus_) {
    if (cc) contexts.push_back(cc->ctx);
  }
  std::sort(contexts.begin(), contexts.end());
  contexts.erase(std::unique(contexts.begin(), contexts.end()), contexts.end());
  // User-side changes hold the mutex across their cross-calls, so holding every mutex
  // shows no half-done install or removal.
  AllMutexes mutexes(contexts);

  std::vector<std::string> out;
  std::vector<CpuSnapshot> snaps(cpus_.size());
  for (const auto& cc : cpus_) {
    if (!cc) continue;
    CpuSnapshot& s = snaps[static_cast<size_t>(cc->cpu)];
    cpu::cpu_function_call(cc->cpu, [&] {
      CpuContext& c = *cc;
      c.assert_on_cpu();
      cpu::IrqSpinLockGuard own(c.ctx->lock);
      Context* task = c.task_ctx;
      MaybeLock task_lock(task);
      snapshot_context(c.ctx, c.cpu, s);
      snapshot_context(task, c.cpu, s);
      if (task != nullptr && task->is_active && (c.current == nullptr || task->task != c.current)) {
        ++s.task_ctx_not_current;
      }
      if (c.online && c.current != nullptr) {
        // A context with events that is not being torn down must have been scheduled in,
        // and be on, since the switch that made its task current. (Its own fields are
        // peeked without its lock when it is not the one scheduled.)
        Context* mine = c.current->perf_ctx.load();
        const ContextPeek p = mine != nullptr ? peek(mine) : ContextPeek{};
        if (mine != nullptr && p.nr_events > 0 && !p.tombstone &&
            (mine != task || !(task->is_active & kEventAll))) {
          ++s.current_not_scheduled;
          s.current_detail_task = mine != task;
          s.current_detail_active = task != nullptr ? task->is_active : -1;
          s.current_detail_oncpu = c.current->oncpu.load();
          s.current_detail_ctx_active = p.is_active;
        }
      }
      for (int i = 0; i < kMaxPmus; ++i)
        s.counters_in_use[i] = c.pmus[static_cast<size_t>(i)].active_counters;
      s.checked = true;
      return 0;
    });
    if (!s.checked) continue;  // offline: nothing can be active there
    const int cpu = cc->cpu;
    auto bad = [&](int n, const char* what) {
      if (n != 0) out.push_back(fmt::format("CPU {}: {} {}", cpu, n, what));
    };
    bad(s.active_off_cpu, "Active events not on this CPU (invariant 3)");
    bad(s.active_in_inactive_ctx, "Active events in an inactive context (invariant 3)");
    bad(s.sibling_without_leader, "Active siblings of inactive leaders (invariant 3)");
    bad(s.empty_but_active, "active contexts without events (invariant 5)");
    bad(s.task_ctx_not_current, "active task contexts of a task not current (invariant 5)");
    if (s.current_not_scheduled != 0) {
      out.push_back(fmt::format(
          "CPU {}: the current task's context is not scheduled in "
          "(invariant 8): {}, is_active {}; the task says it is on CPU "
          "{}, its context's is_active {}",
          cpu, s.current_detail_task ? "another context is" : "it is", s.current_detail_active,
          s.current_detail_oncpu, s.current_detail_ctx_active));
    }
    for (int i = 0; i < nr_pmus_.load(); ++i) {
      const Pmu* p = pmus_[static_cast<size_t>(i)];
      if (s.counters_in_use[i] != s.counters_held[i]) {
        out.push_back(
            fmt::format("CPU {}: {} counters in use {} but {} Active events hold one "
                        "(invariant 6)",
                        cpu, p->name(), s.counters_in_use[i], s.counters_held[i]));
      }
      if (!p->software() && s.counters_in_use[i] > p->counters()) {
        out.push_back(fmt::format("CPU {}: {} uses {} of {} counters (invariant 6)", cpu, p->name(),
                                  s.counters_in_use[i], p->counters()));
      }
    }
  }
  for (Context* c : contexts) {
    cpu::IrqSpinLockGuard l(c->lock);
    check_context(c, out);
  }
  std::string all;
  for (const auto& line : out) all += line + "\n";
  return all;
}

void PerfCore::debug_check([[maybe_unused]] Context* ctx) {
#ifndef NDEBUG
  if (cpu::current_cpu() >= 0) return;  // a CPU thread must not wait on context mutexes
  std::vector<Context*> extra;
  if (ctx != nullptr && ctx->task != nullptr) extra.push_back(ctx);
  const std::string problems = check_invariants(extra);
  if (!problems.empty()) {
    std::fprintf(stderr, "pctx: invariant violated:\n%s", problems.c_str());
    std::abort();
  }
#endif
}

}  // namespace pctx::core
