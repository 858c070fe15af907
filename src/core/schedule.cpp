#include "core/schedule.hpp"

#include <algorithm>

namespace pctx::core::internal {

namespace {

bool is_active(const Event* e) {
  return e->state == EventState::kActive;
}

// Members that hold a counter of the group's PMU: the leader's PMU, unless it is software.
bool holds_counter(const Event* e, const Pmu* group_pmu) {
  return e->attr.pmu == group_pmu && !group_pmu->software();
}

CpuPmuContext& cpc_of(CpuContext& cc, const Pmu* pmu) {
  return cc.pmus[pmu->index()];
}

// Calls fn(leader) for the groups one CPU may schedule for one PMU, in group_index order:
// the merge of the cpu == -1 and cpu == this runs of the tree. fn returns false to stop.
template <class F>
void visit_groups(GroupTree& tree, int cpu, int pmu, F&& fn) {
  auto a = tree.lower_bound(GroupKey{-1, pmu, 0});
  auto a_end = tree.lower_bound(GroupKey{-1, pmu + 1, 0});
  auto b = tree.lower_bound(GroupKey{cpu, pmu, 0});
  auto b_end = tree.lower_bound(GroupKey{cpu, pmu + 1, 0});
  while (a != a_end || b != b_end) {
    const bool take_a = b == b_end || (a != a_end && a->group_index < b->group_index);
    Event& e = take_a ? *a++ : *b++;
    if (!fn(e)) return;
  }
}

void event_sched_in(CpuContext& cc, Event* e, const Pmu* group_pmu, int* err) {
  if (e->state != EventState::kInactive || *err != 0) return;
  update_event_time(e);
  e->set_state_and_cpu(EventState::kActive, cc.cpu);
  if (int r = e->attr.pmu->add(*e)) {
    e->set_state_and_cpu(EventState::kInactive, -1);
    *err = r;
    return;
  }
  if (holds_counter(e, group_pmu)) ++cpc_of(cc, group_pmu).active_counters;
}

void event_sched_out(CpuContext& cc, Event* e, const Pmu* group_pmu) {
  if (e->state != EventState::kActive) return;
  e->attr.pmu->del(*e);
  update_event_time(e);
  e->set_state_and_cpu(EventState::kInactive, -1);
  if (holds_counter(e, group_pmu)) --cpc_of(cc, group_pmu).active_counters;
}

void group_sched_out(CpuContext& cc, Event* leader) {
  const Pmu* pmu = leader->attr.pmu;
  for (Event* s : leader->siblings) event_sched_out(cc, s, pmu);
  event_sched_out(cc, leader, pmu);
  if (leader->active_hook.is_linked()) {
    auto& list =
        leader->attr.pinned ? leader->pmu_ctx->active_pinned : leader->pmu_ctx->active_flexible;
    list.erase(list.iterator_to(*leader));
  }
  if (leader->attr.exclusive) cpc_of(cc, pmu).exclusive = false;
}

bool group_can_go_on(CpuContext& cc, const Event* leader, bool can_add_hw) {
  const Pmu* pmu = leader->attr.pmu;
  if (pmu->software()) return true;
  const auto& cpc = cc.pmus[pmu->index()];
  if (cpc.exclusive) return false;
  if (leader->attr.exclusive && cpc.active_counters > 0) return false;
  return can_add_hw;
}

// All or nothing: the group fits the PMU's free counters and every member starts, or
// none stays on.
int group_sched_in(CpuContext& cc, Event* leader) {
  const Pmu* pmu = leader->attr.pmu;
  auto& cpc = cc.pmus[pmu->index()];
  if (!pmu->software()) {
    int need = holds_counter(leader, pmu) ? 1 : 0;
    for (const Event* s : leader->siblings) {
      if (s->state >= EventState::kInactive && holds_counter(s, pmu)) ++need;
    }
    if (cpc.active_counters + need > pmu->counters()) return -EBUSY;
  }
  int err = 0;
  event_sched_in(cc, leader, pmu, &err);
  for (Event* s : leader->siblings) event_sched_in(cc, s, pmu, &err);
  if (err != 0) {
    for (Event* s : leader->siblings) event_sched_out(cc, s, pmu);
    event_sched_out(cc, leader, pmu);
    return err;
  }
  if (leader->attr.exclusive) cpc.exclusive = true;
  return 0;
}

void arm_rotation(PerfCore& core, CpuContext& cc, const Pmu* pmu) {
  auto& timer = *cc.pmus[pmu->index()].rotation_timer;
  if (timer.armed()) return;  // restarting would postpone rotation at every switch
  if (auto* t = core.runtime().thread(cc.cpu)) t->arm_timer(timer, core.rotation_interval());
}

void sched_in_groups(PerfCore& core, CpuContext& cc, PmuContext* pc, bool pinned) {
  Context* ctx = pc->ctx;
  GroupTree& tree = pinned ? ctx->pinned_groups : ctx->flexible_groups;
  bool can_add_hw = true;
  visit_groups(tree, cc.cpu, pc->pmu->index(), [&](Event& leader) {
    if (leader.state != EventState::kInactive) return true;  // Off, Error, or already on
    if (group_can_go_on(cc, &leader, can_add_hw) && group_sched_in(cc, &leader) == 0) {
      (pinned ? pc->active_pinned : pc->active_flexible).push_back(leader);
      return true;
    }
    // After the first group that does not fit, no later one of this PMU goes on.
    can_add_hw = false;
    if (pinned) {
      set_state(&leader, EventState::kError);  // every pinned misfit goes to Error
      return true;
    }
    pc->rotate_necessary = true;
    arm_rotation(core, cc, pc->pmu);
    // So the walk can stop: the switch costs what the active groups cost, however many
    // flexible groups are installed (the scale suite of pctx bench measures it).
    return false;
  });
}

void ctx_sched_in(PerfCore& core, CpuContext& cc, Context* ctx, uint8_t kind) {
  if (ctx == nullptr || ctx->nr_events == 0) return;  // an empty context is never active
  if (!(ctx->is_active & kEventTime)) {
    ctx->timestamp = clock_ns();  // the clock resumes where it stopped
    ctx->is_active |= kEventTime;
  }
  ctx->is_active |= kind;
  for (auto& pc : ctx->pmu_contexts) sched_in_groups(core, cc, &pc, kind == kEventPinned);
}

}  // namespace

void update_context_time(Context* ctx) {
  if (!(ctx->is_active & kEventTime)) return;
  const uint64_t now = clock_ns();
  ctx->time += now - ctx->timestamp;
  ctx->timestamp = now;
}

// Events read the context's time as of its last update, as the kernel's do: everything
// one pass does happens at one instant, and the clock is read once per pass, not once per
// event.
uint64_t context_time(const Context* ctx) {
  return ctx->time;
}

void update_event_time(Event* e) {
  if (e->ctx == nullptr) return;
  const uint64_t now = context_time(e->ctx);
  const uint64_t delta = now - e->tstamp;
  const EventState s = e->effective_state();
  if (s >= EventState::kInactive) e->time_enabled += delta;
  if (s == EventState::kActive) e->time_running += delta;
  e->tstamp = now;
}

void set_state(Event* e, EventState s) {
  update_event_time(e);
  if (e->is_leader()) {
    for (Event* sib : e->siblings) update_event_time(sib);
  }
  e->set_state_only(s);
}

PmuContext* find_pmu_context(Context* ctx, Pmu* pmu) {
  for (auto& pc : ctx->pmu_contexts) {
    if (pc.pmu == pmu) return &pc;
  }
  return nullptr;
}

void sched_in_all(PerfCore& core, CpuContext& cc) {
  if (!cc.online) return;
  ctx_sched_in(core, cc, cc.ctx, kEventPinned);
  ctx_sched_in(core, cc, cc.task_ctx, kEventPinned);
  ctx_sched_in(core, cc, cc.ctx, kEventFlexible);
  ctx_sched_in(core, cc, cc.task_ctx, kEventFlexible);
}

void ctx_sched_out(PerfCore&, CpuContext& cc, Context* ctx, uint8_t kinds) {
  if (ctx == nullptr || !(ctx->is_active & kEventAll)) return;
  update_context_time(ctx);
  for (auto& pc : ctx->pmu_contexts) {
    if (kinds & kEventFlexible) {
      while (!pc.active_flexible.empty()) group_sched_out(cc, &pc.active_flexible.front());
      pc.rotate_necessary = false;
    }
    if (kinds & kEventPinned) {
      while (!pc.active_pinned.empty()) group_sched_out(cc, &pc.active_pinned.front());
    }
  }
  ctx->is_active &= static_cast<uint8_t>(~kinds);
  if (!(ctx->is_active & kEventAll)) ctx->is_active = 0;  // the clock stops
}

void add_group_to_ctx(Context* ctx, Event* leader) {
  update_context_time(ctx);
  PmuContext* pc = find_pmu_context(ctx, leader->attr.pmu);
  const uint64_t now = context_time(ctx);
  auto link = [&](Event* e) {
    e->ctx = ctx;
    e->pmu_ctx = pc;
    e->tstamp = now;
    ctx->events.push_back(*e);
    ++ctx->nr_events;
    ++pc->nr_events;
  };
  link(leader);
  for (Event* s : leader->siblings) link(s);
  leader->group_index = ctx->next_group_index++;
  (leader->attr.pinned ? ctx->pinned_groups : ctx->flexible_groups).insert(*leader);
}

void remove_group_from_ctx(PerfCore& core, CpuContext* cc, Event* leader) {
  Context* ctx = leader->ctx;
  update_context_time(ctx);
  if (cc != nullptr && is_active(leader)) group_sched_out(*cc, leader);
  auto unlink = [&](Event* e) {
    update_event_time(e);
    ctx->events.erase(ctx->events.iterator_to(*e));
    --ctx->nr_events;
    --e->pmu_ctx->nr_events;
  };
  for (Event* s : leader->siblings) unlink(s);
  unlink(leader);
  auto& tree = leader->attr.pinned ? ctx->pinned_groups : ctx->flexible_groups;
  tree.erase(tree.iterator_to(*leader));
  if (ctx->nr_events == 0 && cc != nullptr) ctx_sched_out(core, *cc, ctx, kEventAll);
  for (Event* s : leader->siblings) {
    s->ctx = nullptr;
    s->pmu_ctx = nullptr;
  }
  leader->ctx = nullptr;
  leader->pmu_ctx = nullptr;
}

void rotate_pmu(PerfCore& core, CpuContext& cc, int pmu_index) {
  Pmu* pmu = core.pmus()[pmu_index];
  PmuContext* cpu_pc = cc.ctx != nullptr ? find_pmu_context(cc.ctx, pmu) : nullptr;
  PmuContext* task_pc = cc.task_ctx != nullptr ? find_pmu_context(cc.task_ctx, pmu) : nullptr;
  const bool cpu_rotate = cpu_pc != nullptr && cpu_pc->rotate_necessary;
  const bool task_rotate = task_pc != nullptr && task_pc->rotate_necessary;
  if (!cpu_rotate && !task_rotate) {
    // Nothing to multiplex: stop the timer.
    if (auto* t = core.runtime().thread(cc.cpu))
      t->cancel_timer(*cc.pmus[pmu_index].rotation_timer);
    return;
  }
  core.stats().rotations.fetch_add(1, std::memory_order_relaxed);
  // Rotation sends the first flexible group to the back of its tree: the one on first, or
  // else the first that may go on here.
  auto rotate_one = [&](PmuContext* pc) {
    Event* first = pc->active_flexible.empty() ? nullptr : &pc->active_flexible.front();
    if (first == nullptr) {
      visit_groups(pc->ctx->flexible_groups, cc.cpu, pmu_index, [&](Event& e) {
        first = &e;
        return false;
      });
    }
    if (first == nullptr) return;
    pc->ctx->flexible_groups.erase(pc->ctx->flexible_groups.iterator_to(*first));
    first->group_index = pc->ctx->next_group_index++;
    pc->ctx->flexible_groups.insert(*first);
  };
  for (PmuContext* pc : {task_pc, cpu_pc}) {
    if (pc == nullptr) continue;
    update_context_time(pc->ctx);
    while (!pc->active_flexible.empty()) group_sched_out(cc, &pc->active_flexible.front());
    pc->rotate_necessary = false;
  }
  if (cpu_rotate) rotate_one(cpu_pc);
  if (task_rotate) rotate_one(task_pc);
  if (cpu_pc != nullptr && (cc.ctx->is_active & kEventFlexible)) {
    sched_in_groups(core, cc, cpu_pc, false);
  }
  if (task_pc != nullptr && (cc.task_ctx->is_active & kEventFlexible)) {
    sched_in_groups(core, cc, task_pc, false);
  }
}

void read_active(Event* e) {
  if (e->state == EventState::kActive) e->attr.pmu->read(*e);
}

}  // namespace pctx::core::internal
