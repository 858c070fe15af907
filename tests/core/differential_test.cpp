// The real core against the reference model (reference_model.hpp): the same random
// operations on one CPU with 4 counters (CPU context, three tasks; pinned, flexible,
// exclusive, CPU filters, disabled leaders and siblings, enable, disable, remove, task
// switches, rotation), the Active set and every state compared after every step.
//
// PCTX_SEED fixes the first seed, PCTX_MODEL_STEPS the number of steps (100,000 by
// default, over 5 seeds). A failure prints the shortest step list found that still fails.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/core_fixture.hpp"
#include "core/reference_model.hpp"

namespace pctx::core {
namespace {

using namespace std::chrono_literals;
using model::GroupSpec;
using model::MemberSpec;
using model::Model;

constexpr int kTasks = 3;
constexpr int kEpisode = 250;  // steps between clean states: a failure replays one episode

struct Op {
  enum Kind { kInstall, kRemove, kEnable, kDisable, kSwitch, kRotate } kind = kRotate;
  int group = -1;
  int member = 0;
  int task = 0;
  GroupSpec spec;
};

std::string describe(const Op& op) {
  switch (op.kind) {
    case Op::kInstall: {
      std::string members;
      for (const MemberSpec& m : op.spec.siblings) {
        members += fmt::format(",{}{}", m.counting ? "tsc" : "soft", m.disabled ? ":off" : "");
      }
      return fmt::format("install g{} into {} {{{}{}{}}}{}{} cpu={}", op.group,
                         op.spec.ctx == 0 ? "cpu" : fmt::format("task{}", op.spec.ctx),
                         op.spec.counting ? "tsc" : "soft", op.spec.disabled ? ":off" : "", members,
                         op.spec.pinned ? " pinned" : "", op.spec.exclusive ? " exclusive" : "",
                         op.spec.cpu);
    }
    case Op::kRemove:
      return fmt::format("remove g{}", op.group);
    case Op::kEnable:
      return fmt::format("enable g{}.{}", op.group, op.member);
    case Op::kDisable:
      return fmt::format("disable g{}.{}", op.group, op.member);
    case Op::kSwitch:
      return op.task == 0 ? "switch to no task" : fmt::format("switch to task{}", op.task);
    case Op::kRotate:
      return "rotate";
  }
  return "?";
}

model::State to_model(EventState s, bool* ok) {
  switch (s) {
    case EventState::kError:
      return model::State::kError;
    case EventState::kOff:
      return model::State::kOff;
    case EventState::kInactive:
      return model::State::kInactive;
    case EventState::kActive:
      return model::State::kActive;
    default:
      *ok = false;
      return model::State::kOff;
  }
}

class DifferentialTest : public testing::CoreTest {
 protected:
  void SetUp() override {
    CoreTest::SetUp();
    core_->set_rotation_interval(1h);  // rotations are the test's own operations
    for (int i = 0; i < kTasks; ++i) {
      tasks_[i] = &new_task();
      ctxs_[i + 1] = task_ctx(*tasks_[i]);
    }
    ctxs_[0] = core_->cpu_context(cpu_);
  }

  // Runs one episode from a clean core; returns "" or what differed, at which step.
  std::string run(std::vector<Op>& ops, bool generate, std::mt19937_64* rng) {
    Model m(cpu_, tsc_.counters(), kTasks);
    std::vector<Event*> groups;  // by group number; nullptr once removed
    int current = 0;
    std::string failure;
    const size_t steps = generate ? kEpisode : ops.size();
    for (size_t i = 0; i < steps && failure.empty(); ++i) {
      if (generate) ops.push_back(next_op(*rng, groups));
      const Op& op = ops[i];
      if (!valid(op, groups)) continue;
      ++applied_;
      failure = apply(op, m, groups, current);
      if (failure.empty()) failure = compare(m, groups);
      if (failure.empty() && i % 32 == 31) failure = core_->check_invariants(task_contexts_);
      if (!failure.empty()) failure = fmt::format("step {} ({}): {}", i, describe(op), failure);
    }
    cleanup(groups, current);
    return failure;
  }

  static bool valid(const Op& op, const std::vector<Event*>& groups) {
    if (op.kind == Op::kInstall) return static_cast<size_t>(op.group) >= groups.size();
    if (op.kind == Op::kSwitch || op.kind == Op::kRotate) return true;
    if (op.group < 0 || static_cast<size_t>(op.group) >= groups.size()) return false;
    const Event* leader = groups[static_cast<size_t>(op.group)];
    return leader != nullptr && op.member <= static_cast<int>(leader->siblings.size());
  }

