#include "tools/cli_checks.hpp"
#include "tools/commands.hpp"

namespace pctx::tools {

void OutputOptions::add_to(CLI::App* cmd) {
  auto* json_flag = cmd->add_flag("--json", json, "print one JSON object for machines");
  cmd->add_option("-x,--field-separator", csv_separator,
                  "print CSV with this separator (e.g. -x,) for machines")
      ->check(not_empty("give a separator, e.g. -x, (or leave -x out for the table)"))
      // A quote or a line break could not be told apart from CSV's own quoting.
      ->check(CLI::Validator(
          [](std::string& sep) -> std::string {
            return sep.find_first_of("\"\n") == std::string::npos
                       ? std::string{}
                       : "a separator cannot hold a quote or a line break; write e.g. -x, or -x "
                         "';'";
          },
          ""))
      ->excludes(json_flag);
}

}  // namespace pctx::tools
