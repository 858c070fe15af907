#include "tools/run_session.hpp"

#include <unistd.h>

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

}  // namespace

base::Result<RunOutcome> run_session(const RunPlan& plan, const std::atomic<int>& stop_signal,
                                     const IntervalSink& on_interval) {
  RunOutcome out;
  // Declared before the runtime, the core and the scheduler, whose callbacks and hotplug
  // step use them, and the registry before the core, as it must outlive it.
  base::Mutex log_mutex("tools.run.log_mutex");
  std::vector<std::string> widened, restored;
  CpuTimeline timeline(cpu::online_cpus() & plan.managed, plan.managed);
  auto pmus = core::PmuRegistry::create(plan.caps);
  if (!pmus) return pmus.error();

  cpu::RuntimeOptions ro;
  ro.cpus = plan.managed;
  ro.thread.scheduler = sched::Scheduler::hook();
  auto runtime = cpu::CpuRuntime::start(ro);
  if (!runtime) return runtime.error();
  auto perf = core::PerfCore::start(**runtime);
  if (!perf) return perf.error();
  core::PerfCore& core = **perf;

  // Every driver both specs need is registered up front, so a spec the kernel refuses
  // fails before anything runs.
  if (auto st = (*pmus)->prepare(core, plan.spec); !st) return st.error();
  if (!plan.cpu_spec.empty()) {
    if (auto st = (*pmus)->prepare(core, plan.cpu_spec); !st) {
      return base::make_error(st.error().code, "--cpu-events: " + st.error().message);
    }
  }

  // The CPU contexts' events, like perf stat -a: on every managed CPU (an offline CPU's
  // count once it is back), kept across offline periods. Created before any task, so a
  // bad spec fails before anything runs.
  std::map<int, core::EventSet> cpu_events;
  for (int c : plan.cpu_spec.empty() ? std::vector<int>{} : plan.managed.cpus()) {
    core::EventSetOptions opt;
    opt.cpu = c;
    auto set = core::EventSet::create(core, **pmus, plan.cpu_spec, opt);
    if (!set) return base::make_error(set.error().code, "--cpu-events: " + set.error().message);
    if (auto st = set->install(core.cpu_context(c)); !st) {
      return base::make_error(st.error().code,
                              fmt::format("--cpu-events on cpu{}: {}", c, st.error().message));
    }
    cpu_events.emplace(c, std::move(*set));
  }

  auto scheduler = sched::Scheduler::start(**runtime, &core);
  if (!scheduler) return scheduler.error();
  (*scheduler)->on_affinity_widened([&](const sched::AffinityWidened& w) {
    base::MutexLock lock(log_mutex);
    widened.push_back(w.task_name);
    fmt::print(stderr, "pctx run: cpu{} went offline: {} may now run on any CPU (was {})\n",
               w.from_cpu, w.task_name, w.old_affinity.to_string());
  });
  (*scheduler)->on_affinity_restored([&](const sched::AffinityRestored& r) {
    base::MutexLock lock(log_mutex);
    restored.push_back(r.task_name);
    fmt::print(stderr, "pctx run: cpu{} is back: {} has its affinity {} again\n", r.cpu,
               r.task_name, r.affinity.to_string());
  });
  (*scheduler)->on_drain_timeout([](const sched::DrainTimedOut& d) {
    fmt::print(stderr, "pctx run: {}\n", d.message);
  });
  (*runtime)->hotplug().add_step({"pctx-run",
                                  [&timeline](int c) {
                                    timeline.up(c);
                                    return 0;
                                  },
                                  [&timeline](int c) {
                                    timeline.down(c);
                                    return 0;
                                  }});
  struct StepGuard {
    cpu::Hotplug& hotplug;
    ~StepGuard() { hotplug.remove_step("pctx-run"); }
  } step_guard{(*runtime)->hotplug()};

  // Tasks are spawned stopped and woken together once every one has its events, so all
  // count from their first instruction. The event sets go before the scheduler on any
  // early return (declared after it), the tasks after.
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<TaskInfo>> tasks;
  // A failed spawn, install or wake ends the tasks made so far: their events go, and the
  // woken ones are joined; the scheduler's destructor cancels those never woken.
  struct TaskGuard {
    std::vector<std::unique_ptr<TaskInfo>>& tasks;
    std::atomic<bool>& stop;
    ~TaskGuard() {
      stop = true;
      for (auto& t : tasks) t->events = core::EventSet();
      for (auto& t : tasks) {
        if (t->woken) t->task->join();
      }
    }
  } task_guard{tasks, stop};
  // The spec's groups are made once before any task exists, so what only the core finds
  // (a group too large for its PMU) ends the run with nothing started.
  if (auto probe = core::EventSet::create(core, **pmus, plan.spec); !probe) return probe.error();
  size_t next_workload = 0;
  for (int c : plan.cpus.cpus()) {
    for (int i = 0; i < plan.tasks_per_cpu; ++i) {
      auto info = std::make_unique<TaskInfo>();
      info->workload = plan.workloads[next_workload++ % plan.workloads.size()];
      TaskInfo* raw = info.get();
      sched::SpawnOptions so;
      so.name = fmt::format("{}-{}.{}", to_string(info->workload), c, i);
      so.affinity = cpu::CpuSet::of({c});
      so.start = false;
      const uint64_t seed = static_cast<uint64_t>(c) * 1000 + static_cast<uint64_t>(i) + 1;
      auto task =
          (*scheduler)
              ->spawn([raw, &stop, seed] { raw->work = run_workload(raw->workload, stop, seed); },
                      so);
      if (!task) return task.error();
      info->task = std::move(*task);
      info->scope = fmt::format("{}-{}", so.name, info->task->id());
      tasks.push_back(std::move(info));  // from here the guard ends it on any failure
      auto set = core::EventSet::create(core, **pmus, plan.spec);
      if (!set) return set.error();
      if (auto st = set->install(*raw->task); !st) {
        return base::make_error(st.error().code,
                                fmt::format("task {}: {}", so.name, st.error().message));
      }
      raw->events = std::move(*set);
    }
  }
  for (auto& t : tasks) {
    if (int rc = (*scheduler)->wake(*t->task); rc != 0) {
      return base::make_error(rc, fmt::format("cannot start task {}: {} (did its CPU go offline?)",
                                              t->task->name(), base::errno_text(-rc)));
    }
    t->woken = true;
  }

  std::vector<Scoped> scopes;
  scopes.reserve(tasks.size());
  for (auto& t : tasks) scopes.push_back({t->scope, &t->events, {}});
  for (auto& [c, set] : cpu_events) scopes.push_back({fmt::format("CPU{}", c), &set, {}});
  const auto start = Clock::now();
  // Intervals count from here: the readings at the start are their baseline, so the first
  // interval holds no time from before its stamp's origin (the CPU events' since install,
  // the tasks' since their wake).
  for (auto& s : scopes) {
    for (size_t i = 0; i < s.events->size(); ++i) s.last.push_back(s.events->read(i));
  }
  const auto end = start + plan.duration;
  auto next_interval = start + plan.interval;
  const bool progress = isatty(STDERR_FILENO) != 0 && plan.duration >= std::chrono::seconds(1) &&
                        plan.interval.count() == 0;
  // One interval's rows: every scope's deltas since the last, at `t` seconds.
  auto last_interval = start;
  auto emit_interval = [&] {
    const auto now = Clock::now();
    std::vector<StatRow> rows;
    for (auto& s : scopes) {
      for (size_t i = 0; i < s.events->size(); ++i) {
        const core::Reading r = s.events->read(i);
        core::Reading d = r;
        d.count -= s.last[i].count;
        d.time_enabled -= s.last[i].time_enabled;
        d.time_running -= s.last[i].time_running;
        s.last[i] = r;
        StatRow row = make_row(s.scope, s.events->member(i), d);
        row.interval = std::chrono::duration<double>(now - start).count();
        rows.push_back(std::move(row));
      }
    }
    add_metrics(rows, std::chrono::duration<double>(now - last_interval).count());
    last_interval = now;
    on_interval(rows);
  };
  while (Clock::now() < end && stop_signal.load() == 0) {
    auto wake = std::min(end, Clock::now() + std::chrono::milliseconds(50));
    if (plan.interval.count() > 0) wake = std::min(wake, next_interval);
    std::this_thread::sleep_until(wake);
    if (plan.interval.count() > 0 && Clock::now() >= next_interval && Clock::now() < end) {
      emit_interval();
      next_interval += plan.interval;
    }
    if (progress) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      fmt::print(stderr, "\r  pctx run: {:.1f} / {:.1f} s, {} tasks, {} switches ", elapsed,
                 std::chrono::duration<double>(plan.duration).count(), tasks.size(),
                 (*scheduler)->stats().switches.load());
    }
  }
  // The last stretch, shorter than an interval (the end, or a Ctrl-C), is an interval too,
  // as perf stat -I prints at its exit: nothing counted is left out.
  if (plan.interval.count() > 0) emit_interval();
  out.interrupted = stop_signal.load() != 0;
  stop = true;
  for (auto& t : tasks) t->task->join();
  out.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (progress) fmt::print(stderr, "\r\033[K");

  // Tasks' events are frozen at their exit; the CPUs' are read live.
  for (auto& t : tasks) {
    sched::Task& task = *t->task;
    nlohmann::json tj;
    tj["id"] = task.id();
    tj["name"] = task.name();
    tj["scope"] = t->scope;
    tj["workload"] = to_string(t->workload);
    tj["cpu"] = task.cpu();
    tj["on_cpu_ns"] = task.on_cpu_time().count();
    tj["on_cpu_ticks"] = task.on_cpu_ticks();
    tj["switches"] = task.switches();
    tj["migrations"] = task.migrations();
    tj["work"] = t->work.load();
    tj["affinity_widened"] = task.affinity_widened();
    out.tasks.push_back(std::move(tj));
    for (size_t i = 0; i < t->events.size(); ++i) {
      out.rows.push_back(make_row(t->scope, t->events.member(i), t->events.read(i)));
    }
  }
  const cpu::CpuSet seen = timeline.seen();
  for (auto& [c, set] : cpu_events) {
    if (!seen.test(c)) continue;  // never online in the run: nothing to say
    const auto off = timeline.offline(c);
    nlohmann::json cj;
    cj["cpu"] = c;
    cj["scope"] = fmt::format("CPU{}", c);
    cj["offline_ns"] = std::chrono::duration_cast<std::chrono::nanoseconds>(off).count();
    out.cpus.push_back(std::move(cj));
    if (off.count() > 0) out.offline_ms[c] = std::chrono::duration<double, std::milli>(off).count();
    for (size_t i = 0; i < set.size(); ++i) {
      out.rows.push_back(make_row(fmt::format("CPU{}", c), set.member(i), set.read(i)));
    }
  }
  for (auto d : (*scheduler)->rebalance_delays()) out.rebalance_delays_ns.push_back(d.count());
  add_metrics(out.rows, out.elapsed_s);
  base::MutexLock lock(log_mutex);
  out.widened = widened;
  out.restored = restored;
  return out;
}

}  // namespace pctx::tools
