// `pctx info`: what this machine can count, and what stands in the way.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "pctx/cpu/sysfs.hpp"
#include "pctx/pmu/capabilities.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"

namespace pctx::tools {

namespace {

std::string or_none(const std::string& s) {
  return s.empty() ? "none" : s;
}

std::string paranoid_meaning(int level) {
  if (level <= -1) return "no restrictions";
  if (level == 0) return "CPU-wide counting allowed, raw tracepoints need privilege";
  if (level == 1) return "CPU-wide counting needs privilege";
  if (level == 2) return "kernel-mode and CPU-wide counting need privilege";
  return "all counting needs privilege";
}

nlohmann::json to_json(const pmu::Capabilities& c) {
  nlohmann::json j;
  j["kernel"] = c.kernel;
  nlohmann::json& cpus = j["cpus"];
  cpus["online"] = cpu::online_cpus().to_string();
  cpus["offline"] = cpu::offline_cpus().to_string();
  cpus["present"] = cpu::present_cpus().to_string();
  cpus["possible"] = cpu::possible_cpus().to_string();
  cpus["hotpluggable"] = cpu::hotpluggable_cpus().to_string();
  j["hardware_pmu"] = c.hardware_pmu;
  j["hardware_pmu_reason"] = c.hardware_pmu_reason;
  nlohmann::json& pmus = j["pmus"] = nlohmann::json::array();
  for (const auto& p : c.pmus) {
    nlohmann::json e;
    e["name"] = p.name;
    e["description"] = p.description;
    e["counters"] = p.counters;
    e["fixed"] = p.fixed;
    e["hardware"] = p.hardware;
    e["usable"] = p.usable;
    e["note"] = p.note;
    pmus.push_back(std::move(e));
  }
  j["kernel_pmus"] = c.kernel_pmus;
  j["paranoid"] = c.paranoid;
  j["privileged"] = c.privileged;
  j["root"] = c.root;
  j["rdpmc"] = c.rdpmc;
  j["rdpmc_reason"] = c.rdpmc_reason;
  j["hypervisor"] = c.hypervisor.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.hypervisor);
  j["nmi_watchdog"] = c.nmi_watchdog;
  return j;
}

// A JSON value as one CSV cell: text as is, null as an empty cell, numbers and booleans as
// JSON writes them.
std::string cell(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

// `info -x` prints key,value rows whose cells are plain values, not JSON: objects become
// dotted keys (cpus.online), arrays of objects are keyed by each element's name
// (pmus.software.counters) or index, and arrays of plain values are one space-separated cell.
void flatten(const std::string& key, const nlohmann::json& v, Table& t) {
  if (v.is_object()) {
    for (const auto& [k, x] : v.items())
      flatten(key.empty() ? k : std::string(key).append(".").append(k), x, t);
    return;
  }
  if (v.is_array()) {
    bool plain = true;
    for (const auto& x : v) plain &= x.is_primitive();
    if (plain) {
      std::vector<std::string> cells;
      for (const auto& x : v) cells.push_back(cell(x));
      t.add({key, fmt::format("{}", fmt::join(cells, " "))});
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const auto& x = v[i];
      const bool named = x.is_object() && x.contains("name") && x["name"].is_string();
      flatten(key + "." + (named ? x["name"].get<std::string>() : std::to_string(i)), x, t);
    }
    return;
  }
  t.add({key, cell(v)});
}

void print_human(const pmu::Capabilities& c) {
  Table t({"what", "value"});
  t.add({"kernel", c.kernel});
  t.add({"cpus online", or_none(cpu::online_cpus().to_string())});
  t.add({"cpus offline", or_none(cpu::offline_cpus().to_string())});
  t.add({"hotpluggable", or_none(cpu::hotpluggable_cpus().to_string())});
  t.add({"hardware PMU", c.hardware_pmu ? "yes" : "no: " + c.hardware_pmu_reason});
  for (const auto& p : c.pmus) {
    std::string what = p.hardware
                           ? fmt::format("{} generic + {} fixed counters", p.counters, p.fixed)
                       : p.counters > 0 ? fmt::format("{} counters", p.counters)
                                        : "no counter limit";
    what += p.usable ? ", usable" : ", not usable: " + p.note;
    t.add({"pmu " + p.name, what});
  }
  t.add({"kernel PMUs", fmt::format("{}", fmt::join(c.kernel_pmus, ", "))});
  t.add({"paranoid", fmt::format("{} ({})", c.paranoid, paranoid_meaning(c.paranoid))});
  t.add({"privileged", c.root ? "yes (root)" : c.cap_perfmon ? "yes (CAP_PERFMON)" : "no"});
  t.add({"rdpmc", c.rdpmc ? "yes" : "no: " + c.rdpmc_reason});
  t.add({"hypervisor", c.hypervisor.empty() ? "none (bare metal)" : c.hypervisor});
  t.add({"nmi watchdog", c.nmi_watchdog < 0   ? "absent"
                         : c.nmi_watchdog > 0 ? "on (holds a counter)"
                                              : "off"});
  t.print(stdout, /*with_header=*/false);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "what this machine can count: CPUs, PMUs, permissions");
  cmd->footer(
      "Examples:\n"
      "  pctx info\n"
      "  pctx info --json\n"
      "  pctx info -x,");
  auto opts = std::make_shared<OutputOptions>();
  opts->add_to(cmd);
  cmd->callback([opts] {
    const auto caps = pmu::probe_capabilities();
    if (opts->json) {
      fmt::print("{}\n", to_json(caps).dump(2));
    } else if (!opts->csv_separator.empty()) {
      Table t({"key", "value"});
      flatten("", to_json(caps), t);
      t.print_csv(stdout, opts->csv_separator);
    } else {
      print_human(caps);
    }
  });
}

}  // namespace pctx::tools