  Op next_op(std::mt19937_64& rng, const std::vector<Event*>& groups) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
    std::vector<int> live;
    for (size_t g = 0; g < groups.size(); ++g) {
      if (groups[g] != nullptr) live.push_back(static_cast<int>(g));
    }
    Op op;
    const int roll = pick(100);
    if (live.empty() || (roll < 28 && live.size() < 14)) {
      op.kind = Op::kInstall;
      op.group = static_cast<int>(groups.size());
      GroupSpec& s = op.spec;
      s.ctx = pick(kTasks + 1);
      s.counting = pick(100) < 85;
      s.pinned = pick(100) < 25;
      s.exclusive = pick(100) < 15;
      const int where = pick(100);
      s.cpu = where < 70 ? -1 : where < 90 ? cpu_ : other_;
      s.disabled = pick(100) < 20;
      const int size = 1 + pick(3);
      for (int k = 1; k < size; ++k) {
        s.siblings.push_back({s.counting && pick(100) < 80, pick(100) < 15});
      }
      return op;
    }
    if (roll < 60) {
      op.kind = roll < 44 ? Op::kEnable : Op::kDisable;
      op.group = live[static_cast<size_t>(pick(static_cast<int>(live.size())))];
      const int size = static_cast<int>(groups[static_cast<size_t>(op.group)]->siblings.size()) + 1;
      op.member = pick(100) < 60 ? 0 : pick(size);
      return op;
    }
    if (roll < 70) {
      op.kind = Op::kRemove;
      op.group = live[static_cast<size_t>(pick(static_cast<int>(live.size())))];
      return op;
    }
    if (roll < 88) {
      op.kind = Op::kSwitch;
      op.task = pick(kTasks + 1);
      return op;
    }
    op.kind = Op::kRotate;
    return op;
  }

  Event* member(Event* leader, int i) {
    return i == 0 ? leader : leader->siblings[static_cast<size_t>(i - 1)];
  }

  std::string apply(const Op& op, Model& m, std::vector<Event*>& groups, int& current) {
    switch (op.kind) {
      case Op::kInstall: {
        groups.resize(static_cast<size_t>(op.group) + 1, nullptr);
        EventAttr attr;
        attr.pmu = op.spec.counting ? static_cast<Pmu*>(&tsc_) : &soft_;
        attr.pinned = op.spec.pinned;
        attr.exclusive = op.spec.exclusive;
        attr.cpu = op.spec.cpu;
        attr.disabled = op.spec.disabled;
        auto leader = core_->create_event(attr);
        if (!leader) return "create_event: " + leader.error().message;
        for (const MemberSpec& s : op.spec.siblings) {
          EventAttr sib;
          sib.pmu = s.counting ? static_cast<Pmu*>(&tsc_) : &soft_;
          sib.cpu = op.spec.cpu;
          sib.disabled = s.disabled;
          auto e = core_->create_event(sib, *leader);
          if (!e) return "create_event: " + e.error().message;
        }
        const int got = core_->install(ctxs_[op.spec.ctx], *leader);
        const int want = m.install(op.group, op.spec);
        if (got != 0) {
          (*leader)->put();
        } else {
          groups[static_cast<size_t>(op.group)] = *leader;
        }
        if (got != want) return fmt::format("install returned {}, the model {}", got, want);
        return "";
      }
      case Op::kRemove: {
        Event* leader = groups[static_cast<size_t>(op.group)];
        if (int r = core_->remove(leader); r != 0) return fmt::format("remove returned {}", r);
        leader->put();
        groups[static_cast<size_t>(op.group)] = nullptr;
        m.remove(op.group);
        return "";
      }
      case Op::kEnable:
      case Op::kDisable: {
        Event* e = member(groups[static_cast<size_t>(op.group)], op.member);
        const int r = op.kind == Op::kEnable ? core_->enable(e) : core_->disable(e);
        if (r != 0) return fmt::format("enable/disable returned {}", r);
        if (op.kind == Op::kEnable) {
          m.enable(op.group, op.member);
        } else {
          m.disable(op.group, op.member);
        }
        return "";
      }
      case Op::kSwitch: {
        Task* prev = current == 0 ? nullptr : tasks_[current - 1];
        Task* next = op.task == 0 ? nullptr : tasks_[op.task - 1];
        on_cpu(cpu_, [&] {
          core_->sched_out(prev, next);
          core_->sched_in(next);
        });
        current = op.task;
        m.switch_to(op.task);
        return "";
      }
      case Op::kRotate:
        if (int r = core_->rotate(cpu_); r != 0) return fmt::format("rotate returned {}", r);
        m.rotate();
        return "";
    }
    return "unknown operation";
  }

  std::string compare(const Model& m, const std::vector<Event*>& groups) {
    std::string out;
    for (size_t g = 0; g < groups.size(); ++g) {
      if (groups[g] == nullptr) continue;
      for (int i = 0; i <= static_cast<int>(groups[g]->siblings.size()); ++i) {
        bool ok = true;
        const model::State got = to_model(member(groups[g], i)->peek_state(), &ok);
        const model::State want = m.state(static_cast<int>(g), i);
        active_seen_ += got == model::State::kActive ? 1 : 0;
        if (!ok || got != want) {
          out += fmt::format(" g{}.{} is {}, the model says {};", g, i,
                             to_string(member(groups[g], i)->peek_state()), model::name(want));
        }
      }
    }
    return out;
  }

