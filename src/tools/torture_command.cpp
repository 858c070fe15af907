// `pctx torture`: the command line over run_torture (tools/torture.hpp).
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "pctx/base/errno_text.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "tools/cli_checks.hpp"
#include "tools/commands.hpp"
#include "tools/torture.hpp"

namespace pctx::tools {

namespace {

constexpr std::string_view kCommand = "pctx torture";

// The options' ranges are checked while parsing; what is left needs the machine. The output
// file comes before root and the CPUs, so that its error is the same wherever it runs.
void check(const TortureOptions& o) {
  if (!o.json_path.empty()) {
    const std::string why = cannot_write(o.json_path);  // before the run, not after it
    if (!why.empty()) {
      die(kCommand,
          fmt::format("--json {}: cannot write it ({}); choose a writable path", o.json_path, why),
          kUsageError);
    }
  }
  if (geteuid() != 0) {
    die(kCommand, "CPU hotplug needs root: run `sudo pctx torture ...`", kUsageError);
  }
  cpu::CpuSet victims = cpu::hotpluggable_cpus() & cpu::online_cpus();
  if (!o.allow_cpu0) victims = victims - cpu::CpuSet::of({0});
  if (victims.empty()) {
    const cpu::CpuSet h = cpu::hotpluggable_cpus();
    die(kCommand,
        fmt::format("no online CPU to take down (hotpluggable: {}{}); bring one up with "
                    "`pctx hotplug up`, or add --allow-cpu0",
                    h.empty() ? "none" : h.to_string(), o.allow_cpu0 ? "" : ", CPU 0 left alone"),
        kUsageError);
  }
}

}  // namespace

void add_torture_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "torture", "take CPUs down and up under load, checking the perf core's invariants (root)");
  auto o = std::make_shared<TortureOptions>();
  auto seed = std::make_shared<std::string>();
  // Bounded so that every time computed from them is representable.
  cmd->add_option("--duration", o->duration_s, "seconds, 0.001 to 604800 (a week)")
      ->check(number_between(0.001, 604800, "a number of seconds", "--duration 20"))
      ->capture_default_str();
  cmd->add_option("--cycles", o->cycles, "stop after this many offline+online pairs (0: none)")
      ->check(integer_between(0, 1000000000, "a number of cycles", "--cycles 500"))
      ->capture_default_str();
  cmd->add_option("--interval", o->interval_ms,
                  "milliseconds between hotplug operations, 0 (back to back) to 3600000")
      ->check(number_between(0, 3600000, "a number of milliseconds", "--interval 5"))
      ->capture_default_str();
  cmd->add_option("--seed", *seed, "seed of every random choice (default: random, printed)")
      ->check(integer_between(0, std::numeric_limits<long long>::max(), "a seed", "--seed 42"));
  cmd->add_flag("--external", o->external,
                "write sysfs directly, as another program would; pctx follows from uevents");
  cmd->add_flag("--allow-cpu0", o->allow_cpu0, "take CPU 0 down too, where it can be");
  cmd->add_option("--tasks", o->tasks, "tasks per online CPU, 1 to 64")
      ->check(integer_between(1, 64, "a number of tasks per CPU", "--tasks 2"))
      ->capture_default_str();
  cmd->add_option("--installers", o->installers,
                  "threads that install, remove, enable, disable and read events, 0 to 16")
      ->check(integer_between(0, 16, "a number of installer threads", "--installers 2"))
      ->capture_default_str();
  cmd->add_option("--tsc-counters", o->tsc_counters,
                  "counters of the tasks' tsc PMU, 2 to 64 (few: their groups multiplex)")
      ->check(integer_between(2, 64, "a number of counters", "--tsc-counters 2"))
      ->capture_default_str();
  cmd->add_option("--deadline", o->deadline_s,
                  "seconds one install, read or hotplug step may take before the watchdog "
                  "fails the run, 1 to 86400")
      ->check(number_between(1, 86400, "a number of seconds", "--deadline 20"))
      ->capture_default_str();
  cmd->add_option("--json", o->json_path, "also write the report as JSON to this file")
      ->check(not_empty("give a file name, e.g. --json report.json"));
  cmd->footer(
      "Needs root and a hotpluggable CPU. Exit codes: 0 SUCCESS, 1 FAILURE (a violation), 2 "
      "bad usage, 3 HOTPLUG_FAIL (only hotplug operations failed).\n\n"
      "Examples:\n"
      "  pctx torture --duration 60\n"
      "  pctx torture --external --cycles 500 --json report.json\n"
      "  pctx torture --seed 42 --interval 0");
  cmd->callback([o, seed] {
    if (seed->empty()) {
      o->seed = std::random_device{}();
    } else {
      o->seed = std::strtoull(seed->c_str(), nullptr, 10);  // checked while parsing
    }
    check(*o);
    o->progress = isatty(STDERR_FILENO) != 0;
    fmt::print(stderr, "pctx torture: seed {} (--seed {} repeats the choices)\n", o->seed, o->seed);
    TortureReport report;
    const int status = run_torture(*o, report);
    report.print(stdout);
    if (!o->json_path.empty()) {
      FILE* f = std::fopen(o->json_path.c_str(), "w");
      const bool written =
          f != nullptr && std::fputs((report.json().dump(2) + "\n").c_str(), f) >= 0;
      if (f == nullptr || std::fclose(f) != 0 || !written) {
        die(kCommand, fmt::format("could not write {}: {}", o->json_path, base::errno_text(errno)));
      }
    }
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace pctx::tools
