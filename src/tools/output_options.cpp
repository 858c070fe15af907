#include "tools/commands.hpp"

namespace pctx::tools {

void OutputOptions::add_to(CLI::App* cmd) {
  auto* json_flag = cmd->add_flag("--json", json, "print one JSON object for machines");
  cmd->add_option("-x,--field-separator", csv_separator,
                  "print CSV with this separator (e.g. -x,) for machines")
      ->excludes(json_flag);
}

}  // namespace pctx::tools
