// `pctx run`: built-in workloads as pctx tasks on the CPU threads, counted per task and per
// CPU with the perf core's semantics, multiplexing and scaling shown.
#include <unistd.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/scale.hpp"
#include "pctx/sched/scheduler.hpp"
#include "tools/cli_checks.hpp"
#include "tools/commands.hpp"
#include "tools/event_set.hpp"
#include "tools/table.hpp"
#include "tools/workloads.hpp"

namespace pctx::tools {

namespace {

using Clock = std::chrono::steady_clock;

struct RunOptions {
  std::string cpus;
  int tasks = 2;
  double duration = 1.0;
  std::string spec;
  std::string cpu_spec = "task-clock,context-switches";
  std::vector<std::string> counters;
  std::vector<std::string> workloads = {"spin", "chase", "syscall", "mixed"};
  OutputOptions out;
};

[[noreturn]] void die(const std::string& message, int code = 1) {
  fmt::print(stderr, "pctx run: {}\n", message);
  throw CLI::RuntimeError(code);
}

template <class T>
T or_die(pmu::Result<T> r) {
  if (!r) die(r.error().message);
  return std::move(*r);
}

// The largest --counters cap: no PMU has more counters, and a cap is for showing
// multiplexing, which needs fewer.
constexpr int kMaxCounterCap = 64;

// --counters PMU=N, each PMU once: a repeated PMU used to mean the last one silently, and
// sscanf took "tsc=2x" or "tsc=2,hardware=2" as tsc=2.
std::map<std::string, int> parse_caps(const std::vector<std::string>& items) {
  std::map<std::string, int> caps;
  std::map<std::string, std::string> given;  // PMU -> the item that capped it
  for (const auto& item : items) {
    const auto eq = item.find('=');
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(value.c_str(), &end, 10);
    if (eq == std::string::npos || eq == 0 || value.empty() || *end != '\0' || errno != 0) {
      die(fmt::format("--counters {}: write PMU=N, e.g. tsc=2 (one PMU per --counters)", item), 2);
    }
    if (n < 1 || n > kMaxCounterCap) {
      die(fmt::format("--counters {}: N is the PMU's number of counters, from 1 to {}", item,
                      kMaxCounterCap),
          2);
    }
    const std::string pmu = item.substr(0, eq);
    if (auto it = given.find(pmu); it != given.end()) {
      die(fmt::format("--counters {}: {} is already capped by --counters {}; give each PMU once",
                      item, pmu, it->second),
          2);
    }
    given[pmu] = item;
    caps[pmu] = static_cast<int>(n);
  }
  return caps;
}

cpu::CpuSet pick_cpus(const std::string& text) {
  const cpu::CpuSet online = cpu::online_cpus();
  if (text.empty()) return online;
  auto set = cpu::CpuSet::parse(text);
  if (!set) die(set.error().message, 2);
  if (set->empty()) die("--cpus: give at least one CPU, e.g. 0 or 0-1", 2);
  const cpu::CpuSet offline = *set - online;
  if (!offline.empty()) {
    die(fmt::format("--cpus {}: CPU {} is offline (online: {}); bring it up with `pctx hotplug "
                    "up {}` or choose online CPUs",
                    text, offline.to_string(), online.to_string(), offline.to_string()),
        2);
  }
  return *set;
}

// What the CPUs did during the run: when each was offline, from a hotplug step of the
// run's own (the runtime follows hotplug done by anyone).
class CpuTimeline {
 public:
  explicit CpuTimeline(const cpu::CpuSet& online_at_start, const cpu::CpuSet& managed)
      : start_(Clock::now()) {
    for (int c : managed.cpus()) {
      if (online_at_start.test(c)) {
        seen_.set(c);
      } else {
        since_[c] = start_;
      }
    }
  }
  void down(int c) {
    std::lock_guard lock(mutex_);
    since_[c] = Clock::now();
  }
  void up(int c) {
    std::lock_guard lock(mutex_);
    seen_.set(c);
    if (auto it = since_.find(c); it != since_.end()) {
      offline_[c] += Clock::now() - it->second;
      since_.erase(it);
    }
  }
  cpu::CpuSet seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  Clock::duration offline(int c) const {
    std::lock_guard lock(mutex_);
    Clock::duration d = offline_.count(c) ? offline_.at(c) : Clock::duration{};
    if (auto it = since_.find(c); it != since_.end()) d += Clock::now() - it->second;
    return d;
  }

