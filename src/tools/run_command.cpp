// `pctx run`: built-in workloads as pctx tasks on the CPU threads, counted per task and per
// CPU with the perf core's semantics, and reported as `perf stat` reports: a table for
// people, -x CSV and --json for machines, -I intervals, -r repeats with their spread, and
// what was counted so far on Ctrl-C or SIGTERM. run_session.cpp collects; this reports.
#include <unistd.h>

#include <csignal>
#include <cstring>  // sigdescr_np: a GNU extension, declared under _GNU_SOURCE

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "pctx/cpu/sysfs.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/catalog.hpp"
#include "pctx/pmu/spec.hpp"
#include "tools/cli_checks.hpp"
#include "tools/commands.hpp"
#include "tools/run_session.hpp"
#include "tools/signals.hpp"
#include "tools/table.hpp"

namespace pctx::tools {

namespace {

struct RunOptions {
  std::string cpus;
  int tasks = 2;
  double duration = 1.0;
  std::string spec;
  std::string cpu_spec = "task-clock,context-switches";
  std::vector<std::string> counters;
  std::vector<std::string> workloads = {"spin", "chase", "syscall", "mixed"};
  int interval_ms = 0;
  int repeat = 1;
  OutputOptions out;
};

constexpr std::string_view kCommand = "pctx run";

// SIGINT and SIGTERM end the run early with its counts printed, as perf stat does; a
// second one while the first is handled ends the process the default way.
std::atomic<int> g_stop_signal{0};

void on_stop_signal(int sig) {
  if (g_stop_signal.exchange(sig) != 0) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

constexpr int kStopSignals[] = {SIGINT, SIGTERM};

class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (auto st = install_handlers(kStopSignals, sa, old_); !st) {
      die(kCommand, st.error().message + "; Ctrl-C would end the run without printing its counts");
    }
  }
  ~StopSignals() { restore_handlers(kStopSignals, old_); }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_[std::size(kStopSignals)]{};
};

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
      die(kCommand,
          fmt::format("--counters {}: write PMU=N, e.g. tsc=2 (one PMU per --counters)", item), 2);
    }
    if (n < 1 || n > kMaxCounterCap) {
      die(kCommand,
          fmt::format("--counters {}: N is the PMU's number of counters, from 1 to {}", item,
                      kMaxCounterCap),
          2);
    }
    const std::string pmu = item.substr(0, eq);
    if (auto it = given.find(pmu); it != given.end()) {
      die(kCommand,
          fmt::format("--counters {}: {} is already capped by --counters {}; give each PMU once",
                      item, pmu, it->second),
          2);
    }
    given[pmu] = item;
    caps[pmu] = static_cast<int>(n);
  }
  return caps;
}

cpu::CpuSet pick_cpus(const RunOptions& o, bool given) {
  cpu::CpuSet online = cpu::online_cpus();
  if (!given) return online;
  auto set = cpu::CpuSet::parse(o.cpus);
  if (!set) die(kCommand, fmt::format("--cpus: {}", set.error().message), 2);
  if (set->empty()) die(kCommand, "--cpus: give at least one CPU, e.g. 0 or 0-1", 2);
  const cpu::CpuSet offline = *set - online;
  if (!offline.empty()) {
    die(kCommand,
        fmt::format("--cpus {}: CPU {} is offline or absent (online: {}); bring it up with `pctx "
                    "hotplug up {}` or choose online CPUs",
                    o.cpus, offline.to_string(), online.to_string(), offline.to_string()),
        2);
  }
  return *set;
}

std::string group_text(const pmu::GroupTerm& g) {
  std::string text;
  for (const auto& t : g.events) text += (text.empty() ? "" : ",") + t.text;
  return g.braced ? "{" + text + "}" : text;
}

