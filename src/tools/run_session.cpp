#include "tools/run_session.hpp"

#include <fmt/format.h>

#include <cstring>
#include <memory>
#include <thread>

#include "pctx/base/errno_text.hpp"
#include "pctx/base/mutex.hpp"
#include "pctx/core/event_set.hpp"
#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "pctx/sched/scheduler.hpp"

namespace pctx::tools {

namespace {

using Clock = std::chrono::steady_clock;

// When each CPU was offline during the run, from a hotplug step of the run's own (the
// runtime follows hotplug done by anyone).
class CpuTimeline {
 public:
  CpuTimeline(const cpu::CpuSet& online_at_start, const cpu::CpuSet& managed) {
    const auto now = Clock::now();
    for (int c : managed.cpus()) {
      if (online_at_start.test(c)) {
        seen_.set(c);
      } else {
        since_[c] = now;
      }
    }
  }
  void down(int c) {
    base::MutexLock lock(mutex_);
    since_[c] = Clock::now();
  }
  void up(int c) {
    base::MutexLock lock(mutex_);
    seen_.set(c);
    if (auto it = since_.find(c); it != since_.end()) {
      offline_[c] += Clock::now() - it->second;
      since_.erase(it);
    }
  }
  cpu::CpuSet seen() const {
    base::MutexLock lock(mutex_);
    return seen_;
  }
  Clock::duration offline(int c) const {
    base::MutexLock lock(mutex_);
    Clock::duration d = offline_.count(c) ? offline_.at(c) : Clock::duration{};
    if (auto it = since_.find(c); it != since_.end()) d += Clock::now() - it->second;
    return d;
  }

 private:
  mutable base::Mutex mutex_{"tools.run.timeline_mutex"};
  cpu::CpuSet seen_ PCTX_GUARDED_BY(mutex_);  // online at some time in the run
  std::map<int, Clock::time_point> since_ PCTX_GUARDED_BY(mutex_);
  std::map<int, Clock::duration> offline_ PCTX_GUARDED_BY(mutex_);
};

struct TaskInfo {
  sched::TaskRef task;
  Workload workload;
  std::string scope;
  std::atomic<uint64_t> work{0};
  core::EventSet events;
  bool woken = false;
};

// A scope's event set as rows; with a previous reading, the rows are the deltas since.
struct Scoped {
  std::string scope;
  core::EventSet* events;
  std::vector<core::Reading> last;
};

StatRow make_row(const std::string& scope, const core::EventSetMember& m, const core::Reading& r) {
  StatRow row;
  row.scope = scope;
  row.event = m.name;
  row.canonical = m.canonical;
  row.unit = m.unit;
  row.scale = m.scale;
  row.count = r.count;
  row.enabled = r.time_enabled;
  row.running = r.time_running;
  return row;
}

// One run, phase by phase; what it holds is declared in the order it must outlive the rest
// (the logs and the timeline that callbacks and the hotplug step use, the registry before
// the core, the event sets before the scheduler, the tasks after it).
class Session {
 public:
  Session(const RunPlan& plan, RunObserver& observer)
      : plan_(plan),
        observer_(observer),
        timeline_(cpu::online_cpus() & plan.managed, plan.managed) {}
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  base::Status start();  // registry, runtime and core, with every driver both specs need
  base::Status install_cpu_events();
  base::Status start_scheduler();  // with its hotplug callbacks and the run's hotplug step
  base::Status spawn_tasks();      // stopped, each with its events, then woken together
  void wait(const std::atomic<int>& stop_signal);  // the duration, reading the intervals
  RunOutcome collect();                            // the tasks joined, everything read

 private:
  void read_interval();

