#include "pctx/core/event_set.hpp"
#include "pctx/base/errno_text.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "pctx/pmu/spec.hpp"

namespace pctx::core {

namespace {

base::Status status_of(int rc, std::string_view what, std::string_view name) {
  if (rc == 0) return base::Ok{};
  return base::make_error(rc, fmt::format("cannot {} '{}': {}", what, name, base::errno_text(-rc)));
}

}  // namespace

base::Result<EventSet> EventSet::create(PerfCore& core, PmuRegistry& pmus, std::string_view spec,
                                        const EventSetOptions& options) {
  auto parsed = pmu::parse_spec(spec);
  if (!parsed) return parsed.error();
  // Resolve and bind every event first, so a typo late in the spec creates nothing.
  std::vector<std::vector<std::pair<pmu::ResolvedEvent, PmuRegistry::Binding>>> bound;
  for (const auto& g : parsed->groups) {
    auto& group = bound.emplace_back();
    for (const auto& term : g.events) {
      auto r = pmu::resolve_event(term);
      if (!r) return r.error();
      auto b = pmus.bind(core, *r);
      if (!b) return b.error();
      group.emplace_back(std::move(*r), *b);
    }
  }
  EventSet set;
  set.core_ = &core;
  for (size_t gi = 0; gi < bound.size(); ++gi) {
    Event* leader = nullptr;
    for (auto& [resolved, binding] : bound[gi]) {
      EventAttr attr;
      attr.pmu = binding.pmu;
      attr.config = binding.config;
      attr.cpu = options.cpu;
      attr.pinned = options.pinned && leader == nullptr;
      attr.disabled = options.disabled && leader == nullptr;
      auto e = core.create_event(attr, leader);
      if (!e) {
        const auto& g = parsed->groups[gi];
        std::string text;
        for (const auto& t : g.events) text += (text.empty() ? "" : ",") + t.text;
        return base::make_error(
            e.error().code,
            fmt::format("'{}' in {}: {}", resolved.encoded.text,
                        g.braced ? "{" + text + "}" : "'" + text + "'", e.error().message));
      }
      Member m;
      m.event = *e;
      m.info.name = resolved.encoded.text;
      m.info.canonical = resolved.name;
      m.info.unit = resolved.unit;
      m.info.scale = resolved.scale;
      m.info.source = resolved.source;
      m.info.group = gi;
      m.info.leader = leader == nullptr;
      if (leader == nullptr) {
        leader = *e;
        set.leaders_.push_back(set.members_.size());
      }
      set.members_.push_back(std::move(m));
    }
  }
  return set;
}

EventSet::EventSet(EventSet&& other) noexcept {
  *this = std::move(other);
}

EventSet& EventSet::operator=(EventSet&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::exchange(other.core_, nullptr);
    members_ = std::move(other.members_);
    leaders_ = std::move(other.leaders_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    task_ctx_ = std::move(other.task_ctx_);
    other.members_.clear();
    other.leaders_.clear();
  }
  return *this;
}

EventSet::~EventSet() {
  release();
}

void EventSet::release() {
  remove();
  for (size_t li : leaders_) put_event(members_[li].event);  // releases the siblings too
  members_.clear();
  leaders_.clear();
}

base::Status EventSet::install(Context* ctx) {
  if (ctx_ != nullptr) return base::make_error(-EBUSY, "the event set is installed already");
  if (ctx == nullptr)
    return base::make_error(-EINVAL, "no context (a CPU the core does not manage?)");
  for (size_t n = 0; n < leaders_.size(); ++n) {
    const Member& m = members_[leaders_[n]];
    if (int rc = core_->install(ctx, m.event); rc != 0) {
      for (size_t k = 0; k < n; ++k) core_->remove(members_[leaders_[k]].event);
      std::string why = rc == -ESRCH ? "the task has exited" : base::errno_text(-rc);
      return base::make_error(rc, fmt::format("cannot install '{}': {}", m.info.name, why));
    }
  }
  ctx_ = ctx;
  return base::Ok{};
}

base::Status EventSet::install(Task& task) {
  auto ctx = core_->task_context(task);
  if (!ctx) return ctx.error();
  if (auto st = install(ctx->get()); !st) return st;
  task_ctx_ = std::move(*ctx);
  return base::Ok{};
}

void EventSet::remove() {
  if (ctx_ == nullptr) return;
  // -ENOENT for a group that is not in the context (an install failed halfway) is fine.
  for (size_t li : leaders_) (void)core_->remove(members_[li].event);
  ctx_ = nullptr;
  task_ctx_ = ContextRef();
}

std::optional<size_t> EventSet::find(std::string_view name) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].info.name == name) return i;
  }
  for (size_t i = 0; i < members_.size(); ++i) {
    if (members_[i].info.canonical == name) return i;
  }
  return std::nullopt;
}

Reading EventSet::read(size_t i) {
  return core_->read(members_.at(i).event);
}

base::Result<Reading> EventSet::read(std::string_view name) {
  auto i = find(name);
  if (!i) {
    std::string names;
    for (const auto& m : members_) names += (names.empty() ? "" : ", ") + m.info.name;
    return base::make_error(-ENOENT,
                            fmt::format("the event set has no event '{}'; it has {}", name, names));
  }
  return read(*i);
}

GroupReading EventSet::read_group(size_t g) {
  return core_->read_group(members_[leaders_.at(g)].event);
}

base::Status EventSet::each_leader(int (PerfCore::*op)(Event*), std::string_view what) {
  for (size_t li : leaders_) {
    const Member& m = members_[li];
    if (auto st = status_of((core_->*op)(m.event), what, m.info.name); !st) return st;
  }
  return base::Ok{};
}

base::Status EventSet::enable() {
  return each_leader(&PerfCore::enable, "enable");
}

base::Status EventSet::disable() {
  return each_leader(&PerfCore::disable, "disable");
}

base::Status EventSet::reset() {
  for (const auto& m : members_) {
    if (auto st = status_of(core_->reset(m.event), "reset", m.info.name); !st) return st;
  }
  return base::Ok{};
}

}  // namespace pctx::core