// A spec's mistakes are usage errors, found before anything starts: its syntax, unknown
// names (with suggestions), modifiers an event does not take, and tsc groups larger than
// the tsc driver's counters. What only the kernel can say (no hardware PMU, permission)
// comes from the run, as a runtime failure.
void check_spec(const std::string& spec, const std::map<std::string, int>& caps,
                const std::string& option) {
  auto parsed = pmu::parse_spec(spec);
  if (!parsed) die(kCommand, fmt::format("{}: {}", option, parsed.error().message), 2);
  const int tsc_counters = caps.count("tsc") ? caps.at("tsc") : 4;
  for (const auto& g : parsed->groups) {
    int tsc = 0;
    for (const auto& term : g.events) {
      auto r = pmu::resolve_event(term);
      if (!r) die(kCommand, fmt::format("{}: {}", option, r.error().message), 2);
      tsc += r->source == pmu::EventSource::kTsc ? 1 : 0;
    }
    if (tsc > tsc_counters) {
      die(kCommand,
          fmt::format("{}: too many events in the group {}: the tsc PMU has {} counters, the "
                      "group would need {}; split it into smaller groups (separate groups are "
                      "multiplexed) or raise --counters tsc=N",
                      option, group_text(g), tsc_counters, tsc),
          2);
    }
  }
}

RunPlan make_plan(const RunOptions& o, bool cpus_given) {
  if (o.interval_ms < 0 || (o.interval_ms > 0 && o.interval_ms < 10)) {
    die(kCommand,
        fmt::format("-I {}: give an interval of at least 10 ms, e.g. -I 100", o.interval_ms), 2);
  }
  if (o.repeat < 1 || o.repeat > 1000) {
    die(kCommand, fmt::format("-r {}: give 1 to 1000 runs", o.repeat), 2);
  }
  if (o.interval_ms > 0 && o.repeat > 1) {
    die(kCommand, "-I and -r together: intervals of repeated runs would mix; use one of them", 2);
  }
  RunPlan plan;
  for (const auto& w : o.workloads) {
    auto parsed = parse_workload(w);
    if (!parsed) {
      die(kCommand,
          fmt::format("-w: unknown workload '{}'; choose from {}", w,
                      fmt::join(workload_names(), ", ")),
          2);
    }
    plan.workloads.push_back(*parsed);
  }
  plan.cpus = pick_cpus(o, cpus_given);
  // Without --cpus the runtime manages every present CPU, so that one coming online during
  // the run gets a CPU thread and its events count there.
  plan.managed = cpus_given ? plan.cpus : cpu::present_cpus();
  plan.tasks_per_cpu = o.tasks;
  plan.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(o.duration));
  plan.interval = std::chrono::milliseconds(o.interval_ms);
  plan.cpu_spec = o.cpu_spec == "none" ? "" : o.cpu_spec;
  plan.caps = parse_caps(o.counters);
  for (const auto& [name, n] : plan.caps) {
    if (name != "tsc" && name != "hardware") {
      die(kCommand,
          fmt::format("--counters {}={}: no PMU named '{}' has a counter limit; use tsc=N or "
                      "hardware=N",
                      name, n, name),
          2);
    }
  }
  plan.spec = !o.spec.empty() ? o.spec
              : pmu::probe_capabilities().hardware_pmu
                  ? "cycles,instructions"
                  : "tsc,task-clock,page-faults,context-switches";
  check_spec(plan.spec, plan.caps, "-e");
  if (!plan.cpu_spec.empty()) check_spec(plan.cpu_spec, plan.caps, "--cpu-events");
  return plan;
}