  const RunPlan& plan_;
  RunObserver& observer_;
  base::Mutex log_mutex_{"tools.run.log_mutex"};
  std::vector<std::string> widened_ PCTX_GUARDED_BY(log_mutex_);
  std::vector<std::string> restored_ PCTX_GUARDED_BY(log_mutex_);
  CpuTimeline timeline_;
  std::unique_ptr<core::PmuRegistry> pmus_;
  std::unique_ptr<cpu::CpuRuntime> runtime_;
  std::unique_ptr<core::PerfCore> core_;
  std::map<int, core::EventSet> cpu_events_;
  std::unique_ptr<sched::Scheduler> scheduler_;
  bool hotplug_step_ = false;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<TaskInfo>> tasks_;
  // Every scope's event set with its last reading, from the start of the wait.
  std::vector<Scoped> scopes_;
  Clock::time_point start_{}, last_interval_{};
  bool interrupted_ = false;
};

// A failed phase, or the end, ends the tasks made so far: their events go, and the woken
// ones are joined; the scheduler's destructor cancels those never woken.
Session::~Session() {
  stop_ = true;
  for (auto& t : tasks_) t->events = core::EventSet();
  for (auto& t : tasks_) {
    if (t->woken) t->task->join();
  }
  if (hotplug_step_) runtime_->hotplug().remove_step(cpu::HotplugStage::kApplication);
}

base::Status Session::start() {
  auto pmus = core::PmuRegistry::create(plan_.caps);
  if (!pmus) return pmus.error();
  pmus_ = std::move(*pmus);
  cpu::RuntimeOptions ro;
  ro.cpus = plan_.managed;
  ro.thread.scheduler = sched::Scheduler::hook();
  auto runtime = cpu::CpuRuntime::start(ro);
  if (!runtime) return runtime.error();
  runtime_ = std::move(*runtime);
  auto perf = core::PerfCore::start(*runtime_);
  if (!perf) return perf.error();
  core_ = std::move(*perf);
  // Every driver both specs need is registered up front, so a spec the kernel refuses
  // fails before anything runs.
  if (auto st = pmus_->prepare(*core_, plan_.spec); !st) return st;
  if (!plan_.cpu_spec.empty()) {
    if (auto st = pmus_->prepare(*core_, plan_.cpu_spec); !st) {
      return base::make_error(st.error().code, "--cpu-events: " + st.error().message);
    }
  }
  return base::Ok{};
}

// The CPU contexts' events, like perf stat -a: on every managed CPU (an offline CPU's count
// once it is back), kept across offline periods. Created before any task, so a bad spec
// fails before anything runs.
base::Status Session::install_cpu_events() {
  if (plan_.cpu_spec.empty()) return base::Ok{};
  for (int c : plan_.managed.cpus()) {
    core::EventSetOptions opt;
    opt.cpu = c;
    auto set = core::EventSet::create(*core_, *pmus_, plan_.cpu_spec, opt);
    if (!set) return base::make_error(set.error().code, "--cpu-events: " + set.error().message);
    if (auto st = set->install(core_->cpu_context(c)); !st) {
      return base::make_error(st.error().code,
                              fmt::format("--cpu-events on cpu{}: {}", c, st.error().message));
    }
    cpu_events_.emplace(c, std::move(*set));
  }
  return base::Ok{};
}

base::Status Session::start_scheduler() {
  auto scheduler = sched::Scheduler::start(*runtime_, core_.get());
  if (!scheduler) return scheduler.error();
  scheduler_ = std::move(*scheduler);
  scheduler_->on_affinity_widened([this](const sched::AffinityWidened& w) {
    {
      base::MutexLock lock(log_mutex_);
      widened_.push_back(w.task_name);
    }
    observer_.note(fmt::format("cpu{} went offline: {} may now run on any CPU (was {})", w.from_cpu,
                               w.task_name, w.old_affinity.to_string()));
  });
  scheduler_->on_affinity_restored([this](const sched::AffinityRestored& r) {
    {
      base::MutexLock lock(log_mutex_);
      restored_.push_back(r.task_name);
    }
    observer_.note(fmt::format("cpu{} is back: {} has its affinity {} again", r.cpu, r.task_name,
                               r.affinity.to_string()));
  });
  scheduler_->on_drain_timeout(
      [this](const sched::DrainTimedOut& d) { observer_.note(d.message); });
  // The application's stage: after the scheduler's on the way up, before it on the way down.
  auto step = runtime_->hotplug().add_step({cpu::HotplugStage::kApplication, "pctx-run",
                                            [this](int c) {
                                              timeline_.up(c);
                                              return 0;
                                            },
                                            [this](int c) {
                                              timeline_.down(c);
                                              return 0;
                                            }});
  if (!step) return step;
  hotplug_step_ = true;
  return base::Ok{};
}

// Tasks are spawned stopped and woken together once every one has its events, so all
// count from their first instruction.
base::Status Session::spawn_tasks() {
  // The spec's groups are made once before any task exists, so what only the core finds
  // (a group too large for its PMU) ends the run with nothing started.
  if (auto probe = core::EventSet::create(*core_, *pmus_, plan_.spec); !probe) {
    return probe.error();
  }
  size_t next_workload = 0;
  for (int c : plan_.cpus.cpus()) {
    for (int i = 0; i < plan_.tasks_per_cpu; ++i) {
      auto info = std::make_unique<TaskInfo>();
      info->workload = plan_.workloads[next_workload++ % plan_.workloads.size()];
      TaskInfo* raw = info.get();
      sched::SpawnOptions so;
      so.name = fmt::format("{}-{}.{}", to_string(info->workload), c, i);
      so.affinity = cpu::CpuSet::of({c});
      so.start = false;
      const uint64_t seed = static_cast<uint64_t>(c) * 1000 + static_cast<uint64_t>(i) + 1;
      std::atomic<bool>& stop = stop_;
      auto task = scheduler_->spawn(
          [raw, &stop, seed] { raw->work = run_workload(raw->workload, stop, seed); }, so);
      if (!task) return task.error();
      info->task = std::move(*task);
      info->scope = fmt::format("{}-{}", so.name, info->task->id());
      tasks_.push_back(std::move(info));  // from here the destructor ends it on any failure
      auto set = core::EventSet::create(*core_, *pmus_, plan_.spec);
      if (!set) return set.error();
      if (auto st = set->install(*raw->task); !st) {
        return base::make_error(st.error().code,
                                fmt::format("task {}: {}", so.name, st.error().message));
      }
      raw->events = std::move(*set);
    }
  }
  for (auto& t : tasks_) {
    if (int rc = scheduler_->wake(*t->task); rc != 0) {
      return base::make_error(rc, fmt::format("cannot start task {}: {} (did its CPU go offline?)",
                                              t->task->name(), base::errno_text(-rc)));
    }
    t->woken = true;
  }
  return base::Ok{};
}

void Session::wait(const std::atomic<int>& stop_signal) {
  scopes_.reserve(tasks_.size() + cpu_events_.size());
  for (auto& t : tasks_) scopes_.push_back({t->scope, &t->events, {}});
  for (auto& [c, set] : cpu_events_) scopes_.push_back({fmt::format("CPU{}", c), &set, {}});
  start_ = last_interval_ = Clock::now();
  // Intervals count from here: the readings at the start are their baseline, so the first
  // interval holds no time from before its stamp's origin (the CPU events' since install,
  // the tasks' since their wake).
  for (auto& s : scopes_) {
    for (size_t i = 0; i < s.events->size(); ++i) s.last.push_back(s.events->read(i));
  }
  const auto end = start_ + plan_.duration;
  auto next_interval = start_ + plan_.interval;
  while (Clock::now() < end && stop_signal.load() == 0) {
    auto wake = std::min(end, Clock::now() + std::chrono::milliseconds(50));
    if (plan_.interval.count() > 0) wake = std::min(wake, next_interval);
    std::this_thread::sleep_until(wake);
    if (plan_.interval.count() > 0 && Clock::now() >= next_interval && Clock::now() < end) {
      read_interval();
      next_interval += plan_.interval;
    }
    observer_.progress(Clock::now() - start_, tasks_.size(), scheduler_->switches(), false);
  }
  // The last stretch, shorter than an interval (the end, or a Ctrl-C), is an interval too,
  // as perf stat -I prints at its exit: nothing counted is left out.
  if (plan_.interval.count() > 0) read_interval();
  interrupted_ = stop_signal.load() != 0;
}

// One interval's rows: every scope's deltas since the last, stamped with the seconds since
// the start.
void Session::read_interval() {
  const auto now = Clock::now();
  std::vector<StatRow> rows;
  for (auto& s : scopes_) {
    for (size_t i = 0; i < s.events->size(); ++i) {
      const core::Reading r = s.events->read(i);
      core::Reading d = r;
      d.count -= s.last[i].count;
      d.time_enabled -= s.last[i].time_enabled;
      d.time_running -= s.last[i].time_running;
      s.last[i] = r;
      StatRow row = make_row(s.scope, s.events->member(i), d);
      row.interval = std::chrono::duration<double>(now - start_).count();
      rows.push_back(std::move(row));
    }
  }
  add_metrics(rows, std::chrono::duration<double>(now - last_interval_).count());
  last_interval_ = now;
  observer_.interval(rows);
}

RunOutcome Session::collect() {
  RunOutcome out;
  out.interrupted = interrupted_;
  stop_ = true;
  for (auto& t : tasks_) t->task->join();
  out.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
  observer_.progress(Clock::now() - start_, tasks_.size(), scheduler_->switches(), true);
  // Tasks' events are frozen at their exit; the CPUs' are read live.
  for (auto& t : tasks_) {
    const sched::Task& task = *t->task;
    out.tasks.push_back({task.id(), task.name(), t->scope, t->workload, task.cpu(),
                         task.on_cpu_time().count(), task.on_cpu_ticks(), task.switches(),
                         task.migrations(), t->work.load(), task.affinity_widened()});
    for (size_t i = 0; i < t->events.size(); ++i) {
      out.rows.push_back(make_row(t->scope, t->events.member(i), t->events.read(i)));
    }
  }
  const cpu::CpuSet seen = timeline_.seen();
  for (auto& [c, set] : cpu_events_) {
    if (!seen.test(c)) continue;  // never online in the run: nothing to say
    CpuRecord record{c, fmt::format("CPU{}", c),
                     std::chrono::duration_cast<std::chrono::nanoseconds>(timeline_.offline(c))};
    for (size_t i = 0; i < set.size(); ++i) {
      out.rows.push_back(make_row(record.scope, set.member(i), set.read(i)));
    }
    out.cpus.push_back(std::move(record));
  }
  for (auto d : scheduler_->rebalance_delays()) out.rebalance_delays_ns.push_back(d.count());
  add_metrics(out.rows, out.elapsed_s);
  base::MutexLock lock(log_mutex_);
  out.widened = widened_;
  out.restored = restored_;
  return out;
}

}  // namespace

base::Result<RunOutcome> run_session(const RunPlan& plan, const std::atomic<int>& stop_signal,
                                     RunObserver& observer) {
  Session session(plan, observer);
  for (auto phase : {&Session::start, &Session::install_cpu_events, &Session::start_scheduler,
                     &Session::spawn_tasks}) {
    if (auto st = (session.*phase)(); !st) return st.error();
  }
  session.wait(stop_signal);
  return session.collect();
}

}  // namespace pctx::tools