 private:
  mutable std::mutex mutex_;
  Clock::time_point start_;
  cpu::CpuSet seen_;  // online at some time in the run
  std::map<int, Clock::time_point> since_;
  std::map<int, Clock::duration> offline_;
};

struct TaskInfo {
  sched::TaskRef task;
  Workload workload;
  int home_cpu;
  std::atomic<uint64_t> work{0};
  std::vector<EventSetMember> events;  // the spec's groups, installed in the task
};

nlohmann::json event_json(const EventSetMember& m, const core::Reading& r) {
  const auto s = pmu::scale(r.count, r.time_enabled, r.time_running);
  nlohmann::json j;
  j["event"] = m.label;
  j["count"] = r.count;
  j["time_enabled"] = r.time_enabled;
  j["time_running"] = r.time_running;
  if (s.counted) {
    j["scaled"] = s.value;
  } else {
    j["scaled"] = nullptr;
  }
  j["percent_running"] = 100.0 * s.running_fraction;
  return j;
}

std::vector<std::string> event_row(const std::string& scope, const std::string& workload,
                                   const EventSetMember& m, const core::Reading& r) {
  const auto s = pmu::scale(r.count, r.time_enabled, r.time_running);
  return {scope,
          workload,
          m.label,
          fmt::format("{}", r.count),
          fmt::format("{}", r.time_enabled),
          fmt::format("{}", r.time_running),
          s.counted ? fmt::format("{}", s.value) : "not counted",
          fmt::format("{:.1f}%", 100.0 * s.running_fraction)};
}

void run(const RunOptions& o) {
  if (o.tasks < 1) die("--tasks must be at least 1", 2);
  if (o.duration <= 0) die("--duration must be positive, in seconds", 2);
  std::vector<Workload> workloads;
  for (const auto& w : o.workloads) {
    auto parsed = parse_workload(w);
    if (!parsed) {
      die(fmt::format("unknown workload '{}'; choose from {}", w,
                      fmt::join(workload_names(), ", ")),
          2);
    }
    workloads.push_back(*parsed);
  }
  const cpu::CpuSet cpus = pick_cpus(o.cpus);
  // Without --cpus the runtime manages every present CPU, so that one coming online during
  // the run gets a CPU thread and its events count there.
  const cpu::CpuSet managed = o.cpus.empty() ? cpu::present_cpus() : cpus;
  const std::string cpu_spec = o.cpu_spec == "none" ? "" : o.cpu_spec;
  auto pmus = or_die(PmuSet::create(parse_caps(o.counters)));
  const std::string spec = !o.spec.empty() ? o.spec
                           : pmu::probe_capabilities().hardware_pmu
                               ? "cycles,instructions"
                               : "tsc,task-clock,page-faults,context-switches";

  // Declared before the runtime and the scheduler, whose callbacks and hotplug step use
  // them, so they outlive both also when an error unwinds the stack.
  std::mutex log_mutex;
  std::vector<std::string> widened, restored;
  CpuTimeline timeline(cpu::online_cpus() & managed, managed);

  cpu::RuntimeOptions ro;
  ro.cpus = managed;
  ro.thread.scheduler = sched::Scheduler::hook();
  auto runtime = or_die(cpu::CpuRuntime::start(ro));
  auto core = or_die(core::PerfCore::start(*runtime));
  if (auto st = pmus->prepare(*core, spec); !st) die(st.error().message);
  if (!cpu_spec.empty()) {
    if (auto st = pmus->prepare(*core, cpu_spec); !st) die("--cpu-events: " + st.error().message);
  }
  auto scheduler = or_die(sched::Scheduler::start(*runtime, core.get()));
  scheduler->on_affinity_widened([&](const sched::AffinityWidened& w) {
    std::lock_guard lock(log_mutex);
    widened.push_back(w.task_name);
    fmt::print(stderr, "pctx run: cpu{} went offline: {} may now run on any CPU (was {})\n",
               w.from_cpu, w.task_name, w.old_affinity.to_string());
  });
  scheduler->on_affinity_restored([&](const sched::AffinityRestored& r) {
    std::lock_guard lock(log_mutex);
    restored.push_back(r.task_name);
    fmt::print(stderr, "pctx run: cpu{} is back: {} has its affinity {} again\n", r.cpu,
               r.task_name, r.affinity.to_string());
  });
  runtime->hotplug().add_step({"pctx-run",
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
  } step_guard{runtime->hotplug()};

  // CPU-context events, like perf stat -a: installed in every managed CPU's context (an
  // offline CPU's count once it is back), kept across offline periods.
  std::map<int, std::vector<EventSetMember>> cpu_events;
  if (!cpu_spec.empty()) {
    for (int c : managed.cpus()) {
      auto members = pmus->create_groups(*core, cpu_spec);
      if (!members) die("--cpu-events: " + members.error().message, 2);
      for (auto& m : *members) {
        if (m.leader && core->install(core->cpu_context(c), m.event) != 0) {
          die(fmt::format("cannot install CPU event '{}' on cpu{}", m.label, c));
        }
      }
      cpu_events[c] = std::move(*members);
    }
  }

  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<TaskInfo>> tasks;
  size_t next_workload = 0;
  for (int c : cpus.cpus()) {
    for (int i = 0; i < o.tasks; ++i) {
      auto info = std::make_unique<TaskInfo>();
      info->workload = workloads[next_workload++ % workloads.size()];
      info->home_cpu = c;
      TaskInfo* raw = info.get();
      sched::SpawnOptions so;
      so.name = fmt::format("{}-{}.{}", to_string(info->workload), c, i);
      so.affinity = cpu::CpuSet::of({c});
      so.start = false;
      const uint64_t seed = static_cast<uint64_t>(c) * 1000 + static_cast<uint64_t>(i) + 1;
      info->task = or_die(scheduler->spawn(
          [raw, &stop, seed] { raw->work = run_workload(raw->workload, stop, seed); }, so));
      info->events = or_die(pmus->create_groups(*core, spec));
      core::ContextRef ctx = or_die(core->task_context(*info->task));
      for (auto& m : info->events) {
        if (m.leader && core->install(ctx.get(), m.event) != 0) {
          die(fmt::format("cannot install '{}' in task {}", m.label, so.name));
        }
      }
      tasks.push_back(std::move(info));
    }
  }
  for (auto& t : tasks) scheduler->wake(*t->task);

  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.duration));
  const bool progress = isatty(STDERR_FILENO) != 0 && o.duration >= 1.0;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(
        std::min<Clock::duration>(end - Clock::now(), std::chrono::milliseconds(200)));
    if (progress) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      fmt::print(stderr, "\r  pctx run: {:.1f} / {:.1f} s, {} tasks on CPUs {}, {} switches ",
                 elapsed, o.duration, tasks.size(), cpus.to_string(),
                 scheduler->stats().switches.load());
    }
  }
  stop = true;
  for (auto& t : tasks) t->task->join();
  if (progress) fmt::print(stderr, "\r\033[K");

  // Results: tasks (their events are in Exit, frozen at exit), then CPUs (read live).
  nlohmann::json j;
  j["spec"] = spec;
  j["duration_s"] = o.duration;
  j["tasks"] = nlohmann::json::array();
  j["cpus"] = nlohmann::json::array();
  Table table(
      {"scope", "workload", "event", "count", "enabled ns", "running ns", "scaled", "running"});
  Table summary(
      {"task", "cpu", "workload", "on cpu ms", "tsc ticks", "switches", "migrations", "work"});
  for (auto& t : tasks) {
    sched::Task& task = *t->task;
    nlohmann::json tj;
    tj["id"] = task.id();
    tj["name"] = task.name();
    tj["workload"] = to_string(t->workload);
    tj["cpu"] = task.cpu();
    tj["on_cpu_ns"] = task.on_cpu_time().count();
    tj["on_cpu_ticks"] = task.on_cpu_ticks();
    tj["switches"] = task.switches();
    tj["migrations"] = task.migrations();
    tj["work"] = t->work.load();
    tj["affinity_widened"] = task.affinity_widened();
    tj["events"] = nlohmann::json::array();
    for (auto& m : t->events) {
      const core::Reading r = core->read(m.event);
      tj["events"].push_back(event_json(m, r));
      table.add(event_row(task.name(), to_string(t->workload), m, r));
    }
    summary.add({task.name(), fmt::format("{}", task.cpu()), to_string(t->workload),
                 fmt::format("{:.1f}", static_cast<double>(task.on_cpu_time().count()) / 1e6),
                 fmt::format("{}", task.on_cpu_ticks()), fmt::format("{}", task.switches()),
                 fmt::format("{}", task.migrations()), fmt::format("{}", t->work.load())});
    j["tasks"].push_back(std::move(tj));
  }
  // Per CPU: its own context's events, for every CPU online at some time in the run.
  const cpu::CpuSet seen = timeline.seen();
  for (auto& [c, members] : cpu_events) {
    if (!seen.test(c)) continue;
    nlohmann::json cj;
    cj["cpu"] = c;
    cj["offline_ns"] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(timeline.offline(c)).count();
    cj["events"] = nlohmann::json::array();
    for (auto& m : members) {
      const core::Reading r = core->read(m.event);
      cj["events"].push_back(event_json(m, r));
      table.add(event_row(fmt::format("cpu{}", c), "(cpu)", m, r));
    }
    j["cpus"].push_back(std::move(cj));
  }
  {
    std::lock_guard lock(log_mutex);
    j["affinity_widened"] = widened;
    j["affinity_restored"] = restored;
  }
  j["rebalance_delays_ns"] = nlohmann::json::array();
  for (auto d : scheduler->rebalance_delays()) j["rebalance_delays_ns"].push_back(d.count());

  if (o.out.json) {
    fmt::print("{}\n", j.dump(2));
  } else if (!o.out.csv_separator.empty()) {
    table.print_csv(stdout, o.out.csv_separator);
  } else {
    fmt::print("{} tasks on CPUs {} for {:.2f} s, events {}\n\n", tasks.size(), cpus.to_string(),
               o.duration, spec);
    summary.print(stdout);
    fmt::print("\n");
    table.print(stdout);
    fmt::print(
        "\nscaled = count * enabled / running; running < 100% means the events were "
        "multiplexed (--counters PMU=N caps a PMU)\n");
    for (int c : seen.cpus()) {
      const auto off = timeline.offline(c);
      if (off.count() > 0) {
        fmt::print("cpu{} was offline for {:.1f} ms of the run\n", c,
                   std::chrono::duration<double, std::milli>(off).count());
      }
    }
    std::lock_guard lock(log_mutex);
    if (!widened.empty() || !restored.empty()) {
      fmt::print("hotplug: {} task(s) widened to any CPU, {} given their affinity back\n",
                 widened.size(), restored.size());
    }
  }

  // Tear down in order: events out of their contexts, then the scheduler, core and runtime.
  for (auto& t : tasks) {
    for (auto& m : t->events) {
      if (!m.leader) continue;
      if (m.event->ctx != nullptr) core->remove(m.event);
      m.event->put();
    }
  }
  for (auto& [c, members] : cpu_events) {
    for (auto& m : members) {
      if (!m.leader) continue;
      if (m.event->ctx != nullptr) core->remove(m.event);
      m.event->put();
    }
  }
  tasks.clear();
  scheduler.reset();
  core.reset();
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "run built-in workloads as pctx tasks and count them");
  auto o = std::make_shared<RunOptions>();
  // -w is split here rather than by CLI11's delimiter, which drops empty items and so
  // accepted `-w spin,,chase`.
  auto workload_lists = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-w,--workload", *workload_lists,
                  "workloads, given to the tasks in turn: spin, chase, syscall, mixed")
      ->check(CLI::Validator(
          [](std::string& list) -> std::string {
            const auto items = split_commas(list);
            for (const auto& w : items) {
              if (parse_workload(w)) continue;
              return fmt::format("{}{}; write e.g. -w spin,chase (workloads: {})",
                                 w.empty() ? "an empty item" : "unknown workload '" + w + "'",
                                 items.size() > 1 ? " in '" + list + "'" : "",
                                 fmt::join(workload_names(), ", "));
            }
            return {};
          },
          ""))
      ->default_str("spin,chase,syscall,mixed");
  // 4096 tasks per CPU is far past what multiplexing needs to show; each task maps a 256 KiB
  // stack, so more only risks memory (--tasks 100000 died in std::bad_alloc).
  cmd->add_option("--tasks", o->tasks, "tasks per CPU, 1 to 4096")
      ->check(integer_between(1, 4096, "a number of tasks per CPU", "--tasks 2"))
      ->capture_default_str();
  cmd->add_option("--cpus", o->cpus, "CPU list, e.g. 0-1 (default: every online CPU)")
      ->check(not_empty("write CPUs like 0 or 0-1, or leave --cpus out for every online CPU"));
  // Bounded so that the run's end time is representable; below 1 ms nothing runs.
  cmd->add_option("--duration", o->duration, "seconds, 0.001 to 604800 (a week)")
      ->check(number_between(0.001, 604800, "a number of seconds", "--duration 2"))
      ->capture_default_str();
  cmd->add_option("-e,--events", o->spec,
                  "event spec (default: cycles,instructions with a hardware PMU, else "
                  "tsc,task-clock,page-faults,context-switches)")
      ->check(not_empty("name events, e.g. -e task-clock, or leave -e out for the default"));
  cmd->add_option("--cpu-events", o->cpu_spec,
                  "events of each CPU's own context, like perf stat -a, kept across hotplug; "
                  "'none' for none")
      ->check(not_empty("name events, e.g. --cpu-events task-clock, or 'none' for none"))
      ->capture_default_str();
  cmd->add_option("--counters", o->counters,
                  "cap a PMU's counters to show multiplexing, e.g. tsc=2 (PMUs: tsc, hardware); "
                  "repeat for more PMUs");
  o->out.add_to(cmd);
  cmd->footer(
      "Examples:\n"
      "  pctx run --duration 2\n"
      "  pctx run -e task-clock,page-faults --cpus 0 --tasks 1\n"
      "  pctx run --counters tsc=2 -e tsc,tsc,tsc,tsc --json\n"
      "  pctx run -w chase --cpu-events none -x,");
  cmd->callback([o, workload_lists] {
    if (!workload_lists->empty()) {
      o->workloads.clear();
      for (const auto& list : *workload_lists) {
        for (const auto& w : split_commas(list)) o->workloads.push_back(w);
      }
    }
    // Checked before run() starts anything: a bad --counters is a usage error.
    parse_caps(o->counters);
    run(*o);
  });
}

}  // namespace pctx::tools
