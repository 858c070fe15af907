// `pctx list [PATTERN]`: the events usable here, with descriptions.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "pctx/pmu/capabilities.hpp"
#include "pctx/pmu/catalog.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"

namespace pctx::tools {

void add_list_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "the events usable here, with descriptions");
  auto opts = std::make_shared<OutputOptions>();
  auto list = std::make_shared<pmu::ListOptions>();
  cmd->add_option("pattern", list->pattern, "only names containing this (or matching a glob)");
  cmd->add_flag(
      "--all", list->include_absent,
      "also events that cannot be opened here (PMUs libpfm4 knows but this machine lacks, "
      "hardware events without a hardware PMU), with the reason");
  opts->add_to(cmd);
  cmd->footer(
      "Examples:\n"
      "  pctx list\n"
      "  pctx list clock\n"
      "  pctx list msr/\n"
      "  pctx list --all cycles --json");
  cmd->callback([opts, list] {
    list->hardware_pmu = pmu::probe_capabilities().hardware_pmu;
    const auto events = pmu::list_events(*list);
    if (opts->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& e : events) {
        nlohmann::json j;
        j["name"] = e.name;
        j["aliases"] = e.aliases;
        j["pmu"] = e.pmu;
        j["source"] = pmu::to_string(e.source);
        j["description"] = e.description;
        j["unit"] = e.unit;
        j["modifiers"] = e.modifiers;
        j["hardware"] = e.hardware;
        j["usable"] = e.usable;
        j["note"] = e.note;
        out.push_back(std::move(j));
      }
      fmt::print("{}\n", out.dump(2));
      return;
    }
    std::vector<std::string> headers = {"event", "aliases", "pmu", "modifiers"};
    if (list->include_absent) headers.emplace_back("usable");
    headers.emplace_back("description");
    Table t(headers);
    for (const auto& e : events) {
      std::vector<std::string> row = {e.name, fmt::format("{}", fmt::join(e.aliases, " ")), e.pmu,
                                      e.modifiers.empty() ? "-" : e.modifiers};
      if (list->include_absent) row.push_back(e.usable ? "yes" : "no: " + e.note);
      row.push_back(e.description);
      t.add(std::move(row));
    }
    if (!opts->csv_separator.empty()) {
      t.print_csv(stdout, opts->csv_separator);
      return;
    }
    if (t.size() == 0) {
      fmt::print(stderr, "no events match '{}'{}\n", list->pattern,
                 list->include_absent ? "" : " (try --all for PMUs absent here)");
      throw CLI::RuntimeError(1);
    }
    t.print(stdout);
    if (!list->hardware_pmu && !list->include_absent) {
      fmt::print(
          "\nno hardware PMU here: hardware events are hidden (`pctx list --all` shows "
          "them)\n");
    }
  });
}

}  // namespace pctx::tools
