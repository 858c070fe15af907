// The scheduling engine: everything here runs on the CPU of `cc`, with the locks of the
// contexts it touches held (irqs off), and says so: each function REQUIRES its CPU's role
// and those locks, which the analysis checks at every call (docs/lock-rules.md). Nothing
// allocates. The numbered invariants are those of docs/core.md.
#pragma once

#include "core/cpu_context.hpp"

namespace pctx::core::internal {

// Time: a context's clock runs while it is active and not frozen; an event accrues
// enabled time while it (effectively) is Inactive or Active, and running time while
// Active (invariant 7).
void update_context_time(Context* ctx) PCTX_REQUIRES(ctx->lock);
// Events read the context's time as of its last update, as the kernel's do: everything
// one pass does happens at one instant, and the clock is read once per pass, not once per
// event.
inline uint64_t context_time(const Context* ctx) PCTX_REQUIRES(ctx->lock) {
  return ctx->time;
}
void update_event_time(Event* e) PCTX_REQUIRES(e->ctx->lock);
// Updates the times of e (and of its siblings, whose effective state follows a leader)
// before changing its state.
void set_state(Event* e, EventState s) PCTX_REQUIRES(e->ctx->lock);

// Brings a context's clock up to date and holds it there for the length of a reschedule
// (the kernel's ctx_time_freeze); false if it was frozen already (then do not thaw it).
bool freeze_time(Context* ctx) PCTX_REQUIRES(ctx->lock);
// Lets the clock run on; its next update covers the frozen window, so no time is lost.
void thaw_time(Context* ctx) PCTX_REQUIRES(ctx->lock);

PmuContext* find_pmu_context(Context* ctx, Pmu* pmu) PCTX_REQUIRES(ctx->lock);

// Sched-in of the CPU context and the current task context in the kernel's order: CPU
// pinned, task pinned, CPU flexible, task flexible. Only the kinds a context does not
// have on already are walked (the kernel's changed bits). With `pmu`, only its groups.
void sched_in_all(PerfCore& core, CpuContext& cc, const Pmu* pmu = nullptr)
    PCTX_REQUIRES(cc.owner, cc.ctx->lock, cc.task_ctx->lock);
// Schedules out the given kinds (ContextActive bits) of a context; with `pmu`, only the
// groups of that PMU leave, though the kinds are marked off for the whole context.
void ctx_sched_out(PerfCore& core, CpuContext& cc, Context* ctx, uint8_t kinds,
                   const Pmu* pmu = nullptr) PCTX_REQUIRES(cc.owner, ctx->lock);
// The kernel's ctx_resched after a change to `leader`'s group in `ctx`: the kinds the
// group competes with leave (task first; the CPU's only for a CPU event or, for a pinned
// task event, its flexible groups) and everything of the group's PMU goes on again in
// order.
void resched(PerfCore& core, CpuContext& cc, Context* ctx, const Event* leader)
    PCTX_REQUIRES(cc.owner, cc.ctx->lock, cc.task_ctx->lock, ctx->lock);

// Takes one group off (leader) or one member (sibling), releasing their counters.
void group_sched_out(CpuContext& cc, Event* leader) PCTX_REQUIRES(cc.owner, leader->ctx->lock);
void sibling_sched_out(CpuContext& cc, Event* sibling) PCTX_REQUIRES(cc.owner, sibling->ctx->lock);

// Links a group into a context (Off or Inactive), not scheduling it. The PmuContext must
// already be listed. The context changes with both its locks held.
void add_group_to_ctx(Context* ctx, Event* leader) PCTX_REQUIRES(ctx->mutex, ctx->lock);
// Unlinks a group from its context `ctx` after scheduling it out (on `cc`'s CPU, or
// nowhere when cc is nullptr).
void remove_group_from_ctx(PerfCore& core, CpuContext* cc, Context* ctx, Event* leader)
    PCTX_REQUIRES(ctx->mutex, ctx->lock, cc->owner, cc->ctx->lock, cc->task_ctx->lock);

// Rotation of one PMU's flexible groups on this CPU (invariant 10). `force` rotates every
// context that needs it, as the kernel's timer does; otherwise only those whose own
// context time since their last rotation reached the interval. Then re-arms the CPU's
// rotation timer for the next one due, or stops it.
void rotate_pmu(PerfCore& core, CpuContext& cc, int pmu_index, bool force)
    PCTX_REQUIRES(cc.owner, cc.ctx->lock, cc.task_ctx->lock);
// At a task's sched-in, before its groups go on: rotates its PMU contexts that are due
// by their own time (the context is not active yet).
void rotate_due_at_sched_in(PerfCore& core, CpuContext& cc, Context* ctx)
    PCTX_REQUIRES(cc.owner, ctx->lock);
// Re-arms (or stops) one PMU's rotation timer for the contexts scheduled on this CPU, by
// their time as of now (or of `now`, a CLOCK_MONOTONIC reading the caller has).
void rearm_rotation(PerfCore& core, CpuContext& cc, int pmu_index)
    PCTX_REQUIRES(cc.owner, cc.ctx->lock, cc.task_ctx->lock);
void rearm_rotation_at(PerfCore& core, CpuContext& cc, int pmu_index, uint64_t now)
    PCTX_REQUIRES(cc.owner, cc.ctx->lock, cc.task_ctx->lock);

// Folds the running delta of an Active event into its count (on its CPU).
void read_active(Event* e) PCTX_REQUIRES(e->ctx->lock);

}  // namespace pctx::core::internal