// The runs' rows merged: means of counts and times, and perf's spread, the standard
// deviation of the mean relative to it, in percent.
std::vector<StatRow> merge_runs(const std::vector<RunOutcome>& runs) {
  std::vector<StatRow> rows = runs.back().rows;
  const double n = static_cast<double>(runs.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    double count = 0, enabled = 0, running = 0, sum = 0, sum2 = 0;
    for (const auto& run : runs) {
      const StatRow& r = run.rows[i];
      count += static_cast<double>(r.count);
      enabled += static_cast<double>(r.enabled);
      running += static_cast<double>(r.running);
      sum += r.value();
      sum2 += r.value() * r.value();
    }
    // The shown value is the mean of the runs' scaled values, as perf's; the times are the
    // means, and the count is set so that the row scales to that mean.
    StatRow& row = rows[i];
    const double mean = sum / n;
    row.enabled = static_cast<uint64_t>(std::llround(enabled / n));
    row.running = static_cast<uint64_t>(std::llround(running / n));
    row.count = row.enabled == 0 ? static_cast<uint64_t>(std::llround(count / n))
                                 : static_cast<uint64_t>(std::llround(
                                       mean / row.scale * static_cast<double>(row.running) /
                                       static_cast<double>(row.enabled)));
    const double var = n > 1 ? std::max(0.0, (sum2 - n * mean * mean) / (n - 1)) : 0.0;
    row.variance = mean > 0 ? 100.0 * std::sqrt(var / n) / mean : 0.0;
  }
  double elapsed = 0;
  for (const auto& run : runs) elapsed += run.elapsed_s;
  add_metrics(rows, elapsed / n);
  return rows;
}

nlohmann::json document(const RunOptions& o, const RunPlan& plan,
                        const std::vector<RunOutcome>& runs, const std::vector<StatRow>& rows) {
  const RunOutcome& last = runs.back();
  auto events_of = [&](const std::string& scope) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& r : rows) {
      if (r.scope == scope) a.push_back(stat_json(r));
    }
    return a;
  };
  nlohmann::json j;
  j["spec"] = plan.spec;
  j["cpu_spec"] = plan.cpu_spec;
  j["duration_s"] = o.duration;
  j["runs"] = runs.size();
  double elapsed = 0;
  for (const auto& r : runs) elapsed += r.elapsed_s;
  j["elapsed_s"] = elapsed / static_cast<double>(runs.size());
  j["interrupted"] = last.interrupted;
  j["tasks"] = nlohmann::json::array();
  for (const TaskRecord& t : last.tasks) {
    j["tasks"].push_back({{"id", t.id},
                          {"name", t.name},
                          {"scope", t.scope},
                          {"workload", to_string(t.workload)},
                          {"cpu", t.cpu},
                          {"on_cpu_ns", t.on_cpu_ns},
                          {"on_cpu_ticks", t.on_cpu_ticks},
                          {"switches", t.switches},
                          {"migrations", t.migrations},
                          {"work", t.work},
                          {"affinity_widened", t.affinity_widened},
                          {"events", events_of(t.scope)}});
  }
  j["cpus"] = nlohmann::json::array();
  for (const CpuRecord& c : last.cpus) {
    j["cpus"].push_back({{"cpu", c.cpu},
                         {"scope", c.scope},
                         {"offline_ns", c.offline.count()},
                         {"events", events_of(c.scope)}});
  }
  j["affinity_widened"] = last.widened;
  j["affinity_restored"] = last.restored;
  j["rebalance_delays_ns"] = last.rebalance_delays_ns;
  return j;
}

