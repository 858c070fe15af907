// An event set: a spec string ("tsc,{task-clock,page-faults:u}") compiled into groups of
// core events, installed into a task or CPU context, and read by index or by name, scaled
// or as whole groups. It owns its events: destroying it removes the groups from their
// context and releases them, so there is no raw put() to forget.
//
//   auto pmus = core::PmuRegistry::create().value();          // before the core
//   auto set = core::EventSet::create(*perf_core, *pmus, "task-clock,cs");
//   if (!set) return report(set.error());                     // code and message
//   if (auto st = set->install(task); !st) return report(st.error());
//   ... later: set->read("cs").value().count
//
// Errors: every call that can fail returns base::Result or base::Status: a negative errno
// (-EINVAL bad spec or filter, -ENOENT unknown event or no hardware PMU, -ESRCH exited
// task, -EBUSY installed already, -ENOSPC no room in a driver) with a message that says
// what to do. Reads cannot fail once installed. The calls are user-side core calls:
// not from a CPU thread with irqs off, and not racing the set's own destruction.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pctx/base/result.hpp"
#include "pctx/core/context_ref.hpp"
#include "pctx/core/perf_core.hpp"
#include "pctx/core/pmu_registry.hpp"
#include "pctx/core/task.hpp"
#include "pctx/pmu/scale.hpp"

namespace pctx::core {

struct EventSetOptions {
  int cpu = -1;           // count only on this CPU (-1: wherever the context runs)
  bool pinned = false;    // every group pinned: always on, or in Error
  bool disabled = false;  // created Off; enable() starts them
};

// What a member counts and how to show it.
struct EventSetMember {
  std::string name;       // as written in the spec: "cs", "task-clock:u"
  std::string canonical;  // the catalog's name: "context-switches"
  std::string unit;       // "msec" for the clocks
  double scale = 1.0;     // a count times this is in `unit`
  pmu::EventSource source = pmu::EventSource::kSoftware;
  size_t group = 0;  // index of its group
  bool leader = false;
};

class EventSet {
 public:
  static base::Result<EventSet> create(PerfCore& core, PmuRegistry& pmus, std::string_view spec,
                                       const EventSetOptions& options = {});

  EventSet() = default;
  EventSet(EventSet&& other) noexcept;
  EventSet& operator=(EventSet&& other) noexcept;
  EventSet(const EventSet&) = delete;
  EventSet& operator=(const EventSet&) = delete;
  ~EventSet();

  // Installs every group, all or none. -EBUSY when installed already.
  base::Status install(Context* ctx);
  base::Status install(Task& task);  // into the task's context; -ESRCH once it has exited
  void remove();                     // out of the context, still owned; installable again
  bool installed() const { return ctx_ != nullptr; }

  size_t size() const { return members_.size(); }
  size_t groups() const { return leaders_.size(); }
  const EventSetMember& member(size_t i) const { return members_.at(i).info; }
  // The index of the first member written or known by this name; nullopt when none is.
  std::optional<size_t> find(std::string_view name) const;

  Reading read(size_t i);  // -> std::out_of_range for a bad index, as vector::at
  base::Result<Reading> read(std::string_view name);
  // Every member of group g at one instant, leader first.
  GroupReading read_group(size_t g);

  base::Status enable();  // every group
  base::Status disable();
  base::Status reset();  // clears counts, keeps times

  Event* event(size_t i) const { return members_.at(i).event; }  // borrowed

 private:
  struct Member {
    EventSetMember info;
    Event* event = nullptr;  // leaders own one reference; siblings are their leader's
  };
  void release();
  // Applies a core call to every group's leader; the first failure, named.
  base::Status each_leader(int (PerfCore::*op)(Event*), std::string_view what);

  PerfCore* core_ = nullptr;
  std::vector<Member> members_;
  std::vector<size_t> leaders_;  // member index of each group's leader
  Context* ctx_ = nullptr;
  ContextRef task_ctx_;  // keeps a task's context alive while installed
};

}  // namespace pctx::core
