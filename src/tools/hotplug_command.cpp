// `pctx hotplug up|down|status|restore CPULIST`: CPU hotplug, journaled and refused where
// it would hurt (the last online CPU, CPUs without an online file, CPU 0 unless asked).
// up and down change all the CPUs listed or none.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "pctx/cpu/hotplug.hpp"
#include "pctx/cpu/sysfs.hpp"
#include "tools/cli_checks.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"

namespace pctx::tools {

namespace {

constexpr std::string_view kCommand = "pctx hotplug";

std::string or_none(const cpu::CpuSet& s) {
  return s.empty() ? "none" : s.to_string();
}

void status(bool json) {
  cpu::HotplugJournal journal;
  if (json) {
    nlohmann::json j;
    j["online"] = cpu::online_cpus().to_string();
    j["offline"] = cpu::offline_cpus().to_string();
    j["hotpluggable"] = cpu::hotpluggable_cpus().to_string();
    j["journal"] = journal.path();
    j["journaled"] = journal.cpus().to_string();
    fmt::print("{}\n", j.dump(2));
    return;
  }
  Table t({"what", "value"});
  t.add({"online", or_none(cpu::online_cpus())});
  t.add({"offline", or_none(cpu::offline_cpus())});
  t.add({"hotpluggable", or_none(cpu::hotpluggable_cpus())});
  t.add({"journal", journal.path()});
  t.add({"taken offline by pctx", or_none(journal.cpus())});
  t.print(stdout, false);
}

}  // namespace

void add_hotplug_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("hotplug", "take CPUs down and up (root), journaled");
  cmd->require_subcommand(1);
  cmd->footer(
      "Exit codes: 0 success, 1 the kernel or permissions refused, 2 bad input (nothing "
      "changed).\n\n"
      "Examples:\n"
      "  pctx hotplug status\n"
      "  pctx hotplug down 1\n"
      "  pctx hotplug up 1\n"
      "  pctx hotplug restore");
  struct Args {
    std::string cpus;
    bool allow_cpu0 = false;
    bool json = false;
  };
  auto args = std::make_shared<Args>();

  auto* down = cmd->add_subcommand("down",
                                   "take CPUs offline; they stay offline until "
                                   "`pctx hotplug up` or `restore`");
  auto* up = cmd->add_subcommand("up", "bring CPUs online");
  for (auto* sub : {down, up}) {
    sub->add_option("cpus", args->cpus, "CPU list, e.g. 1 or 1-3,5")->required();
    sub->add_flag("--allow-cpu0", args->allow_cpu0, "allow CPU 0 (left alone otherwise)");
  }
  down->footer(
      "Examples:\n"
      "  pctx hotplug down 1\n"
      "  pctx hotplug up 1");
  up->footer(
      "Examples:\n"
      "  pctx hotplug up 1\n"
      "  pctx hotplug restore");
  // All or nothing: the whole list is checked first, and a failure midway undoes what was
  // done. Bad input exits 2, a failure of the machine or of permissions 1.
  auto run = [args](bool online) {
    const cpu::CpuSet cpus = parse_cpus_or_die(kCommand, args->cpus);
    cpu::HotplugOptions options;
    options.allow_cpu0 = args->allow_cpu0;
    options.restore_on_exit = false;  // the user asked for this state; the journal keeps it
    cpu::Hotplug hotplug(options);
    const cpu::HotplugCheck check = hotplug.check_all(cpus, online);
    if (!check.ok()) {
      // Every problem on one line, so that a script sees one error per failed command.
      std::vector<std::string> problems;
      for (const auto& p : check.problems) {
        const bool cpu0 = p.kind == cpu::HotplugProblem::Kind::kCpu0;
        problems.push_back(cpu0 ? "CPU 0 is left alone unless --allow-cpu0" : p.message);
      }
      die(kCommand, fmt::format("{}", fmt::join(problems, "; ")),
          check.bad_input() ? kUsageError : kRuntimeFailure);
    }
    const cpu::CpuSet changed = or_die(kCommand, hotplug.apply_all(cpus, online));
    for (int c : cpus.cpus()) {
      fmt::print("cpu{} {}{}\n", c, online ? "online" : "offline",
                 changed.test(c) ? "" : " (already)");
    }
  };
  down->callback([run] { run(false); });
  up->callback([run] { run(true); });

  auto* st =
      cmd->add_subcommand("status", "online, offline and hotpluggable CPUs, and the journal");
  st->add_flag("--json", args->json, "print one JSON object");
  st->footer(
      "Examples:\n"
      "  pctx hotplug status\n"
      "  pctx hotplug status --json");
  st->callback([args] { status(args->json); });

  auto* restore = cmd->add_subcommand(
      "restore", "bring back the CPUs pctx took offline (after a crash), or only those listed");
  restore->add_option("cpus", args->cpus, "only these CPUs")
      ->check(not_empty("give a CPU list, e.g. 1, or none for every CPU pctx took offline"));
  restore->footer(
      "Examples:\n"
      "  pctx hotplug restore\n"
      "  pctx hotplug restore 1");
  restore->callback([args] {
    cpu::HotplugJournal journal;
    const cpu::CpuSet restored =
        or_die("pctx hotplug restore",
               journal.restore(args->cpus.empty()
                                   ? cpu::CpuSet{}
                                   : parse_cpus_or_die("pctx hotplug restore", args->cpus)));
    fmt::print("restored: {}\n", or_none(restored));
  });
}

}  // namespace pctx::tools