void print_table(const RunOptions& o, const RunPlan& plan, const std::vector<RunOutcome>& runs,
                 const std::vector<StatRow>& rows) {
  const RunOutcome& last = runs.back();
  std::vector<std::string> used;  // the workloads the tasks got, in turn
  for (size_t i = 0; i < std::min(last.tasks.size(), o.workloads.size()); ++i) {
    used.push_back(o.workloads[i]);
  }
  fmt::print("\n Performance counter stats for {} task{} on CPUs {} ({}){}:\n", last.tasks.size(),
             last.tasks.size() == 1 ? "" : "s", plan.cpus.to_string(), fmt::join(used, ", "),
             runs.size() > 1 ? fmt::format(" ({} runs)", runs.size()) : "");
  print_stat_table(stdout, rows);
  std::vector<double> elapsed;
  elapsed.reserve(runs.size());
  for (const auto& r : runs) elapsed.push_back(r.elapsed_s);
  double mean = 0;
  for (double e : elapsed) mean += e / static_cast<double>(elapsed.size());
  fmt::print("\n {:>17.9f} seconds time elapsed{}\n", mean,
             last.interrupted ? " (interrupted)" : "");
  Table summary(
      {"task", "cpu", "workload", "on cpu ms", "tsc ticks", "switches", "migrations", "work"});
  for (const TaskRecord& t : last.tasks) {
    summary.add({t.scope, fmt::format("{}", t.cpu), to_string(t.workload),
                 fmt::format("{:.1f}", static_cast<double>(t.on_cpu_ns) / 1e6),
                 fmt::format("{}", t.on_cpu_ticks), fmt::format("{}", t.switches),
                 fmt::format("{}", t.migrations), fmt::format("{}", t.work)});
  }
  fmt::print("\n");
  summary.print(stdout);
  bool multiplexed = false;
  for (const auto& r : rows) multiplexed |= r.counted() && r.percent_running() < 99.995;
  if (multiplexed) {
    fmt::print(
        "\n(NN.NN%) is the share of the time the event counted: it was multiplexed, and its "
        "count is scaled by enabled/running\n");
  }
  for (const CpuRecord& c : last.cpus) {
    if (c.offline.count() == 0) continue;
    fmt::print("cpu{} was offline for {:.1f} ms of the run\n", c.cpu,
               std::chrono::duration<double, std::milli>(c.offline).count());
  }
  if (!last.widened.empty() || !last.restored.empty()) {
    fmt::print("hotplug: {} task(s) widened to any CPU, {} given their affinity back\n",
               last.widened.size(), last.restored.size());
  }
}

// What a run says while it goes: -I intervals in the output's format, hotplug notes and a
// progress line (for a person watching a run of a second or more) on stderr.
class LiveReporter : public RunObserver {
 public:
  LiveReporter(const RunOptions& o, const RunPlan& plan)
      : o_(o),
        duration_s_(std::chrono::duration<double>(plan.duration).count()),
        progress_(isatty(STDERR_FILENO) != 0 && plan.duration >= std::chrono::seconds(1) &&
                  plan.interval.count() == 0) {}

  void interval(const std::vector<StatRow>& rows) override {
    if (o_.out.json) {
      for (const auto& r : rows) fmt::print("{}\n", stat_json(r).dump());
    } else if (!o_.out.csv_separator.empty()) {
      print_stat_csv(stdout, rows, o_.out.csv_separator);
    } else {
      if (!header_) fmt::print("#           time scope        {:>18} unit  events\n", "counts");
      header_ = true;
      print_stat_table(stdout, rows);
    }
    std::fflush(stdout);
  }
  void note(const std::string& line) override { fmt::print(stderr, "{}: {}\n", kCommand, line); }
  void progress(std::chrono::nanoseconds elapsed, size_t tasks, uint64_t switches,
                bool done) override {
    if (!progress_) return;
    if (done) {
      fmt::print(stderr, "\r\033[K");
      return;
    }
    fmt::print(stderr, "\r  {}: {:.1f} / {:.1f} s, {} tasks, {} switches ", kCommand,
               std::chrono::duration<double>(elapsed).count(), duration_s_, tasks, switches);
  }

 private:
  const RunOptions& o_;
  const double duration_s_;
  const bool progress_;
  bool header_ = false;
};