  void cleanup(std::vector<Event*>& groups, int& current) {
    if (current != 0) {
      Task* prev = tasks_[current - 1];
      on_cpu(cpu_, [&] { core_->sched_out(prev, nullptr); });
      current = 0;
    }
    for (Event*& e : groups) {
      if (e == nullptr) continue;
      EXPECT_EQ(core_->remove(e), 0);
      e->put();
      e = nullptr;
    }
  }

  // Drops steps while the failure stays: halves, then quarters, down to single steps.
  std::vector<Op> shrink(std::vector<Op> ops) {
    for (size_t chunk = ops.size() / 2; chunk >= 1; chunk /= 2) {
      for (size_t start = 0; start + chunk <= ops.size();) {
        std::vector<Op> trial(ops.begin(), ops.begin() + static_cast<long>(start));
        trial.insert(trial.end(), ops.begin() + static_cast<long>(start + chunk), ops.end());
        if (!run(trial, false, nullptr).empty()) {
          ops = std::move(trial);
        } else {
          start += chunk;
        }
      }
    }
    return ops;
  }

  Task* tasks_[kTasks] = {};
  Context* ctxs_[kTasks + 1] = {};
  uint64_t applied_ = 0;      // steps run on both sides
  uint64_t active_seen_ = 0;  // Active events seen in comparisons, so the test is not vacuous
};

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 0) : fallback;
}

TEST_F(DifferentialTest, CoreAgreesWithTheReferenceModel) {
  const uint64_t first_seed = env_or("PCTX_SEED", std::random_device{}());
  const uint64_t total = env_or("PCTX_MODEL_STEPS", 100'000);
  constexpr int kSeeds = 5;
  const uint64_t per_seed = std::max<uint64_t>(total / kSeeds, kEpisode);
  for (int s = 0; s < kSeeds; ++s) {
    const uint64_t seed = first_seed + static_cast<uint64_t>(s);
    std::printf("differential: seed %llu, %llu steps (PCTX_SEED=%llu reproduces)\n",
                static_cast<unsigned long long>(seed), static_cast<unsigned long long>(per_seed),
                static_cast<unsigned long long>(first_seed));
    std::mt19937_64 rng(seed);
    for (uint64_t done = 0; done < per_seed; done += kEpisode) {
      std::vector<Op> ops;
      const std::string failure = run(ops, true, &rng);
      if (failure.empty()) continue;
      const std::vector<Op> shortest = shrink(ops);
      std::string steps;
      for (size_t i = 0; i < shortest.size(); ++i) {
        steps += fmt::format("  {:3}: {}\n", i, describe(shortest[i]));
      }
      FAIL() << "seed " << seed << ": " << failure << "\nshortest failing steps ("
             << shortest.size() << " of " << ops.size()
             << "), then: " << run(const_cast<std::vector<Op>&>(shortest), false, nullptr) << "\n"
             << steps;
    }
  }
  std::printf("differential: %llu steps applied, %llu Active events compared\n",
              static_cast<unsigned long long>(applied_),
              static_cast<unsigned long long>(active_seen_));
  EXPECT_GE(applied_, total * 9 / 10) << "most generated steps must apply";
}

// The model is a test of the core only if it can tell a difference: it must disagree with
// a core that breaks a rule. Here the model alone, against hand-worked Active sets.
TEST(ReferenceModel, FollowsTheKernelsRulesOnHandWorkedCases) {
  Model m(1, 4, 1);
  GroupSpec cpu_pinned;
  cpu_pinned.ctx = 0;
  cpu_pinned.pinned = true;
  GroupSpec task_excl;
  task_excl.ctx = 1;
  task_excl.exclusive = true;
  GroupSpec cpu_flex;
  cpu_flex.ctx = 0;
  ASSERT_EQ(m.install(0, cpu_pinned), 0);
  m.switch_to(1);
  ASSERT_EQ(m.install(1, task_excl), 0);
  // 5.11's rule: the task's flexible exclusive group goes on beside the CPU's pinned one.
  EXPECT_EQ(m.state(1, 0), model::State::kActive);
  ASSERT_EQ(m.install(2, cpu_flex), 0);
  // The CPU's flexible groups go before the task's, and exclusivity only counts the
  // task's own flexible groups: both are on.
  EXPECT_EQ(m.state(2, 0), model::State::kActive);
  EXPECT_EQ(m.state(1, 0), model::State::kActive);
  GroupSpec task_flex;
  task_flex.ctx = 1;
  ASSERT_EQ(m.install(3, task_flex), 0);
  EXPECT_EQ(m.state(3, 0), model::State::kInactive) << "nothing goes on after an exclusive group";
  GroupSpec elsewhere;
  elsewhere.ctx = 0;
  elsewhere.cpu = 0;
  EXPECT_EQ(m.install(4, elsewhere), -EINVAL);
}

}  // namespace
}  // namespace pctx::core
