#include "core/schedule.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>

namespace pctx::core::internal {

namespace {

using std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;

// A rotation timer never fires sooner than this after it is armed, so that a context due
// right now cannot make the timer spin.
constexpr nanoseconds kMinRotationDelay{20'000};

bool is_active(const Event* e) PCTX_REQUIRES(e->ctx->lock) {
  return e->state == EventState::kActive;
}

// Members that hold a counter of the group's PMU: the leader's PMU, unless it is software.
bool holds_counter(const Event* e, const Pmu* group_pmu) {
  return e->attr.pmu == group_pmu && !group_pmu->software();
}

CpuPmuContext& cpc_of(CpuContext& cc, const Pmu* pmu) PCTX_REQUIRES(cc.owner) {
  return cc.pmus[static_cast<size_t>(pmu->index())];
}

// The groups one CPU may schedule for one PMU, in group_index order: the merge of the
// cpu == -1 and cpu == this runs of the tree. A walk rather than a visitor, so that the
// loop body stays in its function, where the analysis sees the locks held. A run ends
// where the key changes, so each run costs one search; the tree orders by CPU first, so a
// tree whose last group has no CPU filter has no cpu == this run to search for (a task's
// groups rarely have one).
class GroupWalk {
 public:
  GroupWalk(GroupTree& tree, int cpu, int pmu) : end_(tree.end()), cpu_(cpu), pmu_(pmu) {
    if (tree.empty()) {
      a_ = b_ = end_;
      return;
    }
    a_ = tree.lower_bound(GroupKey{-1, pmu, 0});
    b_ =
        cpu >= 0 && key_cpu(*tree.rbegin()) >= cpu ? tree.lower_bound(GroupKey{cpu, pmu, 0}) : end_;
  }

  // The next group, or nullptr. The caller holds the tree's context lock (it needs it to
  // pass the tree at all), out of sight here.
  Event* next() {
    const bool has_a = in_run(a_, -1);
    const bool has_b = in_run(b_, cpu_);
    if (!has_a && !has_b) return nullptr;
    bool take_a = !has_b;
    if (has_a && has_b) {
      const Event& a = *a_;
      const Event& b = *b_;
      assert_locked(&a);
      assert_locked(&b);
      take_a = a.group_index < b.group_index;
    }
    return &*(take_a ? a_++ : b_++);
  }

 private:
  static int key_cpu(const Event& e) { return e.attr.cpu; }
  bool in_run(const GroupTree::iterator& it, int cpu) const {
    return it != end_ && it->attr.cpu == cpu && it->attr.pmu->index() == pmu_;
  }

  GroupTree::iterator a_, b_;
  const GroupTree::iterator end_;
  const int cpu_;
  const int pmu_;
};

void event_sched_in(CpuContext& cc, Event* e, const Pmu* group_pmu, int* err)
    PCTX_REQUIRES(cc.owner, e->ctx->lock) {
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

void event_sched_out(CpuContext& cc, Event* e, const Pmu* group_pmu)
    PCTX_REQUIRES(cc.owner, e->ctx->lock) {
  if (e->state != EventState::kActive) return;
  e->attr.pmu->del(*e);
  update_event_time(e);
  e->set_state_and_cpu(EventState::kInactive, -1);
  if (holds_counter(e, group_pmu)) --cpc_of(cc, group_pmu).active_counters;
}

ActiveList& active_list_of(PmuContext* pc, bool pinned) PCTX_REQUIRES(pc->ctx->lock) {
  return pinned ? pc->active_pinned : pc->active_flexible;
}

// The kernel's rule since 5.11: an exclusive group is refused while its own PMU context
// has groups of the same kind on; any exclusive group on keeps every other group of the
// PMU off. Software groups always go on.
bool group_can_go_on(CpuContext& cc, PmuContext* pc, const Event* leader, bool can_add_hw)
    PCTX_REQUIRES(cc.owner, pc->ctx->lock) {
  const Pmu* pmu = leader->attr.pmu;
  if (pmu->software()) return true;
  if (cpc_of(cc, pmu).exclusive) return false;
  if (leader->attr.exclusive && !active_list_of(pc, leader->attr.pinned).empty()) return false;
  return can_add_hw;
}

// All or nothing: the group fits the PMU's free counters and every member starts, or
// none stays on (invariant 6: counters in use never exceed the PMU's).
int group_sched_in(CpuContext& cc, Event* leader) PCTX_REQUIRES(cc.owner, leader->ctx->lock) {
  const Pmu* pmu = leader->attr.pmu;
  auto& cpc = cpc_of(cc, pmu);
  if (!pmu->software()) {
    int need = holds_counter(leader, pmu) ? 1 : 0;
    for (const Event* s : leader->siblings) {
      assert_in(s, leader->ctx);
      if (s->state >= EventState::kInactive && holds_counter(s, pmu)) ++need;
    }
    if (cpc.active_counters + need > pmu->counters()) return -EBUSY;
  }
  int err = 0;
  event_sched_in(cc, leader, pmu, &err);
  for (Event* s : leader->siblings) {
    assert_in(s, leader->ctx);
    event_sched_in(cc, s, pmu, &err);
  }
  if (err != 0) {
    for (Event* s : leader->siblings) {
      assert_in(s, leader->ctx);
      event_sched_out(cc, s, pmu);
    }
    event_sched_out(cc, leader, pmu);
    return err;
  }
  if (leader->attr.exclusive) cpc.exclusive = true;
  return 0;
}

uint64_t interval_ns(PerfCore& core) {
  return static_cast<uint64_t>(std::max<int64_t>(core.rotation_interval().count(), 1));
}

// A context's time as of `now` (CLOCK_MONOTONIC ns, which steady_clock is), without
// updating it: a pass may have left it stale, and rotation is due by the real figure.
uint64_t live_time(const Context* ctx, uint64_t now) PCTX_REQUIRES(ctx->lock) {
  if (!(ctx->is_active & kEventTime) || ctx->time_frozen || now < ctx->timestamp) {
    return ctx->time;
  }
  return ctx->time + (now - ctx->timestamp);
}

// Context time left before a multiplexing PmuContext is due to rotate.
uint64_t time_to_rotation(const PmuContext* pc, uint64_t interval, uint64_t now)
    PCTX_REQUIRES(pc->ctx->lock) {
  const uint64_t since = live_time(pc->ctx, now) - pc->rotate_stamp;
  return since >= interval ? 0 : interval - since;
}

bool rotation_due(const PmuContext* pc, uint64_t interval, uint64_t now)
    PCTX_REQUIRES(pc->ctx->lock) {
  return pc != nullptr && pc->rotate_necessary && time_to_rotation(pc, interval, now) == 0;
}

cpu::CpuTimer& rotation_timer(CpuContext& cc, int pmu_index) {
  return *cc.rotation_timers[static_cast<size_t>(pmu_index)];
}

// Arms the timer for a PmuContext that needs rotation, unless it is armed to fire in
// time already: re-arming at every switch would cost a timer_settime each (invariant 10).
void arm_rotation(PerfCore& core, CpuContext& cc, const PmuContext* pc)
    PCTX_REQUIRES(pc->ctx->lock) {
  auto* thread = core.runtime().thread(cc.cpu);
  if (thread == nullptr) return;
  auto& timer = rotation_timer(cc, pc->pmu->index());
  // The pass's instant (CLOCK_MONOTONIC, as steady_clock): a multiplexing context's
  // sched-in reads no clock of its own to see that its timer is armed in time.
  const uint64_t now_ns = clock_ns();
  const Clock::time_point now{nanoseconds(now_ns)};
  const nanoseconds wait{std::max<uint64_t>(time_to_rotation(pc, interval_ns(core), now_ns),
                                            static_cast<uint64_t>(kMinRotationDelay.count()))};
  if (timer.armed() && timer.deadline() <= now + wait) return;
  thread->arm_timer(timer, wait);
}

// The end of a flexible walk of one PmuContext: a misfit starts (or continues)
// multiplexing; a walk that put every group on ends it.
void note_flexible_walk(PerfCore& core, CpuContext& cc, PmuContext* pc, bool misfit)
    PCTX_REQUIRES(pc->ctx->lock) {
  if (!misfit) {
    pc->multiplexing = false;
    return;
  }
  pc->rotate_necessary = true;
  if (!pc->multiplexing) {
    pc->multiplexing = true;
    pc->rotate_stamp = context_time(pc->ctx);
  }
  arm_rotation(core, cc, pc);
}

void sched_in_groups(PerfCore& core, CpuContext& cc, PmuContext* pc, bool pinned)
    PCTX_REQUIRES(cc.owner, pc->ctx->lock) {
  GroupTree& tree = pinned ? pc->ctx->pinned_groups : pc->ctx->flexible_groups;
  if (tree.empty()) {  // most contexts have no pinned groups
    if (!pinned) note_flexible_walk(core, cc, pc, false);
    return;
  }
  bool can_add_hw = true;
  bool misfit = false;
  GroupWalk walk(tree, cc.cpu, pc->pmu->index());
  while (Event* leader = walk.next()) {
    assert_in(leader, pc->ctx);
    if (leader->state != EventState::kInactive) continue;  // Off, Error, or already on
    if (group_can_go_on(cc, pc, leader, can_add_hw) && group_sched_in(cc, leader) == 0) {
      active_list_of(pc, pinned).push_back(*leader);
      continue;
    }
    // After the first group that does not fit, no later one of this PMU goes on.
    can_add_hw = false;
    if (pinned) {
      set_state(leader, EventState::kError);  // every pinned misfit goes to Error
      continue;
    }
    misfit = true;
    // So the walk can stop: the switch costs what the active groups cost, however many
    // flexible groups are installed (the scale suite of pctx bench measures it).
    break;
  }
  if (!pinned) note_flexible_walk(core, cc, pc, misfit);
}

void ctx_sched_in(PerfCore& core, CpuContext& cc, Context* ctx, uint8_t kind, const Pmu* pmu)
    PCTX_REQUIRES(cc.owner, ctx->lock) {
  if (ctx == nullptr || ctx->nr_events == 0) return;  // an empty context is never active
  const uint8_t before = ctx->is_active;
  if (!(before & kEventTime)) ctx->timestamp = clock_ns();  // the clock resumes from here
  ctx->is_active |= kind | kEventTime;
  // A kind that is on already stays as it is: a switch that keeps the CPU's flexible
  // groups does not walk them again (the kernel's changed bits).
  if (before & kind) return;
  for (auto& pc : ctx->pmu_contexts) {
    assert_in(&pc, ctx);
    if (pmu == nullptr || pc.pmu == pmu) sched_in_groups(core, cc, &pc, kind == kEventPinned);
  }
}

void pmu_ctx_flexible_out(CpuContext& cc, PmuContext* pc) PCTX_REQUIRES(cc.owner, pc->ctx->lock) {
  while (!pc->active_flexible.empty()) {
    Event* leader = &pc->active_flexible.front();
    assert_in(leader, pc->ctx);
    group_sched_out(cc, leader);
  }
}

// The first group of one CPU's run of a tree (cpu == -1 or cpu == this), or nullptr.
Event* first_in_run(GroupTree& tree, int cpu, int pmu) {
  auto it = tree.lower_bound(GroupKey{cpu, pmu, 0});
  return it != tree.end() && it->attr.cpu == cpu && it->attr.pmu->index() == pmu ? &*it : nullptr;
}

// The group a rotation sends to the back, picked as the kernel's ctx_event_to_rotate
// does: the first one on; else, for a CPU context, the first of its CPU's run, and for a
// task context the first of the any-CPU run, or of this CPU's when that is empty. It
// clears rotate_necessary, for the pass that follows to set again.
Event* event_to_rotate(CpuContext& cc, PmuContext* pc) PCTX_REQUIRES(pc->ctx->lock) {
  pc->rotate_necessary = false;
  if (!pc->active_flexible.empty()) return &pc->active_flexible.front();
  GroupTree& tree = pc->ctx->flexible_groups;
  const int pmu = pc->pmu->index();
  if (pc->ctx->task != nullptr) {
    if (Event* any = first_in_run(tree, -1, pmu)) return any;
  }
  return first_in_run(tree, cc.cpu, pmu);
}

void rotate_to_back(PmuContext* pc, Event* first, uint64_t interval, bool force)
    PCTX_REQUIRES(pc->ctx->lock) {
  GroupTree& tree = pc->ctx->flexible_groups;
  assert_in(first, pc->ctx);
  tree.erase(tree.iterator_to(*first));
  first->group_index = pc->ctx->next_group_index++;
  tree.insert(*first);
  // Once per interval of context time on average; a context far behind (the interval
  // shrank, or a forced rotation) starts afresh rather than rotating in a burst.
  const uint64_t now = context_time(pc->ctx);
  if (force || now - pc->rotate_stamp >= 2 * interval) {
    pc->rotate_stamp = now;
  } else {
    pc->rotate_stamp += interval;
  }
}

}  // namespace

void update_context_time(Context* ctx) {
  if (!(ctx->is_active & kEventTime) || ctx->time_frozen) return;  // frozen: one instant
  const uint64_t now = clock_ns();
  // A pass's instant may predate a handler's pass that ran between it being taken and
  // this pass (not on the switch path, which takes it with irqs off): time never runs back.
  if (now <= ctx->timestamp) return;
  ctx->time += now - ctx->timestamp;
  ctx->timestamp = now;
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
    for (Event* sib : e->siblings) {
      assert_in(sib, e->ctx);
      update_event_time(sib);
    }
  }
  e->set_state_only(s);
}

// As the kernel's ctx_time_freeze: the clock is brought up to date and then reads the same
// for the whole pass, so everything the pass does happens at one instant. The clock is not
// stopped: thawing leaves its timestamp alone, so the next update adds the frozen window
// back, to the groups that stayed on (those of other PMUs keep counting meanwhile) and to
// those taken off and put back alike.
bool freeze_time(Context* ctx) {
  if (ctx == nullptr || ctx->time_frozen) return false;
  update_context_time(ctx);
  ctx->time_frozen = true;
  return true;
}

void thaw_time(Context* ctx) {
  ctx->time_frozen = false;
  // A context that went inactive in the pass kept its clock running until now, so that
  // its stop and restart within the pass left no hole (see ctx_sched_out); it stops here.
  if (!(ctx->is_active & kEventAll)) ctx->is_active = 0;
}

PmuContext* find_pmu_context(Context* ctx, Pmu* pmu) {
  for (auto& pc : ctx->pmu_contexts) {
    if (pc.pmu == pmu) return &pc;
  }
  return nullptr;
}

void sched_in_all(PerfCore& core, CpuContext& cc, const Pmu* pmu) {
  if (!cc.online) return;
  ctx_sched_in(core, cc, cc.ctx, kEventPinned, pmu);
  ctx_sched_in(core, cc, cc.task_ctx, kEventPinned, pmu);
  ctx_sched_in(core, cc, cc.ctx, kEventFlexible, pmu);
  ctx_sched_in(core, cc, cc.task_ctx, kEventFlexible, pmu);
}

void ctx_sched_out(PerfCore&, CpuContext& cc, Context* ctx, uint8_t kinds, const Pmu* pmu) {
  if (ctx == nullptr || !(ctx->is_active & kEventAll)) return;
  update_context_time(ctx);
  const uint8_t leaving = ctx->is_active & kinds & kEventAll;
  ctx->is_active &= static_cast<uint8_t>(~kinds);
  if (!(ctx->is_active & kEventAll)) {
    // The clock stops, unless frozen: then it stops at the thaw if nothing came back on.
    ctx->is_active = ctx->time_frozen ? (ctx->is_active & kEventTime) : 0;
  }
  for (auto& pc : ctx->pmu_contexts) {
    if (pmu != nullptr && pc.pmu != pmu) continue;
    assert_in(&pc, ctx);
    if (leaving & kEventFlexible) {
      pmu_ctx_flexible_out(cc, &pc);
      pc.rotate_necessary = false;  // the next pass sets it again
    }
    if (leaving & kEventPinned) {
      while (!pc.active_pinned.empty()) {
        Event* leader = &pc.active_pinned.front();
        assert_in(leader, ctx);
        group_sched_out(cc, leader);
      }
    }
  }
}

void resched(PerfCore& core, CpuContext& cc, Context* ctx, const Event* leader) {
  const Pmu* pmu = leader->attr.pmu;
  const bool pinned = leader->attr.pinned;
  const uint8_t kinds = pinned ? kEventAll : kEventFlexible;
  ctx_sched_out(core, cc, cc.task_ctx, kinds, pmu);
  if (ctx == cc.ctx) {
    ctx_sched_out(core, cc, cc.ctx, kinds, pmu);
  } else if (pinned) {
    ctx_sched_out(core, cc, cc.ctx, kEventFlexible, pmu);
  }
  sched_in_all(core, cc, pmu);
}

void group_sched_out(CpuContext& cc, Event* leader) {
  const Pmu* pmu = leader->attr.pmu;
  for (Event* s : leader->siblings) {
    assert_in(s, leader->ctx);
    event_sched_out(cc, s, pmu);
  }
  event_sched_out(cc, leader, pmu);
  if (leader->active_hook.is_linked()) {
    assert_in(leader->pmu_ctx, leader->ctx);
    auto& list = active_list_of(leader->pmu_ctx, leader->attr.pinned);
    list.erase(list.iterator_to(*leader));
  }
  if (leader->attr.exclusive) cpc_of(cc, pmu).exclusive = false;
}

void sibling_sched_out(CpuContext& cc, Event* sibling) {
  event_sched_out(cc, sibling, sibling->leader->attr.pmu);
}

namespace {

// One member of a group joins ctx (and its PmuContext pc) at context time `now`.
void link_event(Context* ctx, PmuContext* pc, Event* e, uint64_t now)
    PCTX_REQUIRES(ctx->mutex, ctx->lock, pc->ctx->lock) {
  e->ctx = ctx;
  e->pmu_ctx = pc;
  assert_in(e, ctx);
  e->tstamp = now;
  ctx->events.push_back(*e);
  ctx->add_events(1);
  ++pc->nr_events;
}

// One member of a group leaves ctx.
void unlink_event(Context* ctx, Event* e) PCTX_REQUIRES(ctx->mutex, ctx->lock) {
  assert_in(e, ctx);
  assert_in(e->pmu_ctx, ctx);
  update_event_time(e);
  ctx->events.erase(ctx->events.iterator_to(*e));
  ctx->add_events(-1);
  --e->pmu_ctx->nr_events;
}

}  // namespace

// The context's clock is not brought up to date here: on its CPU the pass has frozen it at
// the pass's instant, an inactive context's does not run, and install's no-call path (an
// Off group, from any thread) must not write the clock of a context active elsewhere, which
// a read in place on that CPU looks at without the lock. An Off group's timestamp matters
// only from its enable, which sets it again.
void add_group_to_ctx(Context* ctx, Event* leader) {
  PmuContext* pc = find_pmu_context(ctx, leader->attr.pmu);
  assert_in(pc, ctx);
  const uint64_t now = context_time(ctx);
  link_event(ctx, pc, leader, now);
  for (Event* s : leader->siblings) link_event(ctx, pc, s, now);
  assert_in(leader, ctx);
  leader->group_index = ctx->next_group_index++;
  (leader->attr.pinned ? ctx->pinned_groups : ctx->flexible_groups).insert(*leader);
}

void remove_group_from_ctx(PerfCore& core, CpuContext* cc, Context* ctx, Event* leader) {
  assert_in(leader, ctx);
  PmuContext* pc = leader->pmu_ctx;
  assert_in(pc, ctx);
  update_context_time(ctx);
  // Off its CPU (cc nullptr) the context is off, so the group is: nothing links it there.
  assert(cc != nullptr || !leader->active_hook.is_linked());
  if (cc != nullptr && is_active(leader)) group_sched_out(*cc, leader);
  for (Event* s : leader->siblings) unlink_event(ctx, s);
  unlink_event(ctx, leader);
  auto& tree = leader->attr.pinned ? ctx->pinned_groups : ctx->flexible_groups;
  tree.erase(tree.iterator_to(*leader));
  if (pc->nr_events == 0) {
    pc->rotate_necessary = false;
    pc->multiplexing = false;
  }
  if (ctx->nr_events == 0 && cc != nullptr) {
    ctx_sched_out(core, *cc, ctx, kEventAll);  // invariant 5: an empty context is inactive
    if (cc->task_ctx == ctx) cc->task_ctx = nullptr;
  }
  for (Event* s : leader->siblings) {
    s->ctx = nullptr;
    s->pmu_ctx = nullptr;
  }
  leader->ctx = nullptr;
  leader->pmu_ctx = nullptr;
}

void rearm_rotation(PerfCore& core, CpuContext& cc, int pmu_index) {
  rearm_rotation_at(core, cc, pmu_index, clock_ns());
}

namespace {

// The context time left before ctx's PmuContext of `pmu` is due to rotate; UINT64_MAX
// when it needs no rotation (or there is none).
uint64_t rotation_wait(Context* ctx, Pmu* pmu, uint64_t interval, uint64_t now)
    PCTX_REQUIRES(ctx->lock) {
  PmuContext* pc = ctx != nullptr ? find_pmu_context(ctx, pmu) : nullptr;
  assert_in(pc, ctx);
  if (pc == nullptr || !pc->rotate_necessary) return UINT64_MAX;
  return time_to_rotation(pc, interval, now);
}

bool wants_rotation(const PmuContext* pc, bool force, uint64_t interval, uint64_t now)
    PCTX_REQUIRES(pc->ctx->lock) {
  return pc != nullptr && pc->rotate_necessary && (force || rotation_due(pc, interval, now));
}

}  // namespace

void rearm_rotation_at(PerfCore& core, CpuContext& cc, int pmu_index, uint64_t now) {
  auto* thread = core.runtime().thread(cc.cpu);
  if (thread == nullptr) return;
  Pmu* pmu = core.pmus()[static_cast<size_t>(pmu_index)];
  const uint64_t interval = interval_ns(core);
  uint64_t wait = std::min(rotation_wait(cc.ctx, pmu, interval, now),
                           rotation_wait(cc.task_ctx, pmu, interval, now));
  auto& timer = rotation_timer(cc, pmu_index);
  if (wait == UINT64_MAX) {
    thread->cancel_timer(timer);  // nothing to multiplex here now
    return;
  }
  wait = std::max<uint64_t>(wait, static_cast<uint64_t>(kMinRotationDelay.count()));
  thread->arm_timer(timer, nanoseconds(wait));
}

void rotate_pmu(PerfCore& core, CpuContext& cc, int pmu_index, bool force) {
  Pmu* pmu = core.pmus()[static_cast<size_t>(pmu_index)];
  PmuContext* cpu_pc = cc.ctx != nullptr ? find_pmu_context(cc.ctx, pmu) : nullptr;
  PmuContext* task_pc = cc.task_ctx != nullptr ? find_pmu_context(cc.task_ctx, pmu) : nullptr;
  assert_in(cpu_pc, cc.ctx);
  assert_in(task_pc, cc.task_ctx);
  const uint64_t interval = interval_ns(core);
  const uint64_t now = clock_ns();
  const bool cpu_rotate = wants_rotation(cpu_pc, force, interval, now);
  const bool task_rotate = wants_rotation(task_pc, force, interval, now);
  if (cpu_rotate || task_rotate) {
    core.stats().rotations.fetch_add(1, std::memory_order_relaxed);
    Event* task_first = task_rotate ? event_to_rotate(cc, task_pc) : nullptr;
    Event* cpu_first = cpu_rotate ? event_to_rotate(cc, cpu_pc) : nullptr;
    // The kernel's order: the task's flexible groups leave first (also when only the
    // CPU's rotate, so that the CPU's keep their priority), the CPU's only when they
    // rotate.
    const bool task_out = task_first != nullptr || (task_pc != nullptr && cpu_first != nullptr);
    if (task_out) pmu_ctx_flexible_out(cc, task_pc);
    if (cpu_first != nullptr) {
      pmu_ctx_flexible_out(cc, cpu_pc);
      rotate_to_back(cpu_pc, cpu_first, interval, force);
      if (cc.ctx->is_active & kEventFlexible) sched_in_groups(core, cc, cpu_pc, false);
    }
    if (task_first != nullptr) rotate_to_back(task_pc, task_first, interval, force);
    if (task_out && (cc.task_ctx->is_active & kEventFlexible)) {
      sched_in_groups(core, cc, task_pc, false);
    }
  }
  // Context times do not move within the pass, so the due check's clock serves here too.
  rearm_rotation_at(core, cc, pmu_index, now);
}

// Before a task's groups go on: each of its PMU contexts that multiplexed when it last
// ran, and whose context time since its last rotation reached the interval, sends its
// first group that may go on to the back, so the walk that follows starts from the next
// one. Deciding before the walk costs no extra add and del.
void rotate_due_at_sched_in(PerfCore& core, CpuContext& cc, Context* ctx) {
  const uint64_t interval = interval_ns(core);
  for (auto& pc : ctx->pmu_contexts) {
    assert_in(&pc, ctx);
    if (!pc.multiplexing || time_to_rotation(&pc, interval, 0) != 0) continue;
    Event* first = nullptr;
    GroupWalk walk(ctx->flexible_groups, cc.cpu, pc.pmu->index());
    while (Event* e = walk.next()) {
      assert_in(e, ctx);
      if (e->state != EventState::kInactive) continue;
      first = e;
      break;
    }
    if (first == nullptr) continue;
    core.stats().rotations.fetch_add(1, std::memory_order_relaxed);
    rotate_to_back(&pc, first, interval, false);
  }
}

void read_active(Event* e) {
  if (e->state == EventState::kActive) e->attr.pmu->read(*e);
}

}  // namespace pctx::core::internal