// The runs of -r (one without it), each a session of its own. An interrupted run ends the
// series; it is kept only when it is the first.
std::vector<RunOutcome> collect_runs(const RunOptions& o, const RunPlan& plan,
                                     RunObserver& observer) {
  std::vector<RunOutcome> runs;
  for (int i = 0; i < o.repeat; ++i) {
    RunOutcome outcome = or_die(kCommand, run_session(plan, g_stop_signal, observer));
    // An interrupted repeat is dropped when complete ones exist: its counts cover less time.
    if (outcome.interrupted && !runs.empty()) break;
    // Rows are merged by position, which holds while every run has the same tasks and CPU
    // rows; a CPU that went offline for a whole run changes that, and such a run is left out.
    if (!runs.empty() && outcome.rows.size() != runs.front().rows.size()) {
      fmt::print(stderr,
                 "{}: run {} has {} rows where the first had {} (a CPU came or "
                 "went); it is left out of the means\n",
                 kCommand, i + 1, outcome.rows.size(), runs.front().rows.size());
      continue;
    }
    runs.push_back(std::move(outcome));
    if (runs.back().interrupted) break;
  }
  return runs;
}

// The counts, in the output's format: merged over the runs, as a table, CSV or JSON.
void report(const RunOptions& o, const RunPlan& plan, const std::vector<RunOutcome>& runs) {
  const std::vector<StatRow> rows = runs.size() > 1 ? merge_runs(runs) : runs.back().rows;
  if (o.out.json) {
    const auto j = document(o, plan, runs, rows);
    fmt::print("{}\n", o.interval_ms > 0 ? j.dump() : j.dump(2));
  } else if (!o.out.csv_separator.empty()) {
    if (o.interval_ms == 0) print_stat_csv(stdout, rows, o.out.csv_separator);
  } else {
    print_table(o, plan, runs, rows);
  }
}

// Returns the signal that ended the run early, 0 if none.
int run(const RunOptions& o, bool cpus_given) {
  const RunPlan plan = make_plan(o, cpus_given);
  const StopSignals signals;
  LiveReporter live(o, plan);
  const std::vector<RunOutcome> runs = collect_runs(o, plan, live);
  if (g_stop_signal.load() != 0) {
    fmt::print(stderr, "{}: interrupted by {}; the counts so far follow\n", kCommand,
               sigdescr_np(g_stop_signal.load()));
  }
  report(o, plan, runs);
  return g_stop_signal.load();
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
  auto* cpus = cmd->add_option("--cpus", o->cpus, "CPU list, e.g. 0-1 (default: every online CPU)");
  cpus->check(not_empty("write CPUs like 0 or 0-1, or leave --cpus out for every online CPU"));
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
  cmd->add_option("-I,--interval-print", o->interval_ms,
                  "print the counts of every interval of this many ms, as perf stat -I");
  cmd->add_option("-r,--repeat", o->repeat,
                  "run this many times and print the means with their spread, as perf stat -r")
      ->capture_default_str();
  o->out.add_to(cmd);
  cmd->footer(
      "Examples:\n"
      "  pctx run --duration 2\n"
      "  pctx run -e task-clock,page-faults --cpus 0 --tasks 1\n"
      "  pctx run --counters tsc=2 -e tsc,tsc,tsc,tsc --json\n"
      "  pctx run -e task-clock,cs -I 200 --duration 1\n"
      "  pctx run -e task-clock -r 5 --duration 0.5 -x,\n"
      "  pctx run -w chase --cpu-events none -x,");
  cmd->callback([o, workload_lists, cpus] {
    if (!workload_lists->empty()) {
      o->workloads.clear();
      for (const auto& list : *workload_lists) {
        for (const auto& w : split_commas(list)) o->workloads.push_back(w);
      }
    }
    // Checked before run() starts anything: a bad --counters is a usage error.
    parse_caps(o->counters);
    if (const int sig = run(*o, cpus->count() > 0); sig != 0) {
      // As perf stat: with the counts printed, the signal ends the process (exit 130 for
      // Ctrl-C in a shell), so a script or a loop sees that it was interrupted.
      std::fflush(stdout);
      signal(sig, SIG_DFL);
      raise(sig);
    }
  });
}

}  // namespace pctx::tools
