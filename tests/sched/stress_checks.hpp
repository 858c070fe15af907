// The stress test's bookkeeping and its checks of what users rely on: where each group is,
// which resets were in flight, what each thread saw before, and whether a reading agrees
// with all that. Each check returns "" or what went wrong.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "pctx/core/perf_core.hpp"
#include "pctx/sched/task.hpp"

namespace pctx::sched::testing {

inline constexpr size_t kMaxMembers = 3;

// Where groups are installed: a task's context (its ContextRef keeps it) or a CPU's.
struct Target {
  TaskRef task;
  core::ContextRef ref;
  core::Context* ctx = nullptr;
  int cpu = -1;           // a CPU context's CPU
  bool may_exit = false;  // a short-lived task's: it may be tombstoned under the calls
};

// The resets of one event, begun and done: a reading taken while none was in flight bounds
// the count of every later reading from below, until the next reset begins.
struct ResetCount {
  std::atomic<uint64_t> begun{0}, done{0};
};

// A group and where it is. The removal of an event must not race other calls on it
// (perf_core.hpp), so install, remove and renewal hold `lifecycle` alone; the other calls
// on an installed group share it, and so race each other. An uninstalled group's fields
// have no lock: it is only touched alone.
struct Slot {
  std::shared_mutex lifecycle;
  std::vector<core::Event*> members;  // leader first
  std::array<ResetCount, kMaxMembers> resets;
  std::shared_ptr<Target> where;  // nullptr: not installed
  uint64_t generation = 0;        // new with each group: keys the readers' histories
  int cpu_filter = -1;
  bool pinned = false;
};

// What one thread saw of each event, to compare its next reading with.
class History {
 public:
  // Taken just before a reading of a member.
  struct Window {
    bool quiet = false;  // no reset of it was in flight
    uint64_t begun = 0;
  };
  static Window window(const ResetCount& rc) {
    const uint64_t done = rc.done.load();
    const uint64_t begun = rc.begun.load();
    return {done == begun, begun};
  }

  // A reading of member m (its times when given): counts never go back unless a reset
  // began since the last quiet reading, times never go back, enabled >= running.
  std::string observe(const Slot& s, size_t m, Window w, uint64_t count,
                      const core::Reading* times) {
    std::string problem;
    Seen& p = seen_[s.generation * kMaxMembers + m];
    if (p.count_bounds && s.resets[m].begun.load() == p.resets_begun && count < p.count) {
      problem = "count went back from " + std::to_string(p.count) + " to " + std::to_string(count) +
                " with no reset";
    }
    p.count = count;
    p.count_bounds = w.quiet;
    p.resets_begun = w.begun;
    if (times == nullptr) return problem;
    if (problem.empty() && times->time_enabled < times->time_running) {
      problem = "time_enabled < time_running";
    }
    if (problem.empty() && p.has_times &&
        (times->time_enabled < p.enabled || times->time_running < p.running)) {
      problem = "times went back";
    }
    p.has_times = true;
    p.enabled = times->time_enabled;
    p.running = times->time_running;
    return problem;
  }

 private:
  struct Seen {
    uint64_t count = 0;
    bool count_bounds = false;
    uint64_t resets_begun = 0;
    bool has_times = false;
    uint64_t enabled = 0, running = 0;
  };
  std::unordered_map<uint64_t, Seen> seen_;  // by group generation and member
};

// A member's state as it may be where its group is: never Dead; Active only installed;
// Exit only in a task's context once the task may have exited; Error only in a pinned
// group.
inline std::string state_problem(const Slot& s, size_t m, core::EventState state) {
  using core::EventState;
  const bool ok = state != EventState::kDead &&
                  (state != EventState::kActive || s.where != nullptr) &&
                  (state != EventState::kExit || (s.where != nullptr && s.where->may_exit)) &&
                  (state != EventState::kError || s.pinned);
  if (ok) return "";
  return "member " + std::to_string(m) + " is " + core::to_string(state) +
         (s.where == nullptr  ? ", not installed"
          : s.where->cpu >= 0 ? ", in a CPU context"
                              : ", in a task context") +
         (s.pinned ? ", pinned" : "");
}

// A group read as documented: every member, the leader's state first; a sibling is Active
// only with its leader, has its leader's state when that is Off or lower, and is on with
// an Active leader unless it is Off itself (a group goes on whole).
inline std::string group_problem(const Slot& s, const core::GroupReading& g) {
  using core::EventState;
  if (g.counts.size() != s.members.size() || g.states.size() != s.members.size() ||
      g.states[0] != g.state) {
    return std::to_string(g.counts.size()) + " counts and " + std::to_string(g.states.size()) +
           " states for " + std::to_string(s.members.size()) + " members";
  }
  for (size_t m = 0; m < g.states.size(); ++m) {
    if (std::string p = state_problem(s, m, g.states[m]); !p.empty()) return p;
    const EventState st = g.states[m];
    const bool agrees = m == 0 || (g.state <= EventState::kOff ? st == g.state
                                   : g.state == EventState::kActive
                                       ? st == EventState::kActive || st == EventState::kOff
                                       : st != EventState::kActive);
    if (!agrees) {
      return std::string("leader ") + core::to_string(g.state) + ", sibling " + std::to_string(m) +
             " " + core::to_string(st);
    }
  }
  return "";
}

}  // namespace pctx::sched::testing
