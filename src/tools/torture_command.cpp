// `pctx torture`: the command line over run_torture (tools/torture.hpp).
#include <unistd.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "pctx/cpu/sysfs.hpp"
#include "tools/commands.hpp"
#include "tools/torture.hpp"

namespace pctx::tools {

namespace {

[[noreturn]] void usage_error(const std::string& message) {
  fmt::print(stderr, "pctx torture: {}\n", message);
  throw CLI::RuntimeError(2);
}

void check(const TortureOptions& o) {
  if (!std::isfinite(o.duration_s) || o.duration_s <= 0) {
    usage_error("--duration must be a positive number of seconds, e.g. 20");
  }
  if (!std::isfinite(o.interval_ms) || o.interval_ms < 0) {
    usage_error("--interval must be zero or more milliseconds");
  }
  if (o.tasks < 1 || o.tasks > 64) usage_error("--tasks must be between 1 and 64 per CPU");
  if (o.installers < 0 || o.installers > 16) usage_error("--installers must be 0 to 16");
  if (o.tsc_counters < 2) usage_error("--tsc-counters must be at least 2");
  if (!std::isfinite(o.deadline_s) || o.deadline_s < 1) usage_error("--deadline must be >= 1 s");
  if (geteuid() != 0) {
    usage_error("CPU hotplug needs root: run `sudo pctx torture ...`");
  }
  cpu::CpuSet victims = cpu::hotpluggable_cpus() & cpu::online_cpus();
  if (!o.allow_cpu0) victims = victims - cpu::CpuSet::of({0});
  if (victims.empty()) {
    const cpu::CpuSet h = cpu::hotpluggable_cpus();
    usage_error(
        fmt::format("no online CPU to take down (hotpluggable: {}{}); bring one up with "
                    "`pctx hotplug up`, or add --allow-cpu0",
                    h.empty() ? "none" : h.to_string(), o.allow_cpu0 ? "" : ", CPU 0 left alone"));
  }
  if (!o.json_path.empty()) {
    FILE* f = std::fopen(o.json_path.c_str(), "w");  // before the run, not after it
    if (f == nullptr) {
      usage_error(fmt::format("--json {}: cannot write it ({}); choose a writable path",
                              o.json_path, std::strerror(errno)));
    }
    std::fclose(f);
  }
}

}  // namespace

void add_torture_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "torture", "take CPUs down and up under load, checking the perf core's invariants (root)");
  auto o = std::make_shared<TortureOptions>();
  auto seed = std::make_shared<std::string>();
  cmd->add_option("--duration", o->duration_s, "seconds")->capture_default_str();
  cmd->add_option("--cycles", o->cycles, "stop after this many offline+online pairs (0: none)")
      ->capture_default_str();
  cmd->add_option("--interval", o->interval_ms, "milliseconds between hotplug operations")
      ->capture_default_str();
  cmd->add_option("--seed", *seed, "seed of every random choice (default: random, printed)");
  cmd->add_flag("--external", o->external,
                "write sysfs directly, as another program would; pctx follows from uevents");
  cmd->add_flag("--allow-cpu0", o->allow_cpu0, "take CPU 0 down too, where it can be");
  cmd->add_option("--tasks", o->tasks, "tasks per online CPU")->capture_default_str();
  cmd->add_option("--installers", o->installers,
                  "threads that install, remove, enable, disable and read events")
      ->capture_default_str();
  cmd->add_option("--tsc-counters", o->tsc_counters,
                  "counters of the tasks' tsc PMU (few: their groups multiplex)")
      ->capture_default_str();
  cmd->add_option("--deadline", o->deadline_s,
                  "seconds one install, read or hotplug step may take before the watchdog "
                  "fails the run")
      ->capture_default_str();
  cmd->add_option("--json", o->json_path, "also write the report as JSON to this file");
  cmd->footer(
      "Exit status: 0 SUCCESS, 1 FAILURE (a violation), 2 bad usage, 3 HOTPLUG_FAIL (only "
      "hotplug operations failed).\n\nExamples:\n  sudo pctx torture --duration 60\n"
      "  sudo pctx torture --external --cycles 500 --json report.json\n"
      "  sudo pctx torture --seed 42 --interval 0");
  cmd->callback([o, seed] {
    if (seed->empty()) {
      o->seed = std::random_device{}();
    } else {
      char* end = nullptr;
      o->seed = std::strtoull(seed->c_str(), &end, 0);
      if (end == seed->c_str() || *end != '\0') usage_error("--seed must be a number");
    }
    check(*o);
    o->progress = isatty(STDERR_FILENO) != 0;
    fmt::print(stderr, "pctx torture: seed {} (--seed {} repeats the choices)\n", o->seed, o->seed);
    TortureReport report;
    const int status = run_torture(*o, report);
    report.print(stdout);
    if (!o->json_path.empty()) {
      FILE* f = std::fopen(o->json_path.c_str(), "w");
      if (f == nullptr || std::fputs((report.json().dump(2) + "\n").c_str(), f) < 0 ||
          std::fclose(f) != 0) {
        fmt::print(stderr, "pctx torture: could not write {}\n", o->json_path);
        throw CLI::RuntimeError(1);
      }
    }
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace pctx::tools
