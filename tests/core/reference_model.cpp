#include "core/reference_model.hpp"

#include <algorithm>
#include <cerrno>

namespace pctx::model {

const char* name(State s) {
  switch (s) {
    case State::kError:
      return "error";
    case State::kOff:
      return "off";
    case State::kInactive:
      return "inactive";
    case State::kActive:
      return "active";
  }
  return "?";
}

Model::Model(int cpu, int counters, int tasks)
    : cpu_(cpu), counters_(counters), ctxs_(static_cast<size_t>(tasks) + 1) {}

bool Model::installed(int g) const {
  return static_cast<size_t>(g) < groups_.size() && groups_[static_cast<size_t>(g)].installed;
}

State Model::state(int g, int m) const {
  return groups_[static_cast<size_t>(g)].members[static_cast<size_t>(m)].state;
}

bool Model::on_this_cpu(int ctx) const {
  return ctx == 0 || ctx == current_;
}

int Model::groups_of(int ctx, int pmu) const {
  int n = 0;
  for (const Group& g : groups_) n += g.installed && g.ctx == ctx && g.pmu == pmu ? 1 : 0;
  return n;
}

// The groups this CPU may schedule from one tree, in tree order.
std::vector<int> Model::tree(int ctx, int pmu, bool pinned) const {
  std::vector<int> out;
  for (size_t i = 0; i < groups_.size(); ++i) {
    const Group& g = groups_[i];
    if (g.installed && g.ctx == ctx && g.pmu == pmu && g.pinned == pinned &&
        (g.cpu == -1 || g.cpu == cpu_)) {
      out.push_back(static_cast<int>(i));
    }
  }
  std::sort(out.begin(), out.end(), [&](int a, int b) {
    return groups_[static_cast<size_t>(a)].order < groups_[static_cast<size_t>(b)].order;
  });
  return out;
}

void Model::sched_out_group(int gi) {
  Group& g = groups_[static_cast<size_t>(gi)];
  for (Member& m : g.members) {
    if (m.state != State::kActive) continue;
    m.state = State::kInactive;
    if (g.pmu == kCounting && m.counting) --used_;
  }
  Ctx& c = ctxs_[static_cast<size_t>(g.ctx)];
  for (auto* list : {&c.on_pinned[g.pmu], &c.on_flexible[g.pmu]}) {
    list->erase(std::remove(list->begin(), list->end(), gi), list->end());
  }
  if (g.exclusive) exclusive_on_[g.pmu] = false;
}

void Model::flexible_out(int ctx, int pmu) {
  auto& list = ctxs_[static_cast<size_t>(ctx)].on_flexible[pmu];
  while (!list.empty()) sched_out_group(list.front());
}

void Model::ctx_out(int ctx, uint8_t kinds, int pmu) {
  if (ctx < 0) return;
  Ctx& c = ctxs_[static_cast<size_t>(ctx)];
  if (!(c.active & kAll)) return;
  const uint8_t leaving = c.active & kinds;
  c.active &= static_cast<uint8_t>(~kinds);
  for (int p = 0; p < 2; ++p) {
    if (pmu >= 0 && p != pmu) continue;
    if (leaving & kFlexible) {
      flexible_out(ctx, p);
      c.rotate_necessary[p] = false;
    }
    if (leaving & kPinned) {
      while (!c.on_pinned[p].empty()) sched_out_group(c.on_pinned[p].front());
    }
  }
}

// All or nothing, within the free counters; members that are off stay off.
bool Model::group_in(int gi) {
  Group& g = groups_[static_cast<size_t>(gi)];
  if (g.pmu == kCounting) {
    int need = 0;
    for (const Member& m : g.members) need += m.counting && m.state == State::kInactive ? 1 : 0;
    if (used_ + need > counters_) return false;
    used_ += need;
  }
  for (Member& m : g.members) {
    if (m.state == State::kInactive) m.state = State::kActive;
  }
  if (g.exclusive) exclusive_on_[g.pmu] = true;
  return true;
}

// merge_sched_in over one tree: all or nothing per group; after the first misfit nothing
// more of the PMU goes on; a pinned misfit goes to Error, a flexible one asks for rotation.
// group_can_go_on: software always; nothing beside an exclusive group; an exclusive group
// only while its own context has no group of the same kind on (5.11).
void Model::walk(int ctx, int pmu, bool pinned) {
  Ctx& c = ctxs_[static_cast<size_t>(ctx)];
  bool can_add = true;
  for (int gi : tree(ctx, pmu, pinned)) {
    Group& g = groups_[static_cast<size_t>(gi)];
    if (g.members[0].state != State::kInactive) continue;
    bool fits = true;
    if (pmu == kCounting) {
      auto& same_kind = pinned ? c.on_pinned[pmu] : c.on_flexible[pmu];
      if (exclusive_on_[pmu] || (g.exclusive && !same_kind.empty())) {
        fits = false;
      } else {
        fits = can_add;
      }
    }
    if (fits && group_in(gi)) {
      (pinned ? c.on_pinned[pmu] : c.on_flexible[pmu]).push_back(gi);
      continue;
    }
    can_add = false;
    if (pinned) {
      g.members[0].state = State::kError;
      continue;
    }
    c.rotate_necessary[pmu] = true;
    return;
  }
}

void Model::ctx_in(int ctx, uint8_t kind, int pmu) {
  if (ctx < 0) return;
  Ctx& c = ctxs_[static_cast<size_t>(ctx)];
  if (c.nr_events == 0) return;
  const uint8_t before = c.active;
  c.active |= kind;
  if (before & kind) return;
  for (int p = 0; p < 2; ++p) {
    if (pmu < 0 || p == pmu) walk(ctx, p, kind == kPinned);
  }
}

void Model::all_in(int pmu) {
  ctx_in(0, kPinned, pmu);
  ctx_in(task_ctx_, kPinned, pmu);
  ctx_in(0, kFlexible, pmu);
  ctx_in(task_ctx_, kFlexible, pmu);
}

void Model::resched(int ctx, int gi) {
  const Group& g = groups_[static_cast<size_t>(gi)];
  const uint8_t kinds = g.pinned ? kAll : kFlexible;
  ctx_out(task_ctx_, kinds, g.pmu);
  if (ctx == 0) {
    ctx_out(0, kinds, g.pmu);
  } else if (g.pinned) {
    ctx_out(0, kFlexible, g.pmu);
  }
  all_in(g.pmu);
}

int Model::install(int gi, const GroupSpec& spec) {
  if (spec.ctx == 0 && spec.cpu != -1 && spec.cpu != cpu_) return -EINVAL;
  if (static_cast<size_t>(gi) >= groups_.size()) groups_.resize(static_cast<size_t>(gi) + 1);
  Group& g = groups_[static_cast<size_t>(gi)];
  g.installed = true;
  g.ctx = spec.ctx;
  g.pmu = spec.counting ? kCounting : kSoftware;
  g.pinned = spec.pinned;
  g.exclusive = spec.exclusive;
  g.cpu = spec.ctx == 0 ? cpu_ : spec.cpu;
  g.order = next_order_++;
  g.members.clear();
  g.members.push_back({spec.counting, spec.disabled ? State::kOff : State::kInactive});
  for (const MemberSpec& m : spec.siblings) {
    g.members.push_back({m.counting, m.disabled ? State::kOff : State::kInactive});
  }
  Ctx& c = ctxs_[static_cast<size_t>(spec.ctx)];
  // pctx's departure (docs/core.md): a disabled group joining a context that has events
  // is linked without the reschedule the kernel's install does.
  const bool fast = spec.disabled && c.nr_events > 0;
  c.nr_events += static_cast<int>(g.members.size());
  if (fast || !on_this_cpu(spec.ctx)) return 0;
  // A task that came in with no events has no context scheduled; the call that reaches
  // its CPU schedules it (as the kernel's install does through ctx_sched_in).
  if (spec.ctx != 0 && task_ctx_ < 0) task_ctx_ = spec.ctx;
  resched(spec.ctx, gi);
  return 0;
}

// pctx's departure: the whole group leaves (the kernel promotes the siblings of a closed
// leader to groups of their own). As in the kernel, nothing is rescheduled.
void Model::remove(int gi) {
  Group& g = groups_[static_cast<size_t>(gi)];
  const int ctx = g.ctx;
  Ctx& c = ctxs_[static_cast<size_t>(ctx)];
  const bool here = on_this_cpu(ctx);
  if (here && ctx != 0 && task_ctx_ < 0) task_ctx_ = ctx;
  if (here && g.members[0].state == State::kActive) sched_out_group(gi);
  g.installed = false;
  c.nr_events -= static_cast<int>(g.members.size());
  if (groups_of(ctx, g.pmu) == 0) c.rotate_necessary[g.pmu] = false;
  if (c.nr_events == 0 && here) {
    ctx_out(ctx, kAll, -1);
    c.active = 0;
    if (task_ctx_ == ctx) task_ctx_ = -1;
  }
}

// __perf_event_enable: Off or Error becomes Inactive; where the context is on, the filter
// matches, and (for a sibling) the group is on, the group's PMU is rescheduled.
void Model::enable(int gi, int mi) {
  Group& g = groups_[static_cast<size_t>(gi)];
  Member& m = g.members[static_cast<size_t>(mi)];
  if (m.state == State::kInactive || m.state == State::kActive) return;
  m.state = State::kInactive;
  if (!on_this_cpu(g.ctx)) return;
  if (g.ctx != 0 && task_ctx_ < 0) task_ctx_ = g.ctx;
  if (!(ctxs_[static_cast<size_t>(g.ctx)].active & kAll)) return;
  if (g.cpu != -1 && g.cpu != cpu_) return;
  if (mi != 0 && g.members[0].state != State::kActive) return;
  resched(g.ctx, gi);
}

// __perf_event_disable: the group (or the one sibling) comes off and goes Off; nothing is
// rescheduled.
void Model::disable(int gi, int mi) {
  Group& g = groups_[static_cast<size_t>(gi)];
  Member& m = g.members[static_cast<size_t>(mi)];
  if (m.state == State::kOff || m.state == State::kError) return;
  if (on_this_cpu(g.ctx) && g.ctx != 0 && task_ctx_ < 0) task_ctx_ = g.ctx;
  if (m.state == State::kActive) {
    if (mi == 0) {
      sched_out_group(gi);
    } else {
      m.state = State::kInactive;
      if (g.pmu == kCounting && m.counting) --used_;
    }
  }
  m.state = State::kOff;
}

// perf_event_task_sched_out, then perf_event_context_sched_in: the CPU's flexible groups
// make way only for a task with pinned groups.
void Model::switch_to(int task) {
  if (task_ctx_ >= 0) {
    ctx_out(task_ctx_, kAll, -1);
    task_ctx_ = -1;
  }
  current_ = task;
  if (task == 0) return;
  const Ctx& c = ctxs_[static_cast<size_t>(task)];
  if (c.nr_events == 0) return;
  task_ctx_ = task;
  bool has_pinned = false;
  for (const Group& g : groups_) has_pinned |= g.installed && g.ctx == task && g.pinned;
  if (has_pinned) ctx_out(0, kFlexible, -1);
  all_in(-1);
}

// ctx_event_to_rotate: the first flexible group on; else, in a task's context, the oldest
// group filtered to no CPU, or to this CPU when there is none; in the CPU's context, the
// oldest of its own. It clears rotate_necessary for the following walk to set again.
int Model::first_to_rotate(int ctx, int pmu) {
  Ctx& c = ctxs_[static_cast<size_t>(ctx)];
  c.rotate_necessary[pmu] = false;
  if (!c.on_flexible[pmu].empty()) return c.on_flexible[pmu].front();
  auto oldest_on = [&](int cpu) {
    int best = -1;
    for (int g : tree(ctx, pmu, false)) {
      const Group& grp = groups_[static_cast<size_t>(g)];
      if (grp.cpu == cpu && (best < 0 || grp.order < groups_[static_cast<size_t>(best)].order)) {
        best = g;
      }
    }
    return best;
  };
  if (ctx != 0) {
    if (const int any = oldest_on(-1); any >= 0) return any;
  }
  return oldest_on(cpu_);
}

// perf_rotate_context, for each PMU: the task's flexible groups come off (also when only
// the CPU's rotate), the CPU's only when they rotate; the CPU's go on again first.
void Model::rotate() {
  for (int p = 0; p < 2; ++p) {
    const bool task_has = task_ctx_ >= 0 && groups_of(task_ctx_, p) > 0;
    const bool cpu_rotate = groups_of(0, p) > 0 && ctxs_[0].rotate_necessary[p];
    const bool task_rotate = task_has && ctxs_[static_cast<size_t>(task_ctx_)].rotate_necessary[p];
    if (!cpu_rotate && !task_rotate) continue;
    const int task_first = task_rotate ? first_to_rotate(task_ctx_, p) : -1;
    const int cpu_first = cpu_rotate ? first_to_rotate(0, p) : -1;
    const bool task_out = task_first >= 0 || (task_has && cpu_first >= 0);
    if (task_out) flexible_out(task_ctx_, p);
    if (cpu_first >= 0) {
      flexible_out(0, p);
      groups_[static_cast<size_t>(cpu_first)].order = next_order_++;
      if (ctxs_[0].active & kFlexible) walk(0, p, false);
    }
    if (task_first >= 0) groups_[static_cast<size_t>(task_first)].order = next_order_++;
    if (task_out && (ctxs_[static_cast<size_t>(task_ctx_)].active & kFlexible)) {
      walk(task_ctx_, p, false);
    }
  }
}

}  // namespace pctx::model
