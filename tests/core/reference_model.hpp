// A reference model of which groups are on one CPU with N counters, written from the
// kernel's rules (kernel/events/core.c as of 6.x) plus the departures docs/core.md lists.
// It shares no code or types with core/: plain vectors, sorted when walked. The
// differential test drives it and the real core with the same operations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pctx::model {

enum class State { kError, kOff, kInactive, kActive };
const char* name(State s);

struct MemberSpec {
  bool counting = true;  // on the counting PMU; else a software event
  bool disabled = false;
};

struct GroupSpec {
  int ctx = 0;           // 0: the CPU's context; 1..tasks: a task's
  bool counting = true;  // the leader's PMU: the counting one, or software
  bool pinned = false;
  bool exclusive = false;
  int cpu = -1;           // CPU filter
  bool disabled = false;  // the leader starts Off
  std::vector<MemberSpec> siblings;
};

class Model {
 public:
  Model(int cpu, int counters, int tasks);

  // Each returns what the core's call returns.
  int install(int group, const GroupSpec& spec);  // groups are numbered by the caller
  void remove(int group);
  void enable(int group, int member);  // member 0 is the leader
  void disable(int group, int member);
  void switch_to(int task);  // 0: no task
  void rotate();             // forced, on every context that needs it

  State state(int group, int member) const;
  bool installed(int group) const;

 private:
  enum Kind : uint8_t { kPinned = 1, kFlexible = 2, kAll = 3 };
  static constexpr int kCounting = 0, kSoftware = 1;  // the two PMUs

  struct Member {
    bool counting;
    State state;
  };
  struct Group {
    bool installed = false;
    int ctx = 0;
    int pmu = kCounting;
    bool pinned = false, exclusive = false;
    int cpu = -1;
    uint64_t order = 0;           // position in its context's tree
    std::vector<Member> members;  // [0] is the leader
  };
  struct Ctx {
    uint8_t active = 0;
    int nr_events = 0;
    bool rotate_necessary[2] = {false, false};
    std::vector<int> on_pinned[2], on_flexible[2];  // groups on, in the order they went on
  };

  bool on_this_cpu(int ctx) const;  // the CPU's context, or the current task's
  int groups_of(int ctx, int pmu) const;
  std::vector<int> tree(int ctx, int pmu, bool pinned) const;
  void sched_out_group(int g);
  void ctx_out(int ctx, uint8_t kinds, int pmu);  // pmu -1: both
  void ctx_in(int ctx, uint8_t kind, int pmu);
  void all_in(int pmu);
  void walk(int ctx, int pmu, bool pinned);
  bool group_in(int g);
  void resched(int ctx, int g);
  void flexible_out(int ctx, int pmu);
  int first_to_rotate(int ctx, int pmu);

  int cpu_, counters_;
  std::vector<Group> groups_;
  std::vector<Ctx> ctxs_;
  int current_ = 0;    // the current task, 0 for none
  int task_ctx_ = -1;  // the task context scheduled here, -1 for none
  int used_ = 0;       // counters in use
  bool exclusive_on_[2] = {false, false};
  uint64_t next_order_ = 1;
};

}  // namespace pctx::model
