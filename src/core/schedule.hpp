// The scheduling engine: everything here runs on the CPU of `cc`, with the locks of the
// contexts it touches held (irqs off). Nothing allocates.
#pragma once

#include "core/cpu_context.hpp"

namespace pctx::core::internal {

// Time: a context's clock runs while it is active; an event accrues enabled time while
// it (effectively) is Inactive or Active, and running time while Active.
void update_context_time(Context* ctx);
uint64_t context_time(const Context* ctx);
void update_event_time(Event* e);
// Updates the times of e (and of its siblings, whose effective state follows a leader)
// before changing its state.
void set_state(Event* e, EventState s);

PmuContext* find_pmu_context(Context* ctx, Pmu* pmu);

// Sched-in of the CPU context and the current task context in the kernel's order: CPU
// pinned, task pinned, CPU flexible, task flexible.
void sched_in_all(PerfCore& core, CpuContext& cc);
// Schedules out the given kinds (ContextActive bits) of a context.
void ctx_sched_out(PerfCore& core, CpuContext& cc, Context* ctx, uint8_t kinds);

// Links a group into a context (Off or Inactive), not scheduling it. The PmuContext must
// already be listed.
void add_group_to_ctx(Context* ctx, Event* leader);
// Unlinks a group from its context after scheduling it out.
void remove_group_from_ctx(PerfCore& core, CpuContext* cc, Event* leader);

// One rotation of one PMU's flexible groups on this CPU, as the timer does it.
void rotate_pmu(PerfCore& core, CpuContext& cc, int pmu_index);

// Folds the running delta of an Active event into its count (on its CPU).
void read_active(Event* e);

}  // namespace pctx::core::internal
